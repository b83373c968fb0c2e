"""The paper's synthetic experiments: Table 2, Figures 1/5 and 2, with adesk's public API.

This module is long (about 840 lines) because it is one experiment end to end: the estimator
rows with the paper's settings, the quick and full protocols, the fitting loop, the MMD and
likelihood scoring and the table and figure output, each documented against the paper.

``python -m adesk.benchmarks paper --mode quick`` (or :func:`run_paper`) fits, on each of the
paper's 14 two-dimensional toy distributions, the estimators of the paper's Section 5.1 with
the settings of its Appendix F.1:

- ``SM``: :class:`~adesk.estimators.ScoreMatchingEstimator` (samples by vanilla HMC of the
  fitted energy, as the paper did for SM);
- ``NF``: :class:`~adesk.estimators.FlowDualEstimator` with 10 planar layers
  (``flow=Flow(n_layers=10)``);
- ``CD-15``: :class:`~adesk.estimators.ContrastiveDivergenceEstimator` with 15 MCMC steps
  (``sampler=HMC(n_transitions=15)``);
- ``ADE``: :class:`~adesk.estimators.ADEDensityEstimator` with a 10-layer planar flow as
  ``q_0`` and 5 stochastic Langevin steps without Metropolis test (the paper's sampler and
  scheme: the chains restart from ``q_0`` every iteration; ``initial=Flow(n_layers=10,
  replay_buffer_size=0), sampler=Langevin(n_steps=5, metropolis=False)``);
- ``ADE (paper sampler, persistent)``: the same sampler behind adesk's persistent chains (the
  default for a parametric ``q_0``: the flow starts and restarts them and is fitted to the
  model on its own draws);
- ``ADE (adesk defaults)``: ``ADEDensityEstimator()`` with only ``max_iter`` and
  ``random_state`` set.

The paper rows share the paper's energy network (MLP, 3 hidden layers of 128 ReLU units).
Each (dataset, estimator, seed) is trained on ``n_train`` fresh samples of the true generator
and scored with two protocols:

1. the paper's (Table 2): ``MMD^2 x 1e3`` between ``n_mmd = 1000`` model samples and 1,000
   held-out true samples, Gaussian kernel with the paper's bandwidth rule
   (:func:`adesk.metrics.mmd2`, unbiased), beside an ``oracle`` row (two independent true
   samples of the same size: the noise floor) and the paper's own numbers;
2. a stronger one: the exactly normalised held-out log-likelihood (``score``, grid
   quadrature in 2-D) on ``n_test`` points for the 12 non-degenerate datasets, and MMD at
   ``n_mmd_large`` samples, beside a GaussianMixture and a KernelDensity tuned on a validation
   split (:func:`~adesk.benchmarks._quick.tuned_gaussian_mixture`,
   :func:`~adesk.benchmarks._quick.tuned_kernel_density`).

Outputs under ``output_dir``: ``table2.md`` (both protocols), ``figure1.png`` (per dataset:
training data with the model's samples, and the learned density) and ``figure2.png``
(samples recorded during training on moons, Multiring and pinwheel).

Budgets (measured on the 2-core development machine, both cores busy with another job, so
these are upper bounds; seconds per training iteration with the paper's network and batch
256, one thread: CD-15 0.11, ADE 0.016, SM 0.010, NF 0.007; ADE (adesk defaults) 0.05-0.07
with the defaults before 2026-12-02 and 0.012-0.017 with today's, measured idle by the
``quality`` benchmark; drawing 1,000 samples by 200 HMC transitions for SM and CD: 6-7 s):

- ``quick``: seed 0, 5,000 training points, 500 iterations, 5,000 test points, MMD at 2,000
  samples; about 2,200 CPU-seconds in all, i.e. about 18 minutes with ``n_jobs=2``.
- ``full``: seeds 0-4, 10,000 training points, 5,000 iterations (ADE's default budget), 10,000
  test points, MMD at 10,000 samples; about 1,250 CPU-seconds per (dataset, seed) on that
  machine (SM and CD each spend about 80 s of it drawing 11,000 HMC samples), about 24
  CPU-hours in all: about 1.5 hours with ``n_jobs=16`` on 16 cores. With today's ADE defaults
  the "ADE (adesk defaults)" row costs about 60-85 s per (dataset, seed) at 5,000 iterations
  instead of 250-350 s, which brings the projection to about 1,000 CPU-seconds per (dataset,
  seed) and 20 CPU-hours in all: still about 10 hours on 2 cores, because CD-15 (550 s of
  training per pair) and the HMC sampling of SM and CD dominate. GPU runs were not
  measured; with batch 256 and 128-unit layers each iteration is small, so spreading the
  jobs over CPU cores (``device="cpu"``) is the expected fast path.

Measured for ``quick`` on pinwheel, one job at a time on that loaded machine (fit + scoring,
seconds): CD-15 78, ADE (adesk defaults) 26, SM 21, ADE 15 (with the figure data), NF 5,
tuned GMM + KDE + oracle 6; i.e. about 150 s per dataset.
"""

import datetime
import importlib
import os
import shlex
import time

import numpy as np
from joblib import Parallel, delayed

from ..datasets import DEGENERATE_DATASETS, TOY_DATASETS, make_toy
from ..energies import MLP
from ..initial import Flow
from ..metrics import mmd2
from ..samplers import HMC, Langevin
from ._quick import tuned_gaussian_mixture, tuned_kernel_density

__all__ = [
    "FIGURE2_DATASETS",
    "MODES",
    "PAPER_ENERGY",
    "PAPER_ESTIMATORS",
    "PAPER_TABLE2",
    "add_paper_arguments",
    "format_paper_tables",
    "main_paper",
    "run_paper",
]

#: The energy network of the paper's Appendix F.1, shared by every paper row.
PAPER_ENERGY = MLP(hidden_layer_sizes=(128, 128, 128), activation="relu")

#: label -> (class name in ``adesk.estimators``, constructor parameters). The parameter
#: objects are shared by every fit: estimators never modify them.
PAPER_ESTIMATORS = {
    "SM": ("ScoreMatchingEstimator", {"energy_model": PAPER_ENERGY}),
    "NF": (
        "FlowDualEstimator",
        {"flow": Flow(n_layers=10, layer="planar"), "energy_model": PAPER_ENERGY},
    ),
    "CD-15": (
        "ContrastiveDivergenceEstimator",
        {"sampler": HMC(n_transitions=15), "energy_model": PAPER_ENERGY},
    ),
    "ADE": (
        "ADEDensityEstimator",
        {
            # The paper's scheme: chains restart from q0 every iteration.
            "initial": Flow(n_layers=10, layer="planar", replay_buffer_size=0),
            # The paper's Langevin steps have no acceptance test; a rejected chain would also
            # break the density bookkeeping that the entropy of a parametric q_0 relies on.
            "sampler": Langevin(n_steps=5, metropolis=False),
            "energy_model": PAPER_ENERGY,
        },
    ),
    # The paper's sampler with adesk's persistent chains: the flow starts and restarts them
    # and is fitted to the model on its own draws (the default for a parametric q0).
    "ADE (paper sampler, persistent)": (
        "ADEDensityEstimator",
        {
            "initial": Flow(n_layers=10, layer="planar"),
            "sampler": Langevin(n_steps=5, metropolis=False),
            "energy_model": PAPER_ENERGY,
        },
    ),
    "ADE (adesk defaults)": ("ADEDensityEstimator", {}),
}

#: The paper's Table 2 (``MMD^2 x 1e3``; the paper's caption writes "x 1e-3"), columns
#: SM, NF, CD-15, ADE.
PAPER_TABLE2 = {
    "2spirals": (5.09, 0.69, -0.45, -0.61),
    "Banana": (8.10, 0.88, -0.31, -0.99),
    "circles": (4.90, 0.76, -0.83, -1.13),
    "cos": (10.36, 0.91, 7.15, -0.55),
    "Cosine": (8.34, 2.15, 0.78, -1.09),
    "Funnel": (13.07, -0.92, -0.38, -0.75),
    "swissroll": (19.93, 1.97, 0.20, -0.36),
    "line": (10.28, 0.39, 10.5, -1.30),
    "moons": (41.34, 0.80, 2.21, -1.10),
    "Multiring": (2.01, 0.30, -0.38, -1.02),
    "pinwheel": (18.41, 3.01, -1.03, -0.95),
    "Ring": (9.22, 161.89, 0.12, -0.91),
    "Spiral": (9.48, 5.96, -0.41, -0.81),
    "Uniform": (5.88, 0.00, -1.17, -0.94),
}
PAPER_COLUMNS = ("SM", "NF", "CD-15", "ADE")

#: Datasets of the paper's Figure 2 (convergence of the sampler).
FIGURE2_DATASETS = ("moons", "Multiring", "pinwheel")

#: Settings of each mode; every key can be overridden in :func:`run_paper`.
MODES = {
    "quick": {
        "seeds": (0,),
        "n_train": 5000,
        "max_iter": 500,
        "n_test": 5000,
        "n_mmd_large": 2000,
    },
    "full": {
        "seeds": (0, 1, 2, 3, 4),
        "n_train": 10000,
        "max_iter": 5000,
        "n_test": 10000,
        "n_mmd_large": 10000,
    },
}

ORACLE = "oracle (true vs true)"
GMM = "tuned GMM"
KDE = "tuned KDE"
REFERENCES = (GMM, KDE, ORACLE)

# Relative cost per iteration measured on one core (see the module docstring); the slowest
# jobs are dispatched first so that the parallel workers finish together.
_COST_RANK = {
    "CD-15": 0,
    "ADE (adesk defaults)": 1,
    "ADE (paper sampler, persistent)": 2,
    "SM": 3,
    "ADE": 4,
    "NF": 5,
}
# Snapshots recorded during training for Figure 2, and columns shown.
_N_RECORDED = 40
_N_FIGURE2_COLUMNS = 6
# Points drawn per panel of the figures (more only makes the PNG heavier).
_N_PLOTTED = 500


# ----------------------------------------------------------------------------- data
def _paper_split(name, seed, n_train, n_val, n_test, n_mmd, n_mmd_large):
    """Train, validation, test and an independent "oracle" sample of one dataset and seed.

    The offsets keep the four samples independent for seeds below 1000.
    """
    n_reference = max(n_test, n_mmd, n_mmd_large)
    return (
        make_toy(name, n_train, random_state=seed),
        make_toy(name, n_val, random_state=seed + 1000),
        make_toy(name, n_reference, random_state=seed + 2000),
        make_toy(name, max(n_mmd, n_mmd_large), random_state=seed + 3000),
    )


def _mmd_x1e3(reference, samples):
    """``1e3 * MMD^2`` with the paper's protocol, NaN when the model produced non-finite points."""
    if not np.all(np.isfinite(samples)):
        return float("nan")
    return 1e3 * mmd2(reference, samples, bandwidth="paper", unbiased=True)


def _plot_bounds(X):
    """View window of a figure panel: the central 99% of the data plus a 15% margin.

    Percentiles rather than the range, so that a few far points (Funnel) do not shrink the
    interesting region to a corner.
    """
    lo = np.percentile(X, 0.5, axis=0)
    hi = np.percentile(X, 99.5, axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - 0.15 * span, hi + 0.15 * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


# ----------------------------------------------------------------------------- jobs
def _fit_estimator(name, label, seed, settings, figure1=False, record=False):
    """Fit one estimator of :data:`PAPER_ESTIMATORS` on one dataset and seed; score it.

    Returns a row dict with ``mmd`` (paper protocol), ``mmd_large``, ``ll`` (NaN on the
    degenerate datasets), ``fit_s``, ``sample_s``, ``error`` and, on request, the arrays of
    Figure 1 (``figure1``) and the snapshots of Figure 2 (``figure2``).
    """
    import torch

    from ..plotting import density_grid
    from ..training._callbacks import SampleRecorder

    torch.set_num_threads(1)
    s = settings
    X_train, _, X_test, _ = _paper_split(
        name, seed, s["n_train"], s["n_val"], s["n_test"], s["n_mmd"], s["n_mmd_large"]
    )
    row = {"dataset": name, "estimator": label, "seed": seed, "error": ""}
    class_name, params = PAPER_ESTIMATORS[label]
    cls = getattr(importlib.import_module("adesk.estimators"), class_name)
    recorder = None
    if record:
        recorder = SampleRecorder(
            every=max(1, s["max_iter"] // _N_RECORDED), n_samples=_N_PLOTTED, random_state=seed
        )
    est = cls(
        max_iter=s["max_iter"],
        random_state=seed,
        device=s["device"],
        callbacks=[recorder] if recorder is not None else None,
        **params,
    )
    start = time.perf_counter()
    try:
        est.fit(X_train)
    except Exception as exc:  # a diverged fit is a result, not a reason to lose the run
        row.update(
            mmd=np.nan, mmd_large=np.nan, ll=np.nan, fit_s=time.perf_counter() - start,
            sample_s=np.nan, error=f"{type(exc).__name__}: {exc}"[:200],
        )  # fmt: skip
        return row
    row["fit_s"] = time.perf_counter() - start

    start = time.perf_counter()
    samples = est.sample(s["n_mmd"], random_state=seed)
    row["sample_s"] = time.perf_counter() - start
    row["mmd"] = _mmd_x1e3(X_test[: s["n_mmd"]], samples)
    samples_large = est.sample(s["n_mmd_large"], random_state=seed + 1)
    row["mmd_large"] = _mmd_x1e3(X_test[: s["n_mmd_large"]], samples_large)
    # A line or a curve has no 2-D density: its log-likelihood is unbounded, not a score.
    row["ll"] = np.nan if name in DEGENERATE_DATASETS else float(est.score(X_test[: s["n_test"]]))

    if figure1:
        bounds = _plot_bounds(X_train)
        xx, yy, log_density = density_grid(est, bounds, grid_size=s["grid_size"])
        row["figure1"] = {
            "data": X_train[:_N_PLOTTED],
            "samples": samples[:_N_PLOTTED],
            "bounds": bounds,
            "log_density": log_density,
        }
    if recorder is not None:
        row["figure2"] = {
            "data": X_train[:_N_PLOTTED],
            "bounds": _plot_bounds(X_train),
            "snapshots": list(recorder.snapshots),
        }
    return row


def _fit_references(name, seed, settings):
    """Rows of the tuned GaussianMixture, the tuned KernelDensity and the oracle."""
    s = settings
    X_train, X_val, X_test, X_oracle = _paper_split(
        name, seed, s["n_train"], s["n_val"], s["n_test"], s["n_mmd"], s["n_mmd_large"]
    )
    degenerate = name in DEGENERATE_DATASETS
    n_mmd, n_large = s["n_mmd"], s["n_mmd_large"]
    rows = []

    start = time.perf_counter()
    gmm = tuned_gaussian_mixture(X_train, X_val, random_state=seed)
    fit_s = time.perf_counter() - start
    rows.append(
        {
            "estimator": GMM,
            "fit_s": fit_s,
            "ll": np.nan if degenerate else float(gmm.score(X_test[: s["n_test"]])),
            "mmd": _mmd_x1e3(X_test[:n_mmd], gmm.sample(n_mmd)[0]),
            "mmd_large": _mmd_x1e3(X_test[:n_large], gmm.sample(n_large)[0]),
        }
    )

    start = time.perf_counter()
    kde = tuned_kernel_density(X_train)
    fit_s = time.perf_counter() - start
    ll = np.nan if degenerate else float(np.mean(kde.score_samples(X_test[: s["n_test"]])))
    rows.append(
        {
            "estimator": KDE,
            "fit_s": fit_s,
            "ll": ll,
            "mmd": _mmd_x1e3(X_test[:n_mmd], kde.sample(n_mmd, random_state=seed)),
            "mmd_large": _mmd_x1e3(X_test[:n_large], kde.sample(n_large, random_state=seed + 1)),
        }
    )

    rows.append(
        {
            "estimator": ORACLE,
            "fit_s": np.nan,
            "ll": np.nan,
            "mmd": _mmd_x1e3(X_test[:n_mmd], X_oracle[:n_mmd]),
            "mmd_large": _mmd_x1e3(X_test[:n_large], X_oracle[:n_large]),
        }
    )
    for row in rows:
        row.update(dataset=name, seed=seed, sample_s=np.nan, error="")
    return rows


# ----------------------------------------------------------------------------- tables
def _aggregate(rows, metric):
    """``{(dataset, estimator): values over seeds}`` of one metric (failed fits excluded)."""
    table = {}
    for row in rows:
        if row.get("error"):
            continue
        table.setdefault((row["dataset"], row["estimator"]), []).append(row[metric])
    return table


def _mean_std(values, digits):
    """``"mean ± std"`` over seeds (std with ddof=1), ``"mean"`` for one seed, ``"—"`` if none."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not np.any(np.isfinite(values)):
        return "—"
    mean = float(np.nanmean(values))
    if np.sum(np.isfinite(values)) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(np.nanstd(values, ddof=1)):.{digits}f}"


def _mean(values):
    values = np.asarray(values if values is not None else [], dtype=float)
    if values.size == 0 or not np.any(np.isfinite(values)):
        return np.nan
    return float(np.nanmean(values))


def _markdown(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _failures(rows):
    failed = [r for r in rows if r.get("error")]
    if not failed:
        return ""
    lines = ["", "Failed fits (excluded from the means):", ""]
    lines += [
        f"- {r['dataset']} / {r['estimator']} / seed {r['seed']}: {r['error']}" for r in failed
    ]
    return "\n".join(lines)


def format_paper_tables(rows, datasets, estimators):
    """Markdown of both protocols from the rows of :func:`run_paper`.

    Parameters
    ----------
    rows : list of dict
        Rows with keys ``dataset``, ``estimator``, ``seed``, ``mmd``, ``mmd_large``, ``ll``,
        ``fit_s``, ``error`` (as returned by :func:`run_paper`).
    datasets : sequence of str
        Datasets, in the order of the table rows.
    estimators : sequence of str
        Estimator labels (keys of :data:`PAPER_ESTIMATORS`), in the order of the columns.

    Returns
    -------
    text : str
        Three tables: the paper's protocol (with the oracle and the paper's numbers), the
        held-out log-likelihood with "ADE >= GMM" marks and their count, and MMD at the large
        sample size.
    """
    mmd = _aggregate(rows, "mmd")
    mmd_large = _aggregate(rows, "mmd_large")
    ll = _aggregate(rows, "ll")
    fit_s = _aggregate(rows, "fit_s")
    n_mmd = next((r.get("n_mmd") for r in rows if r.get("n_mmd")), 1000)
    n_large = next((r.get("n_mmd_large") for r in rows if r.get("n_mmd_large")), None)
    n_test = next((r.get("n_test") for r in rows if r.get("n_test")), None)
    ade_labels = [label for label in estimators if label.startswith("ADE")]
    sections = []

    # 1. The paper's protocol.
    header = ["dataset", *estimators, "oracle", "best model"]
    body = []
    for name in datasets:
        means = {label: _mean(mmd.get((name, label))) for label in estimators}
        finite = {label: m for label, m in means.items() if np.isfinite(m)}
        best = min(finite, key=finite.get) if finite else "—"
        cells = [_mean_std(mmd.get((name, label), []), 2) for label in estimators]
        body.append([name, *cells, _mean_std(mmd.get((name, ORACLE), []), 2), best])
    sections.append(
        f"### Paper protocol: MMD^2 x 1e3, {n_mmd} model samples vs {n_mmd} held-out "
        "true samples (lower is better; mean ± std over seeds)\n\n"
        "The oracle compares two independent true samples of the same size: values within "
        "its spread are indistinguishable from a perfect model.\n\n" + _markdown(header, body)
    )
    paper_body = [
        [name, *(f"{v:.2f}" for v in PAPER_TABLE2[name])]
        for name in datasets
        if name in PAPER_TABLE2
    ]
    sections.append(
        "### The paper's Table 2 (same statistic; its caption prints the scale as x 1e-3)\n\n"
        + _markdown(["dataset", *PAPER_COLUMNS], paper_body)
    )

    # 2. Held-out log-likelihood (non-degenerate datasets only).
    dense = [name for name in datasets if name not in DEGENERATE_DATASETS]
    columns = [*estimators, GMM, KDE]
    header = ["dataset", *columns, *(f"{label} >= GMM" for label in ade_labels)]
    body = []
    wins = dict.fromkeys(ade_labels, 0)
    compared = dict.fromkeys(ade_labels, 0)
    for name in dense:
        cells = [_mean_std(ll.get((name, label), []), 3) for label in columns]
        gmm = _mean(ll.get((name, GMM)))
        marks = []
        for label in ade_labels:
            ade = _mean(ll.get((name, label)))
            if np.isfinite(ade) and np.isfinite(gmm):
                compared[label] += 1
                wins[label] += ade >= gmm
                marks.append("yes" if ade >= gmm else "no")
            else:
                marks.append("—")
        body.append([name, *cells, *marks])
    counts = "; ".join(f"{label} >= GMM on {wins[label]}/{compared[label]}" for label in ade_labels)
    sections.append(
        f"### Held-out log-likelihood, exactly normalised ({n_test} test points; higher is "
        "better; degenerate datasets "
        f"{', '.join(DEGENERATE_DATASETS)} have no density and are left out)\n\n"
        + _markdown(header, body)
        + (f"\n\nCount: {counts}." if ade_labels else "")
    )

    # 3. MMD at the large sample size.
    columns = [*estimators, GMM, KDE, ORACLE]
    body = [
        [name, *(_mean_std(mmd_large.get((name, label), []), 3) for label in columns)]
        for name in datasets
    ]
    sections.append(
        f"### MMD^2 x 1e3 at {n_large} model samples vs {n_large} held-out true samples "
        "(paper's bandwidth rule, unbiased)\n\n" + _markdown(["dataset", *columns], body)
    )

    # Fit times, so a reader can weigh the numbers against the cost.
    body = [
        [label, _mean_std([t for (n, e), ts in fit_s.items() if e == label for t in ts], 1)]
        for label in [*estimators, GMM, KDE]
    ]
    sections.append(
        "### Fit time (seconds, including the log Z quadrature; mean ± std over datasets, seeds)"
        "\n\n" + _markdown(["estimator", "fit s"], body)
    )
    return "\n\n".join(sections) + _failures(rows)


# ----------------------------------------------------------------------------- figures
def _figure1(rows, label, path, dpi):
    """Per dataset: data (x) with the model's samples (dots), and the learned density."""
    from matplotlib.figure import Figure

    from ..plotting import plot_samples

    panels = [r for r in rows if "figure1" in r]
    n_cols = min(7, len(panels))
    n_blocks = -(-len(panels) // n_cols)
    fig = Figure(figsize=(1.9 * n_cols, 3.9 * n_blocks))
    axes = fig.subplots(2 * n_blocks, n_cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, row in enumerate(panels):
        block, col = divmod(i, n_cols)
        data = row["figure1"]
        (xmin, xmax), (ymin, ymax) = data["bounds"]
        top, bottom = axes[2 * block, col], axes[2 * block + 1, col]
        plot_samples(data["data"], data["samples"], ax=top, bounds=data["bounds"], s=3)
        top.get_legend().remove()
        top.set_title(row["dataset"], fontsize=9)
        # The paper shows the unnormalised exp(c f) with a tuned c; the density scaled to a
        # maximum of 1 shows the same landscape without a tuned constant.
        log_density = data["log_density"]
        finite = log_density[np.isfinite(log_density)]
        shift = finite.max() if finite.size else 0.0
        bottom.imshow(
            np.ma.masked_invalid(np.exp(log_density - shift)),
            extent=(xmin, xmax, ymin, ymax),
            origin="lower",
            cmap="viridis",
            aspect="equal",
        )
        for ax in (top, bottom):
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
    fig.suptitle(
        f"{label}: training data (x) and samples (dots), above; learned density exp(-E), below",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=dpi)


def _figure2(rows, label, path, dpi):
    """Rows = datasets, columns = training iterations: samples recorded during training."""
    from matplotlib.figure import Figure

    panels = [r for r in rows if r.get("figure2", {}).get("snapshots")]
    n_cols = max(min(_N_FIGURE2_COLUMNS, len(r["figure2"]["snapshots"])) for r in panels)
    fig = Figure(figsize=(1.9 * max(n_cols, 1), 2.0 * len(panels) + 0.4))
    axes = fig.subplots(len(panels), max(n_cols, 1), squeeze=False)
    for r, row in enumerate(panels):
        data = row["figure2"]
        snapshots = data["snapshots"]
        # Log-spaced columns: the samples move most early in training.
        picks = np.unique(
            np.round(np.geomspace(1, len(snapshots), min(n_cols, len(snapshots)))).astype(int) - 1
        )
        (xmin, xmax), (ymin, ymax) = data["bounds"]
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(picks):
                ax.set_axis_off()
                continue
            iteration, samples = snapshots[picks[c]]
            ax.scatter(data["data"][:, 0], data["data"][:, 1], marker="x", s=6, c="lightgrey")
            ax.scatter(samples[:, 0], samples[:, 1], s=3, c="tab:orange", linewidths=0)
            ax.set_xlim(xmin, xmax)
            ax.set_ylim(ymin, ymax)
            ax.set_aspect("equal", adjustable="box")
            ax.set_title(f"iteration {iteration}", fontsize=8)
            if c == 0:
                ax.set_ylabel(row["dataset"], fontsize=9)
    fig.suptitle(f"{label}: samples during training (grey x: data)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=dpi)


# ----------------------------------------------------------------------------- driver
def _command_line(mode, datasets, estimators, seeds, output_dir, n_jobs, overrides):
    """The ``python -m adesk.benchmarks paper`` command equivalent to a :func:`run_paper` call."""
    words = ["python", "-m", "adesk.benchmarks", "paper", "--mode", mode]
    words += ["--datasets", *datasets, "--estimators", *estimators]
    words += ["--seeds", *(str(seed) for seed in seeds)]
    for key, value in overrides.items():
        if value is not None:
            words += [f"--{key.replace('_', '-')}", str(value)]
    words += ["--output-dir", str(output_dir), "--n-jobs", str(n_jobs)]
    return " ".join(shlex.quote(word) for word in words)


def run_paper(
    mode="quick",
    datasets=None,
    estimators=None,
    seeds=None,
    output_dir="doc/paper",
    n_jobs=1,
    *,
    n_train=None,
    max_iter=None,
    n_test=None,
    n_mmd=1000,
    n_mmd_large=None,
    n_val=2000,
    device="auto",
    grid_size=150,
    dpi=80,
    figures=True,
    verbose=True,
):
    """Reproduce the paper's synthetic experiments and write tables and figures.

    Parameters
    ----------
    mode : {"quick", "full"}, default="quick"
        Budget preset (:data:`MODES`): ``"quick"`` runs in about 18 minutes on 2 CPU cores
        with ``n_jobs=2``; ``"full"`` is the paper-scale run (5 seeds, 5,000 iterations;
        about 24 CPU-hours). ``None`` arguments below take the mode's value.
    datasets : sequence of str, default=None
        Names from :data:`adesk.datasets.TOY_DATASETS`; all 14 when None.
    estimators : sequence of str, default=None
        Labels from :data:`PAPER_ESTIMATORS`; all when None.
    seeds : sequence of int, default=None
        Seeds of the data and of the estimators (each seed is an independent repetition).
    output_dir : str or path-like, default="doc/paper"
        Where ``table2.md``, ``figure1.png`` and ``figure2.png`` are written (created if
        missing).
    n_jobs : int, default=1
        joblib processes over the (dataset, estimator, seed) jobs; each uses one thread.
    n_train, max_iter, n_test, n_mmd_large : int, default=None
        Training points, training iterations, test points of the log-likelihood, and the
        sample size of the large-sample MMD; the mode's values when None.
    n_mmd : int, default=1000
        Sample size of the paper's MMD protocol (1,000 in the paper).
    n_val : int, default=2000
        Validation points for tuning the GaussianMixture.
    device : str, default="auto"
        ``device`` of every estimator.
    grid_size : int, default=150
        Resolution of the density heat maps of Figure 1.
    dpi : int, default=80
        Resolution of the PNG files.
    figures : bool, default=True
        Draw ``figure1.png`` and ``figure2.png``.
    verbose : bool, default=True
        Print a line per finished job and the tables.

    Returns
    -------
    result : dict
        ``rows`` (one dict per dataset, estimator or reference, and seed, with ``mmd``,
        ``mmd_large``, ``ll``, ``fit_s``, ``sample_s``, ``error``), ``markdown`` (the text
        of ``table2.md``), ``paths`` (the files written), ``wall_s``.

    Notes
    -----
    Figures 1 and 2 show the ``"ADE"`` row (the paper's settings), or the first ADE label
    among ``estimators``, or the first estimator, at the first seed. Figure 2 uses the
    datasets of :data:`FIGURE2_DATASETS` that are run (the first dataset if none is).

    Examples
    --------
    >>> from adesk.benchmarks._paper import run_paper
    >>> result = run_paper(datasets=["moons"], estimators=["NF"], seeds=[0],
    ...                    output_dir="/tmp/paper", max_iter=2, n_train=200, n_test=100,
    ...                    n_mmd=50, n_mmd_large=60, n_val=100, figures=False,
    ...                    verbose=False)  # doctest: +SKIP
    >>> sorted({row["estimator"] for row in result["rows"]})  # doctest: +SKIP
    ['NF', 'oracle (true vs true)', 'tuned GMM', 'tuned KDE']
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}; got {mode!r}.")
    datasets = list(TOY_DATASETS if datasets is None else datasets)
    estimators = list(PAPER_ESTIMATORS if estimators is None else estimators)
    unknown = [name for name in datasets if name not in TOY_DATASETS]
    if unknown:
        raise ValueError(f"unknown datasets {unknown}; choose from {list(TOY_DATASETS)}.")
    unknown = [label for label in estimators if label not in PAPER_ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; choose from {list(PAPER_ESTIMATORS)}.")
    preset = MODES[mode]
    seeds = [int(seed) for seed in (preset["seeds"] if seeds is None else seeds)]
    overrides = {
        "n_train": n_train,
        "max_iter": max_iter,
        "n_test": n_test,
        "n_mmd": n_mmd,
        "n_mmd_large": n_mmd_large,
        "n_val": n_val,
    }
    settings = {key: preset[key] for key in ("n_train", "max_iter", "n_test", "n_mmd_large")}
    settings.update({key: value for key, value in overrides.items() if value is not None})
    settings.update(device=device, grid_size=grid_size)
    command = _command_line(mode, datasets, estimators, seeds, output_dir, n_jobs, overrides)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    figure_label = next(
        (
            label
            for label in ("ADE", *estimators)
            if label in estimators and label.startswith("ADE")
        ),
        estimators[0],
    )
    figure2_datasets = [name for name in datasets if name in FIGURE2_DATASETS] or datasets[:1]
    jobs = []
    for label in sorted(estimators, key=lambda label: _COST_RANK.get(label, 0)):
        for seed in seeds:
            for name in datasets:
                chosen = figures and label == figure_label and seed == seeds[0]
                jobs.append(
                    delayed(_fit_estimator)(
                        name, label, seed, settings, chosen, chosen and name in figure2_datasets
                    )
                )
    jobs += [delayed(_fit_references)(name, seed, settings) for seed in seeds for name in datasets]

    start = time.perf_counter()
    rows = []
    for result in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
        for row in result if isinstance(result, list) else [result]:
            row.update(
                n_mmd=settings["n_mmd"],
                n_mmd_large=settings["n_mmd_large"],
                n_test=settings["n_test"],
            )
            rows.append(row)
            if verbose:
                note = f" FAILED {row['error']}" if row["error"] else ""
                print(
                    f"[{time.perf_counter() - start:7.0f} s] {row['dataset']:>9} "
                    f"{row['estimator']:<22} seed {row['seed']}: MMD {row['mmd']:.2f} "
                    f"ll {row['ll']:.3f} fit {row['fit_s']:.0f} s{note}",
                    flush=True,
                )
    order = {label: i for i, label in enumerate([*estimators, *REFERENCES])}
    rows.sort(key=lambda r: (datasets.index(r["dataset"]), order[r["estimator"]], r["seed"]))

    os.makedirs(output_dir, exist_ok=True)
    paths = {}
    # A figure is skipped only when every fit it would show failed (listed in table2.md).
    if figures and any("figure1" in row for row in rows):
        paths["figure1"] = os.path.join(output_dir, "figure1.png")
        _figure1(rows, figure_label, paths["figure1"], dpi)
    if figures and any(row.get("figure2", {}).get("snapshots") for row in rows):
        paths["figure2"] = os.path.join(output_dir, "figure2.png")
        _figure2(rows, figure_label, paths["figure2"], dpi)
    wall_s = time.perf_counter() - start

    header = [
        "# The paper's synthetic experiments (Table 2) reproduced with adesk",
        "",
        f"- mode: `{mode}`; seeds: {seeds}; n_train: {settings['n_train']}; "
        f"max_iter: {settings['max_iter']}; n_test: {settings['n_test']}; "
        f"n_mmd: {settings['n_mmd']}; n_mmd_large: {settings['n_mmd_large']}",
        f"- paper rows share the energy MLP {PAPER_ENERGY.hidden_layer_sizes} "
        f"({PAPER_ENERGY.activation}); ADE: 10-layer planar flow q_0 + 5 Langevin steps, "
        "restarted from q_0 every iteration (the persistent row: behind persistent chains); "
        '"ADE (adesk defaults)": `ADEDensityEstimator()`',
        f"- command: `{command}`",
        f"- wall time: {wall_s:.0f} s with n_jobs={n_jobs}; written "
        f"{datetime.datetime.now().isoformat(timespec='seconds')}",
    ]
    if "figure1" in paths:
        header.append(f"- figures: `figure1.png`, `figure2.png` ({figure_label}, seed {seeds[0]})")
    markdown = "\n".join(header) + "\n\n" + format_paper_tables(rows, datasets, estimators) + "\n"
    paths["table2"] = os.path.join(output_dir, "table2.md")
    with open(paths["table2"], "w", encoding="utf-8") as handle:
        handle.write(markdown)
    if verbose:
        print()
        print(markdown)
    for row in rows:  # the figure arrays are in the PNGs now; keep the rows light
        row.pop("figure1", None)
        row.pop("figure2", None)
    return {"rows": rows, "markdown": markdown, "paths": paths, "wall_s": wall_s}


def add_paper_arguments(parser):
    """Add the flags of the ``paper`` command to an argparse (sub-)parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser to extend; :func:`main_paper` reads the parsed namespace.

    Returns
    -------
    parser : argparse.ArgumentParser
        The same parser.
    """
    parser.add_argument("--mode", choices=sorted(MODES), default="quick")
    parser.add_argument(
        "--quick", dest="mode", action="store_const", const="quick", help="--mode quick"
    )
    parser.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="--mode full"
    )
    parser.add_argument("--datasets", nargs="+", choices=list(TOY_DATASETS), default=None)
    parser.add_argument("--estimators", nargs="+", choices=list(PAPER_ESTIMATORS), default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--max-iter", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--n-mmd", type=int, default=1000)
    parser.add_argument("--n-mmd-large", type=int, default=None)
    parser.add_argument("--n-val", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output-dir", default="doc/paper")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--grid-size", type=int, default=150, help="heat-map resolution")
    parser.add_argument("--dpi", type=int, default=80, help="resolution of the PNG files")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    return parser


def main_paper(args):
    """Run :func:`run_paper` from the namespace parsed with :func:`add_paper_arguments`.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed flags.

    Returns
    -------
    result : dict
        What :func:`run_paper` returns.
    """
    return run_paper(
        mode=args.mode,
        datasets=args.datasets,
        estimators=args.estimators,
        seeds=args.seeds,
        output_dir=args.output_dir,
        n_jobs=args.n_jobs,
        n_train=args.n_train,
        max_iter=args.max_iter,
        n_test=args.n_test,
        n_mmd=args.n_mmd,
        n_mmd_large=args.n_mmd_large,
        n_val=args.n_val,
        device=args.device,
        grid_size=args.grid_size,
        dpi=args.dpi,
        figures=not args.no_figures,
        verbose=not args.quiet,
    )
