import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _train_data import blobs  # noqa: E402


@pytest.fixture
def blob_data():
    return blobs()
