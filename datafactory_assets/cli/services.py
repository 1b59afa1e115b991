"""The commands that run until stopped: the platform (Dagster webserver and daemon) and the exchange emulator."""

from __future__ import annotations

import os

import click

from datafactory_assets import modes
from datafactory_assets.cli.connect import offline_chosen
from datafactory_assets.instance.profiles import DEFAULT_PROFILE, PROFILE_ENV, TEMPLATES, ProfileError
from datafactory_assets.settings import load_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--replay", "replays", multiple=True, metavar="SYMBOL=FILE",
              help="Serve SYMBOL's candles from a recorded JSON or CSV file, holes included.")
@click.option("--fault", "faults", multiple=True, metavar="VENUE:KIND[:ARG][@COUNT]", help="Inject a fault.")
@click.option("--budget", "budgets", multiple=True, metavar="VENUE[=AMOUNT]",
              help="Enforce a venue's request budget (its real one, or AMOUNT per its window): 429, then 418.")
@click.option("--price-offset", "offsets", multiple=True, metavar="VENUE=BPS",
              help="Serve every price of VENUE this many basis points off (e.g. okx=150).")
def emulator(host: str, port: int, replays: tuple[str, ...], faults: tuple[str, ...],
             budgets: tuple[str, ...], offsets: tuple[str, ...]) -> None:
    """Run the exchange emulator (Binance, OKX, Bybit, Kraken, Coinbase, Yahoo, CoinGecko dialects) on HOST:PORT."""
    from datafactory_assets.emulator.offsets import parse_offset_arg
    from datafactory_assets.emulator.server import VENUES, parse_replay_arg, serve

    try:
        replay = dict(parse_replay_arg(text) for text in replays)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--replay") from exc
    try:
        limits = {venue: int(amount) if amount else None
                  for venue, _, amount in (text.partition("=") for text in budgets)}
    except ValueError as exc:
        raise click.BadParameter(f"{budgets}: write VENUE or VENUE=AMOUNT", param_hint="--budget") from exc
    try:
        price_offsets = dict(parse_offset_arg(text, venues=VENUES) for text in offsets)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--price-offset") from exc
    serve(host, port, replay, list(faults), budgets=limits, price_offsets=price_offsets)


@click.command()
@click.option("--offline", is_flag=True, default=lambda: modes.offline_requested(os.environ),
              help="Run against the local exchange emulator instead of the real venues, in a Dagster home, "
                   "warehouse and code location of its own (also: DATAFACTORY_OFFLINE=1).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--profile", default=lambda: os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE,
              type=click.Choice(sorted(TEMPLATES)), show_default=f"{PROFILE_ENV} or {DEFAULT_PROFILE}",
              help="Instance profile: embedded (SQLite) or production (PostgreSQL, queued runs; docs/production.md).")
def up(offline: bool, host: str, port: int, profile: str) -> None:
    """Start the platform: Dagster webserver and daemon, hourly schedule on."""
    from datafactory_assets.launcher import run_platform

    load_settings()  # a broken configuration is one line here, not a platform whose code location cannot load
    mode = modes.select(offline or offline_chosen())
    home = modes.dagster_home(mode, os.environ)
    try:
        raise SystemExit(run_platform(mode=mode, host=host, port=port, dagster_home=home, profile=profile))
    except (ProfileError, modes.ModeError) as exc:
        raise click.ClickException(str(exc)) from exc
