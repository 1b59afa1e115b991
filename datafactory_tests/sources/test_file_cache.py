"""The on-disk cache of verified files: whole files or none, bounded, least recently used evicted first."""

import os

import pytest

from datafactory_assets.sources.file_cache import FileCache


def test_a_stored_file_reads_back_from_another_cache_over_the_same_directory(tmp_path):
    FileCache(tmp_path / "c", max_bytes=100).put("a.zip", b"abc")
    assert FileCache(tmp_path / "c", max_bytes=100).get("a.zip") == b"abc"
    assert FileCache(tmp_path / "c", max_bytes=100).get("b.zip") is None
    assert FileCache(tmp_path / "never", max_bytes=100).get("a.zip") is None
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["a.zip"]  # no partial file left behind


def test_past_its_size_the_least_recently_used_files_go_first_never_the_one_just_stored(tmp_path):
    cache = FileCache(tmp_path, max_bytes=35)
    for age, name in enumerate(["a", "b", "c"]):
        cache.put(name, bytes(10))
        os.utime(tmp_path / name, ns=(age * 10**9, age * 10**9))
    assert cache.get("a") == bytes(10)  # a hit makes "a" the most recently used
    cache.put("d", bytes(10))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c", "d"]
    cache.put("huge", bytes(100))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge"]


@pytest.mark.parametrize("name", ["", ".hidden", "../escape.zip", "sub/dir.zip"])
def test_entry_names_are_plain_file_names(tmp_path, name):
    with pytest.raises(ValueError, match="plain file names"):
        FileCache(tmp_path, max_bytes=10).put(name, b"x")


def test_a_cache_needs_a_positive_size(tmp_path):
    with pytest.raises(ValueError, match="positive size"):
        FileCache(tmp_path, max_bytes=0)
