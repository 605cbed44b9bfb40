import os

import torch

# Under pytest-xdist each of the 2 workers gets one thread: two workers x two OpenMP threads on 2 cores
# oversubscribe, and spinning OpenMP threads then slow some tests down by 20x.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
