import os

import torch

# Under pytest-xdist each worker gets one of the machine's cores; torch's own thread pool
# would otherwise oversubscribe them.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
