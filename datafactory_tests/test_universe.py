"""A universe declared by rank: resolved from the emulated Binance through the real ccxt client by the CLI,
cached beside the configuration, read at load without asking the venue, combined with explicit symbols."""

import json

import pytest
from click.testing import CliRunner

from datafactory_assets.cli import main
from datafactory_assets.settings import ConfigError, load_settings
from datafactory_assets.universe import cached_coin_ids
from datafactory_tests.helpers import universe_config

EXPLICIT = '[symbols]\n"ETH/BTC" = {}\n"W/USDT" = { start = "2025-07-01" }\n'


def config_text(top: int) -> str:
    return universe_config(start="2025-06-01", top=top, more=EXPLICIT)


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "datafactory.toml"
    path.write_text(config_text(200))
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(path))
    return path


def refresh(emulator_url: str | None):
    env = {"DATAFACTORY_EMULATOR_URL": emulator_url} if emulator_url else {}
    return CliRunner().invoke(main, ["universe", "--refresh"], env=env)


def test_refresh_ranks_the_venues_trading_pairs_and_loading_reads_them_without_the_venue(config, emulator):
    result = refresh(emulator.url)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("200 USDT pairs of binance in ")
    cache = json.loads((config.parent / "datafactory.universe.json").read_text())
    assert (cache["venue"], cache["quote"], cache["top"], cache["source"]) == ("binance", "USDT", 200, emulator.url)
    assert cache["resolved_at"] and len(cache["symbols"]) == 200 and cache["symbols"][:2] == ["BTC/USDT", "ETH/USDT"]
    volumes = [cache["quote_volume_24h"][s] for s in cache["symbols"]]
    assert volumes == sorted(volumes, reverse=True)
    assert "LUNA/USDT" not in cache["symbols"]  # halted: busy enough for the top, but not trading

    emulator.clear_request_log()
    settings = load_settings(config, env={})
    assert emulator.request_log() == []  # loading never asks the venue
    names = [s.symbol for s in settings.symbols]
    assert names[:200] == cache["symbols"] and names[200:] == ["ETH/BTC"]  # explicit entries join the ranking
    w = next(s for s in settings.symbols if s.symbol == "W/USDT")
    assert w.start.month == 7 and {s.start.month for s in settings.symbols} == {6, 7}  # explicit entry overrides
    assert settings.universe.top == 200


def test_a_missing_or_outgrown_cache_is_one_line_naming_the_command(config, emulator):
    with pytest.raises(ConfigError, match=r"not resolved yet .* run `datafactory universe --refresh`"):
        load_settings(config, env={})
    assert refresh(emulator.url).exit_code == 0
    config.write_text(config_text(300))
    with pytest.raises(ConfigError, match="ranks the top 200 USDT pairs of binance, the .universe. asks for the top "
                                          "300 USDT pairs of binance: run `datafactory universe --refresh`"):
        load_settings(config, env={})
    config.write_text(config_text(50))
    assert len(load_settings(config, env={}).symbols) == 51  # fewer than ranked: the busiest of the file


def test_the_command_without_a_cache_or_with_an_unreachable_venue_says_so_in_one_line(config):
    shown = CliRunner().invoke(main, ["universe"])
    assert shown.exit_code == 1 and "run `datafactory universe --refresh`" in shown.output
    assert len(shown.output.strip().splitlines()) == 1
    unreachable = refresh("http://127.0.0.1:9")  # nothing listens there
    assert unreachable.exit_code == 1 and "binance could not be asked for its pairs" in unreachable.output
    assert len(unreachable.output.strip().splitlines()) == 1


def test_refresh_caches_the_coingecko_id_of_each_ranked_coin_and_says_which_have_none(config, emulator):
    result = refresh(emulator.url)
    assert result.exit_code == 0, result.output
    cache = json.loads((config.parent / "datafactory.universe.json").read_text())["coingecko"]
    assert (len(cache["ids"]), len(cache["unresolved"]), cache["error"]) == (180, 20, None)
    assert {base: cache["ids"][base] for base in ("BTC", "ETH", "SOL")} == {
        "BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}
    assert cache["unresolved"]["EPIC"] == "2 CoinGecko coins at the venue's price, none dominant: epic, epic-protocol"
    line = result.output.splitlines()[1]
    assert line.startswith("CoinGecko ids: 180 of 200 coins; without one (accuracy unverified): ") and "EPIC" in line
    assert cached_coin_ids(load_settings(config, env={}).universe).ids == cache["ids"]


def test_coingecko_refusing_leaves_the_ranking_written_without_ids(config, emulator):
    emulator.set_budget("coingecko", 1)  # coins/list passes, coins/markets is throttled
    try:
        result = refresh(emulator.url)
    finally:
        emulator.clear_budgets("coingecko")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("CoinGecko ids not resolved (coingecko coins/markets: HTTP 429: ")
    assert len(load_settings(config, env={}).symbols) == 201
    assert cached_coin_ids(load_settings(config, env={}).universe).ids == {}


def test_a_universe_file_written_before_coin_ids_still_loads_with_none(config, emulator):
    assert refresh(emulator.url).exit_code == 0
    path = config.parent / "datafactory.universe.json"
    older = json.loads(path.read_text())
    del older["coingecko"]
    path.write_text(json.dumps(older))
    settings = load_settings(config, env={})
    assert len(settings.symbols) == 201 and cached_coin_ids(settings.universe).ids == {}
    shown = CliRunner().invoke(main, ["universe"])
    assert shown.output.splitlines()[1] == "CoinGecko ids: none cached yet (`datafactory universe --refresh` " \
                                           "resolves them)"
