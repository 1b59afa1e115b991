"""Schedules and sensors that keep the history fresh without a person, and the backfills a person asks for.

Empty on purpose: the CLI imports `automation.backfill` without paying for Dagster.
"""
