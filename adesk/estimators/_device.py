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


def draw_seed(random_state):
    """One integer seed from a ``random_state`` parameter.

    ``None`` draws a fresh seed from the operating system, through a private numpy generator,
    so that neither numpy's nor torch's global random state is touched. An int is the seed
    itself; a ``RandomState`` instance is consumed by one draw (as scikit-learn does), so two
    fits with the same instance differ and two fits with equally seeded instances agree.
    """
    if random_state is None:
        return int(np.random.default_rng().integers(2**63 - 1))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def derived_seed(seed, stream):
    """An independent seed for the named ``stream`` of one fit (``"split"``, ``"partition"``,
    ...), derived from the fit's ``seed`` through :class:`numpy.random.SeedSequence`."""
    key = [int(seed) % 2**63] + [ord(c) for c in stream]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0] % 2**63)


def make_generator(random_state, device):
    """A ``torch.Generator`` on ``device`` seeded from ``random_state`` (see :func:`draw_seed`)."""
    seed = draw_seed(random_state)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
