"""Fetching datasets into the cache: from the public sources or from a local folder, verified.

The cache is ``$REMUL_DATA_DIR`` (default ``~/.cache/remul``) and mirrors the manifest's layout
(:mod:`remul.data.registry`). A dataset is fetched as a whole: its files are downloaded (or copied
from ``--from DIR``) into a staging folder inside the cache, each is checked (size, pinned sha256,
format), and only when every file passed are they moved into place with ``os.replace``. A wrong
checksum, a truncated or missing file is a :class:`DataError` naming the file, and the cache is
left exactly as it was.

Tasks call :func:`ensure_dataset`: it returns the cache when it holds the dataset, and otherwise
fetches it from a local source folder (the ``source_dir`` argument, ``$REMUL_SOURCE_DIR``, or
``<repo>/../shared/data`` when that exists). It never downloads on its own: ``remul data NAME``
does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from remul.data.registry import DataFile, dataset_files


class DataError(ValueError):
    """A dataset file is missing, truncated, corrupt or fails its checksum."""


ENV_CACHE = "REMUL_DATA_DIR"
ENV_SOURCE = "REMUL_SOURCE_DIR"


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The data cache: ``cache``, else ``$REMUL_DATA_DIR``, else ``~/.cache/remul``."""
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "remul"


def repo_source_dir() -> Path | None:
    """``<repo>/../shared/data`` when it exists (this machine and CI keep public data there)."""
    cand = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return cand if cand.is_dir() else None


def find_source_dir(source_dir: str | os.PathLike | None = None) -> Path | None:
    """A local folder to fetch from: ``source_dir``, ``$REMUL_SOURCE_DIR``, or the repo's."""
    if source_dir:
        return Path(source_dir).expanduser()
    env = os.environ.get(ENV_SOURCE)
    if env:
        return Path(env).expanduser()
    return repo_source_dir()


def find_data_dir(
    name: str | None = None,
    source_dir: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
) -> Path:
    """The data root holding dataset ``name`` (fetched into the cache if needed); the cache
    root when ``name`` is None."""
    if name is None:
        return cache_dir(cache)
    return ensure_dataset(name, source_dir=source_dir, cache=cache)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _check_npz(path: Path, shown: str) -> None:
    """An MD17 trajectory: a zip of .npy members with R (T, A, 3) and z (A,)."""
    import numpy as np

    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for key in ("R", "z"):
                if f"{key}.npy" not in names:
                    raise DataError(f"{shown}: not an MD17 trajectory: no array {key!r}")
            shapes = {}
            for key in ("R", "z"):
                with zf.open(f"{key}.npy") as fh:
                    fmt = np.lib.format
                    version = fmt.read_magic(fh)
                    if version == (1, 0):
                        shape, _, _ = fmt.read_array_header_1_0(fh)
                    else:
                        shape, _, _ = fmt.read_array_header_2_0(fh)
                    shapes[key] = shape
            bad = zf.testzip()
            if bad is not None:
                raise DataError(f"{shown}: corrupt member {bad}")
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{shown}: not a readable .npz file ({err})") from err
    R, z = shapes["R"], shapes["z"]
    if len(R) != 3 or R[2] != 3 or len(z) != 1 or z[0] != R[1]:
        raise DataError(f"{shown}: expected R (frames, atoms, 3) and z (atoms,), got {R}, {z}")


def verify_file(path: Path, entry: DataFile, shown: str | None = None) -> None:
    """Check one file against its manifest entry; raise :class:`DataError` naming it."""
    shown = shown or str(path)
    if not path.is_file():
        raise DataError(f"{shown}: missing file")
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        what = "truncated" if size < entry.size else "mis-sized"
        raise DataError(f"{shown}: {what}: expected {entry.size} bytes, got {size}")
    if entry.sha256 is not None:
        got = sha256_file(path)
        if got != entry.sha256:
            raise DataError(
                f"{shown}: checksum mismatch: sha256 {got}, expected {entry.sha256} "
                "(corrupt or modified file)"
            )
    if entry.kind == "npz":
        _check_npz(path, shown)


def _cached_ok(root: Path, entry: DataFile) -> bool:
    try:
        verify_file(root / entry.path, entry)
        return True
    except DataError:
        return False


def is_cached(name: str, cache: str | os.PathLike | None = None) -> bool:
    root = cache_dir(cache)
    return all(_cached_ok(root, e) for e in dataset_files(name))


def _download(url: str, dest: Path, shown: str, timeout: float = 60.0) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as out:
            expected = resp.headers.get("Content-Length")
            n = 0
            while True:
                block = resp.read(1 << 20)
                if not block:
                    break
                out.write(block)
                n += len(block)
    except OSError as err:
        raise DataError(f"{shown}: download from {url} failed ({err})") from err
    if expected is not None and int(expected) != n:
        raise DataError(f"{shown}: truncated download from {url}: {n} of {expected} bytes")


def _missing_message(entry: DataFile, where: str) -> str:
    names = " or ".join([entry.path, *entry.alternatives])
    msg = f"{names}: missing file in {where}"
    if entry.kind == "npz":
        msg += (
            f". Download the MD17 trajectory from {entry.url} (sgdml.org) and put it in "
            f"{where}/md17/ (or any folder DIR/md17/ and run `remul data --from DIR "
            f"{_dataset_of(entry)}`), or run `remul data {_dataset_of(entry)}` to download it"
        )
    return msg


def _dataset_of(entry: DataFile) -> str:
    from remul.data.registry import DATASETS

    for name, files in DATASETS.items():
        if entry in files:
            return name
    return ""


def fetch_dataset(
    name: str,
    source: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Fetch dataset ``name`` into the cache and return the cache root.

    ``source``: a local folder with the manifest's layout (``--from DIR``); None downloads from
    the public URLs. Files already in the cache and valid are kept unless ``force``. All or
    nothing: on any error the staged files are deleted and the cache is unchanged.
    """
    log = log or (lambda _msg: None)
    root = cache_dir(cache)
    entries = dataset_files(name)
    todo = [e for e in entries if force or not _cached_ok(root, e)]
    if not todo:
        log(f"{name}: already in {root}")
        return root
    src = Path(source).expanduser() if source is not None else None
    if src is not None and not src.is_dir():
        raise DataError(f"--from {src}: not a folder")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        for entry in todo:
            staged = staging / entry.path
            staged.parent.mkdir(parents=True, exist_ok=True)
            if src is not None:
                cands = [src / p for p in (entry.path, *entry.alternatives)]
                found = next((c for c in cands if c.is_file()), None)
                if found is None:
                    raise DataError(_missing_message(entry, str(src)))
                shown = str(found)
                shutil.copyfile(found, staged)
            else:
                shown = f"{entry.path} ({entry.url})"
                log(f"{name}: downloading {entry.url}")
                _download(entry.url, staged, shown)
            verify_file(staged, entry, shown)
            if entry.sha256 is None:
                log(f"{name}: {entry.path}: no pinned sha256; checked size/format only")
        for entry in todo:
            dest = root / entry.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / entry.path, dest)
        log(f"{name}: {len(todo)} file(s) verified into {root}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def ensure_dataset(
    name: str,
    source_dir: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
) -> Path:
    """The cache root once it holds ``name``; fetched from a local source folder if needed."""
    root = cache_dir(cache)
    if is_cached(name, root):
        return root
    src = find_source_dir(source_dir)
    if src is None:
        missing = [e for e in dataset_files(name) if not _cached_ok(root, e)]
        msgs = "; ".join(_missing_message(e, str(root)) for e in missing[:3])
        raise DataError(
            f"dataset {name!r} is not in the cache {root} ({msgs}). Run `remul data {name}` "
            f"to download it, or `remul data --from DIR {name}` for a local copy "
            f"(or set {ENV_SOURCE}=DIR)"
        )
    try:
        return fetch_dataset(name, source=src, cache=root)
    except DataError as err:
        raise DataError(
            f"dataset {name!r} is not in the cache {root}, and fetching it from {src} failed: "
            f"{err}"
        ) from err
