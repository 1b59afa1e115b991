"""`datafactory backfill`: only the hours the warehouse lacks, and why its progress may wait."""

from datetime import timedelta

from datafactory_assets.assets.ingest import ingest_window
from datafactory_assets.sources.resource import SourcesResource
from datafactory_tests.cli.helpers import START, run
from datafactory_tests.helpers import symbol_settings


def test_backfill_of_a_stored_window_needs_no_webserver_and_a_gap_is_all_it_asks_for(cli_env, emulator):
    from datafactory_assets.launcher import free_port

    ingest_window(symbol_settings(), start=START, end=START + timedelta(hours=2),
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    nobody = f"http://127.0.0.1:{free_port()}"
    args = ["backfill", "--from", "2024-03-01T10:00", "--to", "2024-03-01T11:00", "--url", nobody]
    stored = run(*args)
    assert stored.exit_code == 0 and stored.stdout.strip() == (
        "nothing to backfill: all 2 hour(s) of 1 symbol(s), 2024-03-01 10:00 .. 2024-03-01 11:00 UTC, are stored "
        "complete (--refetch fetches them again)")
    with cli_env.connect() as conn:
        conn.execute("DELETE FROM candles WHERE ts = '2024-03-01 11:30'")
    gap = run(*args)
    assert gap.exit_code == 1 and gap.output.splitlines() == [
        f"warehouse: {cli_env.path}",
        "1 of 2 hour(s) to fetch, 2024-03-01 10:00 .. 2024-03-01 11:00 UTC; 1 already stored complete",
        f"Error: no Dagster webserver answers at {nobody}: start it with `make up`"]
    assert "2 of 2 hour(s) to fetch" in run(*args, "--refetch").output


def test_backfill_progress_says_when_its_runs_wait_in_the_instance_queue():
    from datafactory_assets.cli.backfill import _waiting

    assert _waiting([{"status": "QUEUED"}, {"status": "STARTED"}, {"status": "SUCCESS"}]) == (
        ", 1 queued (behind other runs of the instance)")
    assert _waiting([{"status": "STARTED"}]) == ""


def test_backfill_counts_a_perpetuals_hours_once_per_dataset_it_collects(cli_env, tmp_path, monkeypatch):
    from datafactory_assets.launcher import free_port

    config = tmp_path / "perpetual.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n'
                      '"BTC/USDT:USDT" = { datasets = ["perp_candles", "mark_candles"], sources = ["binance"] }\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    nobody = f"http://127.0.0.1:{free_port()}"
    asked = run("backfill", "--from", "2024-03-01T10:00", "--to", "2024-03-01T11:00", "--url", nobody)
    assert asked.exit_code == 1
    assert "4 of 4 hour(s) to fetch, 2024-03-01 10:00 .. 2024-03-01 11:00 UTC; 0 already stored complete" in (
        asked.output)


def test_backfill_asks_a_perpetuals_funding_and_says_how_it_counts_it(cli_env, tmp_path, monkeypatch, emulator):
    """Before, funding rates were left out: a funding-only symbol got "nothing to backfill"."""
    from datafactory_assets.datasets import FUNDING_RATES
    from datafactory_assets.launcher import free_port
    from datafactory_assets.settings import SymbolSettings

    config = tmp_path / "perpetual.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n'
                      '"BTC/USDT:USDT" = { datasets = ["funding_rates"], sources = ["binance"] }\n')
    monkeypatch.setenv("DATAFACTORY_CONFIG", str(config))
    nobody = f"http://127.0.0.1:{free_port()}"
    args = ["backfill", "--from", "2024-03-01", "--to", "2024-03-01", "--url", nobody]
    asked = run(*args)
    assert asked.exit_code == 1 and asked.output.splitlines() == [  # no warehouse yet: the whole window
        "24 of 24 hour(s) to fetch, 2024-03-01 00:00 .. 2024-03-01 23:00 UTC; 0 already stored complete",
        "funding events: an hour counts as stored once every event due in it on the venue's interval is, and before "
        "the first stored event (no interval known yet) the whole span is asked; progress counts their hours and "
        "events stored, with no total and no ETA",
        f"Error: no Dagster webserver answers at {nobody}: start it with `make up`"]
    day = START.replace(hour=0)
    funding = SymbolSettings(symbol="BTC/USDT:USDT", timeframe="1m", start=day, sources=("binance",),
                             datasets=("funding_rates",))
    ingest_window(funding, start=day, end=day + timedelta(days=1), dataset=FUNDING_RATES,
                  sources=SourcesResource(emulator_url=emulator.url), warehouse=cli_env)
    stored = run(*args)
    assert stored.exit_code == 0 and stored.stdout.strip() == (
        "nothing to backfill: all 24 hour(s) of 1 symbol(s), 2024-03-01 00:00 .. 2024-03-01 23:00 UTC, are stored "
        "complete (--refetch fetches them again)")
