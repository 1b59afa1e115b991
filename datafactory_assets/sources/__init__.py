"""Source adapters: each turns one client library's answers into a dataset's frame."""

from datafactory_assets.sources.base import BrokenAnswerError, FetchResult, RequestRecord, SourceError
from datafactory_assets.sources.ccxt_source import CcxtCandleSource
from datafactory_assets.sources.venues import VENUES, VenueQuirks

__all__ = [
    "VENUES",
    "BrokenAnswerError",
    "CcxtCandleSource",
    "FetchResult",
    "RequestRecord",
    "SourceError",
    "VenueQuirks",
]
