"""Fixtures of the analysis service's tests."""

import pytest

from revue.analysis.adapters.providers.builtin import BuiltinProvider


@pytest.fixture(scope="session")
def builtin_provider():
    provider = BuiltinProvider(processes=2)
    yield provider
    provider.workers.close()
