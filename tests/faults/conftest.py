"""The fault tests: each in one thread with its own dataset cache."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread_and_own_cache(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("GATEDGCN_CACHE_DIR", str(tmp_path / "cache"))
