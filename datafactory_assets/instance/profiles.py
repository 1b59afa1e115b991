"""Instance profiles: which dagster.yaml DAGSTER_HOME gets, and what each profile needs from the environment.

`embedded` keeps Dagster's storage in SQLite under DAGSTER_HOME and needs nothing. `production` keeps it in
PostgreSQL and reads the connection from DATAFACTORY_PG_* when Dagster starts, so no password is written to disk;
checking those variables before starting turns Dagster's later traceback into one line naming what is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from datafactory_assets.instance.earlier_templates import EARLIER_TEMPLATES

PROFILE_ENV = "DATAFACTORY_INSTANCE_PROFILE"
DEFAULT_PROFILE = "embedded"
TEMPLATES = {"embedded": "dagster.yaml", "production": "production.yaml"}
REQUIRED_ENV = {
    "embedded": (),
    "production": ("DATAFACTORY_PG_HOST", "DATAFACTORY_PG_PORT", "DATAFACTORY_PG_USER", "DATAFACTORY_PG_PASSWORD",
                   "DATAFACTORY_PG_DB"),
}


class ProfileError(ValueError):
    """An unknown profile, an environment the profile cannot start with, or a DAGSTER_HOME set up for another one."""


def selected_profile(env: Mapping[str, str]) -> str:
    """The profile DATAFACTORY_INSTANCE_PROFILE names, `embedded` when it is unset."""
    return check_profile(env.get(PROFILE_ENV) or DEFAULT_PROFILE)


def check_profile(profile: str) -> str:
    if profile not in TEMPLATES:
        raise ProfileError(f"unknown instance profile {profile!r}; choose one of {sorted(TEMPLATES)}")
    return profile


def template(profile: str) -> str:
    """The instance configuration the profile ships with."""
    return (resources.files("datafactory_assets") / "instance" / TEMPLATES[check_profile(profile)]).read_text()


def check_environment(profile: str, env: Mapping[str, str]) -> None:
    """Refuse to start when a variable the profile's dagster.yaml reads is unset or malformed."""
    missing = [name for name in REQUIRED_ENV[check_profile(profile)] if name not in env]
    if missing:
        raise ProfileError(f"the {profile} profile keeps Dagster's storage in PostgreSQL and needs "
                           f"{', '.join(missing)} (see docs/production.md)")
    port = env.get("DATAFACTORY_PG_PORT", "")
    if "DATAFACTORY_PG_PORT" in REQUIRED_ENV[profile] and not port.isdigit():
        raise ProfileError(f"DATAFACTORY_PG_PORT={port!r} is not a port number")


def write_instance_config(dagster_home: Path, profile: str = DEFAULT_PROFILE) -> Path:
    """Create DAGSTER_HOME with the profile's config, keeping a dagster.yaml the operator already wrote (one we wrote
    from an earlier template is brought up to this one), but refusing one that is another profile's: starting
    production on an embedded home would silently keep SQLite."""
    wanted = template(profile)
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if not target.exists():
        target.write_text(wanted)
        return target
    owner = shipped_by(target.read_text())
    if owner not in (None, profile):
        raise ProfileError(f"{target} is the {owner} profile's; start the {profile} profile with another "
                           f"DAGSTER_HOME (or remove that file: its runs stay in the old storage)")
    if owner == profile:
        target.write_text(wanted)
    return target


def shipped_by(text: str) -> str | None:
    """The profile whose current or an earlier template `text` is, byte for byte; None for an operator's own."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    return next((name for name in TEMPLATES if text == template(name) or digest in EARLIER_TEMPLATES[name]), None)
