import os

import pytest
import torch

# Under pytest-xdist each of the 2 workers gets one thread: two workers x two OpenMP threads on 2 cores
# oversubscribe, and spinning OpenMP threads then slow some tests down by 20x.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """One torch thread for the test (tiny nets: outside xdist a second OpenMP thread only contends for the 2 shared
    cores, up to 10x slower when they are busy); restored afterwards. Use with pytest.mark.usefixtures."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
