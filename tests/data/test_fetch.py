import os
import shutil
from pathlib import Path

import pytest
from helpers_data import require_shared_data, toy_molecule_trajectory, write_md17

import remul.data.fetch as fetch
from remul.data.fetch import DataError, ensure_dataset, fetch_dataset, is_cached, verify_file
from remul.data.registry import DATASETS, DataFile, dataset_files


def _snapshot(root: Path) -> dict:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


def _copy_run_source(shared: Path, dest: Path) -> Path:
    (dest / "mocap").mkdir(parents=True)
    for name in ("motion_run.pkl", "split_run.pkl"):
        shutil.copyfile(shared / "mocap" / name, dest / "mocap" / name)
    return dest


def test_manifest_pins_every_public_file():
    for files in DATASETS.values():
        for f in files:
            assert f.url.startswith("http"), f
            if f.kind != "npz":
                assert f.sha256 is not None and len(f.sha256) == 64 and f.size > 0
    assert len(dataset_files("mocap_walk")) == 1 + 23 + 1
    with pytest.raises(ValueError, match="allowed"):
        dataset_files("nope")


def test_fetch_from_local_folder_verifies_and_caches(tmp_path):
    shared = require_shared_data()
    cache = tmp_path / "cache"
    root = fetch_dataset("mocap_run", source=shared, cache=cache)
    assert root == cache and is_cached("mocap_run", cache)
    for f in dataset_files("mocap_run"):
        verify_file(cache / f.path, f)
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.pkl")}
    fetch_dataset("mocap_run", source=tmp_path / "does-not-matter", cache=cache)  # cached: no-op
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.pkl")} == before
    assert not list(cache.glob(".staging-*"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "grow", "delete"])
def test_bad_source_file_is_refused_and_cache_left_as_it_was(tmp_path, damage):
    shared = require_shared_data()
    src = _copy_run_source(shared, tmp_path / "src")
    target = src / "mocap" / "split_run.pkl"
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        match = r"split_run\.pkl: checksum mismatch"
    elif damage == "truncate":
        target.write_bytes(bytes(data[:-100]))
        match = r"split_run\.pkl: truncated: expected \d+ bytes"
    elif damage == "grow":
        target.write_bytes(bytes(data) + b"\0")
        match = r"split_run\.pkl: mis-sized"
    else:
        target.unlink()
        match = r"mocap/split_run\.pkl: missing file"
    cache = tmp_path / "cache"
    (cache / "other").mkdir(parents=True)
    (cache / "other" / "keep.txt").write_text("untouched")
    before = _snapshot(cache)
    with pytest.raises(DataError, match=match):
        fetch_dataset("mocap_run", source=src, cache=cache)
    # nothing partial: not even the good motion_run.pkl, and no staging folder
    assert _snapshot(cache) == before
    assert not is_cached("mocap_run", cache)


def test_download_route_checks_the_pinned_checksum(tmp_path, monkeypatch):
    shared = require_shared_data()
    good = [DataFile(f.path, (shared / f.path).as_uri(), f.sha256, f.size, kind=f.kind)
            for f in dataset_files("mocap_run")]
    monkeypatch.setattr(fetch, "dataset_files", lambda name: good)
    cache = tmp_path / "cache"
    fetch_dataset("mocap_run", cache=cache)
    assert (cache / "mocap" / "motion_run.pkl").stat().st_size == good[0].size
    bad = [DataFile(f.path, f.url, "0" * 64, f.size, kind=f.kind) for f in good]
    monkeypatch.setattr(fetch, "dataset_files", lambda name: bad)
    cache2 = tmp_path / "cache2"
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_dataset("mocap_run", cache=cache2)
    assert _snapshot(cache2) == {}


def test_ensure_dataset_without_any_source_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.delenv(fetch.ENV_SOURCE, raising=False)
    monkeypatch.setattr(fetch, "repo_source_dir", lambda: None)
    with pytest.raises(DataError, match=r"remul data mocap_run"):
        ensure_dataset("mocap_run", cache=tmp_path / "c")


def test_ensure_dataset_uses_env_source_and_cache(tmp_path, monkeypatch):
    shared = require_shared_data()
    monkeypatch.setenv("REMUL_DATA_DIR", str(tmp_path / "envcache"))
    monkeypatch.setenv(fetch.ENV_SOURCE, str(shared))
    assert ensure_dataset("mocap_run") == tmp_path / "envcache"
    assert (tmp_path / "envcache" / "mocap" / "split_run.pkl").is_file()


def test_md17_missing_trajectory_names_the_file_and_the_download(tmp_path):
    shared = require_shared_data()
    with pytest.raises(DataError, match=r"md17_aspirin\.npz.*quantum-machine\.org.*remul data"):
        fetch_dataset("md17_aspirin", source=shared, cache=tmp_path / "c")
    assert _snapshot(tmp_path / "c") == {}


def test_md17_trajectory_without_pin_gets_a_format_check(tmp_path):
    shared = require_shared_data()
    src = tmp_path / "src"
    (src / "md17" / "splits").mkdir(parents=True)
    shutil.copyfile(shared / "md17/splits/uracil_split.pkl", src / "md17/splits/uracil_split.pkl")
    R, z = toy_molecule_trajectory(50)
    path = write_md17(src, "uracil", R, z, name="uracil_dft.npz")  # the alternative name
    fetch_dataset("md17_uracil", source=src, cache=tmp_path / "c")
    assert (tmp_path / "c" / "md17" / "md17_uracil.npz").is_file()
    path.write_bytes(path.read_bytes()[:200])  # truncated npz
    with pytest.raises(DataError, match=r"uracil_dft\.npz: not a readable \.npz"):
        fetch_dataset("md17_uracil", source=src, cache=tmp_path / "c2")
    assert _snapshot(tmp_path / "c2") == {}


def test_cli_data_command(tmp_path, capsys):
    from remul.cli import main

    shared = require_shared_data()
    cache = tmp_path / "cache"
    assert main(["data", "--from", str(shared), "--cache", str(cache), "mocap_run"]) == 0
    assert main(["data", "--list", "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "mocap_run" in out and "cached" in out
    # all datasets from a folder without MD17 trajectories: mocap fetched, MD17 reported missing
    assert main(["data", "--from", str(shared), "--cache", str(cache)]) == 0
    assert is_cached("mocap_walk", cache)
    assert "missing" in capsys.readouterr().err
    # naming a dataset that cannot be fetched is a failure
    assert main(["data", "--from", str(shared), "--cache", str(cache), "md17_ethanol"]) == 1
    bad = _copy_run_source(shared, tmp_path / "bad")
    with open(bad / "mocap" / "motion_run.pkl", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    assert main(["data", "--from", str(bad), "--cache", str(tmp_path / "c3"), "--force",
                 "mocap_run"]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "c3" / "mocap")
