"""Schedules and sensors that keep the history fresh without a person."""

from datafactory_assets.automation.healing import build_healing_sensor
from datafactory_assets.automation.rollups import rollup_automation_sensor
from datafactory_assets.automation.schedules import hourly_collection

__all__ = ["build_healing_sensor", "hourly_collection", "rollup_automation_sensor"]
