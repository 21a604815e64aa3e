"""Shared fixtures: seeded torch, a private data cache, one thread per test process."""

from __future__ import annotations

import os

import pytest
import torch


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True, scope="session")
def _private_data_cache(tmp_path_factory):
    """Generated N-body data goes to a per-session cache, not the user's ~/.cache."""
    if "REMUL_DATA_DIR" not in os.environ:
        os.environ["REMUL_DATA_DIR"] = str(tmp_path_factory.mktemp("remul_cache"))
    yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
