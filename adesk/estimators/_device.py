"""Turning plain constructor values into torch objects inside ``fit``."""

import numpy as np
import torch
from sklearn.utils import check_random_state

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device):
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other strings as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def make_generator(random_state, device):
    """A ``torch.Generator`` on ``device`` seeded from ``random_state``.

    ``None`` draws a fresh seed from the operating system, through a private numpy generator,
    so that neither numpy's nor torch's global random state is touched. An int seeds
    deterministically; a ``RandomState`` instance is consumed (as scikit-learn does).
    """
    if random_state is None:
        seed = int(np.random.default_rng().integers(2**63 - 1))
    elif isinstance(random_state, (int, np.integer)):
        seed = int(random_state)
    else:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
