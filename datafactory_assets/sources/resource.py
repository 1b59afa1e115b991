"""The sources as a Dagster resource: which client serves a venue, and where it points (real venue or emulator)."""

from __future__ import annotations

import dagster as dg

from datafactory_assets.sources.ccxt_source import CcxtCandleSource


class SourcesResource(dg.ConfigurableResource):
    """Builds source clients; `emulator_url` (from DATAFACTORY_EMULATOR_URL) is the only test/production switch."""

    emulator_url: str | None = None
    rate_limit: bool = True

    def client(self, name: str) -> CcxtCandleSource:
        return CcxtCandleSource(name, emulator_url=self.emulator_url, rate_limit=self.rate_limit)
