"""Parameter and attribute descriptions shared by every estimator's docstring.

The estimators' docstrings hold a marker line ``{{name}}`` where a shared description goes;
:func:`fill_shared_docs` replaces it (at the marker's indentation) when the class is defined,
so the text is written once and every docstring stays plain numpydoc for Sphinx and ``help``.
"""

import re
import textwrap

#: Shared descriptions, by marker name (dedented; indented at the marker when filled in).
SHARED_DOCS = {
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
    checks); the choice is ``early_stopping_``. Takes precedence over ``ema_decay``.
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
