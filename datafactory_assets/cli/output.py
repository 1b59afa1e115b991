"""What the commands print for a person: rich tables and plain lines, sized for a terminal or a pipe."""

from __future__ import annotations

import sys

import polars as pl
from rich.console import Console
from rich.table import Table


def console() -> Console:
    """A terminal gets rich's own width; a pipe or file gets lines wide enough not to wrap the tables."""
    return Console(width=None if sys.stdout.isatty() else 200)


def say(text: str) -> None:
    """One plain line for a person: paths, symbols and numbers printed as they are (no rich markup or colouring),
    wrapped by the terminal, never cut."""
    console().print(text, markup=False, highlight=False, soft_wrap=True)


def print_frame(frame: pl.DataFrame, title: str) -> None:
    """`frame` as a table under `title`, every value as text and a missing one as an empty cell."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column)
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    console().print(table)
