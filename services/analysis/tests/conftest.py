"""Fixtures of the analysis service's tests."""

import pytest

from revue.analysis.adapters.providers.builtin import BuiltinProvider


@pytest.fixture(scope="session")
def builtin_provider():
    provider = BuiltinProvider(processes=2)
    yield provider
    provider.workers.close()


@pytest.fixture(scope="session")
def local_model():
    """A real language model (SmolLM2-135M under llama.cpp's server), one for the session."""
    from revue.analysis.adapters.providers.llm.local_server import LocalModelServer

    with LocalModelServer(context_tokens=4096) as server:
        yield server
