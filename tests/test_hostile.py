"""Hostile files and faults below the CLI: bounded parsing, a cache that cannot lie, full disks, planted links."""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

from evalkit import _io, _parse
from evalkit._text import csv_cell, md_cell, name_problem, xml_text
from evalkit.errors import DataError, OutputError, SuiteError
from evalkit.model.cache import EmbeddingCache

# --- bounded parsing -------------------------------------------------------------------------------

BOMB = (
    "a: &a ["
    + ", ".join(["lol"] * 9)
    + "]\n"
    + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
)


def test_alias_bomb_fails_fast_without_building_anything():
    started = time.perf_counter()
    with pytest.raises(DataError, match="expands to more than 2,000,000 values"):
        _parse.load_yaml(BOMB, "card X")
    assert time.perf_counter() - started < 1.0
    assert len(BOMB) < 700


def test_aliases_within_the_cap_still_load():
    assert _parse.load_yaml("a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 2\n", "f") == {"a": {"b": 1}, "c": {"b": 1}, "d": {"b": 1, "e": 2}}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("tasks: [a]\ntasks: [b]\n", "the key `tasks` appears twice in one mapping (line 2)"),
        ("x: " + "1" * 400 + "\n", "a number of 400 digits at line 1"),
        ("x: " + "9" * 5000 + "\n", "a number of 5000 digits"),
        ("x: 1" + "0" * 400 + ".5\n", "is out of range"),
        ("x: " + "[" * 100 + "]" * 100 + "\n", "nested more than 64 levels deep"),
        ("x: [\n", "broken YAML at line"),
    ],
)
def test_yaml_limits_are_one_line_naming_the_problem(text: str, phrase: str):
    with pytest.raises(SuiteError, match="^suite s.yaml: ") as info:
        _parse.load_yaml(text, "suite s.yaml", error=SuiteError)
    assert phrase in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_keeps_nan_and_infinity_written_as_such():
    data = _parse.load_yaml("a: .nan\nb: -.inf\nc: 0.25\nd: 12\n", "f")
    assert np.isnan(data["a"]) and data["b"] == float("-inf") and data["c"] == 0.25 and data["d"] == 12


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ('{"a": 1, "a": 2}', "the key `a` appears twice"),
        ('{"x": ' + "1" * 400 + "}", "a number of 400 digits"),
        ('{"x": 1' + "0" * 400 + ".0}", "is out of range"),
        ("[" * 100000 + "]" * 100000, "nested too deeply for JSON"),
        ('{"a"', "truncated or invalid JSON at line 1"),
    ],
)
def test_json_limits_are_one_line(text: str, phrase: str):
    with pytest.raises(DataError, match=phrase):
        _parse.loads_json(text, "results file r.json")


def test_json_keeps_nan_written_by_mteb():
    assert np.isnan(_parse.loads_json('{"main_score": NaN}', "r")["main_score"])


def test_devices_folders_and_oversized_files_are_refused_before_reading(tmp_path: Path):
    with pytest.raises(DataError, match="not a regular file"):
        _parse.read_text(Path("/dev/zero"), "card /dev/zero")
    with pytest.raises(DataError, match="is a folder"):
        _parse.read_text(tmp_path, "card d")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(DataError, match="over the limit of 1,024"):
        _parse.read_json(big, limit=1024)


# --- names and escaping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [("Evil\x1b[31m", "U+001B"), ("a\u202eb", "U+202E"), ("名" * 100, "300 bytes"), (" padded", "space"), ("ATEC", None)],
)
def test_task_names_must_be_printable_and_short(name: str, problem: str | None):
    found = name_problem(name)
    assert (found is None) if problem is None else (problem in found)


def test_escaping_for_markdown_csv_and_xml():
    assert md_cell("a|b\nc") == "a\\|b c"
    assert md_cell("x\x1by") == "x\\x1by"
    assert [csv_cell(v) for v in ("=cmd()", "@x", "+1+1", "-x", "-1.5", "plain", 3)] == [
        "'=cmd()",
        "'@x",
        "'+1+1",
        "'-x",
        "-1.5",
        "plain",
        3,
    ]
    assert xml_text("a\x00b\x1bc") == "a\\x00b\\x1bc"


# --- the embedding cache -------------------------------------------------------------------------


def _shard(cache: EmbeddingCache) -> Path:
    return next(cache.dir.glob("shard-*.npz"))


def _rewrite(shard: Path, **arrays: np.ndarray) -> None:
    with np.load(shard) as data:
        contents = {k: data[k] for k in data.files}
    contents.update(arrays)
    with shard.open("wb") as f:
        np.savez(f, **contents)


def _filled(tmp_path: Path) -> tuple[EmbeddingCache, np.ndarray]:
    cache = EmbeddingCache(tmp_path, "model-key")
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    cache.put("p", ["a", "b", "c"], vectors)
    return cache, vectors


def test_a_shard_that_fits_is_served(tmp_path: Path):
    _, vectors = _filled(tmp_path)
    found = EmbeddingCache(tmp_path, "model-key").get("p", ["a", "b", "c", "d"], dim=4)
    assert list(found) == ["a", "b", "c"]
    assert np.array_equal(np.stack(list(found.values())), vectors)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda s, v: _rewrite(s, vectors=np.random.default_rng(0).standard_normal(v.shape).astype(np.float32)), "checksum mismatch"),
        (lambda s, v: _rewrite(s, vectors=np.ones((3, 3), dtype=np.float32)), "dimension 3"),
        (lambda s, v: _rewrite(s, vectors=np.where(np.eye(3, 4) > 0, np.nan, v).astype(np.float32)), "checksum mismatch"),
        (lambda s, v: _rewrite(s, vectors=v[:2]), "2 vectors for 3 keys"),
        (lambda s, v: _rewrite(s, meta=np.array(json.dumps({"model": "other", "dim": 4, "count": 3, "sha256": "x"}))), "model key"),
        (lambda s, v: s.write_bytes(s.read_bytes()[:100]), "BadZipFile"),
    ],
    ids=["planted random vectors", "3-dimensional", "NaN", "too few vectors", "another model", "truncated"],
)
def test_a_shard_that_does_not_fit_is_moved_aside_and_recomputed(tmp_path: Path, caplog, damage, reason: str):
    cache, vectors = _filled(tmp_path)
    shard = _shard(cache)
    damage(shard, vectors)
    fresh = EmbeddingCache(tmp_path, "model-key")
    with caplog.at_level(logging.WARNING):
        assert fresh.get("p", ["a", "b", "c"], dim=4) == {}
    assert not shard.exists()
    assert [p.name for p in fresh.moved_aside] == [shard.name]
    assert (cache.dir / "corrupt" / shard.name).exists()
    assert reason in caplog.text


def test_nan_with_a_matching_checksum_is_still_refused(tmp_path: Path):
    cache = EmbeddingCache(tmp_path, "model-key")
    cache.put("p", ["a"], np.array([[np.nan, 1.0]], dtype=np.float32))
    fresh = EmbeddingCache(tmp_path, "model-key")
    assert fresh.get("p", ["a"]) == {}
    assert fresh.moved_aside


def test_a_shard_of_another_dimension_than_the_model_is_refused(tmp_path: Path):
    _filled(tmp_path)
    fresh = EmbeddingCache(tmp_path, "model-key")
    assert fresh.get("p", ["a"], dim=8) == {}
    assert fresh.moved_aside


def test_a_symlinked_shard_is_not_read(tmp_path: Path):
    cache, _ = _filled(tmp_path)
    shard = _shard(cache)
    outside = tmp_path / "outside.npz"
    shard.rename(outside)
    shard.symlink_to(outside)
    fresh = EmbeddingCache(tmp_path, "model-key")
    assert fresh.get("p", ["a"]) == {}
    assert outside.exists()  # moved aside is the link, never the file it points at


def test_a_full_disk_skips_caching_and_leaves_no_temp(tmp_path: Path, monkeypatch, caplog):
    cache = EmbeddingCache(tmp_path, "model-key")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with caplog.at_level(logging.WARNING):
        cache.put("p", ["a"], np.ones((1, 4), dtype=np.float32))
    assert "cannot store 1 vectors" in caplog.text
    assert list(cache.dir.iterdir()) == []


def test_temp_shards_of_dead_writers_are_removed_when_the_cache_opens(tmp_path: Path):
    folder = tmp_path / "model-key"
    folder.mkdir()
    dead = folder / f".shard-x.npz.{_io._HOST}-999999999.tmp"
    live = _io.temp_path(folder / "shard-y.npz")  # this process: a writer at work
    elsewhere, abandoned = folder / ".shard-z.npz.otherhost-12.tmp", folder / ".shard-w.npz.otherhost-13.tmp"
    for path in (dead, live, elsewhere, abandoned):
        path.write_bytes(b"x")
    os.utime(abandoned, (time.time() - 7 * 3600,) * 2)  # another host's, untouched for 7 hours
    EmbeddingCache(tmp_path, "model-key")
    assert not dead.exists() and live.exists() and elsewhere.exists() and not abandoned.exists()


# --- writes: full disk, temps, links -------------------------------------------------------------


def test_full_disk_names_the_path_and_the_bytes_needed_and_leaves_no_temp(tmp_path: Path, monkeypatch):
    real_open = _io.open_exclusive

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io, "open_exclusive", lambda tmp: Full(real_open(tmp)))
    target = tmp_path / "run.html"
    with pytest.raises(OutputError, match=r"cannot write .*run.html: the disk is full \(5 bytes needed, [\d,]+ bytes free there\)"):
        _io.write_atomic(target, "hello")
    assert list(tmp_path.iterdir()) == []


def test_full_disk_on_a_real_tmpfs(tmp_path: Path):
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=64k tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(OutputError, match="the disk is full"):
            _io.write_atomic(mount / "big.json", "x" * 200_000)
        assert [p.name for p in mount.iterdir()] == []
    finally:
        os.system(f"umount {mount}")


def test_a_planted_link_under_the_temp_name_is_not_followed(tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "manifest.json"
    (folder / f".manifest.json.{_io._writer()}.tmp").symlink_to(victim)
    _io.write_atomic(target, "{}")
    assert victim.read_text() == "keep"
    assert target.read_text() == "{}" and not target.is_symlink()


def test_a_symlinked_target_is_not_replaced(tmp_path: Path):
    real = tmp_path / "real.md"
    real.write_text("x")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    with pytest.raises(OutputError, match="symbolic link"):
        _io.write_atomic(link, "y")
    assert link.is_symlink() and real.read_text() == "x"


@pytest.mark.parametrize("lock", [_io.try_lock, _io.locked])
def test_a_symlinked_lock_is_refused(tmp_path: Path, lock):
    victim = tmp_path / "outside" / "victim"
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "T.lock").symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"), lock(locks / "T.lock"):
        pass
    assert not victim.exists()


def test_an_over_long_lock_name_is_one_line(tmp_path: Path):
    with pytest.raises(OutputError, match="over 255 bytes"), _io.try_lock(tmp_path / ("名" * 100 + ".lock")):
        pass


def test_check_writable_says_a_file_is_a_file(tmp_path: Path):
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="it is a file, not a folder; pass --reports"):
        _io.check_writable(tmp_path / "f", "--reports")
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


# --- card --into a symlinked card, merge refusing links -------------------------------------------


def test_card_into_a_symlinked_card_updates_the_card_and_keeps_the_link(tmp_path: Path, capsys):
    from evalkit.cli import main

    from .hostile_cases import results_folder

    card = Path(__file__).parent / "data" / "jina-embeddings-v2-base-zh.md"
    real = tmp_path / "real" / "README.md"
    real.parent.mkdir()
    real.write_text(card.read_text().replace("jina-embeddings-v2-base-zh", "model-a"))
    link = tmp_path / "README.md"
    link.symlink_to(real)
    res = results_folder(tmp_path, value=0.123456)
    assert main(["card", "export", str(res), "--into", str(link)]) == 0
    assert link.is_symlink()
    assert "0.123456" in real.read_text() or "12.3456" in real.read_text()
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_merge_with_a_corrupt_manifest_copies_nothing(tmp_path: Path):
    from evalkit.results.merge import merge_folders

    from .hostile_cases import results_folder

    a, b = results_folder(tmp_path / "a"), results_folder(tmp_path / "b", task="ATEC")
    (next(b.glob("*/*")) / "evalkit").mkdir()
    (next(b.glob("*/*")) / "evalkit" / "manifest.json").write_text('{"tasks": {')
    with pytest.raises(DataError, match="manifest"):
        merge_folders([a, b], tmp_path / "m")
    assert not (tmp_path / "m").exists()
