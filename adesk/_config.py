"""Global settings of adesk, and the torch thread policy that uses them.

torch's CPU kernels use a pool of intra-op threads that spin while they wait for work. For
the small networks and minibatches of density estimation, a second thread buys little on an
idle machine, and on a busy one the spinning threads fight the other processes for the cores:
a fit beside one busy process measured about 18 times slower than idle with torch's default
pool (2 threads on a 2-core machine). adesk therefore sets the pool size for the duration of
each ``fit``, ``partial_fit``, ``sample``, ``score_samples``, ``energy``, ``complete`` and log Z
estimation, and restores the caller's setting afterwards, as scikit-learn does with
threadpoolctl for BLAS.
"""

import contextlib
import functools
import os
import threading

import torch

_DEFAULTS = {"n_threads": None}
_local = threading.local()


def _settings():
    if not hasattr(_local, "settings"):
        _local.settings = dict(_DEFAULTS)
    return _local.settings


def get_config():
    """The current values of adesk's global settings.

    Returns
    -------
    config : dict
        ``{"n_threads": int or None}``.

    See Also
    --------
    set_config, config_context

    Examples
    --------
    >>> import adesk
    >>> adesk.get_config()
    {'n_threads': None}
    """
    return dict(_settings())


def set_config(n_threads="keep"):
    """Change adesk's global settings (for the current thread).

    Parameters
    ----------
    n_threads : int, None or "keep", default="keep"
        torch intra-op threads used inside adesk's calls. ``None`` (the initial value) lets
        adesk choose: half the CPU cores visible to the process, at least 1 and at most
        torch's own setting, which keeps training from collapsing when other processes
        share the machine. An int uses exactly that many; ``-1`` leaves torch's own setting
        alone. ``"keep"`` leaves the current value.

    Examples
    --------
    >>> import adesk
    >>> adesk.set_config(n_threads=1)
    >>> adesk.get_config()["n_threads"]
    1
    >>> adesk.set_config(n_threads=None)
    """
    if n_threads != "keep":
        if n_threads is not None and (
            isinstance(n_threads, bool)
            or not isinstance(n_threads, int)
            or (n_threads < 1 and n_threads != -1)
        ):
            raise ValueError(
                "n_threads must be None (adesk chooses), -1 (torch's own setting) or a "
                f"positive int; got {n_threads!r}."
            )
        _settings()["n_threads"] = n_threads


@contextlib.contextmanager
def config_context(**settings):
    """Set adesk's global settings inside a ``with`` block and restore them after.

    Parameters
    ----------
    **settings
        As for :func:`set_config`.

    Examples
    --------
    >>> import adesk
    >>> with adesk.config_context(n_threads=2):
    ...     adesk.get_config()["n_threads"]
    2
    >>> adesk.get_config()["n_threads"] is None
    True
    """
    previous = get_config()
    set_config(**settings)
    try:
        yield
    finally:
        set_config(**previous)


def _available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has affinity masks
        return os.cpu_count() or 1


def effective_threads():
    """The torch intra-op thread count that adesk's calls use under the current settings.

    Returns
    -------
    n_threads : int

    Examples
    --------
    >>> import adesk
    >>> from adesk._config import effective_threads
    >>> with adesk.config_context(n_threads=1):
    ...     effective_threads()
    1
    """
    chosen = _settings()["n_threads"]
    if chosen == -1:
        return torch.get_num_threads()
    if chosen is None:
        return max(1, min(torch.get_num_threads(), _available_cores() // 2))
    return int(chosen)


@contextlib.contextmanager
def torch_threads():
    """Use :func:`effective_threads` torch threads inside the block, then restore."""
    previous = torch.get_num_threads()
    wanted = effective_threads()
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def with_thread_policy(method):
    """Decorate a public estimator method so that it runs under :func:`torch_threads`."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with torch_threads():
            return method(*args, **kwargs)

    return wrapper
