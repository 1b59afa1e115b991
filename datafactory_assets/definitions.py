"""Assembles the platform from its parts; nothing else lives here."""

import os

import dagster as dg

from datafactory_assets.alerts import alerting
from datafactory_assets.assets import (build_coverage_asset, build_source_health_asset, candle_assets,
                                       rollup_assets)
from datafactory_assets.automation.healing import build_healing_sensor
from datafactory_assets.automation.rollups import rollup_automation_sensor
from datafactory_assets.automation.schedules import hourly_collection
from datafactory_assets.modes import described
from datafactory_assets.settings import load_settings
from datafactory_assets.sources.resource import SourcesResource
from datafactory_assets.universe import cached_coin_ids
from datafactory_assets.warehouse import WarehouseResource

settings = load_settings()
jobs, schedules = hourly_collection(settings)
alert_sensors, alert_channels = alerting(settings)

rollups = rollup_assets(settings)
monitoring = [build_coverage_asset(settings), build_source_health_asset(settings)]
if settings.emulator_url:  # offline: every asset says in the UI that its data is the emulator's (the per-symbol
    # factories' copies say so themselves, modes.described)
    monitoring = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(description=described(spec.description, offline=True)), monitoring)
assets = [*candle_assets(settings), *rollups, *monitoring]

defs = dg.Definitions(
    assets=assets,
    jobs=jobs,
    schedules=schedules,
    sensors=[build_healing_sensor(settings), rollup_automation_sensor(len(rollups)), *alert_sensors],
    resources={
        **alert_channels,
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "sources": SourcesResource(
            emulator_url=settings.emulator_url,
            state_path=str(settings.state_path),
            coingecko_api_key=(dg.EnvVar("DATAFACTORY_COINGECKO_API_KEY")
                               if os.environ.get("DATAFACTORY_COINGECKO_API_KEY") else None),
            coingecko_ids=cached_coin_ids(settings.universe).ids,
            **vars(settings.resilience),
        ),
    },
    executor=dg.in_process_executor,
)
