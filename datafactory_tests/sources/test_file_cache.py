"""The on-disk cache of verified files: whole files or none, keyed by path, bounded, least recently used evicted
first."""

import os

import pytest

from datafactory_assets.sources.file_cache import FileCache

SPOT = "data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-05.zip"
FUTURES = "data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-05.zip"


def entries(directory) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_a_stored_file_reads_back_from_another_cache_over_the_same_directory(tmp_path):
    FileCache(tmp_path / "c", max_bytes=100).put(SPOT, b"abc")
    assert FileCache(tmp_path / "c", max_bytes=100).get(SPOT) == b"abc"
    assert FileCache(tmp_path / "c", max_bytes=100).get("data/spot/b.zip") is None
    assert FileCache(tmp_path / "never", max_bytes=100).get(SPOT) is None
    assert entries(tmp_path / "c") == [f"by-path/{SPOT}"]  # no partial file left behind


def test_files_of_one_name_under_two_paths_are_two_entries(tmp_path):
    """Binance names a spot and a USDⓈ-M futures file of a symbol and month alike: keyed by name, the one cached
    first was served for both."""
    cache = FileCache(tmp_path, max_bytes=100)
    cache.put(SPOT, b"spot")
    assert cache.get(FUTURES) is None
    cache.put(FUTURES, b"futures")
    assert (cache.get(SPOT), cache.get(FUTURES)) == (b"spot", b"futures")


def test_the_earlier_name_keyed_entries_are_never_read_and_discarded_at_the_next_put(tmp_path):
    (tmp_path / "BTCUSDT-1m-2024-05.zip").write_bytes(b"spot, or futures?")
    cache = FileCache(tmp_path, max_bytes=100)
    assert cache.get(FUTURES) is None and cache.get("BTCUSDT-1m-2024-05.zip") is None
    cache.put(FUTURES, b"futures")
    assert entries(tmp_path) == [f"by-path/{FUTURES}"]


def test_past_its_size_the_least_recently_used_files_go_first_never_the_one_just_stored(tmp_path):
    cache = FileCache(tmp_path, max_bytes=35)
    for age, name in enumerate(["a", "b", "c"]):
        cache.put(f"d/{name}", bytes(10))
        os.utime(tmp_path / "by-path" / "d" / name, ns=(age * 10**9, age * 10**9))
    assert cache.get("d/a") == bytes(10)  # a hit makes "a" the most recently used
    cache.put("e/d", bytes(10))
    assert entries(tmp_path) == ["by-path/d/a", "by-path/d/c", "by-path/e/d"]
    cache.put("huge", bytes(100))
    assert entries(tmp_path) == ["by-path/huge"]


@pytest.mark.parametrize("key", ["", ".hidden", "../escape.zip", "/data/x.zip", "data/../x.zip", "data//x.zip",
                                 "data/.x.zip", "data/x.zip/"])
def test_keys_are_relative_paths_of_plain_names(tmp_path, key):
    with pytest.raises(ValueError, match="relative paths of plain names"):
        FileCache(tmp_path, max_bytes=10).put(key, b"x")


def test_a_cache_needs_a_positive_size(tmp_path):
    with pytest.raises(ValueError, match="positive size"):
        FileCache(tmp_path, max_bytes=0)
