"""Sample-quality metrics: squared MMD with a Gaussian kernel, and parameter RMSE.

Pairwise distances are computed a block of rows at a time, so two samples of 10,000
points need tens of megabytes rather than gigabytes, and results stay in float64.
"""

import numbers

import numpy as np
from scipy.spatial.distance import cdist, pdist

__all__ = ["mmd2", "parameter_rmse"]

# Distances held in memory at once by a block (2**20 float64 values = 8 MiB); larger
# blocks were no faster on 10,000 x 10,000.
_BLOCK_ELEMENTS = 2**20
# Up to this many pairwise distances the median is taken in memory; beyond it an exact
# selection over blocks is used instead (2**22 float64 values = 32 MiB).
_MAX_IN_MEMORY_DISTANCES = 2**22
# Histogram resolution of each narrowing pass of the blocked median.
_MEDIAN_BINS = 1024


def mmd2(X, Y, bandwidth="paper", unbiased=True):
    """Squared maximum mean discrepancy between two samples, Gaussian kernel.

    The kernel is ``k(x, y) = exp(-gamma * ||x - y||^2)``.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        The reference sample (in the paper's protocol, held-out data from the true
        distribution).
    Y : array-like of shape (n_samples_Y, n_features)
        The sample to compare (in the paper's protocol, the model's samples).
    bandwidth : {"paper", "median"} or float, default="paper"
        How the kernel width is chosen:

        - ``"paper"``: ``gamma = 0.5 / (0.1 * m_X)`` where ``m_X`` is the median of the
          non-zero pairwise squared distances within ``X`` (the protocol of the paper's
          Table 2).
        - ``"median"``: ``gamma = 0.5 / m`` where ``m`` is the median of the non-zero
          pairwise squared distances of ``X`` and ``Y`` pooled (the usual median
          heuristic).
        - a positive float ``sigma``: the kernel bandwidth, ``gamma = 1 / (2 sigma^2)``.
    unbiased : bool, default=True
        If True, the unbiased U-statistic: the diagonals of ``K_XX`` and ``K_YY`` are
        dropped and their sums normalised by ``n (n - 1)`` and ``m (m - 1)``; the cross
        term by ``n m``. It can be negative when the samples are alike. If False, the
        biased V-statistic (all terms normalised by the full number of pairs), which is
        never negative.

    Returns
    -------
    mmd2 : float
        The estimate of ``MMD^2``. The paper's Table 2 reports it times 1e3.

    Raises
    ------
    ValueError
        If ``X`` or ``Y`` is not a finite 2-D array with at least 2 rows, their numbers
        of features differ, ``bandwidth`` is invalid, or all the distances the median
        is taken over are zero.

    Notes
    -----
    Two independent samples of the same distribution give an unbiased estimate that
    scatters around zero; compare a model against that spread, not against zero.

    Examples
    --------
    >>> import numpy as np
    >>> from adesk.metrics import mmd2
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 2))
    >>> same = mmd2(X, rng.normal(size=(200, 2)))
    >>> shifted = mmd2(X, rng.normal(size=(200, 2)) + 3.0)
    >>> abs(same) < 0.01 < shifted
    True
    """
    X = _check_sample(X, "X")
    Y = _check_sample(Y, "Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of features, got {X.shape[1]} and {Y.shape[1]}."
        )
    gamma = _kernel_gamma(X, Y, bandwidth)
    sum_xx = _gaussian_kernel_sum(X, X, gamma)
    sum_yy = _gaussian_kernel_sum(Y, Y, gamma)
    sum_xy = _gaussian_kernel_sum(X, Y, gamma)
    n, m = X.shape[0], Y.shape[0]
    if unbiased:
        # k(x, x) = exp(0) = 1, so dropping a diagonal removes exactly n (or m) ones.
        within_x = (sum_xx - n) / (n * (n - 1))
        within_y = (sum_yy - m) / (m * (m - 1))
    else:
        within_x = sum_xx / n**2
        within_y = sum_yy / m**2
    return float(within_x + within_y - 2.0 * sum_xy / (n * m))


def parameter_rmse(estimated, true):
    """Root mean squared error between estimated and true parameters.

    Parameters
    ----------
    estimated : array-like
        Learned parameters (any shape).
    true : array-like
        True parameters, of the same shape as ``estimated``.

    Returns
    -------
    rmse : float
        ``sqrt(mean((estimated - true) ** 2))`` over all entries.

    Raises
    ------
    ValueError
        If the shapes differ or the arrays are empty.

    Examples
    --------
    >>> from adesk.metrics import parameter_rmse
    >>> parameter_rmse([1.0, 2.0], [1.0, 4.0])
    1.4142135623730951
    """
    estimated = np.asarray(estimated, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if estimated.shape != true.shape:
        raise ValueError(
            f"estimated and true must have the same shape, got {estimated.shape} and {true.shape}."
        )
    if estimated.size == 0:
        raise ValueError("estimated and true are empty; the RMSE is undefined.")
    return float(np.sqrt(np.mean((estimated - true) ** 2)))


def _check_sample(A, name):
    """Return ``A`` as a float64 array, or raise a ValueError naming what is wrong."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got an array "
            f"of shape {A.shape}."
        )
    if A.shape[0] < 2:
        raise ValueError(f"{name} must have at least 2 samples (rows) for MMD^2, got {A.shape[0]}.")
    if A.shape[1] < 1:
        raise ValueError(f"{name} must have at least 1 feature (column), got 0.")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return A


def _kernel_gamma(X, Y, bandwidth):
    """The Gaussian kernel's ``gamma`` for the ``bandwidth`` option of :func:`mmd2`."""
    if bandwidth == "paper":
        # The median trick shrunk by 0.1: sigma^2 = 0.1 * median, on the reference only.
        return 0.5 / (0.1 * _median_nonzero_sq_distance(X, "X"))
    if bandwidth == "median":
        return 0.5 / _median_nonzero_sq_distance(np.vstack([X, Y]), "the pooled X and Y")
    is_positive_number = (
        isinstance(bandwidth, numbers.Real)
        and not isinstance(bandwidth, bool)
        and np.isfinite(bandwidth)
        and bandwidth > 0
    )
    if not is_positive_number:
        raise ValueError(
            f'bandwidth must be "paper", "median" or a positive float, got {bandwidth!r}.'
        )
    return 1.0 / (2.0 * float(bandwidth) ** 2)


def _row_blocks(n_rows, n_columns):
    """Yield ``(start, stop)`` row ranges whose distance blocks fit ``_BLOCK_ELEMENTS``."""
    rows_per_block = max(1, _BLOCK_ELEMENTS // max(1, n_columns))
    for start in range(0, n_rows, rows_per_block):
        yield start, min(start + rows_per_block, n_rows)


def _gaussian_kernel_sum(A, B, gamma):
    """Sum of ``exp(-gamma ||a - b||^2)`` over all rows ``a`` of A and ``b`` of B."""
    total = 0.0
    for start, stop in _row_blocks(A.shape[0], B.shape[0]):
        total += np.exp(-gamma * cdist(A[start:stop], B, "sqeuclidean")).sum()
    return total


def _iter_nonzero_pair_sq_distances(Z):
    """Yield, block by block, the non-zero squared distances of all pairs ``i < j``."""
    n = Z.shape[0]
    for start, stop in _row_blocks(n, n):
        # Row i of the block against rows start.. of Z; keep only columns j > i.
        block = cdist(Z[start:stop], Z[start:], "sqeuclidean")
        upper = np.arange(n - start)[np.newaxis, :] > np.arange(stop - start)[:, np.newaxis]
        distances = block[upper]
        yield distances[distances > 0]


def _median_nonzero_sq_distance(Z, name):
    """Exact median of the non-zero pairwise squared distances among the rows of ``Z``.

    Zero distances (duplicate rows) are left out, as the paper's protocol says. Each
    unordered pair counts once, which gives the same median as the full matrix.
    """
    n = Z.shape[0]
    if n * (n - 1) // 2 <= _MAX_IN_MEMORY_DISTANCES:
        distances = pdist(Z, "sqeuclidean")
        distances = distances[distances > 0]
        n_nonzero = distances.size
        median = float(np.median(distances)) if n_nonzero else None
    else:
        n_nonzero, median = _blocked_median(Z)
    if n_nonzero == 0:
        raise ValueError(
            f"All pairwise distances within {name} are zero (every row is the same), so "
            'the median bandwidth is undefined; pass a float bandwidth instead of "paper" '
            'or "median".'
        )
    return median


def _blocked_median(Z):
    """Exact median of the non-zero pairwise squared distances, in bounded memory.

    A first pass counts the distances and finds their range. Histogram passes then
    narrow a half-open interval ``[low, high)`` around the lower middle order statistic
    until few enough distances fall inside to hold them; a last pass collects those (and
    the smallest distance at or above ``high``, in case the upper middle one lies
    beyond). Returns ``(n_nonzero, median)``, with ``median`` None when there are none.
    """
    n_nonzero, smallest, largest = 0, np.inf, -np.inf
    for distances in _iter_nonzero_pair_sq_distances(Z):
        if distances.size:
            n_nonzero += distances.size
            smallest = min(smallest, distances.min())
            largest = max(largest, distances.max())
    if n_nonzero == 0:
        return 0, None

    rank = (n_nonzero - 1) // 2  # the lower middle; the upper middle is rank + 1 if even
    low, high = smallest, np.nextafter(largest, np.inf)
    n_below, n_inside = 0, n_nonzero
    # Stop narrowing once the interval is small enough to hold, or holds a single float
    # (many equal distances, e.g. points on a lattice).
    while n_inside > _MAX_IN_MEMORY_DISTANCES and np.nextafter(low, np.inf) < high:
        counts, edges = _histogram_pass(Z, low, high)
        cumulative = np.cumsum(counts)
        chosen = int(np.searchsorted(cumulative, rank - n_below, side="right"))
        n_below += int(cumulative[chosen - 1]) if chosen else 0
        n_inside = int(counts[chosen])
        low, high = edges[chosen], edges[chosen + 1]

    single_value = np.nextafter(low, np.inf) >= high
    kept, smallest_above = [], np.inf
    for distances in _iter_nonzero_pair_sq_distances(Z):
        above = distances[distances >= high]
        if above.size:
            smallest_above = min(smallest_above, above.min())
        if not single_value:
            kept.append(distances[(distances >= low) & (distances < high)])

    position = rank - n_below  # of the lower middle among the kept distances
    if single_value:
        lower_middle = upper_middle = low
    else:
        kept = np.concatenate(kept)
        wanted = [position, position + 1] if position + 1 < n_inside else [position]
        kept = np.partition(kept, wanted)
        lower_middle, upper_middle = kept[position], kept[wanted[-1]]
    if position + 1 >= n_inside:
        upper_middle = smallest_above
    if n_nonzero % 2:
        return n_nonzero, float(lower_middle)
    return n_nonzero, float((lower_middle + upper_middle) / 2)


def _histogram_pass(Z, low, high):
    """Count the non-zero pair distances in each of ``_MEDIAN_BINS`` bins of ``[low, high)``.

    Bin ``b`` is ``[edges[b], edges[b + 1])``. Returns ``(counts, edges)``.
    """
    edges = np.linspace(low, high, _MEDIAN_BINS + 1)
    # np.histogram's uniform-bin path is ~10x faster than searchsorted, and matches the
    # edges exactly as long as bins span many ulps; a few-ulp interval (many near-equal
    # distances) takes the slow but exact searchsorted path.
    wide_bins = np.all(np.diff(edges) > 8 * np.spacing(high))
    counts = np.zeros(_MEDIAN_BINS, dtype=np.int64)
    for distances in _iter_nonzero_pair_sq_distances(Z):
        inside = distances[(distances >= low) & (distances < high)]
        if wide_bins:
            counts += np.histogram(inside, bins=_MEDIAN_BINS, range=(low, high))[0]
        else:
            bins = np.searchsorted(edges, inside, side="right") - 1
            counts += np.bincount(bins, minlength=_MEDIAN_BINS)
    return counts, edges
