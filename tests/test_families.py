"""Every estimator family behind one API: model selection across families with GridSearchCV."""

import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)
from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.initial import Flow
from adesk.partition import AutoPartition
from adesk.samplers import HMC


def small():
    """Small settings every family takes (fresh parameter objects for each estimator)."""
    return dict(
        energy_model=MLP((16, 16)),
        max_iter=10,
        batch_size=32,
        partition=AutoPartition(resolution=32),
        random_state=0,
        device="cpu",
    )


def test_grid_search_across_estimator_families():
    """``score`` is a normalised log-likelihood for every family, so one search ranks them."""
    X = make_toy("moons", 300, random_state=0)
    candidates = [
        ADEDensityEstimator(sampler=HMC(n_steps=2), **small()),
        ContrastiveDivergenceEstimator(sampler=HMC(n_steps=2, n_transitions=2), **small()),
        ScoreMatchingEstimator(**small()),
        NoiseContrastiveEstimator(**small()),
        FlowDualEstimator(flow=Flow(n_layers=2), **small()),
    ]
    pipe = Pipeline([("scale", StandardScaler()), ("density", candidates[0])])
    search = GridSearchCV(pipe, {"density": candidates}, cv=2).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 5 and np.all(np.isfinite(scores))
    # The refitted winner is the candidate with the best cross-validated score.
    assert type(search.best_estimator_.named_steps["density"]) is type(
        candidates[int(np.argmax(scores))]
    )
    best = search.best_estimator_
    assert np.all(np.isfinite(best.score_samples(X[:4])))
    # The pipeline scores; sampling goes through the fitted density step (scaled units).
    density = best.named_steps["density"]
    assert density.sample(5, random_state=0, n_transitions=2).shape == (5, 2)
