"""Datasets: fetching with pinned checksums, safe unpickling, CMU mocap FK, MD17.

- :mod:`remul.data.registry`: the manifest (files, public URLs, sha256).
- :mod:`remul.data.fetch`: ``remul data`` (download or ``--from DIR``), the cache,
  ``ensure_dataset``.
- :mod:`remul.data.safe_pickle`: a restricted unpickler for the GMN/EGNO pickles.
- :mod:`remul.data.mocap`: ASF/AMC forward kinematics and the mocap protocol.
- :mod:`remul.data.md17`: MD17 trajectories and their protocol.
"""

from __future__ import annotations

from remul.data.fetch import (
    DataError,
    cache_dir,
    ensure_dataset,
    fetch_dataset,
    find_data_dir,
    find_source_dir,
)
from remul.data.registry import dataset_names

__all__ = [
    "DataError",
    "cache_dir",
    "dataset_names",
    "ensure_dataset",
    "fetch_dataset",
    "find_data_dir",
    "find_source_dir",
]
