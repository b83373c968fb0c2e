"""Log-likelihood in the input's coordinates, through the preprocessing of a Pipeline.

A density fitted after a transformer ``t`` is a density of ``t(x)``; in the coordinates of
``x`` it is ``log p_x(x) = log p_t(t(x)) + log|det dt/dx|``. ``Pipeline.score`` drops the
second term, so pipelines with different scalers (or a pipeline and a bare estimator) get
scores that are not comparable. The functions here add it back for the affine transformers
whose Jacobian is known.
"""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler


def _scale_log_det(scale, n_features):
    """``log|det|`` of ``x -> x / scale`` (sklearn stores ``scale_ = 1`` for constant columns)."""
    if scale is None:
        return 0.0
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n_features,))
    return -float(np.log(scale).sum())


def transform_log_det(transformer, n_features):
    """Constant ``log|det J|`` of a fitted affine transformer from sklearn.

    Parameters
    ----------
    transformer : fitted transformer, "passthrough" or None
        ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``, ``RobustScaler``, or ``PCA``
        keeping every component (``whiten`` or not).
    n_features : int
        Number of input features.

    Returns
    -------
    log_det : float

    Raises
    ------
    ValueError
        For a transformer whose Jacobian is not a known constant (the log-likelihood in the
        input coordinates is then not available).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> scaler = StandardScaler().fit(np.array([[0.0, 0.0], [2.0, 4.0]]))
    >>> round(transform_log_det(scaler, 2), 4)  # -log(1) - log(2)
    -0.6931
    """
    if transformer is None or transformer == "passthrough":
        return 0.0
    if isinstance(transformer, (StandardScaler, MaxAbsScaler, RobustScaler)):
        return _scale_log_det(transformer.scale_, n_features)
    if isinstance(transformer, MinMaxScaler):
        # MinMaxScaler multiplies by scale_ (it is 1 / range).
        return float(np.log(transformer.scale_).sum())
    if isinstance(transformer, PCA):
        if transformer.n_components_ != n_features:
            raise ValueError(
                "PCA changes the density's dimension unless it keeps every component; got "
                f"n_components_={transformer.n_components_} for {n_features} features."
            )
        # Rows of components_ are orthonormal: |det| = 1, times 1/sqrt(variance) if whitened.
        if transformer.whiten:
            return -0.5 * float(np.log(transformer.explained_variance_).sum())
        return 0.0
    raise ValueError(
        f"The log-determinant of {type(transformer).__name__} is not known; supported are "
        "StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler, PCA (all components) and "
        "'passthrough'."
    )


def log_likelihood(estimator, X):
    """Per-sample log-likelihood of ``X`` in its own coordinates.

    For a :class:`~sklearn.pipeline.Pipeline` the data pass through every transformer and
    the final density's ``score_samples`` is corrected by each transformer's
    ``log|det J|`` (:func:`transform_log_det`); for a bare density estimator this is its
    ``score_samples``.

    Parameters
    ----------
    estimator : fitted density estimator or Pipeline ending in one
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    log_density : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = np.random.RandomState(0).normal(3.0, 5.0, size=(500, 2))
    >>> bare = GaussianMixture(random_state=0).fit(X)
    >>> piped = make_pipeline(StandardScaler(), GaussianMixture(random_state=0)).fit(X)
    >>> bool(np.allclose(log_likelihood(piped, X), bare.score_samples(X)))
    True
    """
    if not isinstance(estimator, Pipeline):
        return np.asarray(estimator.score_samples(X), dtype=np.float64)
    Xt = X
    log_det = 0.0
    for _, transformer in estimator.steps[:-1]:
        n_features = np.shape(Xt)[1]
        log_det += transform_log_det(transformer, n_features)
        if transformer is not None and transformer != "passthrough":
            Xt = transformer.transform(Xt)
    final = estimator.steps[-1][1]
    return np.asarray(final.score_samples(Xt), dtype=np.float64) + log_det


def log_likelihood_scorer(estimator, X, y=None):
    """Mean log-likelihood in the input coordinates, for ``GridSearchCV(scoring=...)``.

    Scores of pipelines with different scalers (and of bare estimators) become comparable.
    Never ``+inf``: a non-finite mean becomes NaN, which ``GridSearchCV`` ranks last.

    Parameters
    ----------
    estimator : fitted density estimator or Pipeline ending in one
    X : array-like of shape (n_samples, n_features)
    y : None
        Ignored.

    Returns
    -------
    score : float

    Examples
    --------
    Choosing the number of mixture components by cross-validated log-likelihood, with the
    scores of the scaled pipeline in the data's own coordinates:

    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from adesk.metrics import log_likelihood, log_likelihood_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-5.0, 1.0, (100, 2)), rng.normal(5.0, 1.0, (100, 2))])
    >>> pipeline = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    >>> search = GridSearchCV(pipeline, {"gaussianmixture__n_components": [1, 2]},
    ...                       scoring=log_likelihood_scorer, cv=3).fit(X)
    >>> search.best_params_
    {'gaussianmixture__n_components': 2}
    >>> fitted = search.best_estimator_
    >>> bool(np.isclose(log_likelihood_scorer(fitted, X), log_likelihood(fitted, X).mean()))
    True
    """
    value = float(np.mean(log_likelihood(estimator, X)))
    return value if np.isfinite(value) else float("nan")
