"""The affine map from the user's coordinates to the ones the energy and the sampler work in.

Every estimator fits ``z = ((x - mean_) / scale_) @ whitening_`` once, on its training data
(``whitening_`` is ``None`` unless the data are whitened). Scores stay in the user's units: the
map's constant log-Jacobian is added back when the density is normalised.

Why whitening: after per-feature scaling, strongly correlated features leave thin directions
(breast_cancer's smallest correlation eigenvalue is 1e-4, a standard deviation of 0.01). A
sampler with one step size for every direction then has to choose between a step that crosses
the thin direction and one that moves along the others; its negatives lag the model, and the
energy digs wells along the thin directions. Rescaling by the inverse square root of the
correlation matrix makes every direction of the data's spread one unit wide.
"""

import numpy as np

#: ``standardize="auto"`` whitens tabular data when the correlation matrix has an eigenvalue
#: below this (a direction with a standard deviation below 0.1 after per-feature scaling).
THIN_DIRECTION_EIGENVALUE = 0.01

#: ... and when there are at least this many samples per feature, so that the correlation
#: matrix it inverts is estimated well enough.
MIN_SAMPLES_PER_FEATURE = 5

#: Added to every eigenvalue before the inverse square root: a direction with no spread at all
#: (an exactly collinear feature) is stretched by at most ``1 / sqrt(WHITENING_SHRINKAGE)``.
WHITENING_SHRINKAGE = 1e-3


def resolve_standardize(choice, X, is_image):
    """The standardization that ``choice`` means for ``X``.

    ``"auto"`` is ``"whiten"`` for tabular data with a thin direction (an eigenvalue of the
    correlation matrix below :data:`THIN_DIRECTION_EIGENVALUE`) and enough samples per feature
    (:data:`MIN_SAMPLES_PER_FEATURE`); otherwise ``"per_feature"``. Images are never whitened
    by ``"auto"``: a convolutional energy relies on the pixel layout.
    """
    if choice != "auto":
        return choice
    n_samples, n_features = X.shape
    if is_image or n_features < 2 or n_samples < MIN_SAMPLES_PER_FEATURE * n_features:
        return "per_feature"
    scale = X.std(axis=0)
    varying = scale > 1e-12 * np.maximum(np.abs(X.mean(axis=0)), 1.0)
    if varying.sum() < 2:
        return "per_feature"
    correlation = np.corrcoef(X[:, varying], rowvar=False)
    smallest = float(np.linalg.eigvalsh(correlation)[0])
    return "whiten" if smallest < THIN_DIRECTION_EIGENVALUE else "per_feature"


def fit_standardization(X, choice):
    """``(mean, scale, whitening)`` of the resolved ``choice`` fitted on ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    choice : {"per_feature", "whiten", "global", "none"}

    Returns
    -------
    mean, scale : ndarray of shape (n_features,)
    whitening : ndarray of shape (n_features, n_features) or None
        The symmetric (ZCA) inverse square root of the shrunk correlation matrix, applied after
        the per-feature scaling; ``None`` unless ``choice == "whiten"``.
    """
    X = np.asarray(X, dtype=np.float64)
    n_features = X.shape[1]
    if choice in ("per_feature", "whiten"):
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
    elif choice == "global":
        # One offset and one scale for every feature: keeps the relative scale of pixels,
        # which convolutional energies rely on.
        mean = np.full(n_features, X.mean())
        scale = np.full(n_features, X.std())
    else:
        mean = np.zeros(n_features)
        scale = np.ones(n_features)
    # A constant feature (or a single sample) has no scale; keep its units.
    scale = np.where(scale > 1e-12 * np.maximum(np.abs(mean), 1.0), scale, 1.0)
    whitening = None
    if choice == "whiten":
        scaled = (X - mean) / scale
        covariance = scaled.T @ scaled / X.shape[0]
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        eigenvalues = np.clip(eigenvalues, 0.0, None) + WHITENING_SHRINKAGE
        whitening = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
    return mean, scale, whitening


def log_volume(scale, whitening):
    """``log|det|`` of the map from standardized to user coordinates.

    A density normalised in standardized coordinates, ``Z_z``, has ``log Z_x = log Z_z +``
    this in the user's: ``sum(log scale) - log|det whitening|``.
    """
    value = float(np.log(scale).sum())
    if whitening is not None:
        value -= float(np.linalg.slogdet(whitening)[1])
    return value
