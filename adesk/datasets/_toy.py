"""The paper's 14 two-dimensional toy distributions (ADE paper, Table 2).

Each generator's docstring states its generative process. Lower-case names come from the
FFJORD toy data (Grathwohl et al., 2019), capitalised names from the deep kernel exponential
family toy data (Wenliang et al., 2019); the names are case-sensitive because the paper uses
both ``cos`` and ``Cosine``.
"""

import numbers

import numpy as np
from sklearn import datasets as _sklearn_datasets
from sklearn.utils import check_random_state

__all__ = [
    "DEGENERATE_DATASETS",
    "TOY_DATASETS",
    "make_toy",
    "make_swissroll",
    "make_circles",
    "make_moons",
    "make_pinwheel",
    "make_two_spirals",
    "make_line",
    "make_cos",
    "make_banana",
    "make_cosine",
    "make_funnel",
    "make_ring",
    "make_multiring",
    "make_spiral",
    "make_uniform",
]


def _check_n_samples(n_samples):
    """Return ``n_samples`` as an int, or raise if it is not a positive integer."""
    # bool is an Integral subclass, but make_toy(name, True) is surely a mistake.
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    return int(n_samples)


def _split_counts(n_samples, n_parts):
    """Split ``n_samples`` into ``n_parts`` sizes that differ by at most one.

    The first ``n_samples % n_parts`` parts get one extra point, so the total is
    always exactly ``n_samples``.
    """
    counts = np.full(n_parts, n_samples // n_parts)
    counts[: n_samples % n_parts] += 1
    return counts


def _shuffled(X, rng):
    """Return the rows of ``X`` in random order (for per-component blocks)."""
    return X[rng.permutation(X.shape[0])]


def make_swissroll(n_samples=1000, random_state=None):
    """Sample the 2-D swiss roll (FFJORD ``swissroll``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Notes
    -----
    ``t = 1.5 * pi * (1 + 2u)`` with ``u ~ U(0, 1)``; the point is
    ``(t cos t, t sin t) + N(0, I)``, divided by 5. This is scikit-learn's
    ``make_swiss_roll(noise=1)`` keeping its x and z columns.

    Examples
    --------
    >>> from adesk.datasets import make_swissroll
    >>> make_swissroll(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(size=n_samples))
    roll = np.column_stack([t * np.cos(t), t * np.sin(t)])
    return (roll + rng.normal(size=(n_samples, 2))) / 5.0


def make_circles(n_samples=1000, random_state=None):
    """Sample two noisy concentric circles (FFJORD ``circles``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw; the outer circle gets ``n_samples // 2`` of them.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples, in random order.

    Notes
    -----
    scikit-learn's ``make_circles(factor=0.5, noise=0.08)``: half of the points at evenly
    spaced angles on the unit circle, the rest on the circle of radius 0.5, plus iid
    ``N(0, 0.08^2)`` noise; everything is then multiplied by 3 (radii 3 and 1.5).

    Examples
    --------
    >>> from adesk.datasets import make_circles
    >>> make_circles(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    X, _ = _sklearn_datasets.make_circles(
        n_samples=n_samples, factor=0.5, noise=0.08, random_state=rng
    )
    return np.asarray(X * 3.0, dtype=np.float64)


def make_moons(n_samples=1000, random_state=None):
    """Sample two interleaving half circles (FFJORD ``moons``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples, in random order.

    Notes
    -----
    scikit-learn's ``make_moons(noise=0.1)``, then ``X * 2 + (-1, -0.2)`` so the data sit
    roughly in ``[-3, 3] x [-1.2, 1.8]``.

    Examples
    --------
    >>> from adesk.datasets import make_moons
    >>> make_moons(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    X, _ = _sklearn_datasets.make_moons(n_samples=n_samples, noise=0.1, random_state=rng)
    return np.asarray(X * 2.0 + np.array([-1.0, -0.2]), dtype=np.float64)


def make_pinwheel(n_samples=1000, random_state=None):
    """Sample a five-armed pinwheel (FFJORD ``pinwheel``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw, split over the 5 arms as evenly as possible.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples, in random order.

    Notes
    -----
    For arm ``k`` in 0..4: radial ``r ~ N(1, 0.3^2)``, tangential ``t ~ N(0, 0.1^2)``,
    angle ``a = 2 pi k / 5 + 0.25 exp(r)``; the point is
    ``(r cos a + t sin a, -r sin a + t cos a)``, multiplied by 2.

    Examples
    --------
    >>> from adesk.datasets import make_pinwheel
    >>> make_pinwheel(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    n_arms = 5
    arm = np.repeat(np.arange(n_arms), _split_counts(n_samples, n_arms))
    radial = rng.normal(1.0, 0.3, size=n_samples)
    tangential = rng.normal(0.0, 0.1, size=n_samples)
    # The exp(radial) term twists each arm: points further out are rotated more.
    angle = 2.0 * np.pi * arm / n_arms + 0.25 * np.exp(radial)
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    X = np.column_stack([radial * cos_a + tangential * sin_a, -radial * sin_a + tangential * cos_a])
    return 2.0 * _shuffled(X, rng)


def make_two_spirals(n_samples=1000, random_state=None):
    """Sample two point-symmetric spirals (FFJORD ``2spirals``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw; the second arm gets ``n_samples // 2`` of them.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples, in random order.

    Notes
    -----
    ``s = 3 pi sqrt(u)`` with ``u ~ U(0, 1)``; arm 1 is
    ``(-s cos s + 0.5 U(0, 1), s sin s + 0.5 U(0, 1))`` and arm 2 is the negation of arm 1
    (the same points, mirrored through the origin). All points are divided by 3, then iid
    ``N(0, 0.1^2)`` noise is added. Registered under the paper's name ``"2spirals"``.

    Examples
    --------
    >>> from adesk.datasets import make_two_spirals
    >>> make_two_spirals(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    n_mirrored = n_samples // 2
    n_first = n_samples - n_mirrored  # odd n_samples: arm 1 keeps the extra point
    s = np.sqrt(rng.uniform(size=n_first)) * 3.0 * np.pi
    first_arm = np.column_stack(
        [
            -s * np.cos(s) + 0.5 * rng.uniform(size=n_first),
            s * np.sin(s) + 0.5 * rng.uniform(size=n_first),
        ]
    )
    X = np.vstack([first_arm, -first_arm[:n_mirrored]]) / 3.0
    X += rng.normal(0.0, 0.1, size=(n_samples, 2))
    return _shuffled(X, rng)


def make_line(n_samples=1000, random_state=None):
    """Sample the degenerate diagonal line (FFJORD ``line``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples; ``X[:, 1] == X[:, 0]`` exactly.

    Notes
    -----
    ``x ~ U(-2.5, 2.5)``, ``y = x``. There is no noise, so the distribution has no density
    in 2-D (see ``DEGENERATE_DATASETS``).

    Examples
    --------
    >>> from adesk.datasets import make_line
    >>> X = make_line(100, random_state=0)
    >>> X.shape, bool((X[:, 1] == X[:, 0]).all())
    ((100, 2), True)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    x = rng.uniform(-2.5, 2.5, size=n_samples)
    return np.column_stack([x, x])


def make_cos(n_samples=1000, random_state=None):
    """Sample the degenerate sine curve (FFJORD ``cos``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples; ``X[:, 1] == 2.5 * sin(X[:, 0])`` exactly.

    Notes
    -----
    ``x ~ U(-2.5, 2.5)``, ``y = 2.5 sin(x)``: despite the name, a sine curve. There is no
    noise, so the distribution has no density in 2-D (see ``DEGENERATE_DATASETS``).

    Examples
    --------
    >>> import numpy as np
    >>> from adesk.datasets import make_cos
    >>> X = make_cos(100, random_state=0)
    >>> X.shape, bool((X[:, 1] == 2.5 * np.sin(X[:, 0])).all())
    ((100, 2), True)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    x = rng.uniform(-2.5, 2.5, size=n_samples)
    return np.column_stack([x, 2.5 * np.sin(x)])


def make_banana(n_samples=1000, random_state=None):
    """Sample the banana distribution (kernel exponential family ``Banana``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Notes
    -----
    ``x0 ~ N(0, 2^2)`` and ``x1 | x0 ~ N(0.2 (x0^2 - 4), 1)``: a parabola-shaped ridge
    whose conditional mean is zero on average.

    Examples
    --------
    >>> from adesk.datasets import make_banana
    >>> make_banana(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    x0 = rng.normal(0.0, 2.0, size=n_samples)
    x1 = 0.2 * (x0**2 - 4.0) + rng.normal(size=n_samples)
    return np.column_stack([x0, x1])


def make_cosine(n_samples=1000, random_state=None):
    """Sample a noisy cosine band (kernel exponential family ``Cosine``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Notes
    -----
    ``x0 ~ U(-4, 4)`` and ``x1 | x0 ~ N(3 cos(2 x0), 1)``. Not the same distribution as
    the degenerate ``cos``.

    Examples
    --------
    >>> from adesk.datasets import make_cosine
    >>> make_cosine(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    x0 = rng.uniform(-4.0, 4.0, size=n_samples)
    x1 = 3.0 * np.cos(2.0 * x0) + rng.normal(size=n_samples)
    return np.column_stack([x0, x1])


def make_funnel(n_samples=1000, random_state=None):
    """Sample Neal's funnel (kernel exponential family ``Funnel``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Notes
    -----
    ``x0 ~ N(0, 2^2)`` and ``x1 | x0 ~ N(0, v)`` where ``v = clip(exp(-x0), 0, 10)`` is a
    variance (the standard deviation is ``sqrt(v)``); the clip keeps the wide end finite.

    Examples
    --------
    >>> from adesk.datasets import make_funnel
    >>> make_funnel(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    x0 = rng.normal(0.0, 2.0, size=n_samples)
    variance = np.clip(np.exp(-x0), 0.0, 10.0)
    x1 = np.sqrt(variance) * rng.normal(size=n_samples)
    return np.column_stack([x0, x1])


def _noisy_circle_points(base_radius, rng):
    """Points at uniform angles on circles of ``base_radius`` + N(0, 0.2^2) radial noise."""
    theta = rng.uniform(0.0, 2.0 * np.pi, size=base_radius.shape[0])
    radius = base_radius + rng.normal(0.0, 0.2, size=base_radius.shape[0])
    # (sin, cos) rather than (cos, sin): the reference generator's convention.
    return np.column_stack([radius * np.sin(theta), radius * np.cos(theta)])


def make_ring(n_samples=1000, random_state=None):
    """Sample a thin ring of radius 5 (kernel exponential family ``Ring``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Notes
    -----
    ``theta ~ U(0, 2 pi)``, ``r = 5 + N(0, 0.2^2)``; the point is
    ``(r sin theta, r cos theta)``.

    Examples
    --------
    >>> from adesk.datasets import make_ring
    >>> make_ring(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    return _noisy_circle_points(np.full(n_samples, 5.0), rng)


def make_multiring(n_samples=1000, random_state=None):
    """Sample three concentric rings (kernel exponential family ``Multiring``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Notes
    -----
    As ``Ring``, but each point's base radius is drawn from ``{1, 3, 5}`` with
    probabilities proportional to the radius (1/9, 3/9, 5/9), so every ring has the same
    density of points per unit length.

    Examples
    --------
    >>> from adesk.datasets import make_multiring
    >>> make_multiring(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    radii = np.array([1.0, 3.0, 5.0])
    base_radius = rng.choice(radii, size=n_samples, p=radii / radii.sum())
    return _noisy_circle_points(base_radius, rng)


def make_spiral(n_samples=1000, random_state=None):
    """Sample a three-armed spiral (kernel exponential family ``Spiral``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw, split over the 3 arms as evenly as possible.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples, in random order.

    Notes
    -----
    Arms start at angles 0, 2 pi / 3 and 4 pi / 3. For each point ``a ~ U(0, 1)``,
    ``phi = pi a + start`` and ``r = 1.5 pi a``; the point is
    ``(r cos phi, r sin phi) + (0.5 a + 0.1) N(0, I)``, so the noise grows along the arm.
    Not the same distribution as ``2spirals``.

    Examples
    --------
    >>> from adesk.datasets import make_spiral
    >>> make_spiral(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    n_arms = 3
    start = 2.0 * np.pi * np.repeat(np.arange(n_arms), _split_counts(n_samples, n_arms)) / n_arms
    a = rng.uniform(size=n_samples)
    phi = np.pi * a + start
    radius = 1.5 * np.pi * a
    noise_scale = (0.5 * a + 0.1)[:, np.newaxis]
    X = np.column_stack([radius * np.cos(phi), radius * np.sin(phi)])
    X += noise_scale * rng.normal(size=(n_samples, 2))
    return _shuffled(X, rng)


def make_uniform(n_samples=1000, random_state=None):
    """Sample the uniform square (kernel exponential family ``Uniform``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Notes
    -----
    ``U([-3, 3]^2)``: both coordinates iid uniform on ``[-3, 3]``.

    Examples
    --------
    >>> from adesk.datasets import make_uniform
    >>> make_uniform(100, random_state=0).shape
    (100, 2)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    return rng.uniform(-3.0, 3.0, size=(n_samples, 2))


# The paper's exact (case-sensitive) names, in the order of its Table 2.
_GENERATORS = {
    "swissroll": make_swissroll,
    "circles": make_circles,
    "moons": make_moons,
    "pinwheel": make_pinwheel,
    "2spirals": make_two_spirals,
    "line": make_line,
    "cos": make_cos,
    "Banana": make_banana,
    "Cosine": make_cosine,
    "Funnel": make_funnel,
    "Ring": make_ring,
    "Multiring": make_multiring,
    "Spiral": make_spiral,
    "Uniform": make_uniform,
}

#: The 14 dataset names of the paper's Table 2, as accepted by :func:`make_toy`.
TOY_DATASETS = tuple(_GENERATORS)

#: Datasets supported on a curve: they have no 2-D density, only samples.
DEGENERATE_DATASETS = ("line", "cos")


def make_toy(name, n_samples=1000, random_state=None):
    """Sample one of the paper's 14 toy distributions by name.

    Parameters
    ----------
    name : str
        One of ``TOY_DATASETS``, spelled exactly as in the paper (case-sensitive:
        ``"cos"`` and ``"Cosine"`` are different distributions).
    n_samples : int, default=1000
        Number of points to draw.
    random_state : int, RandomState instance or None, default=None
        Seed or generator; ``None`` uses NumPy's global RandomState, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If ``name`` is not one of ``TOY_DATASETS`` or ``n_samples`` is not a positive
        integer.

    Examples
    --------
    >>> from adesk.datasets import make_toy
    >>> make_toy("Ring", n_samples=5, random_state=0).shape
    (5, 2)
    """
    generator = _GENERATORS.get(name) if isinstance(name, str) else None
    if generator is None:
        raise ValueError(_unknown_name_message(name))
    return generator(n_samples=n_samples, random_state=random_state)


def _unknown_name_message(name):
    """Explain an unknown dataset name, suggesting the right case when that is the slip."""
    message = f"Unknown toy dataset {name!r}; valid names are {', '.join(TOY_DATASETS)}."
    if isinstance(name, str):
        by_lower_case = {known.lower(): known for known in TOY_DATASETS}
        suggestion = by_lower_case.get(name.lower())
        if suggestion is not None:
            message += f" Names are case-sensitive: did you mean {suggestion!r}?"
    return message
