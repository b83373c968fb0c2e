"""The map into the energy's coordinates: whitening chosen by ``standardize="auto"``, scores
that stay normalised in the user's units, and every output mapped back."""

import numpy as np
import pytest

import adesk
from adesk import FlowDualEstimator, NoiseContrastiveEstimator
from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.estimators._standardize import (
    THIN_DIRECTION_EIGENVALUE,
    WHITENING_SHRINKAGE,
    fit_standardization,
    log_volume,
    resolve_standardize,
)
from adesk.initial import Empirical, Flow
from adesk.partition import AutoPartition

from ._configs import fast_ade

# Correlation 0.995: the correlation matrix has eigenvalues 1.995 and 0.005, below
# THIN_DIRECTION_EIGENVALUE.
RHO = 0.995
COVARIANCE = np.array([[4.0, 2.0 * RHO], [2.0 * RHO, 1.0]])  # sds 2 and 1


@pytest.fixture(scope="module")
def correlated():
    rng = np.random.default_rng(0)
    return rng.multivariate_normal([1.0, -2.0], COVARIANCE, size=1000)


def test_auto_whitens_thin_tabular_data_only(correlated):
    assert 1 - RHO < THIN_DIRECTION_EIGENVALUE
    assert resolve_standardize("auto", correlated, is_image=False) == "whiten"
    # The same data as an image keeps its pixel layout; too few samples per feature, too.
    assert resolve_standardize("auto", correlated, is_image=True) == "per_feature"
    assert resolve_standardize("auto", correlated[:9], is_image=False) == "per_feature"
    moons = make_toy("moons", 1000, random_state=0)
    assert resolve_standardize("auto", moons, is_image=False) == "per_feature"
    # A constant column is left out of the test rather than making the matrix singular.
    with_constant = np.column_stack([moons, np.ones(len(moons))])
    assert resolve_standardize("auto", with_constant, is_image=False) == "per_feature"
    assert resolve_standardize("global", correlated, is_image=False) == "global"


def test_whitening_makes_the_training_spread_isotropic(correlated):
    mean, scale, whitening = fit_standardization(correlated, "whiten")
    np.testing.assert_allclose(mean, correlated.mean(axis=0))
    np.testing.assert_allclose(scale, correlated.std(axis=0))
    np.testing.assert_allclose(whitening, whitening.T)
    Z = (correlated - mean) / scale @ whitening
    covariance = Z.T @ Z / len(Z)
    # Each eigenvalue l becomes l / (l + shrinkage).
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(correlated, rowvar=False))
    np.testing.assert_allclose(
        np.linalg.eigvalsh(covariance), eigenvalues / (eigenvalues + WHITENING_SHRINKAGE)
    )
    # log|dx/dz| = sum(log scale) - log|det whitening|, against the Jacobian of the inverse.
    inverse = np.linalg.inv(whitening) * scale  # rows: dz -> dx
    assert log_volume(scale, whitening) == pytest.approx(np.linalg.slogdet(inverse)[1])


def test_whitened_scores_stay_normalised(correlated):
    """Quadrature of the raw energy in user coordinates and AIS in whitened coordinates (which
    adds the map's log-Jacobian, 2.2 nats here) normalise the same energy to the same log Z."""
    partition = AutoPartition(resolution=400, n_samples=64, n_temperatures=10)
    est = fast_ade(max_iter=30, partition=partition).fit(correlated)
    assert est.standardize_ == "whiten" and est.whitening_.shape == (2, 2)
    assert est.partition_method_ == "quadrature"
    quadrature = est.log_partition_
    ais = est.estimate_log_partition(method="ais", n_samples=1000, n_temperatures=300)
    assert ais["method"] == "ais"
    assert abs(ais["log_partition"] - quadrature) < 4 * ais["log_partition_std"] + 0.01


def test_whitened_outputs_come_back_in_user_units(correlated, tmp_path):
    est = fast_ade(max_iter=5, initial=Empirical(max_points=50, replay_buffer_size=64))
    est.fit(correlated)
    # The data initial distribution draws training rows plus small noise, so its draws
    # land next to the rows, in the user's coordinates, only if the map is inverted.
    draws = est.sample_initial(500, random_state=0)
    distance = np.min(np.linalg.norm(draws[:, None, :] - correlated[None], axis=-1), axis=1)
    assert np.median(distance) < 0.5
    assert abs(np.mean(est.sample(500, random_state=0)[:, 0]) - 1.0) < 0.5
    # Completion keeps the observed entries bit for bit and fills the missing ones.
    X = correlated[:20].copy()
    X[:, 1] = np.nan
    completed = est.complete(X, n_rounds=3, random_state=0)
    np.testing.assert_array_equal(completed[:, 0], correlated[:20, 0])
    assert np.all(np.isfinite(completed[:, 1]))
    est.save(tmp_path / "model.pt")
    loaded = adesk.load(tmp_path / "model.pt")
    np.testing.assert_allclose(loaded.whitening_, est.whitening_)
    np.testing.assert_array_equal(loaded.score_samples(correlated), est.score_samples(correlated))


def test_flow_log_prob_is_normalised_under_whitening(correlated):
    est = FlowDualEstimator(
        max_iter=20, energy_model=MLP((16,)), flow=Flow(n_layers=2), random_state=0, device="cpu"
    ).fit(correlated)
    assert est.standardize_ == "whiten"
    grid = np.linspace(-10, 10, 401)
    xx, yy = np.meshgrid(grid + 1.0, grid - 2.0)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    cell = (grid[1] - grid[0]) ** 2
    assert np.exp(est.flow_log_prob(points)).sum() * cell == pytest.approx(1.0, abs=0.02)


def test_nce_normalizer_is_in_user_units(correlated):
    """NCE's learned ``c`` in user units is its standardized ``c`` plus the map's
    log-Jacobian, which whitening changes."""
    est = NoiseContrastiveEstimator(max_iter=5, random_state=0, device="cpu").fit(correlated)
    c = float(est.normalizer_.c.detach())
    expected = c + float(np.log(est.scale_).sum()) - np.linalg.slogdet(est.whitening_)[1]
    assert est.log_normalizer_ == pytest.approx(expected)
