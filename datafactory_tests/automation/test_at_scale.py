"""The platform at 200 symbols: a `[universe]` of the emulated Binance's top 200 USDT pairs, resolved by the CLI into
its cache file, loaded as the real code location; one healing tick evaluated against a real Dagster instance with
the runs it asks for executed; then the real `candles_job` for the last closed hour. Every symbol's hour is stored
exactly once. (How long each part takes is bench/scale.py's business.)"""

import importlib
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from click.testing import CliRunner

import datafactory_assets.definitions
from datafactory_assets.automation.healing import HEALING_TAG
from datafactory_assets.cli import main
from datafactory_tests.automation.test_healing import RANGE_START
from datafactory_tests.helpers import universe_config



@pytest.fixture
def code_location(tmp_path, monkeypatch, emulator):
    """The code location loaded from a 200-symbol universe (three closed hours of history), as Dagster loads it:
    `definitions.py` run with the configuration in the environment; the test session's own one is restored after.
    An hour closing during the test only adds one hour to the shared healing run: the checks still hold."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    config = tmp_path / "datafactory.toml"
    # 180 of the 200 coins have a CoinGecko id; the three-hour healing run holds a turn of about 80 of them (30 an
    # hour take turns, test_candles.py), which within the default 30 a minute alone takes minutes that this test of
    # healing and collection does not measure
    config.write_text(universe_config(start=f"{start:%Y-%m-%dT%H:00:00}", top=200,
                                      more='[warehouse]\npath = "warehouse.duckdb"\n[healing]\nsettle_minutes = 0\n'
                                           '[sources.coingecko]\nbudget = 1000\n'))
    for name, value in {"DATAFACTORY_CONFIG": str(config), "DATAFACTORY_EMULATOR_URL": emulator.url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DATAFACTORY_WAREHOUSE", raising=False)
    refreshed = CliRunner().invoke(main, ["universe", "--refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    yield importlib.reload(datafactory_assets.definitions), start
    monkeypatch.undo()
    importlib.reload(datafactory_assets.definitions)


def test_200_symbols_heal_and_collect_the_closed_hour_once_each(code_location):
    module, start = code_location
    defs, settings = module.defs, module.settings
    assert len(settings.symbols) == 200 and "LUNA/USDT" not in {s.symbol for s in settings.symbols}
    assert len(defs.resources["sources"].coingecko_ids) == 180  # read from the universe file at load
    instance = dg.DagsterInstance.ephemeral()

    sensor = defs.resolve_sensor_def("candles_healing")
    tick = sensor(dg.build_sensor_context(instance=instance, resources=defs.resources))
    (request,) = tick.run_requests  # every symbol lacks the same three hours: one run of them all
    assert request.tags[RANGE_START] == f"{start:%Y-%m-%d-%H:%M}" and request.tags[HEALING_TAG] == "true"
    assert len(request.asset_selection) == 200
    assert dg.materialize([defs.resolve_assets_def(key) for key in request.asset_selection],  # resources bound
                          tags=request.tags, instance=instance).success

    last_hour = start + timedelta(hours=2)
    outcome = defs.resolve_job_def("candles_job").execute_in_process(
        instance=instance, partition_key=f"{last_hour:%Y-%m-%d-%H:%M}", raise_on_error=False)
    assert outcome.success

    warehouse = defs.resources["warehouse"]
    with warehouse.connect(read_only=True) as conn:
        per_symbol = conn.execute(
            "SELECT symbol, count(*), count(DISTINCT ts) FROM candles WHERE ts >= ? AND ts < ? GROUP BY symbol",
            [last_hour.replace(tzinfo=None), (last_hour + timedelta(hours=1)).replace(tzinfo=None)]).fetchall()
    assert sorted(per_symbol) == sorted((s.symbol, 60, 60) for s in settings.symbols)
