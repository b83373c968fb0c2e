"""Input validation shared by every adesk estimator.

The same bad inputs (each must raise a ``ValueError`` whose message says what is wrong) and
the same good inputs (each must work and give the numbers of the equivalent float64
C-ordered array) are applied to ``fit``, ``partial_fit``, ``energy``, ``score_samples``,
``score``, ``sample`` and ADE's ``complete``, for every estimator. One instance per class is
fitted once per module; tests that would change it work on a deep copy.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_moons
from sklearn.exceptions import NotFittedError

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)
from adesk.partition import AutoPartition
from adesk.samplers import HMC

from ._configs import fast

# The shared fast settings (tests/_configs.py) with fewer iterations: only the input handling
# is under test, not the quality of the fit.
FEW = dict(max_iter=5, partition=AutoPartition(resolution=16, n_samples=64, n_temperatures=5))
FACTORIES = {
    "ADE": lambda: fast(ADEDensityEstimator, **FEW),
    "CD": lambda: fast(
        ContrastiveDivergenceEstimator, sampler=HMC(n_steps=2, n_transitions=2), **FEW
    ),
    "SM": lambda: fast(ScoreMatchingEstimator, **FEW),
    "NCE": lambda: fast(NoiseContrastiveEstimator, **FEW),
    "FlowDual": lambda: fast(FlowDualEstimator, **FEW),
}
NAMES = list(FACTORIES)
# sample's MCMC transitions: a few for the estimators that sample by MCMC alone (their default
# is 200), none (the default) for those with a sampler of their own.
SAMPLE_TRANSITIONS = {"ADE": None, "CD": 4, "SM": 4, "NCE": 4, "FlowDual": None}

X_TRAIN = make_moons(120, noise=0.1, random_state=0)[0]
# Inputs of the fitted methods: a few training rows (values well inside the data's range).
X_QUERY = X_TRAIN[:10].copy()
COLUMNS = ["first", "second"]

# Every feature-name warning of sklearn's validate_data contains "feature names".
FEATURE_NAME_WARNING = ".*feature names"


@pytest.fixture(scope="module")
def fitted():
    """``fitted(name, kind)``: the estimator fitted once on X_TRAIN (as an array, or as a
    DataFrame with COLUMNS when ``kind="frame"``), shared by the whole module."""
    cache = {}

    def get(name, kind="array"):
        if (name, kind) not in cache:
            X = pd.DataFrame(X_TRAIN, columns=COLUMNS) if kind == "frame" else X_TRAIN
            cache[name, kind] = FACTORIES[name]().fit(X)
        return cache[name, kind]

    return get


# ------------------------------------------------------------------ input builders
def _with_value(A, value, dtype=np.float64):
    """A copy of ``A`` with one observed entry (row 1, column 1) replaced by ``value``."""
    B = np.array(A, dtype=dtype)
    B[1, 1] = value
    return B


def _with_string(A):
    B = np.array(A, dtype=object)
    B[1, 1] = "abc"
    return B


# (id, builder from a float64 2-D array with 2 columns, regex the ValueError must match)
BAD_X = [
    ("nan", lambda A: _with_value(A, np.nan), r"NaN"),
    ("pos_inf", lambda A: _with_value(A, np.inf), r"[Ii]nfinity"),
    ("neg_inf", lambda A: _with_value(A, -np.inf), r"[Ii]nfinity"),
    ("empty", lambda A: A[:0], r"0 sample"),
    ("no_features", lambda A: np.empty((5, 0)), r"0 feature"),
    ("one_d", lambda A: A[:, 0].copy(), r"Expected 2D|2D array|1D"),
    ("three_d", lambda A: A[:, :, None].copy(), r"dim 3|3D|2D"),
    ("complex", lambda A: A.astype(np.complex128), r"[Cc]omplex"),
    ("object_strings", _with_string, r"could not convert|dtype"),
    ("too_large", lambda A: _with_value(A, 1e30), r"larger than"),
    ("too_large_negative", lambda A: _with_value(A, -1e30), r"larger than"),
]
# Only wrong for estimators that have already seen 2 features.
WRONG_FEATURES = [
    ("three_features", lambda A: np.hstack([A, A[:, :1]]), r"3 features.*2 features|features"),
    # A 4-D array is an image batch, valid for fit; this estimator was fitted on flat rows.
    ("four_d", lambda A: A[:, :, None, None].copy(), r"shape|4D|dim"),
]


def _mask_for(A):
    """A ``complete`` mask of ``A``'s shape with only the first entry missing, so that the
    bad values placed at (1, 1) by the builders sit at an observed entry."""
    shape = np.shape(A)
    mask = np.zeros(shape, dtype=bool)
    if len(shape) >= 2 and all(s > 0 for s in shape):
        mask[(0,) * len(shape)] = True
    return mask


def _float64_c(A):
    """The float64 C-ordered array a good input stands for."""
    return np.ascontiguousarray(np.asarray(A, dtype=np.float64))


def _readonly(A):
    B = np.array(A, dtype=np.float64)
    B.setflags(write=False)
    return B


def _memmap(A, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, np.asarray(A, dtype=np.float64))
    return np.load(path, mmap_mode="r")


# (id, builder(A, tmp_path)); each must behave as _float64_c of what it builds.
GOOD_X = [
    ("float64", lambda A, tmp: np.array(A, dtype=np.float64)),
    ("float32", lambda A, tmp: np.asarray(A, dtype=np.float32)),
    ("int64", lambda A, tmp: np.round(4 * A).astype(np.int64)),
    ("int32", lambda A, tmp: np.round(4 * A).astype(np.int32)),
    ("readonly", lambda A, tmp: _readonly(A)),
    ("memmap_readonly", _memmap),
    ("fortran", lambda A, tmp: np.asfortranarray(A)),
    ("list", lambda A, tmp: np.asarray(A).tolist()),
    # Integer column labels are not feature names for sklearn: no names, no warnings.
    ("dataframe_default_columns", lambda A, tmp: pd.DataFrame(np.asarray(A))),
]
# Training data converted to float32 changes the standardization in the last bits, and
# training amplifies that a little; every other good input must match to rounding.
FIT_TOL = {"float32": dict(rtol=1e-5, atol=1e-5)}
DEFAULT_TOL = dict(rtol=1e-7, atol=1e-9)

# The fitted methods that take X, as calls on a shared fitted estimator; partial_fit works on
# a deep copy so that the shared instance is never changed.
METHODS = {
    "energy": lambda est, X: est.energy(X),
    "score_samples": lambda est, X: est.score_samples(X),
    "score": lambda est, X: est.score(X),
    "partial_fit": lambda est, X: copy.deepcopy(est).partial_fit(X),
    "complete": lambda est, X: est.complete(X, _mask_for(X), n_rounds=2, random_state=0),
}


def _method_cases(methods=METHODS):
    return [
        pytest.param(name, method, id=f"{name}-{method}")
        for name in NAMES
        for method in methods
        if method != "complete" or name == "ADE"
    ]


def _cases(items):
    return [pytest.param(*item, id=item[0]) for item in items]


# ------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("case, build, message", _cases(BAD_X))
@pytest.mark.parametrize("name", NAMES)
def test_fit_rejects_bad_X(name, case, build, message):
    with pytest.raises(ValueError, match=message):
        FACTORIES[name]().fit(build(X_TRAIN))


@pytest.mark.parametrize("case, build, message", _cases(BAD_X))
@pytest.mark.parametrize("name", NAMES)
def test_first_partial_fit_rejects_bad_X(name, case, build, message):
    est = FACTORIES[name]()
    with pytest.raises(ValueError, match=message):
        est.partial_fit(build(X_TRAIN))
    # A rejected first call must not leave a half-built model behind.
    assert not hasattr(est, "energy_model_")


@pytest.mark.parametrize("case, build, message", _cases(BAD_X + WRONG_FEATURES))
@pytest.mark.parametrize("name, method", _method_cases())
def test_fitted_methods_reject_bad_X(fitted, name, method, case, build, message):
    with pytest.raises(ValueError, match=message):
        METHODS[method](fitted(name), build(X_QUERY))


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_after_partial_fit_rejects_other_n_features(name):
    est = FACTORIES[name]().partial_fit(X_TRAIN)
    with pytest.raises(ValueError, match=r"features"):
        est.partial_fit(np.hstack([X_TRAIN, X_TRAIN[:, :1]]))
    with pytest.raises(ValueError, match=r"features"):
        est.partial_fit(X_TRAIN[:, :1])


@pytest.mark.parametrize("name", NAMES)
def test_rejected_partial_fit_leaves_model_unchanged(fitted, name):
    est = copy.deepcopy(fitted(name))
    before = est.score_samples(X_QUERY)
    n_iter = est.n_iter_
    for _, build, message in BAD_X + WRONG_FEATURES:
        with pytest.raises(ValueError, match=message):
            est.partial_fit(build(X_QUERY))
    assert est.n_iter_ == n_iter
    np.testing.assert_array_equal(est.score_samples(X_QUERY), before)


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, "3", True, None, np.float64(3.0)])
@pytest.mark.parametrize("name", NAMES)
def test_sample_rejects_bad_n_samples(fitted, name, n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        fitted(name).sample(n_samples, random_state=0)


@pytest.mark.parametrize("n_samples", [1, 3, np.int64(3), np.int32(2)])
@pytest.mark.parametrize("name", NAMES)
def test_sample_accepts_integer_n_samples(fitted, name, n_samples):
    samples = fitted(name).sample(n_samples, random_state=0, n_transitions=SAMPLE_TRANSITIONS[name])
    assert samples.shape == (int(n_samples), 2)
    assert samples.dtype == np.float64
    assert np.all(np.isfinite(samples))


@pytest.mark.parametrize("n_transitions", [-1, 1.5, True, "2", np.float64(2.0)])
@pytest.mark.parametrize("name", NAMES)
def test_sample_rejects_bad_n_transitions(fitted, name, n_transitions):
    with pytest.raises(ValueError, match="n_transitions"):
        fitted(name).sample(3, random_state=0, n_transitions=n_transitions)


@pytest.mark.parametrize("n_transitions", [0, 2, np.int64(2)])
@pytest.mark.parametrize("name", NAMES)
def test_sample_accepts_integer_n_transitions(fitted, name, n_transitions):
    est = fitted(name)
    if n_transitions == 0 and est._draws_by_mcmc:
        # CD, NCE and SM draw by MCMC from the data's Gaussian: zero transitions would return
        # that Gaussian, so it is refused.
        with pytest.raises(ValueError, match="n_transitions must be None"):
            est.sample(3, random_state=0, n_transitions=0)
        return
    samples = est.sample(3, random_state=0, n_transitions=n_transitions)
    assert samples.shape == (3, 2)
    assert np.all(np.isfinite(samples))


# The methods that need a fitted model, called with valid arguments.
UNFITTED_CALLS = {
    "energy": lambda est: est.energy(X_QUERY),
    "score_samples": lambda est: est.score_samples(X_QUERY),
    "score": lambda est: est.score(X_QUERY),
    "sample": lambda est: est.sample(3, random_state=0, n_transitions=1),
    "complete": lambda est: est.complete(X_QUERY, _mask_for(X_QUERY), n_rounds=2),
}


@pytest.mark.parametrize("name, method", _method_cases(UNFITTED_CALLS))
def test_methods_before_fit_raise_not_fitted(name, method):
    with pytest.raises(NotFittedError):
        UNFITTED_CALLS[method](FACTORIES[name]())


# ------------------------------------------------------------------ good inputs
@pytest.mark.parametrize("case, build", _cases(GOOD_X))
@pytest.mark.parametrize("name", NAMES)
def test_fit_accepts_good_X(name, case, build, tmp_path):
    X = build(X_TRAIN, tmp_path)
    est = FACTORIES[name]().fit(X)
    reference = FACTORIES[name]().fit(_float64_c(X))
    assert est.n_features_in_ == 2
    assert not hasattr(est, "feature_names_in_")
    np.testing.assert_allclose(
        est.score_samples(X_QUERY),
        reference.score_samples(X_QUERY),
        **FIT_TOL.get(case, DEFAULT_TOL),
    )


@pytest.mark.parametrize("case, build", _cases(GOOD_X))
@pytest.mark.parametrize("name", NAMES)
def test_first_partial_fit_accepts_good_X(name, case, build, tmp_path):
    X = build(X_TRAIN, tmp_path)
    est = FACTORIES[name]().partial_fit(X)
    reference = FACTORIES[name]().partial_fit(_float64_c(X))
    np.testing.assert_allclose(
        est.score_samples(X_QUERY),
        reference.score_samples(X_QUERY),
        **FIT_TOL.get(case, DEFAULT_TOL),
    )


@pytest.mark.parametrize("case, build", _cases(GOOD_X))
@pytest.mark.parametrize("name, method", _method_cases())
def test_fitted_methods_accept_good_X(fitted, name, method, case, build, tmp_path):
    X = build(X_QUERY, tmp_path)
    est = fitted(name)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=FEATURE_NAME_WARNING)
        result = METHODS[method](est, X)
    reference = METHODS[method](est, _float64_c(X))
    if method == "partial_fit":
        # Same state before, same data: the continued models must agree.
        result, reference = result.score_samples(X_QUERY), reference.score_samples(X_QUERY)
    np.testing.assert_allclose(result, reference, **DEFAULT_TOL)
    if method == "complete":
        observed = ~_mask_for(X)
        assert np.array_equal(result[observed], _float64_c(X)[observed])


# ------------------------------------------------------------------ feature names
@pytest.mark.parametrize("name", NAMES)
def test_fit_on_dataframe_sets_feature_names(fitted, name):
    est = fitted(name, "frame")
    assert list(est.feature_names_in_) == COLUMNS
    assert est.n_features_in_ == 2
    # The values are those of the array fit: so must be the model.
    np.testing.assert_allclose(
        est.score_samples(pd.DataFrame(X_QUERY, columns=COLUMNS)),
        fitted(name).score_samples(X_QUERY),
        **DEFAULT_TOL,
    )


@pytest.mark.parametrize("name, method", _method_cases())
def test_dataframe_with_fitted_columns_gives_no_warning(fitted, name, method):
    frame = pd.DataFrame(X_QUERY, columns=COLUMNS)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=FEATURE_NAME_WARNING)
        METHODS[method](fitted(name, "frame"), frame)


@pytest.mark.parametrize("name, method", _method_cases())
def test_array_after_dataframe_fit_warns(fitted, name, method):
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        METHODS[method](fitted(name, "frame"), X_QUERY)


@pytest.mark.parametrize("name, method", _method_cases())
def test_dataframe_after_array_fit_warns(fitted, name, method):
    frame = pd.DataFrame(X_QUERY, columns=COLUMNS)
    with pytest.warns(UserWarning, match="X has feature names, but"):
        METHODS[method](fitted(name), frame)


@pytest.mark.parametrize(
    "columns", [["third", "fourth"], COLUMNS[::-1]], ids=["renamed", "reordered"]
)
@pytest.mark.parametrize("name, method", _method_cases())
def test_dataframe_with_other_columns_raises(fitted, name, method, columns):
    frame = pd.DataFrame(X_QUERY, columns=columns)
    with pytest.raises(ValueError, match="feature names should match"):
        METHODS[method](fitted(name, "frame"), frame)


# ------------------------------------------------------------------ ADE's complete
def _half_masked():
    """X_QUERY with the first feature missing on even rows (set to NaN), and its mask."""
    mask = np.zeros(X_QUERY.shape, dtype=bool)
    mask[::2, 0] = True
    X = X_QUERY.copy()
    X[mask] = np.nan
    return X, mask


def test_complete_ignores_nan_at_masked_entries(fitted):
    est = fitted("ADE")
    X, mask = _half_masked()
    completed = est.complete(X, mask, n_rounds=2, random_state=0)
    assert completed.shape == X.shape
    assert np.all(np.isfinite(completed))
    # The values at masked entries are ignored: NaN gives what the true values give.
    np.testing.assert_array_equal(
        completed, est.complete(X_QUERY, mask, n_rounds=2, random_state=0)
    )


def test_complete_mask_none_means_isnan(fitted):
    est = fitted("ADE")
    X, mask = _half_masked()
    np.testing.assert_array_equal(
        est.complete(X, None, n_rounds=2, random_state=0),
        est.complete(X, mask, n_rounds=2, random_state=0),
    )


# Inputs that can hold NaN (all of GOOD_X but the integer arrays).
NAN_CAPABLE_X = [item for item in GOOD_X if not item[0].startswith("int")]


@pytest.mark.parametrize("mask_kind", ["explicit", "none"])
@pytest.mark.parametrize("case, build", _cases(NAN_CAPABLE_X))
def test_complete_nan_at_masked_entries_for_every_container(
    fitted, case, build, mask_kind, tmp_path
):
    est = fitted("ADE")
    X_nan, mask = _half_masked()
    X = build(X_nan, tmp_path)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=FEATURE_NAME_WARNING)
        completed = est.complete(
            X, mask if mask_kind == "explicit" else None, n_rounds=2, random_state=0
        )
    reference = est.complete(_float64_c(X), mask, n_rounds=2, random_state=0)
    assert isinstance(completed, np.ndarray)
    assert completed.shape == X_nan.shape
    assert np.all(np.isfinite(completed))
    np.testing.assert_allclose(completed, reference, **DEFAULT_TOL)
    assert np.array_equal(completed[~mask], _float64_c(X)[~mask])


def test_complete_nan_at_masked_entries_of_named_dataframe(fitted):
    est = fitted("ADE", "frame")
    X_nan, mask = _half_masked()
    frame = pd.DataFrame(X_nan, columns=COLUMNS)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=FEATURE_NAME_WARNING)
        completed = est.complete(frame, None, n_rounds=2, random_state=0)
    assert np.all(np.isfinite(completed))
    assert np.array_equal(completed[~mask], X_nan[~mask])


@pytest.mark.parametrize(
    "mask, dtype",
    [("all_false", np.float64), ("none", np.float64), ("none", np.int64), ("none", np.float32)],
    ids=["all_false", "none_float64", "none_int64", "none_float32"],
)
def test_complete_without_missing_entries_returns_X(fitted, mask, dtype):
    X = (4 * X_QUERY + 1e-3 * np.pi).astype(dtype)  # floats with all their bits in use
    mask = np.zeros(X.shape, dtype=bool) if mask == "all_false" else None
    completed = fitted("ADE").complete(X, mask, n_rounds=2, random_state=0)
    assert completed.shape == X.shape
    assert np.array_equal(completed, X.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_complete_returns_observed_entries_bit_for_bit(fitted, dtype):
    _, mask = _half_masked()
    X = (X_QUERY + 1e-3 * np.pi).astype(dtype)  # values with all their bits in use
    completed = fitted("ADE").complete(X, mask, n_rounds=2, random_state=0)
    assert completed.shape == X.shape
    assert np.array_equal(completed[~mask], X[~mask].astype(np.float64))
    # The missing entries were filled in, not passed through.
    assert not np.array_equal(completed[mask], X[mask].astype(np.float64))


@pytest.mark.parametrize("value", [np.inf, -np.inf], ids=["pos_inf", "neg_inf"])
@pytest.mark.parametrize("with_missing", [False, True], ids=["no_nan", "nan_elsewhere"])
def test_complete_mask_none_rejects_infinity(fitted, value, with_missing):
    # With mask=None only NaN marks a missing entry: an infinity is an observed entry.
    X = _half_masked()[0] if with_missing else X_QUERY.copy()
    X[1, 1] = value
    with pytest.raises(ValueError, match=r"[Ii]nfinity"):
        fitted("ADE").complete(X, None, n_rounds=2)


@pytest.mark.parametrize(
    "shape",
    [(10, 3), (11, 2), (10,), (2, 10, 2)],
    ids=["extra_column", "extra_row", "one_d_rows", "three_d"],
)
def test_complete_rejects_mask_of_wrong_shape(fitted, shape):
    mask = np.zeros(shape, dtype=bool)
    mask.flat[0] = True
    with pytest.raises(ValueError, match="mask"):
        fitted("ADE").complete(X_QUERY, mask, n_rounds=2)


@pytest.mark.parametrize("n_rounds", [0, -1, 1.5, True, "2", None])
def test_complete_rejects_bad_n_rounds(fitted, n_rounds):
    with pytest.raises(ValueError, match="n_rounds"):
        fitted("ADE").complete(X_QUERY, _mask_for(X_QUERY), n_rounds=n_rounds)
