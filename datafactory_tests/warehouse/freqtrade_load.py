"""Run by freqtrade's own interpreter (`.venv-freqtrade/bin/python`), never by ours: what freqtrade's data loader
reads from a data directory in futures mode, as JSON on stdout.

Usage: python freqtrade_load.py FORMAT=DATADIR ... (one interpreter for every format: importing freqtrade is most of
the cost). Per format, for every file freqtrade finds in its directory
(`ohlcv_get_available_data(..., TradingMode.FUTURES)`), the frame `load_pair_history` returns with its defaults
(missing candles filled, none dropped), each column as a list (dates in epoch ms, floats as Python floats, so JSON
keeps every bit); and, per pair, how many funding events backtesting's join meets a mark candle
(`Exchange.combine_funding_and_mark` on the 1h mark and funding frames).
"""

import json
import sys
from pathlib import Path

from freqtrade.data.history import load_pair_history
from freqtrade.data.history.datahandlers import get_datahandler
from freqtrade.enums import CandleType, TradingMode
from freqtrade.exchange import Exchange


def main() -> None:
    print(json.dumps({fmt: read(Path(datadir), fmt) for fmt, _, datadir in map(lambda a: a.partition("="),
                                                                                sys.argv[1:])}))


def read(datadir: Path, fmt: str) -> dict:
    found = get_datahandler(datadir, fmt).ohlcv_get_available_data(datadir, TradingMode.FUTURES)
    loaded, joined = {}, {}
    for pair, timeframe, candle_type in sorted(found):
        frame = load_pair_history(pair, timeframe, datadir, data_format=fmt, candle_type=candle_type)
        columns = {"date": frame["date"].dt.as_unit("ms").astype("int64").tolist()}
        columns.update({c: frame[c].astype(float).tolist() for c in frame.columns if c != "date"})
        loaded[f"{pair}|{timeframe}|{candle_type.value}"] = columns
    for pair in sorted({pair for pair, _, _ in found}):
        mark = load_pair_history(pair, "1h", datadir, data_format=fmt, candle_type=CandleType.MARK)
        funding = load_pair_history(pair, "1h", datadir, data_format=fmt, candle_type=CandleType.FUNDING_RATE)
        joined[pair] = len(Exchange.combine_funding_and_mark(funding, mark))
    return {"found": sorted(map(list, found)), "loaded": loaded, "joined": joined}

if __name__ == "__main__":
    main()
