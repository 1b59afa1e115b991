"""The exchange emulator: a local server speaking venue REST dialects with deterministic, replayed or faulty data.

Tests point the real ccxt client at it; users run it for offline mode (`datafactory emulator`).
"""

from datafactory_assets.emulator.candles import DEFAULT_SYMBOLS, LISTED_SINCE_MS, synthetic_candles
from datafactory_assets.emulator.replay import load_replay
from datafactory_assets.emulator.server import Emulator, parse_replay_arg, serve

__all__ = ["DEFAULT_SYMBOLS", "LISTED_SINCE_MS", "Emulator", "load_replay", "parse_replay_arg", "serve",
           "synthetic_candles"]
