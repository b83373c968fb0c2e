"""Faults, persistence, concurrency and determinism, for every estimator.

Parameter and input validation live in ``test_parameter_validation.py`` and
``test_input_validation.py``; sklearn's common checks in ``test_common.py`` and the per-estimator
modules.
"""

import os
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import adesk
from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    ScoreMatchingEstimator,
)
from adesk.datasets import make_toy
from adesk.energies import MLPEnergy
from adesk.estimators._persistence import estimator_state, restore_estimator
from adesk.samplers import HMC
from adesk.training import Checkpoint, TrainingDivergedError

from ._configs import ESTIMATOR_CLASSES, fast, fast_ade

CLASSES = ESTIMATOR_CLASSES


@pytest.fixture(scope="module")
def moons():
    return make_moons(200, noise=0.1, random_state=0)[0]


@pytest.fixture(scope="module")
def fitted(moons):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {cls: fast(cls).fit(moons) for cls in CLASSES}


def assert_same_model(a, b, X):
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.sample(20, random_state=5), b.sample(20, random_state=5))


# --------------------------------------------------------------------------- divergence
class FaultyEnergy(torch.nn.Module):
    """An MLP energy that misbehaves during one training iteration, in one of three ways.

    ``plan["at"]``: the iteration (number of finished iterations in ``history_``) at which the
    fault happens; it stops once the estimator has recorded a divergence, so that a rollback
    sees a transient fault.

    - ``"energy"``: every energy of that iteration is NaN;
    - ``"gradient"``: energies are finite but a parameter's gradient is NaN;
    - ``"parameter"``: losses and gradients are finite but a parameter becomes infinite (a
      corrupted update).
    """

    def __init__(self, n_features, plan):
        super().__init__()
        self.net = MLPEnergy(n_features, hidden_layer_sizes=(16,))
        self.unused = torch.nn.Parameter(torch.zeros(1))
        self.plan = plan

    def _faulty(self):
        est = self.plan.get("estimator")
        if est is None or not self.training or not hasattr(est, "divergences_"):
            return False
        done = len(est.history_.get("loss_energy", []))
        return done == self.plan["at"] and not est.divergences_

    def forward(self, x):
        energy = self.net(x)
        if not self._faulty():
            return energy
        kind = self.plan["kind"]
        if kind == "energy":
            return energy * float("nan")
        if kind == "gradient":
            # Zero in the forward pass (and in the score, which score matching trains on),
            # NaN in the gradient of ``unused`` only.
            return energy + 0.0 * x.sum(-1) * _NaNGradient.apply(self.unused)
        with torch.no_grad():
            self.unused.fill_(float("inf"))
        return energy


class _NaNGradient(torch.autograd.Function):
    """Identity whose backward is NaN: a finite forward pass with a broken gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


def faulty(cls, kind, at=3, **overrides):
    plan = {"kind": kind, "at": at}
    est = fast(cls, energy_model=lambda d: FaultyEnergy(d, plan), max_iter=20, **overrides)
    plan["estimator"] = est
    return est


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("kind", ["energy", "gradient", "parameter"])
def test_each_fault_stops_training_with_a_clear_error(moons, cls, kind):
    est = faulty(cls, kind)
    with pytest.raises(TrainingDivergedError, match="diverged at iteration 4") as info:
        est.fit(moons)
    error = info.value
    assert error.iteration == 4
    assert not np.isfinite(error.value)
    if kind == "energy":
        # Whatever logged value the NaN energies reach first (an energy or a loss).
        assert error.quantity in est.history_
    elif kind == "gradient":
        assert error.quantity == "gradient of energy_model_.unused"
    else:
        assert error.quantity == "energy_model_.unused"
    assert est.divergences_ == [
        {"iteration": 4, "quantity": error.quantity, "value": error.value, "action": "raised"}
    ]
    # Nothing from the failed iteration reached the history.
    assert all(len(values) == 3 for values in est.history_.values())


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("learning_rate", [1e30, 3e38])
def test_absurd_learning_rate_raises(moons, cls, learning_rate):
    est = fast(cls, learning_rate_init=learning_rate, max_iter=20)
    with pytest.raises(TrainingDivergedError, match="diverged at iteration"):
        est.fit(moons)
    assert est.divergences_[-1]["action"] == "raised"


@pytest.mark.parametrize("cls", CLASSES)
def test_rollback_recovers_from_a_transient_fault(moons, cls):
    est = faulty(cls, "energy", at=13, max_rollbacks=5)
    with pytest.warns(RuntimeWarning, match="rolled back to iteration 10"):
        est.fit(moons)
    (event,) = est.divergences_
    assert event["iteration"] == 14
    assert event["action"] == "rolled_back"
    assert event["restored_iteration"] == 10
    assert event["learning_rate_scale"] == est.learning_rate_scale_ == 0.5
    # The fit still performs max_iter successful iterations, and the history has no holes.
    assert est.n_iter_ == 20
    assert all(len(values) == 20 for values in est.history_.values())
    assert np.all(np.isfinite(est.score_samples(moons)))


@pytest.mark.parametrize("cls", CLASSES)
def test_rollback_gives_up_after_max_rollbacks(moons, cls):
    est = fast(cls, learning_rate_init=1e30, max_iter=20, max_rollbacks=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingDivergedError, match="max_rollbacks=2"):
            est.fit(moons)
    assert [e["action"] for e in est.divergences_] == ["rolled_back", "rolled_back", "raised"]
    assert est.learning_rate_scale_ == 0.25


class WalledEnergy(torch.nn.Module):
    """A learnable quadratic energy that is +inf outside the ball of radius 2.5."""

    def __init__(self, n_features):
        super().__init__()
        self.log_precision = torch.nn.Parameter(torch.zeros(()))

    def forward(self, z):
        radius = z.pow(2).sum(-1)
        energy = 0.5 * self.log_precision.exp() * radius
        return torch.where(radius < 2.5**2, energy, torch.full_like(energy, float("inf")))


def test_mcmc_rejects_and_counts_non_finite_energies(moons):
    est = fast(
        ContrastiveDivergenceEstimator,
        energy_model=WalledEnergy,
        sampler=HMC(n_steps=2, step_size=1.0, n_transitions=10),
        partition="quadrature",
        max_iter=10,
    )
    est.fit(moons)
    assert est.n_divergences_ > 0
    assert est.divergences_ == []
    assert np.isfinite(est.log_partition_)
    # Zero density outside the wall: quadrature keeps it as zero, not as an error.
    assert np.all(np.isfinite(est.score_samples(moons)))
    far = np.array([[est.mean_[0] + 10 * est.scale_[0], est.mean_[1]]])
    assert est.score_samples(far)[0] == -np.inf


# -------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("how", ["pickle", "joblib", "save"])
def test_round_trips_reproduce_scores_and_samples(fitted, moons, tmp_path, cls, how):
    est = fitted[cls]
    path = tmp_path / "model"
    if how == "pickle":
        copy = pickle.loads(pickle.dumps(est))
    elif how == "joblib":
        joblib.dump(est, path)
        copy = joblib.load(path)
    else:
        est.save(path)
        copy = adesk.load(path)
        assert type(copy) is cls
        assert copy.get_params() == est.get_params()
    assert_same_model(est, copy, moons)
    assert copy.log_partition_ == est.log_partition_
    assert copy.history_ == est.history_


@pytest.mark.parametrize("cls", CLASSES)
def test_loaded_estimator_continues_training_identically(moons, tmp_path, cls):
    original = fast(cls).fit(moons)
    original.save(tmp_path / "model.pt")
    loaded = cls.load(tmp_path / "model.pt")
    # Optimizer moments, generator state and replay buffers all come back.
    original.partial_fit(moons)
    loaded.partial_fit(moons)
    assert_same_model(original, loaded, moons)


def test_saved_file_holds_only_tensors_and_plain_values(fitted, tmp_path):
    path = tmp_path / "model.pt"
    fitted[ADEDensityEstimator].save(path)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "adesk-estimator"
    assert payload["class"] == "ADEDensityEstimator"
    assert payload["device"] == "cpu"


def test_unfitted_estimator_round_trip(tmp_path):
    est = fast(ScoreMatchingEstimator, max_iter=3)
    est.save(tmp_path / "model.pt")
    loaded = adesk.load(tmp_path / "model.pt")
    assert loaded.get_params() == est.get_params()
    assert not hasattr(loaded, "energy_model_")


def test_load_refuses_other_files_and_classes(fitted, tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="Not an adesk estimator file"):
        adesk.load(tmp_path / "other.pt")
    fitted[ADEDensityEstimator].save(tmp_path / "ade.pt")
    with pytest.raises(TypeError, match="holds a ADEDensityEstimator, not a Contrastive"):
        ContrastiveDivergenceEstimator.load(tmp_path / "ade.pt")


def test_callable_energy_model_must_be_passed_again(moons, tmp_path):
    est = fast(ScoreMatchingEstimator, energy_model=WalledEnergy, max_iter=3).fit(moons)
    est.save(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="pass it again"):
        adesk.load(tmp_path / "model.pt")
    loaded = adesk.load(tmp_path / "model.pt", energy_model=WalledEnergy)
    np.testing.assert_array_equal(loaded.score_samples(moons), est.score_samples(moons))


def test_callbacks_are_not_saved_and_say_so(moons, tmp_path):
    est = fast(ScoreMatchingEstimator, callbacks=[lambda e, i, logs: None], max_iter=3)
    est.fit(moons).save(tmp_path / "model.pt")
    with pytest.warns(UserWarning, match="callbacks could not be saved"):
        loaded = adesk.load(tmp_path / "model.pt")
    assert loaded.callbacks is None


def _as_if_fitted_on_cuda(payload):
    payload = dict(payload)
    payload["device"] = "cuda:0"
    payload["params"] = {**payload["params"], "device": "cuda"}
    payload["state"] = dict(payload["state"])
    generator = dict(payload["state"]["_generator"])
    generator["device"] = "cuda:0"
    payload["state"]["_generator"] = generator
    return payload


@pytest.mark.parametrize("cls", CLASSES)
def test_cuda_fitted_estimator_loads_on_a_cpu_only_machine(fitted, moons, monkeypatch, cls):
    est = fitted[cls]
    # What a GPU machine writes: the same tensors (saved files always hold CPU tensors), a
    # CUDA device and a CUDA generator.
    payload = _as_if_fitted_on_cuda(estimator_state(est))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on cuda:0, but CUDA is not available"):
        loaded = restore_estimator(payload)
    assert loaded.device == "cpu"
    assert loaded._device.type == "cpu"
    np.testing.assert_array_equal(loaded.score_samples(moons), est.score_samples(moons))
    assert loaded.sample(5, random_state=1).shape == (5, 2)


def test_pickle_of_gpu_estimator_is_portable(fitted, moons, monkeypatch):
    est = pickle.loads(pickle.dumps(fitted[ADEDensityEstimator]))
    # Pretend it lives on a GPU: pickling then writes the portable (CPU tensor) state.
    est._device = torch.device("cuda:0")
    data = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = pickle.loads(data)
    assert loaded._device.type == "cpu"
    np.testing.assert_array_equal(
        loaded.score_samples(moons), fitted[ADEDensityEstimator].score_samples(moons)
    )


@pytest.mark.parametrize("cls", [ADEDensityEstimator, ContrastiveDivergenceEstimator])
def test_checkpoints_resume_training(moons, tmp_path, cls):
    pattern = str(tmp_path / "ckpt-{iteration}.pt")
    # A constant rate: a resumed fit restarts the learning-rate schedule over its own max_iter.
    settings = dict(learning_rate_schedule="constant")
    checkpoints = [Checkpoint(pattern, interval=4)]
    full = fast(cls, max_iter=10, callbacks=checkpoints, **settings).fit(moons)
    assert sorted(os.listdir(tmp_path)) == ["ckpt-4.pt", "ckpt-8.pt"]
    resumed = adesk.load(tmp_path / "ckpt-4.pt")
    assert resumed.n_iter_ == 4
    assert not hasattr(resumed, "log_partition_")  # a checkpoint is mid-training
    resumed.set_params(warm_start=True, max_iter=6, callbacks=None)
    resumed.fit(moons)
    assert resumed.n_iter_ == 10
    np.testing.assert_allclose(
        resumed.score_samples(moons), full.score_samples(moons), rtol=1e-5, atol=1e-5
    )


def test_checkpoint_without_pattern_is_overwritten(moons, tmp_path):
    path = tmp_path / "last.pt"
    checkpoints = [Checkpoint(path, interval=2)]
    fast(ScoreMatchingEstimator, max_iter=6, callbacks=checkpoints).fit(moons)
    assert os.listdir(tmp_path) == ["last.pt"]
    assert adesk.load(path).n_iter_ == 6


# -------------------------------------------------------------------------- concurrency
def _record_threads(estimator, iteration, logs):
    estimator.history_.setdefault("torch_threads", []).append(float(torch.get_num_threads()))


def _search(n_jobs, cls=ADEDensityEstimator):
    pipeline = make_pipeline(StandardScaler(), fast(cls, max_iter=6))
    grid = {f"{pipeline.steps[-1][0]}__learning_rate_init": [1e-3, 3e-3]}
    return GridSearchCV(pipeline, grid, cv=KFold(2), n_jobs=n_jobs)


@pytest.mark.parametrize("cls", [ADEDensityEstimator, ContrastiveDivergenceEstimator])
def test_grid_search_with_two_jobs_is_reproducible(moons, cls):
    first = _search(2, cls).fit(moons)
    second = _search(2, cls).fit(moons)
    serial = _search(1, cls).fit(moons)
    scores = first.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    np.testing.assert_array_equal(scores, second.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(scores, serial.cv_results_["mean_test_score"])
    assert first.best_params_ == serial.best_params_


def test_workers_do_not_oversubscribe_torch_threads(moons):
    from sklearn.model_selection import cross_validate

    est = fast(ScoreMatchingEstimator, max_iter=2, callbacks=_record_threads)
    results = cross_validate(est, moons, cv=KFold(2), n_jobs=2, return_estimator=True)
    limit = max(1, (os.cpu_count() or 1) // 2)
    for fitted_est in results["estimator"]:
        assert max(fitted_est.history_["torch_threads"]) <= limit


# -------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("cls", CLASSES)
def test_same_random_state_is_bit_identical(moons, cls):
    a = fast(cls).fit(moons)
    b = fast(cls).fit(moons)
    assert a.history_ == b.history_
    assert_same_model(a, b, moons)
    for p, q in zip(a.energy_model_.parameters(), b.energy_model_.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("cls", CLASSES)
def test_global_random_state_untouched(moons, tmp_path, cls):
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002
    est = fast(cls).fit(moons)
    est.sample(10)
    est.score(moons)
    est.save(tmp_path / "model.pt")
    adesk.load(tmp_path / "model.pt").sample(3)
    pickle.loads(pickle.dumps(est))
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


def test_progress_bar_redraws_over_longer_lines():
    import io

    from adesk.training._progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(4, "Est", stream=stream, min_interval=0.0)
    bar.update(1, {"loss": -1.23456789})
    bar.update(2, {"loss": 1.0})
    bar.close({"loss": 1.0})
    first, second = stream.getvalue().split("\r")[1:]
    # Padded: no remnant of the longer line stays visible; close() only ends the line.
    assert len(second) == len(first) + 1 and second.endswith("\n")
    assert second.rstrip().endswith("loss=1]")
    assert second.startswith("Est  50%|") and " 2/4 " in second


def test_progress_bar_draws_the_final_state_once():
    """In a log file every redraw is a line: the last state must not be written twice."""
    import io

    from adesk.training._progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(2, "Est", stream=stream, min_interval=100.0)
    bar.update(1, {"loss": 1.0})
    bar.update(2, {"loss": 0.5})
    bar.close({"loss": 0.5})
    assert stream.getvalue().count(" 2/2 ") == 1
    assert stream.getvalue().endswith("loss=0.5]\n")


def test_warm_start_with_other_features_refuses_before_changing_anything():
    X = make_toy("moons", 200, random_state=0)
    est = fast_ade(max_iter=3, warm_start=True).fit(X)
    before = est.score_samples(X[:5])
    with pytest.raises(ValueError, match="features"):
        est.fit(np.hstack([X, X[:, :1]]))
    assert est.n_features_in_ == 2 and est.n_iter_ == 3
    np.testing.assert_allclose(est.score_samples(X[:5]), before)


def test_fit_on_one_sample_is_refused():
    with pytest.raises(ValueError, match="at least 2 samples.*got 1 sample"):
        fast_ade(max_iter=1).fit(np.array([[0.5, 1.0]]))


def test_loading_a_file_that_is_not_an_adesk_model_says_so(tmp_path):
    # A pickle of an arbitrary object (code the safe loader must refuse to import).
    path = tmp_path / "foreign.pkl"
    path.write_bytes(pickle.dumps(KFold(3)))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model at all")
    for candidate in (path, garbage):
        with pytest.raises(ValueError, match="is not an adesk model file") as info:
            adesk.load(candidate)
        # Never the unsafe advice to unpickle with weights_only=False.
        assert "weights_only=False" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__
        with pytest.raises(ValueError, match="is not an adesk model file"):
            ADEDensityEstimator.load(candidate)
    with pytest.raises(FileNotFoundError):
        adesk.load(tmp_path / "missing.pt")


def test_save_into_a_missing_folder_names_the_users_path(tmp_path):
    est = fast_ade(max_iter=1).fit(make_toy("moons", 50, random_state=0))
    target = tmp_path / "no" / "such" / "model.pt"
    with pytest.raises(FileNotFoundError, match="model.pt") as info:
        est.save(target)
    assert ".adesk-" not in str(info.value)


# ---------------------------------------------------------------- stopping and seeds
def test_ctrl_c_keeps_the_model_trained_so_far(moons):
    def interrupt(estimator, iteration, logs):
        if iteration == 3:
            raise KeyboardInterrupt

    est = fast_ade(max_iter=8, callbacks=interrupt)
    with pytest.warns(UserWarning, match="interrupted .* after 3 of 8 iterations"):
        est.fit(moons)
    assert est.n_iter_ == 3 and len(est.history_["loss_energy"]) == 3
    assert np.isfinite(est.log_partition_) and np.all(np.isfinite(est.score_samples(moons)))
    assert est.converged_ is False
    # warm_start continues from there.
    est.set_params(warm_start=True, callbacks=None, max_iter=2)
    assert est.fit(moons).n_iter_ == 5


def test_callbacks_stop_training_through_a_public_method(moons):
    def stop_at_two(estimator, iteration, logs):
        if iteration == 2:
            estimator.stop_training()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = fast_ade(max_iter=8, callbacks=stop_at_two).fit(moons)
    assert est.n_iter_ == 2 and np.isfinite(est.log_partition_)


def test_one_random_state_policy(moons):
    """A RandomState is drawn from once per fit and every stream (the validation split
    included) derives from that draw: equally seeded instances give the same model, one
    instance reused gives another fit, None gives fresh fits."""
    settings = dict(early_stopping=True, validation_interval=2, max_iter=6)
    a = fast_ade(random_state=np.random.RandomState(3), **settings).fit(moons)
    b = fast_ade(random_state=np.random.RandomState(3), **settings).fit(moons)
    assert a.validation_scores_ == b.validation_scores_
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))
    reused = fast_ade(random_state=np.random.RandomState(3), **settings)
    first = reused.fit(moons).score_samples(moons)
    second = reused.fit(moons).score_samples(moons)
    np.testing.assert_array_equal(first, a.score_samples(moons))
    assert not np.array_equal(first, second)
    fresh = fast_ade(random_state=None, **settings)
    assert fresh.fit(moons).validation_scores_ != fresh.fit(moons).validation_scores_


def test_progress_bar_uses_tqdm_only_when_installed(monkeypatch):
    import sys

    from adesk.training._progress import ProgressBar, TqdmProgressBar, make_progress_bar

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if not installed
    assert isinstance(make_progress_bar(3, "Est"), ProgressBar)
    monkeypatch.undo()
    pytest.importorskip("tqdm")
    bar = make_progress_bar(3, "Est")
    assert isinstance(bar, TqdmProgressBar)
    bar.close()
