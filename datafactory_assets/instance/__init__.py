"""Dagster instance configurations `datafactory up` writes to DAGSTER_HOME: embedded (SQLite) and production."""
