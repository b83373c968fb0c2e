"""Test log-likelihood on real tabular data: adesk's estimators against tuned GMM and KDE.

``python -m adesk.benchmarks likelihood`` runs it. Every dataset (iris 4-D, wine 13-D,
breast_cancer 30-D and digits 64-D, dequantized by uniform ``[0, 1)`` noise so that it has a
density; all ship with scikit-learn, so the benchmark runs offline) is split once into
train / validation / test (60 / 20 / 20, fixed seed) and standardized with a
:class:`~sklearn.preprocessing.StandardScaler` fitted on the training split only. Every model
is fitted on the standardized training split, its hyperparameters are chosen by the mean
log-likelihood of the validation split, and the chosen model is scored on the test split.

**Units.** Log-likelihoods are in nats per point in the standardized coordinates, for every
model alike, so rows compare directly. The density of the raw data differs by the constant
Jacobian ``-sum(log scale)`` of the scaler.

**Models.**

* ``GaussianMixture``: ``n_components`` in (1, 2, 3, 5, 8, 12, 20) x ``covariance_type`` in
  (full, diag, tied, spherical) x ``reg_covar`` in (1e-6, 1e-3, 0.1, 0.3, 1); fits that fail, or
  with more components than training points, are skipped.
* ``KernelDensity``: Gaussian kernel, ``bandwidth`` on ``np.geomspace(0.05, 2, 20)``.
* The energy-based estimators of :mod:`adesk.estimators` with the settings of the
  ``compare`` benchmark (ADE, CD-15, PCD-15, exact SM, NCE, NF), each over four
  configurations (:func:`adesk_configs`): a ``(64, 64)`` MLP energy
  (``energy_model__hidden_layer_sizes``) trained for
  ``max_iter // 4`` and for ``max_iter`` iterations, the same with stronger regularisation
  (``gradient_penalty=0.1`` for ADE and NF, whose gradient penalty is their documented
  regulariser; Adam weight decay ``alpha=1e-3`` for the others), and the default
  ``(128, 128, 128)`` MLP for ``max_iter`` iterations. With 90 (iris) to 1,078 (digits)
  training points the small model and the short run guard against overfitting. The number of
  iterations is selected on the validation split rather than by ``early_stopping``, which
  would re-estimate ``log Z`` at every check and hold out part of the small training split.

**Normalisation.** Every energy-based model uses ``partition=AIS(...)`` (annealed importance
sampling from a Gaussian fitted to the training data), so they are all normalised the same
way; GMM and KDE are normalised exactly. The same ``log Z`` estimate scores the validation and
the test split. AIS underestimates ``log Z`` on average (Jensen's inequality), which makes an
energy-based model's log-likelihood slightly optimistic; its standard error is reported.

**Errors.** ``test ll +- se``: ``se`` is the standard deviation of the per-point test
log-likelihoods over ``sqrt(n_test)``; for energy-based models the AIS standard error of
``log Z`` (which shifts every point alike) is added in quadrature. The closing line per dataset
compares ADE with the better of GMM and KDE by the paired difference on the same test points.

**Budget.** Measured on the 2-core CPU development machine (one process, one thread): one
500-iteration fit of the default ADE took 18 s on wine and 22 s on digits, and the AIS
``log Z`` at its end (512 chains, 500 temperatures) 4 s and 6 s; per iteration on digits CD-15
and PCD-15 take about 100 ms, exact SM 245 ms, NF 10 ms and NCE 4 ms. From these
the default ``max_iter=800`` puts the whole benchmark (4 datasets, every model, 24 fits per
dataset, ``--n-jobs 2``) at an estimated half hour; exact SM on digits (6-10 minutes of one core for
its four configurations) is the longest estimator.
"""

import importlib
import itertools
import os
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn import datasets as sk_datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler

from ..energies import MLP
from ..partition import AIS
from ..train import estimator_from_params
from ._compare import COMPARED

REAL_DATASETS = ("iris", "wine", "breast_cancer", "digits")
#: The energy-based estimators (labels of :data:`adesk.benchmarks._compare.COMPARED`).
LIKELIHOOD_ESTIMATORS = tuple(COMPARED)
BASELINES = ("GMM", "KDE")

GMM_COMPONENTS = (1, 2, 3, 5, 8, 12, 20)
GMM_COVARIANCES = ("full", "diag", "tied", "spherical")
GMM_REG_COVARS = (1e-6, 1e-3, 1e-1, 0.3, 1.0)
KDE_BANDWIDTHS = np.geomspace(0.05, 2.0, 20)

#: The energy's hidden widths, set on the estimator's ``energy_model=MLP()``.
HIDDEN = "energy_model__hidden_layer_sizes"
SMALL_MLP = (64, 64)
DEFAULT_MLP = (128, 128, 128)
#: Stronger regularisation of the third configuration; ADE and NF have a gradient penalty
#: (default 0.01), the others fall back to weight decay.
STRONG_REGULARISATION = {"ADE": {"gradient_penalty": 0.1}, "NF": {"gradient_penalty": 0.1}}
WEIGHT_DECAY = {"alpha": 1e-3}

N_FEATURES = {"iris": 4, "wine": 13, "breast_cancer": 30, "digits": 64}
#: Milliseconds per iteration of the default MLP on one core (digits; SM per feature), only
#: used to schedule the long jobs first.
ITERATION_MS = {"ADE": 45, "CD-15": 100, "PCD-15": 100, "SM": 4, "NCE": 4, "NF": 10}


def load_real_dataset(name, random_state=0):
    """One of :data:`REAL_DATASETS` as a float64 array (no labels).

    Parameters
    ----------
    name : {"iris", "wine", "breast_cancer", "digits"}
    random_state : int, default=0
        Seed of the dequantization noise of ``digits`` (the others are not random).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        ``digits`` has uniform ``[0, 1)`` noise added to its integer pixels: integer data
        have no density, and a flexible model would otherwise pile mass onto the grid.

    Examples
    --------
    >>> load_real_dataset("iris").shape
    (150, 4)
    """
    if name not in REAL_DATASETS:
        raise ValueError(f"name must be one of {REAL_DATASETS}; got {name!r}.")
    X = getattr(sk_datasets, f"load_{name}")().data.astype(np.float64)
    if name == "digits":
        X = X + np.random.default_rng(random_state).uniform(size=X.shape)
    return X


def standardized_splits(name, random_state=0):
    """Train / validation / test (60 / 20 / 20) of a dataset, standardized on train only.

    Parameters
    ----------
    name : str
        One of :data:`REAL_DATASETS`.
    random_state : int, default=0
        Seed of the split and of the dequantization noise.

    Returns
    -------
    X_train, X_val, X_test : ndarray
        Standardized by a :class:`~sklearn.preprocessing.StandardScaler` fitted on
        ``X_train``, so no statistic of the held-out points leaks into the models.
    """
    X = load_real_dataset(name, random_state)
    X_train, X_rest = train_test_split(X, test_size=0.4, random_state=random_state)
    X_val, X_test = train_test_split(X_rest, test_size=0.5, random_state=random_state)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_val), scaler.transform(X_test)


def adesk_configs(label, max_iter):
    """The (at most four) configurations of one energy-based estimator tried per dataset.

    Parameters
    ----------
    label : str
        A key of :data:`adesk.benchmarks._compare.COMPARED` ("ADE", "CD-15", ...).
    max_iter : int
        Iterations of the full-length runs; the short run gets a quarter.

    Returns
    -------
    configs : list of dict
        Parameters added to the estimator's ``compare`` settings, the energy's hidden widths
        by their path ``energy_model__hidden_layer_sizes`` (the estimator gets
        ``energy_model=MLP()``, see :func:`fit_adesk_config`).
    """
    short = max(1, max_iter // 4)
    regularisation = STRONG_REGULARISATION.get(label, WEIGHT_DECAY)
    return [
        {HIDDEN: SMALL_MLP, "max_iter": short},
        {HIDDEN: SMALL_MLP, "max_iter": max_iter},
        {HIDDEN: SMALL_MLP, "max_iter": max_iter, **regularisation},
        {HIDDEN: DEFAULT_MLP, "max_iter": max_iter},
    ]


def _evaluation(model, log_density, params, X_val, X_test, fit_time, logz=("exact", 0.0)):
    """The record of one fitted configuration: validation score and test log-likelihoods."""
    val = log_density(X_val)
    return {
        "model": model,
        "params": params,
        "val_ll": float(np.mean(val)) if np.all(np.isfinite(val)) else float("nan"),
        "test_ll_per_sample": np.asarray(log_density(X_test), dtype=np.float64),
        "logz_method": logz[0],
        "logz_std": float(logz[1]),
        "fit_s": fit_time,
    }


def fit_adesk_config(dataset, label, params, seed=0, partition=None, device="auto"):
    """Fit one configuration of an energy-based estimator and score validation and test.

    Parameters
    ----------
    dataset : str
        One of :data:`REAL_DATASETS`.
    label : str
        A key of :data:`adesk.benchmarks._compare.COMPARED`.
    params : dict
        One configuration of :func:`adesk_configs` (nested settings by their path, e.g.
        ``energy_model__hidden_layer_sizes``).
    seed : int, default=0
        Seed of the split and of the estimator.
    partition : AIS or None, default=None
        The AIS settings of ``log Z`` (``None``: ``AIS()``, 512 chains and 500
        temperatures).
    device : str, default="auto"

    Returns
    -------
    result : dict
        See :func:`_evaluation`; ``val_ll`` is NaN when the fit failed or ``log Z`` is not
        finite, so the configuration is never selected.
    """
    import torch

    # One thread per worker: ``n_jobs`` processes share the cores.
    torch.set_num_threads(1)
    X_train, X_val, X_test = standardized_splits(dataset, seed)
    class_name, base = COMPARED[label]
    cls = getattr(importlib.import_module("adesk.estimators"), class_name)
    est = estimator_from_params(
        cls,
        {
            "energy_model": MLP(),
            **base,
            **params,
            # The configurations (and so the number of iterations) are chosen on the validation
            # split here, so no part of the training split is held out for early stopping.
            "early_stopping": False,
            "partition": AIS() if partition is None else partition,
            "random_state": seed,
            "device": device,
        },
    )
    start = time.perf_counter()
    try:
        est.fit(X_train)
    except Exception as error:  # a diverged run is a result of the benchmark, not a crash

        def failed(X):
            return np.full(X.shape[0], np.nan)

        return {
            **_evaluation(label, failed, params, X_val, X_test, time.perf_counter() - start),
            "error": f"{type(error).__name__}: {error}",
            "logz_method": "failed",
            "logz_std": float("nan"),
        }
    fit_time = time.perf_counter() - start
    logz = (est.partition_method_, est.log_partition_std_)
    result = _evaluation(label, est.score_samples, params, X_val, X_test, fit_time, logz)
    result["n_iter"] = est.n_iter_
    return result


def tuned_gmm_on_validation(X_train, X_val, X_test, random_state=0):
    """GaussianMixture with components, covariance type and ``reg_covar`` chosen on validation.

    Parameters
    ----------
    X_train, X_val, X_test : ndarray
    random_state : int, default=0

    Returns
    -------
    result : dict
        The chosen configuration's record, with ``tune_s`` the time of the whole grid.
    """
    best = None
    start = time.perf_counter()
    for k, covariance, reg in itertools.product(GMM_COMPONENTS, GMM_COVARIANCES, GMM_REG_COVARS):
        if k > X_train.shape[0]:
            continue
        gmm = GaussianMixture(
            k, covariance_type=covariance, reg_covar=reg, random_state=random_state
        )
        fit_start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # An unconverged EM run is still a valid candidate; validation judges it.
                warnings.simplefilter("ignore", ConvergenceWarning)
                gmm.fit(X_train)
        except ValueError:  # ill-defined covariance with a tiny reg_covar
            continue
        params = {"n_components": k, "covariance_type": covariance, "reg_covar": reg}
        result = _evaluation(
            "GMM", gmm.score_samples, params, X_val, X_test, time.perf_counter() - fit_start
        )
        if best is None or result["val_ll"] > best["val_ll"]:
            best = result
    best["tune_s"] = time.perf_counter() - start
    return best


def tuned_kde_on_validation(X_train, X_val, X_test):
    """Gaussian KernelDensity with the bandwidth of :data:`KDE_BANDWIDTHS` best on validation.

    Parameters
    ----------
    X_train, X_val, X_test : ndarray

    Returns
    -------
    result : dict
        The chosen bandwidth's record, with ``tune_s`` the time of the whole grid.
    """
    best = None
    start = time.perf_counter()
    for bandwidth in KDE_BANDWIDTHS:
        fit_start = time.perf_counter()
        kde = KernelDensity(bandwidth=float(bandwidth)).fit(X_train)
        params = {"bandwidth": float(bandwidth)}
        result = _evaluation(
            "KDE", kde.score_samples, params, X_val, X_test, time.perf_counter() - fit_start
        )
        if best is None or result["val_ll"] > best["val_ll"]:
            best = result
    best["tune_s"] = time.perf_counter() - start
    return best


def run_baselines(dataset, seed=0):
    """Tuned GMM and KDE on one dataset's split (one job: both are cheap).

    Parameters
    ----------
    dataset : str
    seed : int, default=0

    Returns
    -------
    results : list of dict
        The GMM and the KDE record.
    """
    X_train, X_val, X_test = standardized_splits(dataset, seed)
    return [
        tuned_gmm_on_validation(X_train, X_val, X_test, random_state=seed),
        tuned_kde_on_validation(X_train, X_val, X_test),
    ]


def select_on_validation(results):
    """The result with the highest finite validation log-likelihood (the first if none is).

    Parameters
    ----------
    results : list of dict
        Records of one model's configurations on one dataset.

    Returns
    -------
    best : dict
        The chosen record, with ``tune_s`` (fit time of every configuration) and
        ``n_configs`` added.
    """
    finite = [r for r in results if np.isfinite(r["val_ll"])]
    best = dict(max(finite, key=lambda r: r["val_ll"]) if finite else results[0])
    best["tune_s"] = float(sum(r["fit_s"] for r in results))
    best["n_configs"] = len(results)
    return best


def _summarise(dataset, result):
    """A table row: test log-likelihood and its standard error from the per-point values."""
    per_sample = result["test_ll_per_sample"]
    n_test = per_sample.shape[0]
    sampling_se = float(np.std(per_sample, ddof=1) / np.sqrt(n_test))
    return {
        "dataset": dataset,
        **result,
        "test_ll": float(np.mean(per_sample)),
        # log Z shifts every test point by the same amount, so its error adds in full.
        "test_se": float(np.hypot(sampling_se, result["logz_std"])),
        "n_test": n_test,
    }


def _job_cost(job):
    """Rough single-core seconds of a job, to start the long ones first (shorter tail)."""
    kind, dataset, label, params = job
    if kind == "baselines":
        # GMM and KDE grids together: a few seconds (4 s on digits), so they go last.
        return 0.0
    n_features = N_FEATURES[dataset]
    # Exact score matching takes one backward pass per feature.
    per_iteration = ITERATION_MS["SM"] * n_features if label == "SM" else ITERATION_MS[label]
    return 1e-3 * per_iteration * params["max_iter"]


def run_likelihood(
    datasets=REAL_DATASETS,
    estimators=LIKELIHOOD_ESTIMATORS,
    max_iter=800,
    seed=0,
    n_jobs=1,
    ais_chains=None,
    ais_temperatures=500,
    device="auto",
):
    """Fit, tune and score every model on every dataset; rows in a fixed order.

    Parameters
    ----------
    datasets : sequence of str, default=REAL_DATASETS
    estimators : sequence of str, default=LIKELIHOOD_ESTIMATORS
        Labels of the energy-based estimators ("ADE", "CD-15", "PCD-15", "SM", "NCE", "NF");
        GMM and KDE always run.
    max_iter : int, default=800
        Iterations of the full-length configurations (:func:`adesk_configs`).
    seed : int, default=0
        Seed of the splits, the dequantization noise and every model.
    n_jobs : int, default=1
        Joblib processes; every configuration of every estimator is one job.
    ais_chains : int or None, default=None
        AIS chains (``AIS(n_samples=...)``; None: the default, 512).
    ais_temperatures : int, default=500
        AIS annealing steps (``AIS(n_temperatures=...)``).
    device : str, default="auto"

    Returns
    -------
    rows : list of dict
        Per (dataset, model): ``test_ll``, ``test_se``, ``val_ll``, ``params`` (the chosen
        configuration), ``logz_method``, ``logz_std``, ``fit_s`` (chosen configuration,
        including ``log Z``), ``tune_s`` (all configurations), ``n_test`` and
        ``test_ll_per_sample``.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Repeated names would make two jobs claim one row.
    datasets, estimators = list(dict.fromkeys(datasets)), list(dict.fromkeys(estimators))
    unknown = set(estimators) - set(LIKELIHOOD_ESTIMATORS)
    if unknown:
        raise ValueError(f"unknown estimators {sorted(unknown)}; use {LIKELIHOOD_ESTIMATORS}.")
    unknown = set(datasets) - set(REAL_DATASETS)
    if unknown:
        raise ValueError(f"unknown datasets {sorted(unknown)}; use {REAL_DATASETS}.")
    partition = AIS(
        n_samples=AIS().n_samples if ais_chains is None else ais_chains,
        n_temperatures=ais_temperatures,
    )
    jobs = [("baselines", name, None, None) for name in datasets]
    jobs += [
        ("adesk", name, label, params)
        for name in datasets
        for label in estimators
        for params in adesk_configs(label, max_iter)
    ]
    order = sorted(range(len(jobs)), key=lambda i: -_job_cost(jobs[i]))
    outputs = Parallel(n_jobs=n_jobs)(
        delayed(run_baselines)(jobs[i][1], seed)
        if jobs[i][0] == "baselines"
        else delayed(fit_adesk_config)(*jobs[i][1:], seed, partition, device)
        for i in order
    )
    results = dict(zip(order, outputs))
    rows = []
    for name in datasets:
        baselines = results[jobs.index(("baselines", name, None, None))]
        rows += [_summarise(name, result) for result in baselines]
        for label in estimators:
            configs = [
                results[i] for i, job in enumerate(jobs) if job[1] == name and job[2] == label
            ]
            rows.append(_summarise(name, select_on_validation(configs)))
    return rows


def ade_against_baselines(rows):
    """Per dataset: ADE's test log-likelihood minus the better of GMM and KDE (paired).

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`run_likelihood`.

    Returns
    -------
    comparisons : dict
        ``dataset -> {"baseline", "difference", "se", "at_or_above"}``; the standard error is
        that of the per-point differences on the same test points, with ADE's ``log Z``
        error in quadrature. Datasets without an ADE row are left out.
    """
    comparisons = {}
    for name in dict.fromkeys(r["dataset"] for r in rows):
        here = {r["model"]: r for r in rows if r["dataset"] == name}
        if "ADE" not in here:
            continue
        best = max((here[b] for b in BASELINES if b in here), key=lambda r: r["test_ll"])
        ade = here["ADE"]
        diff = ade["test_ll_per_sample"] - best["test_ll_per_sample"]
        paired_se = float(np.std(diff, ddof=1) / np.sqrt(diff.shape[0]))
        comparisons[name] = {
            "baseline": best["model"],
            "difference": float(np.mean(diff)),
            "se": float(np.hypot(paired_se, ade["logz_std"])),
            "at_or_above": bool(np.mean(diff) >= 0),
        }
    return comparisons


def _format_params(params):
    """``key=value`` pairs, with the long names shortened for the table."""
    short = {HIDDEN: "hidden", "covariance_type": "cov", "n_components": "k"}
    return ", ".join(
        f"{short.get(k, k)}={v:.3g}" if isinstance(v, float) else f"{short.get(k, k)}={v}"
        for k, v in params.items()
    )


def format_likelihood(rows):
    """Markdown table of :func:`run_likelihood` rows, its footnotes and the ADE verdicts.

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    text : str
    """
    lines = [
        "| dataset | model | test ll ± se | validation ll | chosen hyperparameters | "
        "log Z (std) | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        logz = (
            "exact" if r["logz_method"] == "exact" else f"{r['logz_method']} ({r['logz_std']:.3f})"
        )
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['test_ll']:.3f} ± {r['test_se']:.3f} | "
            f"{r['val_ll']:.3f} | {_format_params(r['params'])} | {logz} | {r['fit_s']:.1f} |"
        )
    lines += [
        "",
        "Log-likelihoods in nats per point in the standardized coordinates (StandardScaler "
        "fitted on the training split), the same for every model. se: standard deviation of "
        "the per-point test log-likelihoods / sqrt(n_test); for the energy-based models the "
        "AIS standard error of log Z is added in quadrature. fit s: the chosen configuration, "
        "log Z included.",
        "",
    ]
    for name, c in ade_against_baselines(rows).items():
        verdict = "at or above" if c["at_or_above"] else "below"
        lines.append(
            f"{name}: ADE is {verdict} the best of GMM and KDE ({c['baseline']}): "
            f"{c['difference']:+.3f} ± {c['se']:.3f} nats (paired)."
        )
    return "\n".join(lines)
