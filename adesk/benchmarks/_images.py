"""Image benchmark: ADE on 8x8 digits (the paper's Section 5.2 and Table 3 ablation) on a CPU.

This module is long (about 900 lines) because it is one experiment end to end: the data, the
reference classifier, the five model rows of the ablation, the sample scoring and the report.

``python -m adesk.benchmarks images --mode quick --n-jobs 2`` (or :func:`run_images`) trains
on scikit-learn's 8x8 handwritten digits (dequantized, in ``[0, 1]``) and scores the samples
of each model with a classifier score and a Frechet distance:

- ``ADE (q0 + HMC)``: :meth:`ADEDensityEstimator.image_preset
  <adesk.estimators.ADEDensityEstimator.image_preset>`, the paper's image configuration
  (convolutional energy, generalized HMC with learned per-pixel step sizes, deep latent
  ``q_0``); samples from :meth:`~adesk.estimators.ADEDensityEstimator.sample`;
- ``ADE q0 alone (w/o HMC)``: :meth:`~adesk.estimators.ADEDensityEstimator.sample_initial`
  of the *same* fitted model, i.e. its initial distribution without the learned dynamics.
  This is the ablation of the paper's Table 3 ("Deep LVM init w/o HMC") evaluated on one
  trained model, not on a second model trained without the dynamics;
- ``ADE nonparametric``: ``image_preset(nonparametric=True)`` (data plus learned noise as
  ``q_0``, replay buffer, twice as many dynamics steps). Its chains start from stored
  training images plus noise (through the buffer), so it can score close to the held-out
  ceiling by staying near training digits: a good score is not evidence of generalisation;
- ``PCD-Langevin``: :class:`~adesk.estimators.ContrastiveDivergenceEstimator` with
  ``sampler=Langevin(n_steps=1, n_transitions=K), replay_buffer_size=10000`` on the same
  energy network (Metropolis-adjusted Langevin chains from a replay buffer, Du & Mordatch
  2019), scored on the samples of its ``sample`` (200 HMC transitions of the fitted energy
  from the data's Gaussian) and,
  separately, on random states of its replay buffer (``PCD-Langevin (replay buffer)``: the
  short-run persistent chains that training used);
- references: ``real (held-out)``, real digits that neither the generators nor the feature
  classifier saw (the ceiling), and ``uniform noise`` (the floor).

Protocol. The 1,797 digits are split, stratified by label with a fixed seed, into a training
set (60%, 1,079 images), a *reference* set (20%, 359 images) and a *held-out* set of the
same size (359 images). The generators train on the training set, and so does the feature
classifier (:func:`~adesk.metrics.train_feature_classifier`, a small CNN whose penultimate
layer and logits stand in for the Inception network; its accuracy on the reference set is
reported). Every scored set has the size of the reference set, because the Frechet distance
of a finite sample is biased upward by an amount that shrinks with its size: numbers are only
comparable between sets of the same size. The classifier score (Inception score with this
classifier) is the mean ± std over 10 splits of the set (:func:`~adesk.metrics.image_quality`)
and the Frechet distance is to the reference set. Generated images are clipped to the pixel
range ``[0, 1]`` before scoring (ADE's preset already clamps its samples to the data's range;
PCD's HMC samples are not clamped). The log-likelihood is not reported: every fit ends with a
cheap importance-sampling estimate of ``log Z`` (``ImportanceSampling(n_samples=1000)``),
which is not accurate enough in 64 dimensions to compare models.

Outputs under ``output_dir`` (default ``doc/images``): ``results.md`` (the table, with the
command and the wall time), ``samples.png`` (64 images of each row), ``energy_histogram.png``
(ADE's energy on the reference digits against its samples with and without the dynamics,
cf. the paper's Figure 3b) and ``completion.png`` (the lower half of 8 reference digits
completed by 20 rounds of ADE's dynamics, :meth:`~adesk.estimators.ADEDensityEstimator.complete`,
cf. the paper's Figure 4).

Budgets. The paper's energy (``ConvEnergy`` with channels ``(64, 128, 256)``) costs about
0.07 s per forward and backward pass of a batch of 64 digits on one CPU core, and ADE
backpropagates through all ``T`` steps of its dynamics, so ``quick`` uses a smaller energy
(channels ``(16, 32, 64)``, :class:`ConvEnergyFactory`) and fewer steps; ``full`` is the
preset itself. Seconds per training iteration (batch 64, one thread), measured on the idle
2-core development machine with ``n_jobs=2`` (a 300-iteration run of this driver; ADE alone
on one core took the same time per iteration):

=====================================  ========  =========
model (quick settings)                 s / iter  iters
=====================================  ========  =========
ADE, T = 10                            0.47      1,200
ADE nonparametric, T = 20              0.55      1,000
PCD-Langevin, 20 MALA steps            0.15      1,200
=====================================  ========  =========

plus about 3 s per fit for ``log Z`` and the sampler set-up, 43 s for PCD's 359 HMC samples,
2 s for the feature classifier and a few seconds for the figures. ``quick`` is thus about
565 + 550 + 230 CPU-seconds: about 13 minutes with ``n_jobs=2`` on 2 cores (the two ADE fits
run side by side, PCD after the shorter one), about 23 minutes with ``n_jobs=1``. The
preset's learning rate (1e-4) is kept: 1e-3 made ADE's samples worse after 300 iterations
(Frechet distance 1,203 against 183).

``full``: the preset's defaults (``ConvEnergy`` with ``(64, 128, 256)``, ``T = 30``, 60 for
the nonparametric variant, 60 Langevin steps for PCD) and 10,000 iterations each. Measured on
one idle CPU core: 4.4 s per ADE iteration, 10.0 s for the nonparametric variant and 2.6 s
for PCD, that is about 47 CPU-hours: a run for a GPU (``--device cuda``), where it was not
timed.

MNIST. With ``mnist_root`` the data are MNIST (:func:`~adesk.datasets.load_mnist`,
dequantized): the generators and the classifier train on the 60,000 training images, and the
10,000 test images are split, stratified, into the reference and held-out halves (5,000
each). The files must already be under ``mnist_root/MNIST/raw``; nothing is downloaded. The
budgets above are for 8x8 digits: 28x28 images cost more than 12 times as much per pass.
"""

import datetime
import os
import shlex
import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import train_test_split

from ..datasets import load_digits_images, load_mnist
from ..energies import Conv, ConvEnergy
from ..metrics import image_quality, train_feature_classifier
from ..partition import ImportanceSampling
from ..samplers import Langevin
from ._paper import _markdown

__all__ = [
    "IMAGE_MODELS",
    "IMAGE_MODES",
    "ConvEnergyFactory",
    "add_images_arguments",
    "format_images_table",
    "main_images",
    "run_images",
]

#: Trained models; each gives one or two rows of the table.
IMAGE_MODELS = ("ADE", "ADE nonparametric", "PCD-Langevin")

#: Settings of each mode; every key can be overridden in :func:`run_images`.
#: ``channels`` None means the preset's energy ``Conv(spectral_norm=True, base_precision=0.0)``
#: (channels (64, 128, 256)); ``n_steps`` None means the preset's T (``sampler__n_steps``: 30,
#: and 60 for the nonparametric variant).
IMAGE_MODES = {
    "quick": {
        "max_iter": 1200,
        "max_iter_nonparametric": 1000,
        "n_steps": 10,
        "pcd_steps": 20,
        "pcd_sampling_steps": 200,
        "channels": (16, 32, 64),
    },
    "full": {
        "max_iter": 10000,
        "max_iter_nonparametric": 10000,
        "n_steps": None,
        "pcd_steps": 60,
        "pcd_sampling_steps": 200,
        "channels": None,
    },
}

REAL = "real (held-out)"
ADE_ROW = "ADE (q0 + HMC)"
ADE_Q0_ROW = "ADE q0 alone (w/o HMC)"
ADE_NP_ROW = "ADE nonparametric"
PCD_ROW = "PCD-Langevin"
PCD_BUFFER_ROW = "PCD-Langevin (replay buffer)"
NOISE = "uniform noise"
#: Table order of all possible rows.
ROW_ORDER = (REAL, ADE_ROW, ADE_Q0_ROW, ADE_NP_ROW, PCD_ROW, PCD_BUFFER_ROW, NOISE)

# Draws of the importance-sampling estimate of log Z that ends every fit. The benchmark does
# not use log Z; the default (10,000 draws, or AIS with 512 chains x 500 temperatures) would
# cost more than a quick fit.
_PARTITION_DRAWS = 1000
# Images per panel of samples.png, digits in completion.png and completion rounds.
_N_GRID = 64
_N_COMPLETION = 8
_COMPLETION_STEPS = 20
# Slowest first, so that the parallel workers finish together (see the module docstring).
_COST_RANK = {"ADE nonparametric": 0, "ADE": 1, "PCD-Langevin": 2}


class ConvEnergyFactory:
    """Picklable ``energy_model`` callable: ``f(n_features) -> ConvEnergy(image_shape, ...)``.

    A top-level class rather than a lambda, so that estimators using it can be sent to joblib
    workers and pickled.

    Parameters
    ----------
    image_shape : tuple of 3 int
        ``(channels, height, width)`` of the images.
    channels : tuple of int, default=(16, 32, 64)
        Widths of the convolution stages of :class:`~adesk.energies.ConvEnergy`.
    spectral_norm : bool, default=True
        Spectral normalisation of every layer (as in the image preset).

    Examples
    --------
    >>> factory = ConvEnergyFactory((1, 8, 8))
    >>> factory(64).image_shape
    (1, 8, 8)
    """

    def __init__(self, image_shape, channels=(16, 32, 64), spectral_norm=True):
        self.image_shape = tuple(int(s) for s in image_shape)
        self.channels = tuple(int(c) for c in channels)
        self.spectral_norm = bool(spectral_norm)

    def __call__(self, n_features):
        expected = int(np.prod(self.image_shape))
        if int(n_features) != expected:
            raise ValueError(
                f"ConvEnergyFactory for images {self.image_shape} needs {expected} features; "
                f"got {n_features}."
            )
        return ConvEnergy(
            self.image_shape, channels=self.channels, spectral_norm=self.spectral_norm
        )

    def __repr__(self):
        return f"ConvEnergyFactory({self.image_shape}, channels={self.channels})"


# ----------------------------------------------------------------------------- data
def _split_digits(seed, reference_fraction):
    """Stratified train / reference / held-out split of the dequantized 8x8 digits."""
    X, y = load_digits_images(dequantize=True, random_state=seed, return_labels=True)
    n_each = int(round(reference_fraction * len(X)))
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=2 * n_each, stratify=y, random_state=seed
    )
    X_reference, X_heldout, y_reference, _ = train_test_split(
        X_rest, y_rest, test_size=n_each, stratify=y_rest, random_state=seed
    )
    return X_train, y_train, X_reference, y_reference, X_heldout


def _split_mnist(root, seed, reference_fraction):
    """MNIST train images, and the test images split into reference and held-out halves.

    Pixels are dequantized as ``(255 x + u) / 256``, ``u ~ U(0, 1)``, like the digits.
    ``reference_fraction`` is unused: the 10,000 test images give both sets.
    """
    del reference_fraction
    rng = np.random.default_rng(seed)
    X_train, y_train = load_mnist(root, train=True)
    X_test, y_test = load_mnist(root, train=False)

    def dequantize(X):
        return (np.round(X.astype(np.float64) * 255) + rng.uniform(size=X.shape)) / 256

    X_train, X_test = dequantize(X_train), dequantize(X_test)
    X_reference, X_heldout, y_reference, _ = train_test_split(
        X_test, y_test, test_size=len(X_test) // 2, stratify=y_test, random_state=seed
    )
    n = min(len(X_reference), len(X_heldout))
    return X_train, y_train, X_reference[:n], y_reference[:n], X_heldout[:n]


# ----------------------------------------------------------------------------- jobs
def _make_estimator(model, settings, image_shape, seed):
    """The estimator of one of :data:`IMAGE_MODELS` with the mode's budget."""
    from ..estimators._ade import ADEDensityEstimator
    from ..estimators._cd import ContrastiveDivergenceEstimator

    s = settings
    if s["channels"] is None:
        # The preset's energy: spectrally normalised, no quadratic base term.
        energy = Conv(spectral_norm=True, base_precision=0.0)
    else:
        energy = ConvEnergyFactory(image_shape, channels=s["channels"])
    common = {
        "energy_model": energy,
        "random_state": seed,
        "device": s["device"],
        "partition": ImportanceSampling(n_samples=_PARTITION_DRAWS),
    }
    if model in ("ADE", "ADE nonparametric"):
        nonparametric = model == "ADE nonparametric"
        est = ADEDensityEstimator.image_preset(
            nonparametric=nonparametric,
            max_iter=s["max_iter_nonparametric" if nonparametric else "max_iter"],
            **common,
        )
        if s["n_steps"] is not None:
            # The preset's GHMC sampler is a new object of this estimator's own.
            est.set_params(sampler__n_steps=(2 if nonparametric else 1) * s["n_steps"])
        return est
    # PCD gets the preset's energy (spectrally normalised, no quadratic base term), pixel
    # standardization, batch size and energy learning rate, so that only the sampler and the
    # objective differ from ADE's. Its chains make one MALA step per transition; its
    # ``sample`` runs ``pcd_sampling_steps`` HMC transitions (see :func:`_fit_model`).
    return ContrastiveDivergenceEstimator(
        sampler=Langevin(n_steps=1, n_transitions=s["pcd_steps"]),
        replay_buffer_size=10000,
        standardize="global",
        early_stopping=False,
        batch_size=64,
        learning_rate_init=1e-4,
        max_iter=s["max_iter"],
        **common,
    )


def _fit_model(model, X_train, X_reference, settings, seed):
    """Fit one model and draw its sample sets (as many images as the reference set).

    Returns a dict with ``model``, ``fit_s``, ``error``, ``sets`` (row label -> (images,
    sampling seconds)) and, for ``"ADE"``, the fitted ``estimator`` (for the energy
    histogram) and the completion trajectory ``completion`` of the first reference digits.
    """
    import torch

    torch.set_num_threads(1)
    n = len(X_reference)
    result = {"model": model, "sets": {}, "error": ""}
    est = _make_estimator(model, settings, X_train.shape[1:], seed)
    start = time.perf_counter()
    try:
        est.fit(X_train)
    except Exception as exc:  # a diverged fit is a result, not a reason to lose the run
        result.update(fit_s=time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
        result["error"] = result["error"][:200]
        return result
    result["fit_s"] = time.perf_counter() - start

    def timed(label, draw):
        start = time.perf_counter()
        try:
            images = draw()
        except Exception as exc:  # keep the other rows of this model
            result["error"] = f"{label}: {type(exc).__name__}: {exc}"[:200]
            return
        result["sets"][label] = (images, time.perf_counter() - start)

    if model == "ADE":
        timed(ADE_ROW, lambda: est.sample(n, random_state=seed + 1))
        timed(ADE_Q0_ROW, lambda: est.sample_initial(n, random_state=seed + 2))
        digits = X_reference[:_N_COMPLETION]
        mask = _lower_half_mask(digits.shape[1:])
        try:
            _, steps = est.complete(
                digits,
                mask,
                n_rounds=_COMPLETION_STEPS,
                random_state=seed + 3,
                return_steps=True,
            )
            result["completion"] = {"steps": steps, "mask": mask[0]}
        except Exception as exc:
            result["error"] = f"completion: {type(exc).__name__}: {exc}"[:200]
        result["estimator"] = est
    elif model == "ADE nonparametric":
        timed(ADE_NP_ROW, lambda: est.sample(n, random_state=seed + 1))
    else:
        timed(
            PCD_ROW,
            lambda: est.sample(
                n, random_state=seed + 1, n_transitions=settings["pcd_sampling_steps"]
            ),
        )
        timed(PCD_BUFFER_ROW, lambda: _replay_buffer_draw(est, n, seed + 2))
    return result


def _lower_half_mask(image_shape):
    """Boolean mask ``(1, C, H, W)``, True on the lower half of every image."""
    channels, height, width = image_shape
    mask = np.zeros((1, channels, height, width), dtype=bool)
    mask[:, :, height // 2 :, :] = True
    return mask


def _replay_buffer_draw(est, n, seed):
    """``n`` random states of a persistent CD estimator's replay buffer, as images."""
    buffer = est.replay_buffer_.detach().to("cpu", dtype=est.replay_buffer_.dtype)
    rng = np.random.default_rng(seed)
    index = rng.choice(buffer.shape[0], size=n, replace=n > buffer.shape[0])
    Z = buffer[index].double().numpy()
    return (Z * est.scale_ + est.mean_).reshape(n, *est.image_shape_)


# ----------------------------------------------------------------------------- metrics
def _score(images, reference, classifier):
    """Classifier score (mean, std) and Frechet distance of a set clipped to ``[0, 1]``."""
    images = np.asarray(images, dtype=float)
    if not np.all(np.isfinite(images)):
        return {
            "score_mean": np.nan,
            "score_std": np.nan,
            "frechet": np.nan,
            "note": f"{int(np.sum(~np.isfinite(images).reshape(len(images), -1).all(1)))} "
            "non-finite images",
        }
    quality = image_quality(np.clip(images, 0.0, 1.0), reference, classifier, n_splits=10)
    return {
        "score_mean": quality["classifier_score_mean"],
        "score_std": quality["classifier_score_std"],
        "frechet": quality["frechet_distance"],
        "note": "",
    }


def format_images_table(rows):
    """Markdown table of the rows of :func:`run_images`.

    Parameters
    ----------
    rows : list of dict
        Rows with keys ``label``, ``score_mean``, ``score_std``, ``frechet``, ``fit_s``,
        ``sample_s`` and ``note``.

    Returns
    -------
    table : str
        One line per row: classifier score (mean ± std over 10 splits; higher is better),
        Frechet distance to the reference set (lower is better), fit and sampling seconds.

    Examples
    --------
    >>> row = {"label": "noise", "score_mean": 1.2, "score_std": 0.05, "frechet": 80.0,
    ...        "fit_s": float("nan"), "sample_s": 0.0, "note": ""}
    >>> print(format_images_table([row]).splitlines()[2])
    | noise | 1.20 ± 0.05 | 80.00 | — | 0.0 |  |
    """

    def number(value, digits):
        return "—" if not np.isfinite(value) else f"{value:.{digits}f}"

    body = []
    for row in rows:
        score = "—"
        if np.isfinite(row["score_mean"]):
            score = f"{row['score_mean']:.2f} ± {row['score_std']:.2f}"
        body.append(
            [
                row["label"],
                score,
                number(row["frechet"], 2),
                number(row["fit_s"], 0),
                number(row["sample_s"], 1),
                row.get("note", ""),
            ]
        )
    header = ["model", "classifier score", "Frechet distance", "fit s", "sample s", "note"]
    return _markdown(header, body)


# ----------------------------------------------------------------------------- figures
def _samples_figure(rows, sets, path, dpi):
    """One grid of up to 64 images per row of the table."""
    from matplotlib.figure import Figure

    from ..plotting import plot_images

    panels = [row for row in rows if row["label"] in sets]
    n_cols = min(4, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig = Figure(figsize=(2.6 * n_cols, 2.9 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, row in zip(axes.ravel(), panels):
        ax.set_axis_on()
        images = sets[row["label"]][:_N_GRID]
        frechet = "—" if not np.isfinite(row["frechet"]) else f"{row['frechet']:.1f}"
        plot_images(images, ax=ax, title=f"{row['label']}\nFD {frechet}")
        ax.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=dpi)


def _energy_figure(estimator, reference, sets, path, dpi):
    """ADE's energy on reference digits vs its samples with and without the dynamics."""
    from matplotlib.figure import Figure

    from ..plotting import plot_energy_histogram

    labels = [label for label in (ADE_ROW, ADE_Q0_ROW) if label in sets]
    fig = Figure(figsize=(4.2 * len(labels), 3.2))
    axes = fig.subplots(1, len(labels), squeeze=False)[0]
    for ax, label in zip(axes, labels):
        plot_energy_histogram(
            estimator, reference, sets[label], ax=ax, labels=("held-out digits", label)
        )
        ax.legend(fontsize=8)
        ax.set_title(f"ADE energy: data vs {label}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=dpi)


def _completion_figure(completion, path, dpi):
    """Lower halves completed by ADE's dynamics, one row per digit."""
    from matplotlib.figure import Figure

    from ..plotting import plot_completion

    steps = completion["steps"]
    fig = Figure(figsize=(max(4.0, 0.45 * len(steps)), 0.5 * _N_COMPLETION + 1.0))
    ax = fig.subplots()
    plot_completion(
        steps,
        completion["mask"].any(axis=0),
        n_show=_N_COMPLETION,
        ax=ax,
        title="ADE: lower half (tinted) completed by rounds of the learned dynamics",
    )
    ax.title.set_fontsize(9)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=dpi)


# ----------------------------------------------------------------------------- driver
def _command_line(mode, models, seed, output_dir, n_jobs, overrides):
    """The ``python -m adesk.benchmarks images`` command equivalent to a :func:`run_images`
    call."""
    words = ["python", "-m", "adesk.benchmarks", "images", "--mode", mode]
    words += ["--models", *models, "--seed", str(seed)]
    for key, value in overrides.items():
        if value is not None:
            words += [f"--{key.replace('_', '-')}", str(value)]
    words += ["--output-dir", str(output_dir), "--n-jobs", str(n_jobs)]
    return " ".join(shlex.quote(word) for word in words)


def run_images(
    mode="quick",
    models=None,
    seed=0,
    output_dir="doc/images",
    n_jobs=1,
    *,
    max_iter=None,
    max_iter_nonparametric=None,
    n_steps=None,
    pcd_steps=None,
    pcd_sampling_steps=None,
    mnist_root=None,
    reference_fraction=0.2,
    classifier_epochs=20,
    device="auto",
    dpi=80,
    figures=True,
    verbose=True,
):
    """Train the image models on 8x8 digits, score their samples, write table and figures.

    Parameters
    ----------
    mode : {"quick", "full"}, default="quick"
        Budget preset (:data:`IMAGE_MODES`): ``"quick"`` uses a smaller convolutional energy
        and fewer dynamics steps and runs in about 13 minutes on 2 CPU cores with
        ``n_jobs=2``; ``"full"`` is the paper's image preset with 10,000 iterations (a GPU
        run). ``None`` arguments below take the mode's value.
    models : sequence of str, default=None
        Labels from :data:`IMAGE_MODELS`; all when None.
    seed : int, default=0
        Seed of the data split, the dequantization noise, the classifier and the models.
    output_dir : str or path-like, default="doc/images"
        Where ``results.md``, ``samples.png``, ``energy_histogram.png`` and
        ``completion.png`` are written (created if missing).
    n_jobs : int, default=1
        joblib processes over the models; each uses one thread.
    max_iter : int, default=None
        Training iterations of ADE and PCD-Langevin.
    max_iter_nonparametric : int, default=None
        Training iterations of ADE nonparametric.
    n_steps : int, default=None
        Dynamics steps ``T`` of ADE (``sampler__n_steps``; twice as many for ADE
        nonparametric); in ``"full"`` mode the preset's 30 (and 60).
    pcd_steps : int, default=None
        Langevin steps per PCD iteration (``sampler__n_transitions`` of
        ``Langevin(n_steps=1)``).
    pcd_sampling_steps : int, default=None
        HMC transitions (10 leapfrog steps each) of PCD's ``sample`` (its ``n_transitions``).
    mnist_root : str or path-like, default=None
        Run on MNIST from ``mnist_root/MNIST/raw`` instead of the digits (see the module
        docstring); a :class:`FileNotFoundError` lists the missing files.
    reference_fraction : float, default=0.2
        Fraction of the digits in the reference set, and in the held-out set (each).
    classifier_epochs : int, default=20
        Training epochs of the feature classifier.
    device : str, default="auto"
        ``device`` of every estimator (the classifier and the metrics run on the CPU).
    dpi : int, default=80
        Resolution of the PNG files.
    figures : bool, default=True
        Draw the PNG files.
    verbose : bool, default=True
        Print a line per finished model and the table.

    Returns
    -------
    result : dict
        ``rows`` (one dict per table row with ``label``, ``score_mean``, ``score_std``,
        ``frechet``, ``fit_s``, ``sample_s``, ``note``), ``markdown`` (the text of
        ``results.md``), ``paths`` (the files written), ``classifier_accuracy`` (on the
        reference set), ``n_reference`` and ``wall_s``.

    Examples
    --------
    >>> from adesk.benchmarks._images import run_images
    >>> result = run_images(models=["PCD-Langevin"], output_dir="/tmp/images", max_iter=2,
    ...                     figures=False, verbose=False)  # doctest: +SKIP
    >>> [row["label"] for row in result["rows"]]  # doctest: +SKIP
    ['real (held-out)', 'PCD-Langevin', 'PCD-Langevin (replay buffer)', 'uniform noise']
    """
    import torch

    if mode not in IMAGE_MODES:
        raise ValueError(f"mode must be one of {sorted(IMAGE_MODES)}; got {mode!r}.")
    models = list(IMAGE_MODELS if models is None else models)
    unknown = [model for model in models if model not in IMAGE_MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {list(IMAGE_MODELS)}.")
    if not 0 < reference_fraction < 0.5:
        raise ValueError(f"reference_fraction must be in (0, 0.5); got {reference_fraction!r}.")
    overrides = {
        "max_iter": max_iter,
        "max_iter_nonparametric": max_iter_nonparametric,
        "n_steps": n_steps,
        "pcd_steps": pcd_steps,
        "pcd_sampling_steps": pcd_sampling_steps,
    }
    settings = dict(IMAGE_MODES[mode])
    settings.update({key: value for key, value in overrides.items() if value is not None})
    settings["device"] = device
    command_overrides = dict(overrides, mnist_root=mnist_root, device=device)
    if reference_fraction != 0.2:
        command_overrides["reference_fraction"] = reference_fraction
    if classifier_epochs != 20:
        command_overrides["classifier_epochs"] = classifier_epochs
    command = _command_line(mode, models, seed, output_dir, n_jobs, command_overrides)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    start = time.perf_counter()
    if mnist_root is not None:
        X_train, y_train, X_reference, y_reference, X_heldout = _split_mnist(
            mnist_root, seed, reference_fraction
        )
        data_name = "MNIST"
    else:
        X_train, y_train, X_reference, y_reference, X_heldout = _split_digits(
            seed, reference_fraction
        )
        data_name = "8x8 digits (scikit-learn, dequantized)"
    n_reference = len(X_reference)
    image_shape = X_train.shape[1:]

    jobs = [
        delayed(_fit_model)(model, X_train, X_reference, settings, seed)
        for model in sorted(models, key=lambda model: _COST_RANK[model])
    ]
    results = {}
    for result in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
        results[result["model"]] = result
        if verbose:
            note = f" ({result['error']})" if result["error"] else ""
            print(
                f"[{time.perf_counter() - start:7.0f} s] {result['model']:<18} fit "
                f"{result['fit_s']:.0f} s{note}",
                flush=True,
            )

    # The metric network is trained here, after the fits, so that it does not hold a core
    # that a fit could use; one thread, like the fits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        classifier = train_feature_classifier(
            X_train, y_train, image_shape, n_epochs=classifier_epochs, random_state=seed
        )
        reference_labels = classifier.predict(X_reference)
    finally:
        torch.set_num_threads(threads)

    rng = np.random.default_rng(seed)
    sets = {REAL: (X_heldout, 0.0)}
    fit_seconds = {REAL: np.nan, NOISE: np.nan}
    notes = {}
    for model, result in results.items():
        for label, value in result["sets"].items():
            sets[label] = value
            fit_seconds[label] = result["fit_s"]
        if result["error"]:
            notes[model] = result["error"]
    sets[NOISE] = (rng.uniform(size=X_reference.shape), 0.0)

    rows = []
    for label in ROW_ORDER:
        if label not in sets:
            continue
        images, sample_s = sets[label]
        row = {"label": label, "fit_s": fit_seconds[label], "sample_s": sample_s}
        row.update(_score(images, X_reference, classifier))
        if label == ADE_Q0_ROW:
            row["note"] = (row["note"] + "; " if row["note"] else "") + "same fit as ADE"
        rows.append(row)
    for model in models:  # failed fits get an empty row, so that they cannot go unnoticed
        if model in results and not results[model]["sets"]:
            rows.append(
                {
                    "label": model,
                    "score_mean": np.nan,
                    "score_std": np.nan,
                    "frechet": np.nan,
                    "fit_s": results[model]["fit_s"],
                    "sample_s": np.nan,
                    "note": "fit failed",
                }
            )

    os.makedirs(output_dir, exist_ok=True)
    paths = {}
    images_by_label = {label: value[0] for label, value in sets.items()}
    if figures:
        paths["samples"] = os.path.join(output_dir, "samples.png")
        _samples_figure(rows, images_by_label, paths["samples"], dpi)
        ade = results.get("ADE", {})
        if "estimator" in ade and ADE_ROW in sets:
            paths["energy_histogram"] = os.path.join(output_dir, "energy_histogram.png")
            _energy_figure(
                ade["estimator"],
                X_reference,
                images_by_label,
                paths["energy_histogram"],
                dpi,
            )
        if "completion" in ade:
            paths["completion"] = os.path.join(output_dir, "completion.png")
            _completion_figure(ade["completion"], paths["completion"], dpi)
    wall_s = time.perf_counter() - start

    accuracy = float(np.mean(reference_labels == y_reference))
    markdown = _results_markdown(
        rows,
        mode=mode,
        settings=settings,
        models=models,
        data_name=data_name,
        sizes=(len(X_train), n_reference, len(X_heldout)),
        accuracy=accuracy,
        command=command,
        wall_s=wall_s,
        n_jobs=n_jobs,
        notes=notes,
        paths=paths,
    )
    paths["results"] = os.path.join(output_dir, "results.md")
    with open(paths["results"], "w", encoding="utf-8") as handle:
        handle.write(markdown)
    if verbose:
        print()
        print(markdown)
    return {
        "rows": rows,
        "markdown": markdown,
        "paths": paths,
        "classifier_accuracy": accuracy,
        "n_reference": n_reference,
        "wall_s": wall_s,
    }


def _budget_lines(models, settings):
    """One line per trained model: iterations, dynamics steps and energy network."""
    channels = settings["channels"]
    energy = (
        "ConvEnergy (64, 128, 256) (the preset's)"
        if channels is None
        else f"ConvEnergy {tuple(channels)}"
    )
    T = settings["n_steps"]
    lines = []
    if "ADE" in models:
        lines.append(
            f"- ADE: `ADEDensityEstimator.image_preset()`, {settings['max_iter']} iterations, "
            f"T = {30 if T is None else T} generalized HMC steps, deep latent q0, {energy}"
        )
    if "ADE nonparametric" in models:
        lines.append(
            "- ADE nonparametric: `image_preset(nonparametric=True)`, "
            f"{settings['max_iter_nonparametric']} iterations, "
            f"T = {60 if T is None else 2 * T}, data + noise q0 with a replay buffer, {energy}"
        )
    if "PCD-Langevin" in models:
        lines.append(
            "- PCD-Langevin: `ContrastiveDivergenceEstimator(sampler=Langevin(n_steps=1, "
            f"n_transitions={settings['pcd_steps']}), replay_buffer_size=10000)`, "
            f"{settings['max_iter']} iterations, {settings['pcd_steps']} "
            f"MALA steps per iteration, {energy}, batch 64, learning rate 1e-4; its row scores "
            f"`sample(n_transitions={settings['pcd_sampling_steps']})` "
            f"({settings['pcd_sampling_steps']} HMC transitions from the data's "
            "Gaussian), the replay-buffer row "
            "random persistent chain states"
        )
    return lines


def _results_markdown(
    rows,
    *,
    mode,
    settings,
    models,
    data_name,
    sizes,
    accuracy,
    command,
    wall_s,
    n_jobs,
    notes,
    paths,
):
    """The text of ``results.md``: header, table, notes."""
    n_train, n_reference, n_heldout = sizes
    lines = [
        "# Image benchmark: ADE on digits (paper Section 5.2, Table 3 ablation)",
        "",
        f"- mode: `{mode}`; data: {data_name}; {n_train} training, {n_reference} reference "
        f"and {n_heldout} held-out images (stratified split)",
        *_budget_lines(models, settings),
        f"- command: `{command}`",
        f"- wall time: {wall_s:.0f} s with n_jobs={n_jobs}; written "
        f"{datetime.datetime.now().isoformat(timespec='seconds')}",
        "",
        "Classifier score: Inception score with a small CNN trained on the training images "
        f"(accuracy on the reference images: {100 * accuracy:.1f}%), mean ± std over 10 "
        "splits, higher is better. Frechet distance: between the CNN's penultimate-layer "
        f"features of each set and of the reference set, lower is better; every set has "
        f"{n_reference} images (the distance depends on the sample size). `real (held-out)` "
        "is real images that no model and not the classifier saw: the ceiling. Generated "
        "images are clipped to [0, 1]. `ADE q0 alone` is the initial distribution of the "
        "same fitted ADE model without its dynamics (the paper's Table 3 ablation). The "
        "log-likelihood is not reported (the fits only make a cheap log Z estimate). "
        "`ADE nonparametric` starts its chains from training images plus noise, so it can "
        "score near the ceiling by staying close to them.",
        "",
        format_images_table(rows),
    ]
    if notes:
        lines += ["", "Errors:", ""]
        lines += [f"- {model}: {error}" for model, error in notes.items()]
    figures = [name for name in ("samples", "energy_histogram", "completion") if name in paths]
    if figures:
        lines += ["", "Figures: " + ", ".join(f"`{name}.png`" for name in figures)]
    return "\n".join(lines) + "\n"


def add_images_arguments(parser):
    """Add the flags of the ``images`` command to an argparse (sub-)parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser to extend; :func:`main_images` reads the parsed namespace.

    Returns
    -------
    parser : argparse.ArgumentParser
        The same parser.
    """
    parser.add_argument("--mode", choices=sorted(IMAGE_MODES), default="quick")
    parser.add_argument(
        "--quick", dest="mode", action="store_const", const="quick", help="--mode quick"
    )
    parser.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="--mode full"
    )
    parser.add_argument("--models", nargs="+", choices=list(IMAGE_MODELS), default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=None, help="ADE and PCD iterations")
    parser.add_argument("--max-iter-nonparametric", type=int, default=None)
    parser.add_argument("--n-steps", type=int, default=None, help="ADE's T (2T nonparametric)")
    parser.add_argument("--pcd-steps", type=int, default=None, help="Langevin steps of PCD")
    parser.add_argument(
        "--pcd-sampling-steps", type=int, default=None, help="HMC transitions of PCD's sample"
    )
    parser.add_argument(
        "--mnist-root",
        default=None,
        help="run on MNIST from MNIST/raw under this folder (nothing is downloaded)",
    )
    parser.add_argument("--reference-fraction", type=float, default=0.2)
    parser.add_argument("--classifier-epochs", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output-dir", default="doc/images")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--dpi", type=int, default=80, help="resolution of the PNG files")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    return parser


def main_images(args):
    """Run :func:`run_images` from the namespace parsed with :func:`add_images_arguments`.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed flags.

    Returns
    -------
    result : dict
        What :func:`run_images` returns.
    """
    return run_images(
        mode=args.mode,
        models=args.models,
        seed=args.seed,
        output_dir=args.output_dir,
        n_jobs=args.n_jobs,
        max_iter=args.max_iter,
        max_iter_nonparametric=args.max_iter_nonparametric,
        n_steps=args.n_steps,
        pcd_steps=args.pcd_steps,
        pcd_sampling_steps=args.pcd_sampling_steps,
        mnist_root=args.mnist_root,
        reference_fraction=args.reference_fraction,
        classifier_epochs=args.classifier_epochs,
        device=args.device,
        dpi=args.dpi,
        figures=not args.no_figures,
        verbose=not args.quiet,
    )
