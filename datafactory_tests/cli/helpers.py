"""What the CLI tests share: the hour their candles start at and the command run as a person types it."""

from datetime import UTC, datetime

from click.testing import CliRunner, Result

from datafactory_assets.cli import main

START = datetime(2024, 3, 1, 10, tzinfo=UTC)


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, terminal_width=200)
    return result
