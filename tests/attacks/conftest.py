import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets: a second OpenMP thread only contends for the 2 shared cores (10x slower when they are busy)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
