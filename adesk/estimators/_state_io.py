"""Saving, loading, pickling and in-memory snapshots of a fitted estimator (one job: its state
outside the training process).

:class:`PersistenceMixin` gives every estimator ``save`` / ``load`` (the file format of
:mod:`adesk.estimators._persistence`), pickling that survives GPU tensors and parametrized
modules, and the snapshots that early stopping and rollbacks restore.
:class:`~adesk.estimators.BaseEnergyEstimator` inherits it.
"""

import torch

from ._persistence import estimator_state, read_model_file, restore_estimator, save_estimator


def _has_parametrizations(module):
    """Whether any submodule carries a ``torch.nn.utils.parametrize`` parametrization."""
    return any(
        torch.nn.utils.parametrize.is_parametrized(submodule) for submodule in module.modules()
    )


class PersistenceMixin:
    """``save``, ``load``, pickling and snapshots; mixed into the base estimator."""

    def save(self, path):
        """Write the estimator (parameters and fitted state) to ``path``.

        The file holds only tensors, numbers and strings, so :func:`adesk.load` reads it with
        ``torch.load(weights_only=True)``; it loads on a CPU-only machine even when the
        estimator was fitted on a GPU. Callable parameters (a custom ``energy_model``,
        ``callbacks``) are not saved: pass them again to :func:`adesk.load`. The write is
        atomic (a temporary file renamed into place).

        Parameters
        ----------
        path : str or path-like
        """
        save_estimator(self, path)

    @classmethod
    def load(cls, path, device=None, **params):
        """Load an estimator of this class written by :meth:`save` (see :func:`adesk.load`).

        Parameters
        ----------
        path : str or path-like
        device : str or None, default=None
            ``None`` keeps the saved device when available here, else the CPU (with a warning).
        **params
            Constructor parameters to set, e.g. a callable ``energy_model``.

        Returns
        -------
        estimator : instance of this class
        """
        return restore_estimator(
            read_model_file(path), device=device, params=params, expected_class=cls
        )

    def _fitted_modules(self):
        """Every ``torch.nn.Module`` attribute of the estimator, by attribute name."""
        return {
            name: value
            for name, value in self.__dict__.items()
            if isinstance(value, torch.nn.Module)
        }

    def __getstate__(self):
        device = self.__dict__.get("_device")
        if device is not None and torch.device(device).type != "cpu":
            # Pickles of GPU tensors only load where that GPU exists; the portable state
            # (CPU tensors, rebuilt modules) loads anywhere.
            return {"__adesk_portable__": estimator_state(self)}
        state = self.__dict__.copy()
        # torch.Generator objects cannot be pickled; keep their state tensor and device.
        generator_states = {}
        for key in [key for key, value in state.items() if isinstance(value, torch.Generator)]:
            generator = state.pop(key)
            generator_states[key] = (generator.get_state(), str(generator.device))
        state["_generator_states"] = generator_states
        for key in ("_device", "_dtype"):
            if key in state:
                state[key] = str(state[key])
        energy = state.get("energy_model_")
        if energy is not None and _has_parametrizations(energy):
            # Parametrized modules (spectral normalisation) refuse to pickle; keep the
            # weights and rebuild the module from the estimator's parameters on load.
            state["energy_model_"] = None
            state["_energy_state_dict"] = {
                k: v.detach().cpu() for k, v in energy.state_dict().items()
            }
        return state

    def __setstate__(self, state):
        portable = state.get("__adesk_portable__")
        if portable is not None:
            self.__dict__.update(restore_estimator(portable).__dict__)
            return
        generator_states = state.pop("_generator_states", {})
        self.__dict__.update(state)
        for key, (generator_state, device) in generator_states.items():
            generator = torch.Generator(device=device)
            generator.set_state(generator_state)
            setattr(self, key, generator)
        if "_device" in state:
            self._device = torch.device(self._device)
            self._dtype = getattr(torch, self._dtype.replace("torch.", ""))
        energy_state = self.__dict__.pop("_energy_state_dict", None)
        if energy_state is not None:
            with torch.random.fork_rng(devices=[]):
                module = self._make_energy_model(self.n_features_in_, self._hp.hidden_layer_sizes)
            module.load_state_dict(energy_state)
            self.energy_model_ = module.to(device=self._device, dtype=self._dtype)
            self.energy_model_.train(False)

    def _snapshot(self):
        """Copies of every module's state (and of the replay buffer, if any)."""
        state = {
            name: {k: v.detach().clone() for k, v in module.state_dict().items()}
            for name, module in self._named_modules().items()
        }
        buffer = getattr(self, "replay_buffer_", None)
        state["__buffer__"] = None if buffer is None else buffer.clone()
        return state

    def _restore(self, state):
        for name, module in self._named_modules().items():
            module.load_state_dict(state[name])
        if state["__buffer__"] is not None:
            # A copy: training updates the buffer in place, and a snapshot may be restored twice.
            self.replay_buffer_ = state["__buffer__"].clone()

    def _named_modules(self):
        return {f"module_{i}": module for i, module in enumerate(self._modules_to_train())}
