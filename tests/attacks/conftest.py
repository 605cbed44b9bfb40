import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every attack test runs on one torch thread (the fixture is in tests/conftest.py)."""
    yield
