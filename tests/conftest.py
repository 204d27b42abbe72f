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


# Property tests draw their examples deterministically (from the test's source), so a
# run of the suite, like a run of the claims, is reproducible; explicit @example cases
# keep what earlier random searches found.
from hypothesis import settings  # noqa: E402

settings.register_profile("deterministic", derandomize=True)
settings.load_profile("deterministic")
