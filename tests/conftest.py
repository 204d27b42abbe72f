"""Shared fixtures."""

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty numerics.codecache directory for one test (restored afterwards)."""
    from numerics import codecache

    monkeypatch.setenv("NNTHEORY_CACHE_DIR", str(tmp_path))
    codecache.cache_dir.cache_clear()
    codecache._LOADED.clear()
    yield tmp_path
    codecache.cache_dir.cache_clear()
    codecache._LOADED.clear()
