"""`datafactory universe`: the symbols a `[universe]` section stands for, ranked at the venue and cached in a file."""

from __future__ import annotations

import os

import click

from datafactory_assets.settings import ConfigError


@click.command()
@click.option("--refresh", is_flag=True, help="Rank the venue's pairs now and rewrite the cache file.")
def universe(refresh: bool) -> None:
    """The [universe] of datafactory.toml: its cached ranking, or with --refresh, a new one from the venue."""
    import ccxt

    from datafactory_assets.settings import is_symbol, load_universe_spec
    from datafactory_assets.universe import (UniverseError, cached_coin_ids, cached_symbols, resolve,
                                             resolve_coin_ids, write_cache)

    try:
        spec = load_universe_spec()
        if refresh:
            emulator_url = (os.environ.get("DATAFACTORY_EMULATOR_URL") or "").rstrip("/") or None
            ranked = resolve(spec, emulator_url=emulator_url, well_formed=is_symbol)
            coin_ids = resolve_coin_ids(spec, ranked, emulator_url=emulator_url,
                                        api_key=os.environ.get("DATAFACTORY_COINGECKO_API_KEY"))
            write_cache(spec, ranked, source=emulator_url or spec.venue, coin_ids=coin_ids)
        symbols, coins = cached_symbols(spec), cached_coin_ids(spec)
    except (ConfigError, UniverseError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ccxt.BaseError as exc:
        raise click.ClickException(f"{spec.venue} could not be asked for its pairs: {type(exc).__name__}: {exc}")
    click.echo(f"{len(symbols)} {spec.quote} pairs of {spec.venue} in {spec.cache_path}: "
               + ", ".join(symbols[:10]) + (" ..." if len(symbols) > 10 else ""))
    click.echo(coins.summary())
