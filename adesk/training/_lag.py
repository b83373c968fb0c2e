"""The alarm for negatives that lag the model: a sustained energy gap between samples and data.

Maximum likelihood matches ``E_data[grad E]`` with ``E_model[grad E]``. When the negatives are
model samples, their mean energy sits close to the data's; when the sampler lags (stale
chains, too few transitions, step sizes that collapsed), the energy can lower itself on the
data and raise itself where the negatives sit without limit, and the gap
``mean E(negatives) - mean E(data)`` grows. It is logged every iteration as ``energy_gap``,
so watching it costs nothing.
"""

import numpy as np
from sklearn.exceptions import ConvergenceWarning

#: Mean |energy gap| (nats) above which a window of iterations counts as lagging.
GAP_TOLERANCE = 1.0
#: Consecutive lagging windows that make a sustained stretch.
N_LAGGING_WINDOWS = 3
#: Fraction of the iterations ignored at the start (the chains start away from the model).
BURN_IN_FRACTION = 0.1


class SamplerLagWarning(ConvergenceWarning):
    """The negatives of an energy-based fit did not follow the model for a sustained stretch.

    Raised by ``fit`` when the mean energy gap between the negatives and the data stayed above
    :data:`GAP_TOLERANCE` (1 nat) in magnitude over ``N_LAGGING_WINDOWS`` consecutive windows
    of iterations (windows of 100 iterations, fewer for short fits) after the first 10% of
    training. The density is then likely biased or running away: judge it by its held-out
    log-likelihood. A subclass of :class:`~sklearn.exceptions.ConvergenceWarning`, so that
    ``warnings.simplefilter("ignore", ConvergenceWarning)`` silences it too.

    Examples
    --------
    >>> from adesk.training import SamplerLagWarning, lagging_stretch
    >>> issubclass(SamplerLagWarning, Warning)
    True
    >>> lagging_stretch([0.1] * 50 + [5.0] * 950)  # (first, last iteration, mean gap)
    (101, 1000, 5.0)
    >>> lagging_stretch([0.1] * 1000) is None
    True
    """


def _window_length(n_iterations):
    return int(min(100, max(10, n_iterations // 10)))


def lagging_stretch(gaps, tolerance=GAP_TOLERANCE, n_windows=N_LAGGING_WINDOWS):
    """The longest run of consecutive windows whose mean gap exceeds ``tolerance`` in magnitude.

    Parameters
    ----------
    gaps : sequence of float
        ``mean E(negatives) - mean E(data)`` per iteration.
    tolerance : float, default=1.0
        Nats.
    n_windows : int, default=3
        Shortest run that counts as sustained.

    Returns
    -------
    stretch : tuple (first_iteration, last_iteration, mean_gap) or None
        1-based iterations bounding the longest sustained run and the mean gap over it (the
        mean of the windows' mean gaps when they all lag on one side, else the mean of their
        magnitudes), or ``None`` when no run of ``n_windows`` windows lags (or the fit is too
        short to tell).
    """
    gaps = np.asarray(gaps, dtype=float)
    window = _window_length(len(gaps))
    skip = int(np.ceil(BURN_IN_FRACTION * len(gaps) / window)) * window
    n_full = (len(gaps) - skip) // window
    if n_full < n_windows:
        return None
    means = gaps[skip : skip + n_full * window].reshape(n_full, window).mean(axis=1)
    lagging = np.abs(means) > tolerance
    best, run_start = None, None
    for index, flag in enumerate(np.append(lagging, False)):
        if flag and run_start is None:
            run_start = index
        elif not flag and run_start is not None:
            length = index - run_start
            if length >= n_windows and (best is None or length > best[1] - best[0]):
                best = (run_start, index)
            run_start = None
    if best is None:
        return None
    first, stop = skip + best[0] * window, skip + best[1] * window
    window_means = means[best[0] : best[1]]
    # The signed mean when every window lags on the same side, else the mean magnitude.
    if np.all(window_means > 0) or np.all(window_means < 0):
        mean_gap = float(window_means.mean())
    else:
        mean_gap = float(np.abs(window_means).mean())
    return first + 1, stop, mean_gap


def lag_message(estimator_name, stretch, advice):
    """The text of the :class:`SamplerLagWarning` for a stretch found by
    :func:`lagging_stretch`."""
    first, last, mean_gap = stretch
    where = "above" if mean_gap > 0 else "below"
    return (
        f"{estimator_name}: the negatives lagged the model from iteration {first} to {last}: "
        f"their mean energy stayed {abs(mean_gap):.3g} nats {where} the data's on average "
        "(windows of up to 100 iterations; tolerance "
        f"{GAP_TOLERANCE:g}), so the energy was fitted against points that are not model "
        f"samples and the density is likely biased or running away. {advice} Check the "
        "held-out log-likelihood; history_['energy_gap'] has the gap per iteration."
    )
