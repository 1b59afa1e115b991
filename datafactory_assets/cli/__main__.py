"""`python -m datafactory_assets.cli`: the `datafactory` command without its console script (the launcher starts the
emulator this way, with the interpreter it runs on)."""

from datafactory_assets.cli import main

main()
