"""`python -m datafactory_assets.cli`: the `datafactory` command without its console script (the launcher starts the
emulator this way, with the interpreter it runs on)."""

from datafactory_assets.cli import main

if __name__ == "__main__":  # importing it (a tool walking the package) runs nothing
    main()
