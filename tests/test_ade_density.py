"""ADE's density against analytic references: no hidden bias by default, a predictable one
with the gradient penalty, the lag alarm, and the cost it records."""

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from adesk import ADEDensityEstimator
from adesk.partition import AutoPartition
from adesk.samplers import HMC
from adesk.training import SamplerLagWarning, lagging_stretch

from ._configs import fast_ade

# A 2-D Gaussian whose thin direction has sd 0.05 after per-feature standardization: unit
# marginal variances and correlation 1 - 0.05^2, so the covariance has eigenvalues
# 1 + rho (along (1, 1)) and 1 - rho = 0.0025 (along (1, -1)).
THIN_SD = 0.05
RHO = 1.0 - THIN_SD**2
COVARIANCE = np.array([[1.0, RHO], [RHO, 1.0]])


class QuadraticEnergy(torch.nn.Module):
    """``E(z) = sum_i exp(2 s_i) (r_i . (z - m))^2 / 2`` with ``r_i`` the rows of a rotation by
    a learnable angle: the family of all 2-D Gaussians, so maximum likelihood recovers the
    truth and any bias is the method's. Log-precisions and an angle make the thin direction's
    precision (400) reachable in a few hundred Adam steps."""

    def __init__(self, n_features):
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.zeros(n_features))
        self.angle = torch.nn.Parameter(torch.tensor(0.3))
        self.shift = torch.nn.Parameter(torch.zeros(n_features))

    def forward(self, z):
        cos, sin = torch.cos(self.angle), torch.sin(self.angle)
        rotation = torch.stack([torch.stack([cos, -sin]), torch.stack([sin, cos])])
        projected = (z - self.shift) @ rotation
        return 0.5 * (projected * torch.exp(self.log_scale)).pow(2).sum(-1)


def penalty_cost(variance, weight):
    """Held-out nats lost along one Gaussian direction of ``variance`` (standardized units)
    when ``weight * mean |grad E|^2`` is added to the loss: the penalised optimum has
    variance ``s = (v + sqrt(v^2 + 16 weight v)) / 2`` and costs ``KL(N(0, v) || N(0, s))``."""
    s = (variance + np.sqrt(variance**2 + 16 * weight * variance)) / 2
    return 0.5 * (np.log(s / variance) + variance / s - 1)


@pytest.fixture(scope="module")
def thin_gaussian():
    rng = np.random.default_rng(0)
    X_train = rng.multivariate_normal([0.0, 0.0], COVARIANCE, size=4000)
    X_test = rng.multivariate_normal([0.0, 0.0], COVARIANCE, size=4000)
    truth = float(np.mean(multivariate_normal([0.0, 0.0], COVARIANCE).logpdf(X_test)))
    return X_train, X_test, truth


def _fit_quadratic(X, **params):
    return ADEDensityEstimator(
        energy_model=QuadraticEnergy,
        max_iter=1000,
        learning_rate_init=1e-2,
        partition=AutoPartition(resolution=600),
        random_state=0,
        device="cpu",
        **params,
    ).fit(X)


def test_penalty_cost_formula_matches_the_issue():
    """The closed form predicts ~0.37 nats for the old default penalty on this Gaussian."""
    cost = penalty_cost(1 - RHO, 0.01) + penalty_cost(1 + RHO, 0.01)
    assert 0.36 < cost < 0.38


@pytest.mark.slow
def test_default_ade_has_no_thin_direction_bias(thin_gaussian):
    """With its defaults ADE recovers the thin Gaussian: the held-out log-likelihood is that of
    the truth up to the estimation error (paired on one test set, the sampling noise of the
    test set cancels; the remaining error is the fit's, measured at about 0.01 nats), far
    from the 0.37 nats that the old default penalty costs."""
    X_train, X_test, truth = thin_gaussian
    with warnings.catch_warnings():
        # The chains follow the model: the lag alarm stays silent.
        warnings.simplefilter("error", SamplerLagWarning)
        est = _fit_quadratic(X_train)
    assert est.gradient_penalty == 0.0
    # The thin direction (correlation eigenvalue 0.0025) makes "auto" whiten the data.
    assert est.standardize_ == "whiten"
    assert abs(est.score(X_test) - truth) < 0.05
    assert np.abs(np.asarray(est.history_["energy_gap"][-100:])).mean() < 1.0


@pytest.mark.slow
def test_gradient_penalty_bias_matches_closed_form(thin_gaussian):
    """The same fit with a penalty of 0.01 misses the truth by the closed form's amount."""
    X_train, X_test, truth = thin_gaussian
    # The closed form is in per-feature standardized units, on the whole training set.
    est = _fit_quadratic(
        X_train, gradient_penalty=0.01, standardize="per_feature", early_stopping=False
    )
    predicted = penalty_cost(1 - RHO, 0.01) + penalty_cost(1 + RHO, 0.01)
    assert abs((truth - est.score(X_test)) - predicted) < 0.06


def test_lagging_stretch_finds_sustained_gaps_only():
    assert lagging_stretch([0.0] * 1000) is None
    # Two lagging windows are not a sustained stretch; three are.
    assert lagging_stretch([0.0] * 500 + [3.0] * 200 + [0.0] * 300) is None
    assert lagging_stretch([0.0] * 500 + [3.0] * 300 + [0.0] * 200) == (501, 800, 3.0)
    # Negatives far below the data lag too (the sampler sits in wells the data avoid).
    assert lagging_stretch([-2.0] * 1000)[2] == -2.0
    # The first 10% is burn-in.
    assert lagging_stretch([50.0] * 100 + [0.0] * 900) is None


def test_starved_sampler_raises_the_lag_alarm(thin_gaussian):
    """Chains that cannot move (one tiny fixed step) let the energy pull away from them: the
    fit warns, names the gap and says what to change."""
    X_train, _, _ = thin_gaussian
    est = fast_ade(
        max_iter=300,
        sampler=HMC(n_steps=1, step_size=1e-4, adaptation="fixed"),
        learning_rate_init=1e-2,
    )
    with pytest.warns(SamplerLagWarning, match="negatives lagged the model") as record:
        est.fit(X_train)
    assert "sampler__n_transitions" in str(record[0].message)
    gaps = np.asarray(est.history_["energy_gap"])
    assert np.abs(gaps[-50:]).mean() > 1.0


def test_fit_records_its_cost(thin_gaussian):
    """One floor per minibatch-sized energy evaluation: per iteration the embedding's start
    and its ``n_steps`` leapfrog gradients, then the energy at the data and at the negatives;
    each extra MCMC transition adds ``n_steps`` more (it starts from the embedding's last
    gradient)."""
    X_train, _, _ = thin_gaussian
    est = fast_ade(max_iter=10, sampler=HMC(n_steps=2, n_transitions=0)).fit(X_train)
    n_steps = est.sampler.n_steps
    per_iteration = n_steps + 3
    assert est.n_energy_evaluations_ == pytest.approx(10 * per_iteration)
    assert est.fit_time_ > 0
    refined = fast_ade(max_iter=10, sampler=HMC(n_steps=2, n_transitions=2)).fit(X_train)
    assert refined.n_energy_evaluations_ == pytest.approx(10 * (per_iteration + 2 * n_steps))
    # warm_start continues the count.
    est.set_params(warm_start=True, max_iter=5).fit(X_train)
    assert est.n_energy_evaluations_ == pytest.approx(15 * per_iteration)
    # A fresh fit starts the count again.
    est.set_params(warm_start=False, max_iter=4).fit(X_train)
    assert est.n_energy_evaluations_ == pytest.approx(4 * per_iteration)
