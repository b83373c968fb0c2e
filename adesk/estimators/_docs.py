"""Parameter and attribute descriptions shared by every estimator's docstring.

The estimators' docstrings hold a marker line ``{{name}}`` where a shared description goes;
:func:`fill_shared_docs` replaces it (at the marker's indentation) when the class is defined,
so the text is written once and every docstring stays plain numpydoc for Sphinx and ``help``.
"""

import re
import textwrap

#: Shared descriptions, by marker name (dedented; indented at the marker when filled in).
SHARED_DOCS = {
    "energy_model": """\
energy_model : {"mlp", "conv", "gaussian"}, EnergyConfig or callable, default="mlp"
    The energy, on standardized inputs: :class:`~adesk.energies.MLP` (``"mlp"``; its
    ``hidden_layer_sizes``, ``activation``, ``spectral_norm`` and ``base_precision`` are
    reachable as ``energy_model__hidden_layer_sizes`` and so on), the paper's convolutional
    image energy :class:`~adesk.energies.Conv` (``"conv"``), a learnable diagonal Gaussian
    :class:`~adesk.energies.DiagonalGaussian` (``"gaussian"``, for parameter recovery), or a
    callable ``f(n_features) -> torch.nn.Module`` mapping ``(n, n_features)`` inputs to
    ``(n,)`` energies. (Named ``energy_model`` because ``energy(X)`` is the method that
    evaluates it.)
""",
    "partition": """\
partition : {"auto", "quadrature", "importance", "ais"} or PartitionConfig, \
default="auto"
    How ``log_partition_`` is estimated after fitting (:mod:`adesk.partition`): midpoint
    quadrature over the data's box (:class:`~adesk.partition.Quadrature`, ``d <= 3``),
    importance sampling from the estimator's own sampler when its density is tractable and
    from a defensive proposal (kernel density estimate of the data mixed with a broad
    Gaussian) otherwise (:class:`~adesk.partition.ImportanceSampling`), or annealed
    importance sampling from a Gaussian fitted to the data (:class:`~adesk.partition.AIS`).
    ``"auto"`` (:class:`~adesk.partition.AutoPartition`) uses quadrature for ``d <= 2``, else
    importance sampling when its effective sample size is at least 10% of the draws, else AIS.
    The objects carry the settings (``partition=Quadrature(resolution=200)``); the names use
    their defaults. The method used is ``partition_method_``.
""",
    "runtime": """\
verbose : int, default=0
    1 shows a progress bar on stderr (rate, time left, latest losses); 2 or more prints a line
    of losses every 100 iterations.
device : str, default="auto"
    "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
dtype : {"float32", "float64"}, default="float32"
random_state : int, RandomState instance or None, default=None
    Seeds a ``torch.Generator`` created in ``fit`` (one seed per call, from which every random
    stream of the fit derives); the global RNGs are untouched.
callbacks : list of Callback or callables, default=None
    Objects with ``on_train_begin(est)``, ``on_iteration_end(est, iteration, logs)``,
    ``on_train_end(est)`` hooks (:class:`~adesk.training.Callback`;
    :class:`~adesk.training.Checkpoint` saves the estimator during training), or callables
    ``f(est, iteration, logs)`` called after every iteration.
max_rollbacks : int, default=0
    What a NaN or infinite energy, loss, gradient or parameter does. 0: training stops with
    :class:`~adesk.training.TrainingDivergedError`. Above 0: up to this many times per
    ``fit`` / ``partial_fit`` call, the last finite state (kept every 10 iterations) is
    restored, every learning rate halved (``learning_rate_scale_``) and training goes on.
    Either way the event is in ``divergences_``.
distributed : {"none", "ddp"}, default="none"
    ``"ddp"``: data-parallel training on the current ``torch.distributed`` process group
    (launch with ``torchrun``; see :mod:`adesk.train` and ``doc/scaling.md``). Each process
    trains on its share of every global minibatch of ``batch_size`` rows and the gradients are
    averaged over the processes before each step.
""",
    "standardize": """\
standardize : {"auto", "per_feature", "whiten", "global", "none"}, default="auto"
    How inputs are mapped before the energy sees them: each feature to zero mean and unit
    variance (``"per_feature"``); the same, then rotated and rescaled by the inverse square
    root of the correlation matrix so that every direction of the data's spread is one
    unit wide (``"whiten"``: thin directions from correlated features otherwise stall a
    sampler with one step size); all features by one mean and one scale (``"global"``:
    keeps the relative scale of pixels, for images); or not at all. ``"auto"`` whitens
    tabular data whose correlation matrix has an eigenvalue below 0.01 when there are at
    least 5 samples per feature, and scales per feature otherwise; the choice is
    ``standardize_``. Scores are always in the original units.
""",
    "early_stopping": """\
early_stopping : bool or "auto", default="auto"
    Hold out ``validation_fraction`` of the training data, score it (normalised, as
    ``score``) every ``validation_interval`` iterations, stop after ``n_iter_no_change``
    checks without an improvement larger than ``tol`` (0 when ``tol`` is None) and return
    the best model seen (with its sampler state). It guards against overfitting and late
    runaways at the cost of one ``log Z`` estimate (a quarter of the final budget) per
    check. ``"auto"`` turns it on below 5,000 training samples, where the default budget
    can overfit (when the split holds at least 5 points and ``max_iter`` allows two
    checks) and ``ema_decay`` is None; the choice is ``early_stopping_``. ``True`` with an
    ``ema_decay`` is refused (the fitted model is either the best checkpoint or the average).
validation_fraction : float in (0, 1), default=0.1
n_iter_no_change : int, default=10
    Number of checks (windows of ``validation_interval`` iterations) without improvement
    that ends training (early stopping) or over which the loss must be stable (``tol``).
validation_interval : int, default=50
""",
    "standardization_attributes": """\
mean_, scale_ : ndarray of shape (n_features,)
    Per-feature offset and scale of the standardization.
whitening_ : ndarray of shape (n_features, n_features) or None
    Symmetric whitening applied after the per-feature scaling (``standardize_ ==
    "whiten"``), else None: the energy sees ``z = ((x - mean_) / scale_) @ whitening_``.
standardize_ : str
    The standardization used (``"auto"`` resolved).
""",
    "stopping_attributes": """\
converged_ : bool
    Whether a stopping criterion was met before ``max_iter`` (as in MLPClassifier): the
    validation score stopped improving (early stopping) or the loss settled within
    ``tol``. False when neither was asked for: training then runs ``max_iter`` iterations.
early_stopping_ : bool
    Whether early stopping was used (``"auto"`` resolved).
""",
}

_MARKER = re.compile(r"^([ \t]*)\{\{(\w+)\}\}[ \t]*$", re.MULTILINE)


def fill_shared_docs(cls):
    """Class decorator: replace every ``{{name}}`` marker line of ``cls.__doc__``."""

    def fill(match):
        indent, name = match.groups()
        if name not in SHARED_DOCS:
            raise KeyError(f"{cls.__name__}'s docstring names an unknown shared doc {name!r}.")
        return textwrap.indent(SHARED_DOCS[name], indent).rstrip("\n")

    cls.__doc__ = _MARKER.sub(fill, cls.__doc__)
    return cls
