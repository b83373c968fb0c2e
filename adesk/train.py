"""Train an adesk estimator on several processes: ``torchrun ... -m adesk.train --config F``.

The configuration is a JSON file::

    {
      "estimator": "ADEDensityEstimator",
      "params": {"max_iter": 2000, "batch_size": 512, "random_state": 0},
      "data": {"toy": "moons", "n_samples": 10000, "random_state": 0},
      "output": "ade-moons.pt"
    }

``params`` are constructor parameters; a setting of a parameter object is named by its path,
as in scikit-learn's ``set_params``: ``{"energy_model__hidden_layer_sizes": [64, 64],
"sampler__n_steps": 10, "partition": "quadrature", "partition__resolution": 64}`` (a shortcut
string such as ``"quadrature"``, or the default one, stands for its object, whose fields are
then set; see :func:`estimator_from_params`).

``data`` is either ``{"toy": name, "n_samples": n, "random_state": seed}`` (one of
:data:`adesk.datasets.TOY_DATASETS`) or ``{"path": "X.npy"}`` (a ``.npy`` array of shape
``(n_samples, n_features)`` or ``(n_samples, C, H, W)``, read by every process).
``backend`` (optional) is ``"gloo"``, ``"nccl"`` or ``"auto"`` (NCCL when the processes use
CUDA). With ``"device": "auto"`` (the default) and CUDA present, process ``LOCAL_RANK`` uses
GPU ``LOCAL_RANK``.

Every process trains with ``distributed="ddp"`` (see :class:`adesk.ADEDensityEstimator`); rank
0 writes the fitted estimator with :meth:`~adesk.ADEDensityEstimator.save`, as an ordinary
estimator (``distributed="none"``), which :func:`adesk.load` reads on any machine. Launch::

    torchrun --nproc_per_node=2 -m adesk.train --config config.json
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from .estimators._persistence import _estimator_classes


def _shortcuts():
    """Parameter name -> {shortcut string: factory of its parameter object}."""
    from .energies._configs import ENERGY_SHORTCUTS
    from .estimators._flow_dual import FLOW_SHORTCUTS
    from .estimators._normalisation import PARTITION_SHORTCUTS
    from .initial._configs import INITIAL_SHORTCUTS
    from .samplers._configs import SAMPLER_SHORTCUTS

    return {
        "energy_model": ENERGY_SHORTCUTS,
        "partition": PARTITION_SHORTCUTS,
        "sampler": SAMPLER_SHORTCUTS,
        "initial": INITIAL_SHORTCUTS,
        "flow": FLOW_SHORTCUTS,  # FlowDualEstimator's flow
    }


def estimator_from_params(cls, params):
    """``cls`` built from constructor parameters and nested settings, as JSON can give them.

    A key ``"name__field"`` sets ``field`` of the parameter object ``name`` (scikit-learn's
    ``set_params`` convention). Where ``name`` holds a shortcut string (given, or the
    default), it is first replaced by the object that the string stands for, so that
    ``{"sampler__n_steps": 10}`` gives ``sampler=HMC(n_steps=10)``; a parameter object given
    in ``params`` is copied before its fields are set, so the caller's object is never
    modified.

    Parameters
    ----------
    cls : type
        An adesk estimator class.
    params : dict
        Constructor parameters (``"name"``) and nested settings (``"name__field"``).

    Returns
    -------
    estimator : cls

    Examples
    --------
    >>> from adesk import ADEDensityEstimator
    >>> est = estimator_from_params(
    ...     ADEDensityEstimator,
    ...     {"max_iter": 10, "sampler__n_steps": 3, "energy_model__hidden_layer_sizes": [8]},
    ... )
    >>> est.sampler, est.energy_model, est.max_iter
    (HMC(n_steps=3), MLP(hidden_layer_sizes=[8]), 10)
    """
    from sklearn.base import clone

    flat = {key: value for key, value in params.items() if "__" not in key}
    nested = {key: value for key, value in params.items() if "__" in key}
    estimator = cls(**flat)
    shortcuts = _shortcuts()
    for name in dict.fromkeys(key.split("__", 1)[0] for key in nested):
        value = getattr(estimator, name, None)
        if isinstance(value, str) and value in shortcuts.get(name, {}):
            estimator.set_params(**{name: shortcuts[name][value]()})
        elif hasattr(value, "get_params") and not isinstance(value, type):
            estimator.set_params(**{name: clone(value, safe=False)})
    return estimator.set_params(**nested)


def read_config(path):
    """The JSON configuration, validated: estimator class, parameters, data, output path."""
    with open(path) as handle:
        config = json.load(handle)
    classes = _estimator_classes()
    name = config.get("estimator")
    if name not in classes:
        raise ValueError(f"estimator must be one of {sorted(classes)}; got {name!r}.")
    if "output" not in config:
        raise ValueError("The configuration needs an 'output' path for the fitted estimator.")
    data = config.get("data", {})
    if not ("toy" in data) ^ ("path" in data):
        raise ValueError(
            "data must be {'toy': name, 'n_samples': n, 'random_state': seed} or "
            f"{{'path': 'X.npy'}}; got {data!r}."
        )
    backend = config.get("backend", "auto")
    if backend not in ("auto", "gloo", "nccl"):
        raise ValueError(f"backend must be 'auto', 'gloo' or 'nccl'; got {backend!r}.")
    return config


def load_data(data):
    """The training array described by the configuration's ``data`` entry."""
    if "path" in data:
        return np.load(data["path"])
    from .datasets import make_toy

    return make_toy(
        data["toy"], n_samples=data.get("n_samples", 10000), random_state=data.get("random_state")
    )


def _device_and_backend(params, backend):
    device = params.get("device", "auto")
    use_cuda = torch.cuda.is_available() and (device == "auto" or str(device).startswith("cuda"))
    if use_cuda and device in ("auto", "cuda"):
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    elif not use_cuda and device == "auto":
        device = "cpu"
    if backend == "auto":
        backend = "nccl" if use_cuda else "gloo"
    return device, backend


def train(config):
    """Fit on the current process group; returns the estimator (on every rank)."""
    classes = _estimator_classes()
    params = dict(config.get("params", {}))
    device, backend = _device_and_backend(params, config.get("backend", "auto"))
    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend=backend)
    try:
        X = load_data(config["data"])
        estimator = estimator_from_params(
            classes[config["estimator"]], {**params, "device": device}
        )
        estimator.set_params(distributed="ddp")
        start = time.perf_counter()
        estimator.fit(X)
        seconds = time.perf_counter() - start
        # Back to an ordinary estimator: refits need no process group, the file loads anywhere.
        estimator.set_params(distributed="none", device=params.get("device", "auto"))
        if dist.get_rank() == 0:
            estimator.save(config["output"])
            print(
                f"[adesk.train] {config['estimator']} on {dist.get_world_size()} processes "
                f"({backend}): {estimator.n_iter_} iterations in {seconds:.1f} s, training "
                f"log-likelihood {estimator.score(X):.4f}; saved to {config['output']}",
                flush=True,
            )
        dist.barrier()
        return estimator
    finally:
        if created:
            dist.destroy_process_group()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node=N -m adesk.train")
    parser.add_argument("--config", required=True, help="JSON configuration (see the module)")
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        print(
            "adesk.train runs under torchrun (it reads RANK, WORLD_SIZE, MASTER_ADDR from the "
            "environment), e.g. torchrun --nproc_per_node=2 -m adesk.train --config cfg.json",
            file=sys.stderr,
        )
        return 2
    train(read_config(args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
