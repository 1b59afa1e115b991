"""Schedules and sensors that keep the history fresh without a person."""

from datafactory_assets.automation.schedules import hourly_collection

__all__ = ["hourly_collection"]
