"""A verdict that no source lists a pair names the dataset whose run found it, and only that dataset's serving it
takes it back."""

from dataclasses import replace

from datafactory_assets.datasets import SPOT_CANDLES
from datafactory_assets.warehouse.unlisted import forget_unlisted, record_unlisted, unlisted_pairs

PERP_LIKE = replace(SPOT_CANDLES, name="perp_like", table="perp_like", revisions=None)


def test_a_verdict_is_tagged_with_its_dataset_and_forgotten_only_when_that_dataset_is_served(warehouse):
    with warehouse.connect() as conn:
        record_unlisted(conn, "XYZ/USDT", answers="binance: not listed", run_id="r-1", dataset=PERP_LIKE)
        forget_unlisted(conn, "XYZ/USDT")  # spot candles served: says nothing about perp_like's chain
        assert conn.sql("SELECT symbol, dataset, run_id FROM unlisted_pairs").fetchall() == [
            ("XYZ/USDT", "perp_like", "r-1")]
        (line,) = unlisted_pairs(conn, ["XYZ/USDT"])
        assert line.startswith("XYZ/USDT: not listed by any source of its chain") and "binance: not listed" in line
        forget_unlisted(conn, "XYZ/USDT", dataset=PERP_LIKE)
        assert unlisted_pairs(conn, ["XYZ/USDT"]) == []
