"""The platform's two modes, real (the venues) and offline (the exchange emulator), kept apart: each has its own
Dagster home, warehouse and code location, so emulator partitions never show as materialized in the real UI, a run
queued offline is never dequeued by the real daemon, and no emulator candle lands in the real warehouse.

Homes are siblings (`.dagster_home`, `.dagster_home-offline`), not nested: a Dagster home holds storage of its own at
fixed names, and removing one mode's home must never remove the other's. Each home carries a mark file naming its
mode; a home marked for the other mode, or an unmarked one that already holds runs, is refused for offline. An
unmarked `.dagster_home` from before the modes were kept apart becomes the real one as it is: runs that an earlier
offline start left in it stay in its history (nothing is deleted; what is stored is read from the warehouse, which
healing and `datafactory status` go by).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from datafactory_assets.settings import REPO_ROOT, load_settings

OFFLINE_ENV = "DATAFACTORY_OFFLINE"
WAREHOUSE_ENV = "DATAFACTORY_WAREHOUSE"
MARK_FILE = "datafactory-mode"
OFFLINE_WAREHOUSE_NAME = "offline.duckdb"
OFFLINE_DESCRIPTION = "offline: emulator data, not market data."


def described(description: str | None, *, offline: bool) -> str | None:
    """An asset's description as the UI shows it: offline, it says first that its data is the emulator's."""
    return f"{OFFLINE_DESCRIPTION} {description or ''}".rstrip() if offline else description


class ModeError(ValueError):
    """A home or warehouse that belongs to the other mode."""


@dataclass(frozen=True)
class Mode:
    name: str
    default_home: Path
    workspace: Path
    location: str
    offline: bool


REAL = Mode("real", REPO_ROOT / ".dagster_home", REPO_ROOT / "workspace.yaml", "datafactory", offline=False)
OFFLINE = Mode("offline", REPO_ROOT / ".dagster_home-offline", REPO_ROOT / "workspace-offline.yaml",
               "datafactory-offline", offline=True)


def offline_requested(env: Mapping[str, str]) -> bool:
    """DATAFACTORY_OFFLINE=1 (or true, yes): the same switch for `datafactory up` and the reading commands."""
    return env.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def select(offline: bool) -> Mode:
    return OFFLINE if offline else REAL


def dagster_home(mode: Mode, env: Mapping[str, str]) -> Path:
    """DAGSTER_HOME when the operator set it (then `claim_home` keeps the modes apart), else the mode's own."""
    return Path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else mode.default_home


def check_profile(mode: Mode, profile: str) -> None:
    """Offline runs on the embedded instance only: the production profile keeps Dagster's runs and events in the
    PostgreSQL database DATAFACTORY_PG_* names, which a separate home would not separate from the real platform's."""
    if mode.offline and profile != "embedded":
        raise ModeError(f"the offline platform runs on the embedded profile only: the {profile} profile's PostgreSQL "
                        "storage would hold its runs beside the real platform's")


def claim_home(home: Path, mode: Mode) -> str | None:
    """Mark `home` as `mode`'s, refusing one that is the other mode's; returns a note for a person when an unmarked
    home with earlier runs becomes the real one."""
    mark = home / MARK_FILE
    if mark.exists():
        owner = mark.read_text().strip()
        if owner != mode.name:
            raise ModeError(f"{home} is the {owner} platform's Dagster home (see {mark}); start the {mode.name} one "
                            f"with another DAGSTER_HOME (unset, it uses {mode.default_home})")
        return None
    earlier_runs = (home / "history").exists()
    if earlier_runs and mode.offline:
        raise ModeError(f"{home} already holds runs of a platform started before offline and real were kept apart; "
                        f"the offline platform needs a home of its own: unset DAGSTER_HOME (it then uses "
                        f"{OFFLINE.default_home}) or point it at a new directory")
    home.mkdir(parents=True, exist_ok=True)
    mark.write_text(mode.name + "\n")
    if earlier_runs:
        return (f"{home} is now the real platform's home; runs that earlier offline starts left in it stay in its "
                f"history (their partitions may show as materialized; the warehouse is what healing and "
                f"`datafactory status` read)")
    return None


def warehouse(mode: Mode, env: Mapping[str, str]) -> Path:
    """The warehouse `mode` writes and reads. Real: the configured one (DATAFACTORY_WAREHOUSE over
    datafactory.toml). Offline: DATAFACTORY_WAREHOUSE, else `offline.duckdb` beside the configured one
    (data/offline.duckdb with the shipped config). The real platform never takes the offline file, and offline never
    the configured one."""
    configured = load_settings(env={k: v for k, v in env.items() if k != WAREHOUSE_ENV}).warehouse_path
    chosen = load_settings(env=dict(env)).warehouse_path
    offline_default = offline_warehouse(configured)
    if mode.offline:
        if env.get(WAREHOUSE_ENV) and _same(chosen, configured):
            raise ModeError(f"{WAREHOUSE_ENV}={chosen} is the real warehouse; offline keeps emulator candles apart "
                            f"(unset it: offline then uses {offline_default})")
        return chosen if env.get(WAREHOUSE_ENV) else offline_default
    if _same(chosen, offline_default):
        raise ModeError(f"{chosen} is the offline warehouse (emulator candles); the real platform cannot use it: "
                        f"unset {WAREHOUSE_ENV} or start with --offline")
    return chosen


def offline_warehouse(configured: Path) -> Path:
    return configured.with_name(OFFLINE_WAREHOUSE_NAME)


def _same(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def missing_warehouse_hint(path: Path) -> str | None:
    """When the real warehouse `path` does not exist but the offline one beside it does (a person who ran `make up
    OFFLINE=1` and then a reading command), what to add to the error: where the offline one is and how to read it."""
    offline = offline_warehouse(path)
    if path.exists() or _same(path, offline) or not offline.exists():
        return None
    return (f"the offline platform's warehouse (emulator data) is {offline}: read it with `datafactory --offline "
            f"<command>` or {OFFLINE_ENV}=1")
