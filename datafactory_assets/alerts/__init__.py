"""Alerts: failed runs and checks, stale assets and open breakers, told once to Slack and email, then the recovery."""

import os
from collections.abc import Mapping

import dagster as dg

from datafactory_assets.alerts.channels import channel_resources, channels_configured
from datafactory_assets.alerts.sensors import alert_sensors
from datafactory_assets.settings import Settings


def alerting(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[list[dg.SensorDefinition], dict]:
    """The alert sensors and their channel resources, for `Definitions`; channels follow the environment."""
    env = os.environ if env is None else env
    return alert_sensors(settings, running=channels_configured(env)), channel_resources(env)


__all__ = ["alerting"]
