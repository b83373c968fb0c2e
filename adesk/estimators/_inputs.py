"""The data an estimator takes and returns: validation of ``X`` and image layouts (one job).

:class:`InputLayoutMixin` checks every ``X`` (finite, not absurdly large, the fitted feature
count), accepts ``(n, C, H, W)`` image arrays by flattening them and recording the layout, and
returns samples in the layout the estimator was fitted on.
:class:`~adesk.estimators.BaseEnergyEstimator` inherits it.
"""

import numpy as np
from sklearn.utils.validation import validate_data

# Largest absolute input accepted: beyond it float32 arithmetic in the energy overflows.
MAX_ABS_INPUT = 1e15


class InputLayoutMixin:
    """Validation of ``X`` and image layouts; mixed into the base estimator."""

    def _validate_X(self, X, reset):
        X = self._flatten_images(X, reset)
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=1
        )
        if np.abs(X).max(initial=0.0) > MAX_ABS_INPUT:
            raise ValueError(
                f"X contains values larger than {MAX_ABS_INPUT:g} in absolute value "
                f"(max {np.abs(X).max():.3g}); rescale the data."
            )
        return X

    def _flatten_images(self, X, reset):
        """Accept ``(n, C, H, W)`` image arrays: record the layout at fit, return flat rows."""
        if np.ndim(X) != 4:
            if reset:
                self._images_in_ = False
            return X
        X = np.asarray(X)
        shape = tuple(int(s) for s in X.shape[1:])
        if reset:
            self._images_in_ = True
            self._fit_image_shape = shape
        elif getattr(self, "image_shape_", None) != shape:
            fitted_on = getattr(self, "image_shape_", None)
            fitted_on = (
                f"images of shape {fitted_on}"
                if fitted_on is not None
                else f"flat rows of {getattr(self, 'n_features_in_', '?')} features"
            )
            raise ValueError(
                f"X is a 4-D array of images of shape {shape}; the estimator was fitted on "
                f"{fitted_on}."
            )
        return X.reshape(X.shape[0], -1)

    def _resolve_image_shape(self, n_features):
        """``image_shape_`` from the parameter or the 4-D training array (or None)."""
        from_data = getattr(self, "_fit_image_shape", None) if self._images_in_ else None
        shape = self._hp.image_shape
        if shape is not None:
            shape = tuple(int(s) for s in np.atleast_1d(shape))
            if len(shape) != 3 or min(shape) < 1 or int(np.prod(shape)) != n_features:
                raise ValueError(
                    "energy_model__image_shape must be (channels, height, width) with "
                    f"channels * height * width == n_features ({n_features}); got {shape!r}."
                )
            if from_data is not None and from_data != shape:
                raise ValueError(
                    f"energy_model__image_shape={shape} does not match the images in X "
                    f"({from_data})."
                )
        self.image_shape_ = shape if shape is not None else from_data

    def _to_output_layout(self, X):
        """Flat rows back to ``(n, C, H, W)`` when the estimator was fitted on images."""
        if getattr(self, "_images_in_", False):
            return X.reshape(X.shape[0], *self.image_shape_)
        return X
