"""Parameter recovery on diagonal Gaussians (paper Table 5, Appendix G).

Each estimator fits a learnable diagonal Gaussian energy
``E(x) = 0.5 * sum(((x - mu) / sigma)^2)`` (``energy_model`` a :class:`GaussianEnergy`) to
``n_train`` samples of a known diagonal Gaussian in 2, 5 and 10 dimensions, and is scored by
the root mean squared error between the learned and the true parameter vector
``(mu_1, ..., mu_d, sigma_1^2, ..., sigma_d^2)`` in the data's units (the paper's
"(mu, Sigma)", with the diagonal of Sigma, i.e. the variances). The same error of the maximum
likelihood estimate (sample mean and 1/n sample variance) is the statistical floor: every
estimator sees the same finite sample, so an RMSE at the MLE's level is sampling noise, not
an estimation bias.

Setting. The reference code drew every coordinate from N(-1, 0.1^2) (``truth="reference"``,
the default); ``truth="random"`` draws ``mu ~ U(-1, 1)`` and ``sigma ~ U(0.5, 1.5)`` per
coordinate and run instead. The errors scale with sigma: with sigma = 0.1 they are about ten
times smaller than with sigma ~ 1.

Start. The estimators standardize the data, and the default Gaussian energy starts at the
standardized data's N(0, I), which *is* the MLE: training would then only have to stay
there. ``start="perturbed"`` (the default) therefore starts every estimator from the same
wrong Gaussian, one standard deviation off in the mean and half the standard deviation
(standardized mean 1, std 0.5 in every coordinate), so the RMSE measures where each
objective leads; ``start="standardized"`` keeps the N(0, I) start.

Estimators. Every fit gets the same energy, data, seed, batch (256), Adam learning rate
(3e-2, cosine-decayed to 5%) and an exponential moving average of the energy's parameters
over ~100 updates (the paper averaged the parameters of the last epochs). SM is exact score
matching; CD-5 runs 5 HMC transitions with the step size adapted to the acceptance rate;
ADE follows Appendix F.1: a 2-layer MLP ``q_0`` (``initial=Latent()``), 3 HMC steps, learned
step sizes, no gradient penalty (it biases sigma^2, see :data:`RECOVERY_ESTIMATORS`). Its
``q_0`` was chosen by the distance of the learned parameters to the MLE after 3000
iterations (2 runs each in 2-D and 10-D, units of the data): ``"latent"`` with a sampler rate
of a third of the energy's 1.5e-4 to 2.7e-4, ``"gaussian"`` 2.1e-4 to 6.3e-4, ``"latent"``
at the energy's rate 1.9e-4 to 1.0e-3 (``ade_initial`` switches).

Budgets (one core, measured on a shared, loaded machine): ``mode="quick"`` (2 runs of 1000
iterations, 3 dimensions x 3 estimators) took 87 s; ``mode="full"`` (5 runs of 3000
iterations) takes about 11 minutes (per fit: SM ~4 s, CD-5 ~27 s, ADE ~13 s), divided by
``n_jobs``.

Reading the paper's numbers. The MLE's expected RMSE over ``(mu, sigma^2)`` with sigma = 0.1
is ``0.1 / sqrt(n) * sqrt((1 + 2 * 0.1^2) / 2) = 0.071 / sqrt(n)``: 7.1e-4 at n = 10,000.
The paper's SM and ADE values (2e-3 to 4e-3) are the floor of about n = 1,000 samples, which
suggests a smaller training set than ours (``n_train=1000`` mimics that setting); its
CD-5 failures in 5-D and 10-D are not reproduced by our step-size-adapted CD.
"""

import importlib
import math
import os
import time

import numpy as np
from joblib import Parallel, delayed

from ..initial import Gaussian, Latent
from ..metrics import parameter_rmse
from ..partition import ImportanceSampling
from ..samplers import HMC
from ..train import estimator_from_params

#: Paper Table 5: RMSE between learned and true parameters, mean of 5 runs.
PAPER_TABLE5 = {
    "SM": {2: 2.18e-3, 5: 3.17e-3, 10: 3.90e-3},
    "CD-5": {2: 5.67e-3, 5: 4.19e-1, 10: 6.36e-1},
    "ADE": {2: 2.28e-3, 5: 3.09e-3, 10: 3.23e-3},
}
RECOVERY_DIMS = (2, 5, 10)
RECOVERY_TRUTHS = ("reference", "random")
RECOVERY_STARTS = ("perturbed", "standardized")

#: name -> (class name in ``adesk.estimators``, constructor parameters). Shared settings
#: (energy, budget, learning rate, averaging, seed) are added by :func:`run_recovery_case`.
#: The parameter objects are shared by every fit: estimators never modify them.
RECOVERY_ESTIMATORS = {
    "SM": ("ScoreMatchingEstimator", {"method": "exact"}),
    # Step size adapted to the acceptance rate, as the paper's CD (Appendix F.1).
    "CD-5": ("ContrastiveDivergenceEstimator", {"sampler": HMC(n_transitions=5)}),
    # The paper's parameter-estimation ADE (Appendix F.1): a 2-layer MLP q_0 (the deep latent
    # variable model), 3 HMC steps, step sizes learned end to end.
    "ADE": (
        "ADEDensityEstimator",
        {
            "sampler": HMC(n_steps=3, adaptation="learned", n_transitions=0),
            # The paper's scheme: chains restart from q0 every iteration.
            "initial": Latent(hidden_layer_sizes=(64, 64), replay_buffer_size=0),
            # The penalty c * mean |grad E(x_data)|^2 is a bias here: per standardized
            # coordinate it adds c / sigma^4 to the likelihood objective, whose minimiser
            # moves from sigma^2 = 1 to (1 + sqrt(1 + 16 c)) / 2 = 1.04 with the paper's
            # c = 0.01, i.e. by 4e-4 in sigma^2 with the reference sigma = 0.1, more than
            # the MLE's error (1.4e-4 at n = 10,000).
            "gradient_penalty": 0.0,
        },
    ),
}

#: Budgets of the two modes: runs per case and training iterations per fit.
RECOVERY_MODES = {
    "quick": {"n_runs": 2, "max_iter": 1000},
    "full": {"n_runs": 5, "max_iter": 3000},
}

#: Energy learning rate (Adam); ADE's sampler uses a third of it (see :func:`_estimator_params`).
RECOVERY_LEARNING_RATE = 3e-2


class GaussianStart:
    """``energy_model`` callable: a learnable Gaussian energy at a fixed standardized start.

    Parameters
    ----------
    mean : float, default=1.0
        Initial mean of every coordinate, in standardized units.
    std : float, default=0.5
        Initial standard deviation of every coordinate, in standardized units.

    Examples
    --------
    >>> energy = GaussianStart()(2)
    >>> energy.mean.tolist(), energy.log_std.exp().tolist()
    ([1.0, 1.0], [0.5, 0.5])
    """

    def __init__(self, mean=1.0, std=0.5):
        self.mean = mean
        self.std = std

    def __call__(self, n_features):
        import torch

        from ..energies import GaussianEnergy

        return GaussianEnergy(
            torch.full((n_features,), float(self.mean)),
            torch.full((n_features,), float(self.std)),
            learnable=True,
        )

    def __repr__(self):
        return f"GaussianStart(mean={self.mean}, std={self.std})"


def true_parameters(n_features, truth="reference", seed=0):
    """True mean and standard deviation of one run.

    Parameters
    ----------
    n_features : int
    truth : {"reference", "random"}, default="reference"
        ``"reference"``: N(-1, 0.1^2) in every coordinate (the reference code's data).
        ``"random"``: ``mu ~ U(-1, 1)`` and ``sigma ~ U(0.5, 1.5)`` per coordinate, drawn
        from ``seed``.
    seed : int, default=0

    Returns
    -------
    mean, std : ndarray of shape (n_features,)

    Examples
    --------
    >>> true_parameters(2)
    (array([-1., -1.]), array([0.1, 0.1]))
    """
    if truth == "reference":
        return np.full(n_features, -1.0), np.full(n_features, 0.1)
    if truth == "random":
        rng = np.random.RandomState(seed)
        return rng.uniform(-1.0, 1.0, n_features), rng.uniform(0.5, 1.5, n_features)
    raise ValueError(f"truth must be one of {RECOVERY_TRUTHS}; got {truth!r}.")


def make_recovery_data(n_features, n_samples=10000, truth="reference", seed=0):
    """Training sample of one run and its true parameters.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    mean, std : ndarray of shape (n_features,)
    """
    mean, std = true_parameters(n_features, truth, seed)
    rng = np.random.RandomState(seed + 7919)
    return mean + std * rng.standard_normal((n_samples, n_features)), mean, std


def learned_gaussian(est):
    """Mean and variance of a fitted Gaussian energy, in the data's units.

    The energy lives on ``z = (x - mean_) / scale_``, so ``mu = mean_ + scale_ * m`` and
    ``sigma^2 = (scale_ * exp(log_std))^2``.
    """
    if est.whitening_ is not None:
        raise ValueError("learned_gaussian needs a per-feature standardization, not whitening.")
    model = est.energy_model_
    mean = est.mean_ + est.scale_ * model.mean.detach().cpu().double().numpy()
    std = est.scale_ * np.exp(model.log_std.detach().cpu().double().numpy())
    return mean, std**2


def recovery_errors(mean, var, true_mean, true_std):
    """RMSE over the vector ``(mu, sigma^2)`` and over each half."""
    true_var = np.asarray(true_std) ** 2
    return {
        "rmse": parameter_rmse(np.concatenate([mean, var]), np.concatenate([true_mean, true_var])),
        "rmse_mean": parameter_rmse(mean, true_mean),
        "rmse_var": parameter_rmse(var, true_var),
    }


def _estimator_params(label, max_iter, learning_rate, start, seed, ade_initial="latent"):
    class_name, params = RECOVERY_ESTIMATORS[label]
    params = dict(params)
    if label == "ADE":
        if ade_initial == "gaussian":
            params["initial"] = Gaussian(replay_buffer_size=0)
        elif ade_initial != "latent":
            params["initial"] = ade_initial
        # The MLP q_0 at the energy's rate overshoots in the first iterations (its x-spread
        # reached 3 data standard deviations in 2-D); the huge energy gradients of those
        # samples then fill Adam's second-moment estimate (beta2 = 0.999) and stall the
        # energy for ~1000 iterations. A third of the rate avoids it (measured, 2-D).
        params["sampler_learning_rate"] = learning_rate / 3
    params.update(
        energy_model=GaussianStart() if start == "perturbed" else "gaussian",
        max_iter=max_iter,
        learning_rate_init=learning_rate,
        # The paper averages the parameters of the last epochs; an EMA over ~100 updates does
        # the same for the minibatch and chain noise of the final iterates.
        ema_decay=0.99,
        # Parameters are read off the energy in per-feature units, from the whole training
        # set (early stopping would take precedence over the moving average).
        standardize="per_feature",
        early_stopping=False,
        # log Z is not used here; a cheap estimate keeps the end of each fit short.
        partition=ImportanceSampling(n_samples=1000),
        device="cpu",
        random_state=seed,
    )
    return class_name, params


def run_recovery_case(
    label,
    n_features,
    run=0,
    *,
    n_train=10000,
    truth="reference",
    start="perturbed",
    max_iter=1000,
    learning_rate=RECOVERY_LEARNING_RATE,
    seed=0,
    ade_initial="latent",
    params=None,
):
    """Fit one estimator of :data:`RECOVERY_ESTIMATORS` (or ``"MLE"``) on one run's data.

    Parameters
    ----------
    label : str
        A key of :data:`RECOVERY_ESTIMATORS`, or ``"MLE"`` for the sample mean and variance.
    n_features : int
    run : int, default=0
        Run index; with ``seed`` and ``n_features`` it seeds the data and the estimator.
    n_train, truth, start, max_iter, learning_rate, seed, ade_initial
        As in :func:`run_recovery`.
    params : dict or None, default=None
        Extra constructor parameters, applied last (for experiments); settings of a parameter
        object by their path, e.g. ``{"sampler__n_steps": 5}``
        (:func:`adesk.train.estimator_from_params`).

    Returns
    -------
    row : dict
        ``dims``, ``estimator``, ``run``, ``rmse`` (over ``(mu, sigma^2)``), ``rmse_mean``,
        ``rmse_var``, ``rmse_to_mle`` (distance to the same sample's MLE: the estimator's
        own error, sampling noise aside), ``fit_s`` and the settings.
    """
    import torch

    torch.set_num_threads(1)
    data_seed = seed + 1000 * run + n_features
    X, true_mean, true_std = make_recovery_data(n_features, n_train, truth, data_seed)
    row = {
        "dims": n_features,
        "estimator": label,
        "run": run,
        "n_train": n_train,
        "truth": truth,
        "start": start,
        "max_iter": 0 if label == "MLE" else max_iter,
    }
    start_time = time.perf_counter()
    if label == "MLE":
        mean, var = X.mean(0), X.var(0)
    else:
        class_name, est_params = _estimator_params(
            label, max_iter, learning_rate, start, data_seed, ade_initial
        )
        cls = getattr(importlib.import_module("adesk.estimators"), class_name)
        est = estimator_from_params(cls, {**est_params, **(params or {})}).fit(X)
        mean, var = learned_gaussian(est)
    row["fit_s"] = time.perf_counter() - start_time
    row.update(recovery_errors(mean, var, true_mean, true_std))
    mle = np.concatenate([X.mean(0), X.var(0)])
    row["rmse_to_mle"] = parameter_rmse(np.concatenate([mean, var]), mle)
    return row


def run_recovery(
    mode="quick",
    dims=RECOVERY_DIMS,
    estimators=tuple(RECOVERY_ESTIMATORS),
    n_runs=None,
    n_jobs=1,
    *,
    n_train=10000,
    truth="reference",
    start="perturbed",
    max_iter=None,
    learning_rate=RECOVERY_LEARNING_RATE,
    seed=0,
    ade_initial="latent",
):
    """Parameter recovery of every estimator in every dimension (paper Table 5).

    Parameters
    ----------
    mode : {"quick", "full"}, default="quick"
        Budget (:data:`RECOVERY_MODES`): ``"quick"`` is 2 runs of 1000 iterations (about 1.5
        minutes on one core for the default dims and estimators), ``"full"`` 5 runs of 3000
        iterations (about 11 minutes on one core; ``n_jobs`` divides it).
    dims : sequence of int, default=(2, 5, 10)
    estimators : sequence of str, default=("SM", "CD-5", "ADE")
        Keys of :data:`RECOVERY_ESTIMATORS`. The MLE row is always added.
    n_runs : int or None, default=None
        Runs per (dimension, estimator), each with its own data and seed; ``None`` takes the
        mode's.
    n_jobs : int, default=1
        joblib processes (one torch thread each).
    n_train : int, default=10000
        Training samples per run.
    truth : {"reference", "random"}, default="reference"
        True parameters (:func:`true_parameters`).
    start : {"perturbed", "standardized"}, default="perturbed"
        Initial Gaussian energy (see the module docstring).
    max_iter : int or None, default=None
        Training iterations per fit; ``None`` takes the mode's.
    learning_rate : float, default=3e-2
        Adam learning rate of the energy (cosine-decayed to 5%).
    seed : int, default=0
    ade_initial : {"latent", "gaussian"}, default="latent"
        ADE's ``q_0``: the paper's MLP latent model or a learnable diagonal Gaussian.

    Returns
    -------
    rows : list of dict
        One per (dimension, estimator, run), ordered by dimension, then ``MLE`` and
        ``estimators`` in the given order, then run (see :func:`run_recovery_case`).
    """
    if mode not in RECOVERY_MODES:
        raise ValueError(f"mode must be one of {sorted(RECOVERY_MODES)}; got {mode!r}.")
    unknown = [label for label in estimators if label not in (*RECOVERY_ESTIMATORS, "MLE")]
    if unknown:
        raise ValueError(f"Unknown estimators {unknown}; choose from {list(RECOVERY_ESTIMATORS)}.")
    if truth not in RECOVERY_TRUTHS:
        raise ValueError(f"truth must be one of {RECOVERY_TRUTHS}; got {truth!r}.")
    if start not in RECOVERY_STARTS:
        raise ValueError(f"start must be one of {RECOVERY_STARTS}; got {start!r}.")
    budget = RECOVERY_MODES[mode]
    n_runs = budget["n_runs"] if n_runs is None else int(n_runs)
    max_iter = budget["max_iter"] if max_iter is None else int(max_iter)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    labels = ["MLE", *[label for label in estimators if label != "MLE"]]
    cases = [(d, label, run) for d in dims for label in labels for run in range(n_runs)]
    settings = dict(
        n_train=n_train,
        truth=truth,
        start=start,
        max_iter=max_iter,
        learning_rate=learning_rate,
        seed=seed,
        ade_initial=ade_initial,
    )
    # The slowest fits (CD's chains) first, so that parallel workers finish together.
    order = {"CD-5": 0, "ADE": 1, "SM": 2, "MLE": 3}
    queue = sorted(cases, key=lambda case: (order.get(case[1], 0), -case[0]))
    rows = Parallel(n_jobs=n_jobs)(
        delayed(run_recovery_case)(label, d, run, **settings) for d, label, run in queue
    )
    by_case = {(r["dims"], r["estimator"], r["run"]): r for r in rows}
    return [by_case[case] for case in cases]


def _fmt(value):
    return f"{value:.2e}"


def summarize_recovery(rows):
    """Average the runs of each (dimension, estimator).

    Returns
    -------
    summary : list of dict
        ``dims``, ``estimator``, ``n_runs``, mean and standard deviation over runs of
        ``rmse`` (``rmse_sd``), the means of ``rmse_mean``, ``rmse_var``, ``rmse_to_mle``
        and ``fit_s``, ``ratio_mle`` (mean RMSE over the MLE's, NaN without MLE rows) and
        ``paper`` (Table 5's value, NaN if the paper has none), in the order of ``rows``.
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["dims"], r["estimator"]), []).append(r)
    summary = []
    for (dims, label), group in groups.items():
        rmse = np.array([r["rmse"] for r in group])
        summary.append(
            {
                "dims": dims,
                "estimator": label,
                "n_runs": len(group),
                "rmse": float(rmse.mean()),
                "rmse_sd": float(rmse.std(ddof=1)) if len(group) > 1 else float("nan"),
                **{
                    key: float(np.mean([r[key] for r in group]))
                    for key in ("rmse_mean", "rmse_var", "rmse_to_mle", "fit_s")
                },
                "paper": PAPER_TABLE5.get(label, {}).get(dims, float("nan")),
            }
        )
    floor = {s["dims"]: s["rmse"] for s in summary if s["estimator"] == "MLE"}
    for s in summary:
        s["ratio_mle"] = s["rmse"] / floor[s["dims"]] if s["dims"] in floor else float("nan")
    return summary


def format_recovery(rows):
    """Markdown table of :func:`run_recovery`'s rows beside the paper's Table 5.

    One line per (dimension, estimator): our RMSE over ``(mu, sigma^2)`` (mean +- standard
    deviation over runs), the paper's, the ratio to the MLE's RMSE on the same samples (the
    statistical floor: about 1 means sampling noise only), the RMSE of the means and of the
    variances, the distance to the MLE and the fit time; then a line with the settings.

    Examples
    --------
    >>> row = dict(dims=2, estimator="MLE", run=0, n_train=100, truth="reference",
    ...            start="perturbed", max_iter=0, rmse=1e-3, rmse_mean=1e-3, rmse_var=1e-4,
    ...            rmse_to_mle=0.0, fit_s=0.0)
    >>> print(format_recovery([row]).splitlines()[2])
    | 2 | MLE | 1.00e-03 | - | 1.00 | 1.00e-03 | 1.00e-04 | 0.00e+00 | 0.0 |
    """
    lines = [
        "| d | estimator | RMSE (mu, sigma^2) | paper | / MLE | RMSE mu | RMSE sigma^2 "
        "| to MLE | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summarize_recovery(rows):
        rmse = _fmt(s["rmse"])
        if not math.isnan(s["rmse_sd"]):
            rmse += f" +- {_fmt(s['rmse_sd'])}"
        paper = "-" if math.isnan(s["paper"]) else _fmt(s["paper"])
        ratio = "-" if math.isnan(s["ratio_mle"]) else f"{s['ratio_mle']:.2f}"
        lines.append(
            f"| {s['dims']} | {s['estimator']} | {rmse} | {paper} | {ratio} | "
            f"{_fmt(s['rmse_mean'])} | {_fmt(s['rmse_var'])} | {_fmt(s['rmse_to_mle'])} | "
            f"{s['fit_s']:.1f} |"
        )
    first = rows[0]
    truth = (
        "N(-1, 0.1^2) per coordinate"
        if first["truth"] == "reference"
        else "mu ~ U(-1, 1), sigma ~ U(0.5, 1.5) per coordinate and run"
    )
    n_runs = max(r["run"] for r in rows) + 1
    max_iter = max(r["max_iter"] for r in rows)
    lines += [
        "",
        f"Parameters (mu, sigma^2) in the data's units; truth {truth}; n_train "
        f"{first['n_train']}; {n_runs} run(s); {max_iter} iterations; start "
        f"{first['start']}. Paper: Table 5, mean of 5 runs (sample size not stated).",
    ]
    return "\n".join(lines)


def add_recovery_arguments(parser):
    """Add the flags of the ``recovery`` command to an argparse (sub-)parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser to extend; :func:`main_recovery` reads the parsed namespace.

    Returns
    -------
    parser : argparse.ArgumentParser
        The same parser.
    """
    parser.add_argument("--mode", choices=sorted(RECOVERY_MODES), default="quick")
    parser.add_argument(
        "--quick", dest="mode", action="store_const", const="quick", help="--mode quick"
    )
    parser.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="--mode full"
    )
    parser.add_argument("--dims", nargs="+", type=int, default=list(RECOVERY_DIMS))
    parser.add_argument(
        "--estimators",
        nargs="+",
        choices=list(RECOVERY_ESTIMATORS),
        default=list(RECOVERY_ESTIMATORS),
    )
    parser.add_argument("--n-runs", type=int, default=None, help="default: the mode's")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument(
        "--truth",
        choices=list(RECOVERY_TRUTHS),
        default="reference",
        help="reference: N(-1, 0.1^2) per coordinate; random: mu ~ U(-1, 1), sigma ~ U(0.5, 1.5)",
    )
    parser.add_argument("--start", choices=list(RECOVERY_STARTS), default="perturbed")
    parser.add_argument("--max-iter", type=int, default=None, help="default: the mode's")
    parser.add_argument("--learning-rate", type=float, default=RECOVERY_LEARNING_RATE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ade-initial", choices=["latent", "gaussian"], default="latent")
    return parser


def main_recovery(args):
    """Run :func:`run_recovery` from :func:`add_recovery_arguments`' namespace and print
    :func:`format_recovery`.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed flags.

    Returns
    -------
    rows : list of dict
        What :func:`run_recovery` returns.
    """
    rows = run_recovery(
        mode=args.mode,
        dims=tuple(args.dims),
        estimators=tuple(args.estimators),
        n_runs=args.n_runs,
        n_jobs=args.n_jobs,
        n_train=args.n_train,
        truth=args.truth,
        start=args.start,
        max_iter=args.max_iter,
        learning_rate=args.learning_rate,
        seed=args.seed,
        ade_initial=args.ade_initial,
    )
    print(format_recovery(rows))
    return rows
