"""Saving and loading estimators without pickle: tensors, numbers and strings only.

A saved file is a ``torch.save`` archive of plain containers (dicts, lists, tuples, strings,
numbers and CPU tensors), so :func:`load` reads it with ``torch.load(weights_only=True)``,
which cannot execute code hidden in the file. The estimator's class is looked up in a fixed
table, its modules are rebuilt from the saved parameters and the saved state is loaded into
them. The same encoding makes pickles of GPU-fitted estimators load on CPU-only machines.
"""

import os
import tempfile
import warnings

import numpy as np
import torch

from .._components import COMPONENT_REGISTRY, Component
from ._device import resolve_device

FORMAT = "adesk-estimator"
FORMAT_VERSION = 1

# Marks a dict that encodes a non-plain value; never a key of an estimator's own dicts.
MARKER = "__adesk__"


#: Every estimator class by name: what a saved file's ``"class"`` refers to. Filled by
#: :meth:`BaseEnergyEstimator.__init_subclass__ <adesk.estimators.BaseEnergyEstimator>`, so that
#: this module needs no import of the estimator modules (which import it).
ESTIMATOR_REGISTRY = {}


def register_estimator(cls):
    """Record ``cls`` under its name so that :func:`restore_estimator` can rebuild it."""
    ESTIMATOR_REGISTRY[cls.__name__] = cls
    return cls


def _estimator_classes():
    return dict(ESTIMATOR_REGISTRY)


def _to_cpu(value):
    """Tensors inside nested containers (optimizer and module state) moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return type(value)((key, _to_cpu(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item) for item in value)
    return value


def encode(value, name):
    """``value`` as plain containers and CPU tensors; ``name`` is used in error messages."""
    if value is None or isinstance(value, bool):
        return value
    # Exact built-in types: subclasses (enums, torch's version string) are not loadable with
    # weights_only.
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return {MARKER: "ndarray", "data": torch.from_numpy(np.array(value))}
        return {MARKER: "list_array", "data": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, torch.nn.Module):
        return {MARKER: "module", "state": _to_cpu(dict(value.state_dict()))}
    if isinstance(value, torch.optim.Optimizer):
        return {MARKER: "optimizer", "state": _to_cpu(value.state_dict())}
    if isinstance(value, torch.Generator):
        return {MARKER: "generator", "state": value.get_state(), "device": str(value.device)}
    if isinstance(value, torch.device):
        return {MARKER: "device", "value": str(value)}
    if isinstance(value, torch.dtype):
        return {MARKER: "dtype", "value": str(value).replace("torch.", "")}
    if isinstance(value, Component):
        # A parameter object (sampler, q0, energy, log Z): its class name and parameters.
        if COMPONENT_REGISTRY.get(type(value).__name__) is not type(value):
            raise TypeError(f"cannot save {name}: {type(value).__name__} is not registered.")
        params = value.get_params(deep=False)
        return {
            MARKER: "component",
            "class": type(value).__name__,
            "params": {key: encode(item, f"{name}__{key}") for key, item in params.items()},
        }
    if isinstance(value, dict):
        if MARKER in value:
            raise TypeError(f"cannot save {name}: it uses the reserved key {MARKER!r}.")
        return {key: encode(item, f"{name}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(encode(item, f"{name}[{i}]") for i, item in enumerate(value))
    raise TypeError(f"cannot save {name} of type {type(value).__name__}.")


def _decode_plain(value):
    """Decode everything except modules, optimizers and generators (handled by the caller)."""
    if isinstance(value, dict):
        kind = value.get(MARKER)
        if kind == "ndarray":
            return value["data"].numpy().copy()
        if kind == "list_array":
            return np.array(value["data"], dtype=np.dtype(value["dtype"]))
        if kind == "device":
            return torch.device(value["value"])
        if kind == "dtype":
            return getattr(torch, value["value"])
        if kind == "component":
            cls = COMPONENT_REGISTRY.get(value["class"])
            if cls is None:
                raise ValueError(f"Unknown parameter object {value['class']!r} in the file.")
            return cls(**{key: _decode_plain(item) for key, item in value["params"].items()})
        if kind is not None:
            return value
        return {key: _decode_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_decode_plain(item) for item in value)
    return value


def _encode_params(params):
    """Constructor parameters; callables and RandomState instances cannot be saved safely."""
    encoded, unsaved = {}, []
    for name, value in params.items():
        try:
            encoded[name] = encode(value, name)
        except TypeError:
            unsaved.append(name)
    return encoded, unsaved


def estimator_state(estimator):
    """The whole estimator (parameters and fitted state) as plain containers and tensors."""
    params, unsaved = _encode_params(estimator.get_params(deep=False))
    state = {}
    for name, value in estimator.__dict__.items():
        if name in params or name in unsaved:
            continue
        state[name] = encode(value, f"attribute {name}")
    from .. import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "adesk_version": __version__,
        "torch_version": str(torch.__version__),
        "class": type(estimator).__name__,
        "params": params,
        "unsaved_params": unsaved,
        "device": str(getattr(estimator, "_device", "cpu")),
        "state": state,
    }


def save_estimator(estimator, path):
    """Write :func:`estimator_state` to ``path`` atomically (a crash never leaves half a file)."""
    payload = estimator_state(estimator)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"Cannot save to {path!r}: the folder {directory!r} does not exist; create it first."
        )
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".adesk-", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _target_device(saved_device, device):
    """Where the loaded estimator lives: ``device`` if given, else where it was saved from,
    falling back to the CPU (with a warning) when that device is not available here."""
    if device is not None:
        return resolve_device(device)
    saved = torch.device(saved_device)
    if saved.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"The estimator was fitted on {saved_device}, but CUDA is not available here; "
            "it is loaded on the CPU.",
            UserWarning,
            stacklevel=4,
        )
        return torch.device("cpu")
    if saved.type == "mps" and not torch.backends.mps.is_available():
        warnings.warn(
            f"The estimator was fitted on {saved_device}, but MPS is not available here; "
            "it is loaded on the CPU.",
            UserWarning,
            stacklevel=4,
        )
        return torch.device("cpu")
    return saved


def _device_param(value, target):
    """Keep the ``device`` parameter usable on this machine (refits go where it points)."""
    if value == "auto":
        return value
    try:
        wanted = torch.device(value)
    except (RuntimeError, TypeError):
        return str(target)
    if wanted.type != target.type:
        return str(target)
    return value


def _load_module_state(module, state, name):
    """``load_state_dict`` that also accepts data-dependent buffer shapes (the rebuilt module
    saw a subset of the training data, e.g. an empirical initial's stored points). A module with
    a ``_prepare_to_load(state)`` method may first adapt itself to a state saved by an earlier
    version."""
    if hasattr(module, "_prepare_to_load"):
        module._prepare_to_load(state)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"The saved state of {name} does not fit the rebuilt module (missing {missing}, "
            f"unexpected {unexpected}); was it saved by another adesk version?"
        )
    for key, tensor in state.items():
        if own[key].shape == tensor.shape:
            continue
        owner_name, _, leaf = key.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        if leaf in owner._buffers:
            owner._buffers[leaf] = tensor.clone()
        elif leaf in owner._parameters:
            old = owner._parameters[leaf]
            owner._parameters[leaf] = torch.nn.Parameter(
                tensor.clone(), requires_grad=old.requires_grad
            )
        else:
            raise ValueError(f"Cannot restore {name}.{key} of shape {tuple(tensor.shape)}.")
    module.load_state_dict(state)


def _make_generator(encoded, target):
    """The saved generator on ``target``; a generator cannot change device type, so a moved
    estimator gets a fresh generator seeded from the saved state (deterministically)."""
    if torch.device(encoded["device"]).type == target.type:
        generator = torch.Generator(device=target)
        generator.set_state(encoded["state"])
        return generator
    seed = int(np.random.default_rng(encoded["state"].numpy()).integers(2**62))
    return torch.Generator(device=target).manual_seed(seed)


def restore_estimator(payload, device=None, params=None, expected_class=None):
    """Build the estimator described by ``payload`` (from :func:`estimator_state`)."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("Not an adesk estimator file (its 'format' entry is missing).")
    if payload["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"The file has format version {payload['format_version']}; this adesk reads "
            f"versions up to {FORMAT_VERSION}. Upgrade adesk."
        )
    classes = _estimator_classes()
    cls = classes.get(payload["class"])
    if cls is None:
        raise ValueError(f"Unknown estimator class {payload['class']!r} in the file.")
    if expected_class is not None and not issubclass(cls, expected_class):
        raise TypeError(f"The file holds a {cls.__name__}, not a {expected_class.__name__}.")
    overrides = dict(params or {})
    constructor = {name: _decode_plain(value) for name, value in payload["params"].items()}
    for name in payload["unsaved_params"]:
        if name in overrides:
            continue
        if name == "energy_model":
            raise ValueError(
                "The estimator was fitted with a callable energy_model, which is not saved; "
                "pass it again: adesk.load(path, energy_model=...)."
            )
        warnings.warn(
            f"Parameter {name} could not be saved (a callable, a callback or a RandomState); "
            "it is set to "
            f"None. Pass {name}=... to adesk.load to set it.",
            UserWarning,
            stacklevel=3,
        )
        constructor[name] = None
    constructor.update(overrides)
    target = _target_device(payload["device"], device)
    if "device" not in overrides:
        constructor["device"] = _device_param(constructor.get("device", "auto"), target)
    estimator = cls(**constructor)

    state = payload["state"]
    if "_device" not in state:  # never fitted: parameters only
        return estimator
    plain = {}
    modules, optimizers = {}, None
    for name, value in state.items():
        kind = value.get(MARKER) if isinstance(value, dict) else None
        if kind == "module":
            modules[name] = value["state"]
        elif kind == "generator":
            plain[name] = _make_generator(value, target)
        elif name == "_optimizers":
            optimizers = [item["state"] for item in value]
        else:
            plain[name] = _decode_plain(value)
    plain["_device"] = target
    estimator.__dict__.update(plain)
    _rebuild_modules(estimator, modules, optimizers)
    return estimator


def _rebuild_modules(estimator, module_states, optimizer_states):
    """Recreate the modules from the parameters, then load the saved weights into them."""
    saved = dict(estimator.__dict__)
    points = estimator._proposal_points.to(torch.float64).cpu().numpy()
    X = estimator._unstandardize(points)
    # _initialise_state builds every module (and optimizer) for this configuration; it resets
    # the fitted attributes, which are put back right after.
    generator_state = estimator._generator.get_state()
    with torch.random.fork_rng(devices=[]):
        estimator._initialise_state(X)
    estimator.__dict__.update(saved)
    estimator._generator.set_state(generator_state)
    for name, state in module_states.items():
        module = estimator.__dict__.get(name)
        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"The saved module {name} has no counterpart in the rebuilt model.")
        _load_module_state(module, state, name)
        module.to(device=estimator._device, dtype=estimator._dtype)
        module.train(False)
    for name, value in list(estimator.__dict__.items()):
        if isinstance(value, torch.Tensor):
            estimator.__dict__[name] = value.to(estimator._device)
    # Optimizers hold the parameters themselves: rebuild them on the loaded modules.
    estimator._new_optimizers()
    for optimizer, state in zip(estimator._optimizers, optimizer_states or []):
        optimizer.load_state_dict(state)


def load(path, device=None, **params):
    """Load an estimator written by :meth:`~adesk.ADEDensityEstimator.save`.

    The file is read with ``torch.load(weights_only=True)``: it can only contain tensors,
    numbers, strings and containers, never code. The estimator is rebuilt from its saved
    parameters, and its fitted state (or a training checkpoint's state) is restored, so
    ``score_samples`` and seeded ``sample`` give the same numbers as before saving.

    Parameters
    ----------
    path : str or path-like
    device : str or None, default=None
        Where to put the estimator; ``None`` keeps the device it was saved from, or the CPU
        (with a warning) when that device is not available here.
    **params
        Constructor parameters to set on the loaded estimator, e.g. a callable
        ``energy_model`` (callables are not saved) or new ``callbacks``.

    Returns
    -------
    estimator : BaseEnergyEstimator

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import adesk
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> from adesk.energies import MLP
    >>> from adesk.samplers import HMC
    >>> X = make_moons(100, random_state=0)
    >>> est = ADEDensityEstimator(max_iter=2, energy_model=MLP((8,)), sampler=HMC(2),
    ...                           partition="quadrature", random_state=0, device="cpu").fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "moons.pt")
    ...     est.save(path)
    ...     loaded = adesk.load(path)
    >>> type(loaded).__name__, loaded.max_iter
    ('ADEDensityEstimator', 2)
    >>> bool(np.allclose(loaded.score_samples(X[:5]), est.score_samples(X[:5])))
    True
    >>> bool(np.allclose(loaded.sample(3, random_state=0), est.sample(3, random_state=0)))
    True
    """
    return restore_estimator(read_model_file(path), device=device, params=params)


def read_model_file(path):
    """The payload of an adesk model file, read with ``torch.load(weights_only=True)``.

    A file that is missing or unreadable raises the usual :class:`OSError`; a file that is not
    an adesk model (another pickle, a corrupt or truncated file) raises a :class:`ValueError`
    that says so. torch's own message is not passed on: it suggests ``weights_only=False``,
    which would execute whatever code an untrusted file contains.
    """
    path = os.fspath(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as error:
        raise ValueError(
            f"{path!r} is not an adesk model file ({type(error).__name__} while reading it "
            "safely). adesk reads only files written by an estimator's save() or by a "
            "checkpoint; it never unpickles code from a file."
        ) from None
