"""Real and offline never share a Dagster home or a warehouse; an old shared home stays the real one."""

import pytest

from datafactory_assets import modes
from datafactory_assets.modes import OFFLINE, REAL, ModeError


@pytest.fixture
def env(tmp_path):
    config = tmp_path / "datafactory.toml"
    config.write_text('[defaults]\nstart = "2024-03-01"\n[symbols]\n"BTC/USDT" = {}\n'
                      '[warehouse]\npath = "store/candles.duckdb"\n')
    return {"DATAFACTORY_CONFIG": str(config)}


def test_each_mode_has_its_own_home_location_and_workspace():
    assert REAL.default_home != OFFLINE.default_home and REAL.default_home.parent == OFFLINE.default_home.parent
    assert (REAL.location, OFFLINE.location) == ("datafactory", "datafactory-offline")
    for mode in (REAL, OFFLINE):
        assert f"location_name: {mode.location}\n" in mode.workspace.read_text()
    assert modes.dagster_home(OFFLINE, {}) == OFFLINE.default_home
    assert modes.dagster_home(OFFLINE, {"DAGSTER_HOME": "/srv/dh"}).as_posix() == "/srv/dh"


def test_the_offline_switch_reads_one_variable():
    assert [modes.offline_requested({"DATAFACTORY_OFFLINE": v}) for v in ("1", "true", "YES", "0", "")] == [
        True, True, True, False, False]
    assert not modes.offline_requested({})


def test_offline_refuses_the_production_profile_whose_postgres_storage_the_real_platform_shares():
    modes.check_profile(OFFLINE, "embedded")
    modes.check_profile(REAL, "production")
    with pytest.raises(ModeError, match="offline platform runs on the embedded profile only"):
        modes.check_profile(OFFLINE, "production")


def test_a_home_is_marked_for_its_mode_and_refused_to_the_other(tmp_path):
    home = tmp_path / "home"
    assert modes.claim_home(home, OFFLINE) is None
    assert (home / "datafactory-mode").read_text() == "offline\n"
    assert modes.claim_home(home, OFFLINE) is None
    with pytest.raises(ModeError, match=rf"{home} is the offline platform's Dagster home .* start the real one"):
        modes.claim_home(home, REAL)


def test_an_old_shared_home_with_runs_stays_the_real_one_and_offline_gets_its_own(tmp_path):
    home = tmp_path / ".dagster_home"
    (home / "history" / "runs").mkdir(parents=True)
    with pytest.raises(ModeError, match="already holds runs .* the offline platform needs a home of its own"):
        modes.claim_home(home, OFFLINE)
    assert not (home / "datafactory-mode").exists()
    note = modes.claim_home(home, REAL)
    assert "now the real platform's home" in note and "runs that earlier offline starts left" in note
    assert (home / "datafactory-mode").read_text() == "real\n" and (home / "history" / "runs").is_dir()
    assert modes.claim_home(home, REAL) is None


def test_offline_writes_beside_the_configured_warehouse_never_into_it(env, tmp_path):
    configured = tmp_path / "store" / "candles.duckdb"
    assert modes.warehouse(REAL, env) == configured
    assert modes.warehouse(OFFLINE, env) == tmp_path / "store" / "offline.duckdb"
    chosen = tmp_path / "x.duckdb"
    assert modes.warehouse(OFFLINE, {**env, "DATAFACTORY_WAREHOUSE": str(chosen)}) == chosen
    with pytest.raises(ModeError, match=r"DATAFACTORY_WAREHOUSE=.*candles.duckdb is the real warehouse"):
        modes.warehouse(OFFLINE, {**env, "DATAFACTORY_WAREHOUSE": str(configured)})
    with pytest.raises(ModeError, match=r"offline.duckdb is the offline warehouse .* the real platform cannot use"):
        modes.warehouse(REAL, {**env, "DATAFACTORY_WAREHOUSE": str(tmp_path / "store" / "offline.duckdb")})


def test_a_missing_real_warehouse_points_at_an_existing_offline_one(tmp_path):
    real = tmp_path / "warehouse.duckdb"
    assert modes.missing_warehouse_hint(real) is None
    (tmp_path / "offline.duckdb").write_bytes(b"")
    hint = modes.missing_warehouse_hint(real)
    assert f"is {tmp_path / 'offline.duckdb'}" in hint and "datafactory --offline <command>" in hint
    real.write_bytes(b"")
    assert modes.missing_warehouse_hint(real) is None
