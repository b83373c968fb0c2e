"""Tests for adesk.metrics: mmd2 against a brute-force reference, and parameter_rmse."""

import itertools
import statistics

import numpy as np
import pytest

from adesk.metrics import _mmd, mmd2, parameter_rmse

# ---------------------------------------------------------------- brute-force reference


def brute_force_median_nonzero_sq_distance(Z):
    distances = [
        float(np.sum((Z[i] - Z[j]) ** 2)) for i, j in itertools.combinations(range(len(Z)), 2)
    ]
    return statistics.median([d for d in distances if d > 0])


def brute_force_gamma(X, Y, bandwidth):
    if bandwidth == "paper":
        return 0.5 / (0.1 * brute_force_median_nonzero_sq_distance(X))
    if bandwidth == "median":
        return 0.5 / brute_force_median_nonzero_sq_distance(np.vstack([X, Y]))
    return 1.0 / (2.0 * bandwidth**2)


def brute_force_mmd2(X, Y, gamma, unbiased):
    def kernel(a, b):
        return np.exp(-gamma * np.sum((a - b) ** 2))

    def mean_kernel(A, B, skip_diagonal):
        values = [
            kernel(A[i], B[j])
            for i in range(len(A))
            for j in range(len(B))
            if not (skip_diagonal and i == j)
        ]
        return sum(values) / len(values)

    return mean_kernel(X, X, unbiased) + mean_kernel(Y, Y, unbiased) - 2 * mean_kernel(X, Y, False)


def small_samples(seed=0, n=7, m=9, n_features=3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    X[3] = X[1]  # a duplicate row: its zero distance must not enter the median
    Y = rng.normal(0.5, 1.2, size=(m, n_features))
    return X, Y


# ---------------------------------------------------------------- correctness


@pytest.mark.parametrize("bandwidth", ["paper", "median", 0.7, 3.0])
@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force(bandwidth, unbiased, seed):
    X, Y = small_samples(seed)
    expected = brute_force_mmd2(X, Y, brute_force_gamma(X, Y, bandwidth), unbiased)
    result = mmd2(X, Y, bandwidth=bandwidth, unbiased=unbiased)
    assert isinstance(result, float)
    assert result == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_paper_and_median_gamma_by_hand():
    # X's pairwise squared distances: 1, 4, 4, 5, 5 and a 0 (duplicate row), so the
    # non-zero median is 4 and the paper's gamma is 0.5 / (0.1 * 4) = 1.25.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    # Pooled with Y the non-zero squared distances are 1, 1, 4 x 5, 5, 5, 9, 9, 13, 13:
    # median 4, so the median heuristic's gamma is 0.5 / 4 = 0.125.
    Y = np.array([[3.0, 0.0], [0.0, 0.0]])
    assert _mmd._kernel_gamma(X, Y, "paper") == pytest.approx(1.25, rel=1e-15)
    assert _mmd._kernel_gamma(X, Y, "median") == pytest.approx(0.125, rel=1e-15)
    # The float bandwidth is sigma: gamma = 1 / (2 sigma^2).
    assert _mmd._kernel_gamma(X, Y, 2.0) == pytest.approx(0.125, rel=1e-15)
    for unbiased in (True, False):
        expected = brute_force_mmd2(X, Y, 1.25, unbiased)
        assert mmd2(X, Y, "paper", unbiased) == pytest.approx(expected, rel=1e-12)
        assert mmd2(X, Y, np.sqrt(0.4), unbiased) == pytest.approx(expected, rel=1e-12)
        assert mmd2(X, Y, "median", unbiased) == pytest.approx(mmd2(X, Y, 2.0, unbiased))


def test_unbiased_and_biased_normalisations():
    X, Y = small_samples()
    n, m = len(X), len(Y)
    sigma = 1.3
    gamma = 1 / (2 * sigma**2)
    sum_xx = np.exp(-gamma * ((X[:, None] - X[None]) ** 2).sum(-1)).sum()
    sum_yy = np.exp(-gamma * ((Y[:, None] - Y[None]) ** 2).sum(-1)).sum()
    sum_xy = np.exp(-gamma * ((X[:, None] - Y[None]) ** 2).sum(-1)).sum()
    unbiased = (sum_xx - n) / (n * (n - 1)) + (sum_yy - m) / (m * (m - 1)) - 2 * sum_xy / (n * m)
    biased = sum_xx / n**2 + sum_yy / m**2 - 2 * sum_xy / (n * m)
    assert mmd2(X, Y, sigma, unbiased=True) == pytest.approx(unbiased, rel=1e-12)
    assert mmd2(X, Y, sigma, unbiased=False) == pytest.approx(biased, rel=1e-12)


def test_symmetry_and_invariances():
    X, Y = small_samples()
    for bandwidth in ("median", 0.9):
        for unbiased in (True, False):
            assert mmd2(X, Y, bandwidth, unbiased) == pytest.approx(
                mmd2(Y, X, bandwidth, unbiased), rel=1e-12
            )
    # "paper" takes its width from the first argument only: swapping the samples while
    # keeping that width gives the same value.
    sigma_from_x = np.sqrt(1 / (2 * _mmd._kernel_gamma(X, Y, "paper")))
    assert mmd2(X, Y, "paper") == pytest.approx(mmd2(Y, X, sigma_from_x), rel=1e-12)
    # Row order does not matter; neither does a common translation.
    rng = np.random.RandomState(0)
    shuffled = mmd2(X[rng.permutation(len(X))], Y[rng.permutation(len(Y))], "paper")
    assert shuffled == pytest.approx(mmd2(X, Y, "paper"), rel=1e-12)
    shift = np.array([10.0, -3.0, 0.5])
    assert mmd2(X + shift, Y + shift, "median") == pytest.approx(mmd2(X, Y, "median"), rel=1e-9)


def test_biased_is_zero_on_identical_samples_and_never_negative():
    X, Y = small_samples()
    assert mmd2(X, X, "paper", unbiased=False) == pytest.approx(0.0, abs=1e-14)
    for seed in range(5):
        X, Y = small_samples(seed)
        assert mmd2(X, Y, "median", unbiased=False) >= 0.0


def test_same_distribution_is_near_zero_and_different_is_large():
    n_seeds, n = 8, 400
    same, different = [], []
    for seed in range(n_seeds):
        rng = np.random.RandomState(seed)
        X = rng.normal(size=(n, 2))
        same.append(mmd2(X, rng.normal(size=(n, 2))))
        different.append(mmd2(X, rng.normal(size=(n, 2)) + [1.0, 0.0]))
    same, different = np.array(same), np.array(different)
    spread = same.std(ddof=1)
    # The unbiased estimate has expectation exactly 0 when both samples share a law ...
    assert abs(same.mean()) < 5 * spread / np.sqrt(n_seeds)
    assert (same < 0).any()  # ... so it does go negative
    # ... while a unit shift is many noise widths away.
    assert different.min() > 20 * spread


def test_blocked_computation_matches_in_memory(monkeypatch):
    rng = np.random.RandomState(0)
    lattice = np.array(list(itertools.product(range(6), range(5))), dtype=float)
    samples = {
        "odd number of distances": rng.normal(size=(30, 2)),
        "even number of distances": rng.normal(size=(20, 3)),
        "duplicates": np.repeat(rng.normal(size=(12, 2)), 2, axis=0),
        "many ties": lattice,
    }
    in_memory = {key: _mmd._median_nonzero_sq_distance(Z, key) for key, Z in samples.items()}
    Y = rng.normal(size=(17, 2))
    in_memory_mmd = mmd2(samples["odd number of distances"], Y, "median")

    # Tiny blocks, bins and memory cap force several histogram passes.
    monkeypatch.setattr(_mmd, "_BLOCK_ELEMENTS", 37)
    monkeypatch.setattr(_mmd, "_MAX_IN_MEMORY_DISTANCES", 5)
    monkeypatch.setattr(_mmd, "_MEDIAN_BINS", 4)
    for key, Z in samples.items():
        assert _mmd._median_nonzero_sq_distance(Z, key) == in_memory[key], key
    blocked_mmd = mmd2(samples["odd number of distances"], Y, "median")
    assert blocked_mmd == pytest.approx(in_memory_mmd, rel=1e-12)


def test_blocked_median_with_all_zero_distances(monkeypatch):
    monkeypatch.setattr(_mmd, "_MAX_IN_MEMORY_DISTANCES", 1)
    with pytest.raises(ValueError, match="zero"):
        _mmd._median_nonzero_sq_distance(np.ones((5, 2)), "X")


def test_accepts_lists_and_integers():
    X = [[0, 0], [1, 0], [0, 2]]
    Y = [[1, 1], [2, 0]]
    assert mmd2(X, Y) == pytest.approx(mmd2(np.array(X, float), np.array(Y, float)))


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "X, Y, message",
    [
        (np.zeros(5), np.zeros((5, 2)), "X must be a 2-D array"),
        (np.ones((5, 2)), np.zeros((5, 2, 1)), "Y must be a 2-D array"),
        (np.ones((5, 2)), np.zeros((5, 3)), "same number of features, got 2 and 3"),
        (np.ones((1, 2)), np.zeros((5, 2)), "X must have at least 2 samples"),
        (np.arange(10.0).reshape(5, 2), np.zeros((1, 2)), "Y must have at least 2 samples"),
        (np.zeros((5, 0)), np.zeros((5, 0)), "at least 1 feature"),
        (np.array([[0.0, np.nan], [1, 1]]), np.zeros((5, 2)), "X contains NaN or infinity"),
        (np.arange(10.0).reshape(5, 2), np.array([[0.0, np.inf], [1, 1]]), "Y contains NaN"),
    ],
)
def test_invalid_samples(X, Y, message):
    with pytest.raises(ValueError, match=message):
        mmd2(X, Y)


@pytest.mark.parametrize("bandwidth", ["Paper", "silverman", 0.0, -1.0, np.nan, np.inf, True])
def test_invalid_bandwidth(bandwidth):
    X, Y = small_samples()
    with pytest.raises(ValueError, match="bandwidth must be"):
        mmd2(X, Y, bandwidth=bandwidth)


def test_zero_spread_reference_cannot_set_a_median_bandwidth():
    X = np.ones((4, 2))
    Y = np.zeros((4, 2))
    with pytest.raises(ValueError, match="pairwise distances within X are zero"):
        mmd2(X, Y, "paper")
    # The pooled sample does have non-zero distances, and a float always works.
    assert np.isfinite(mmd2(X, Y, "median"))
    assert np.isfinite(mmd2(X, Y, 1.0))


# ---------------------------------------------------------------- parameter_rmse


def test_parameter_rmse_value():
    assert parameter_rmse([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.0
    result = parameter_rmse([1.0, 2.0], [1.0, 4.0])
    assert isinstance(result, float)
    assert result == pytest.approx(np.sqrt(2.0))
    estimated = np.array([[0.5, -1.0], [2.0, 0.0]])
    true = np.array([[0.0, -1.0], [1.0, 1.0]])
    assert parameter_rmse(estimated, true) == pytest.approx(np.sqrt((0.25 + 0 + 1 + 1) / 4))
    assert parameter_rmse(3.0, 1.0) == pytest.approx(2.0)


def test_parameter_rmse_symmetric():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=10), rng.normal(size=10)
    assert parameter_rmse(a, b) == pytest.approx(parameter_rmse(b, a), rel=1e-15)


@pytest.mark.parametrize(
    "estimated, true, message",
    [
        (np.zeros(3), np.zeros(4), "same shape"),
        (np.zeros((2, 2)), np.zeros(4), "same shape"),
        (np.zeros(0), np.zeros(0), "empty"),
    ],
)
def test_parameter_rmse_invalid(estimated, true, message):
    with pytest.raises(ValueError, match=message):
        parameter_rmse(estimated, true)
