"""Tests for :mod:`adesk.plotting` using an analytic 2-D standard normal "estimator"."""

import struct

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from adesk.plotting import (  # noqa: E402
    density_grid,
    plot_convergence,
    plot_density,
    plot_energy_histogram,
    plot_fit_summary,
    plot_samples,
)

LOG_2PI = np.log(2 * np.pi)


class GaussianEnergy:
    """Fake fitted estimator: standard normal in ``n_features`` dimensions."""

    def __init__(self, n_features=2, log_partition=None, with_history=True):
        self.n_features_in_ = n_features
        self.log_partition_ = 0.5 * n_features * LOG_2PI if log_partition is None else log_partition
        self.chunk_sizes = []
        if with_history:
            self.history_ = {
                "loss_energy": [1.0, 0.5, 0.25, 0.2],
                "loss_sampler": [2.0, 1.0, 0.8, 0.7],
                "step_size": [0.1, 0.1, 0.05, 0.05],
            }

    def energy(self, X):
        X = np.asarray(X, dtype=float)
        self.chunk_sizes.append(X.shape[0])
        return 0.5 * np.sum(X**2, axis=1)

    def score_samples(self, X):
        return -self.energy(X) - self.log_partition_


class UnnormalisedGaussian(GaussianEnergy):
    """Same energy but unknown partition function; score_samples must not be used."""

    def __init__(self, **kwargs):
        super().__init__(log_partition=np.nan, **kwargs)

    def score_samples(self, X):
        raise AssertionError("score_samples must not be called without a finite log Z")


def _normal_logpdf(x, y):
    return -0.5 * (x**2 + y**2) - LOG_2PI


def _legend_labels(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(200, 2)) * np.array([1.0, 2.0]) + np.array([1.0, -1.0])


# ---------------------------------------------------------------------------
# density_grid
# ---------------------------------------------------------------------------


def test_density_grid_matches_analytic_log_density():
    bounds = ((-6.0, 6.0), (-5.0, 4.0))
    xx, yy, logp = density_grid(GaussianEnergy(), bounds, grid_size=101)
    assert xx.shape == yy.shape == logp.shape == (101, 101)
    np.testing.assert_allclose(xx[0], np.linspace(-6, 6, 101), rtol=0, atol=1e-15)
    np.testing.assert_allclose(yy[:, 0], np.linspace(-5, 4, 101), rtol=0, atol=1e-15)
    # x varies along axis 1, y along axis 0
    assert np.all(xx == xx[0]) and np.all(yy == yy[:, :1])
    assert (xx.min(), xx.max(), yy.min(), yy.max()) == (-6.0, 6.0, -5.0, 4.0)
    np.testing.assert_allclose(logp, _normal_logpdf(xx, yy), rtol=0, atol=1e-12)


def test_density_grid_integrates_to_one():
    grid_size = 241
    xx, yy, logp = density_grid(GaussianEnergy(), ((-6, 6), (-6, 6)), grid_size=grid_size)
    cell = (12.0 / (grid_size - 1)) ** 2
    assert abs(np.exp(logp).sum() * cell - 1.0) < 1e-3


def test_density_grid_evaluates_in_chunks_of_10000():
    est = GaussianEnergy()
    density_grid(est, ((-1, 1), (-1, 1)), grid_size=150)  # 22,500 points
    assert est.chunk_sizes == [10_000, 10_000, 2_500]


@pytest.mark.parametrize("make", [UnnormalisedGaussian, "no_attribute"])
def test_density_grid_falls_back_to_negative_energy(make):
    if make == "no_attribute":
        est = UnnormalisedGaussian()
        del est.log_partition_
    else:
        est = make()
    xx, yy, logp = density_grid(est, ((-3, 3), (-2, 2)), grid_size=31)
    np.testing.assert_allclose(logp, -0.5 * (xx**2 + yy**2), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "bounds, grid_size",
    [
        (((1, -1), (0, 1)), 10),
        (((0, 1), (0, np.inf)), 10),
        ((0, 1), 10),
        (((0, 1), (0, 1)), 1),
        (((0, 1), (0, 1)), 2.5),
    ],
)
def test_density_grid_rejects_bad_input(bounds, grid_size):
    with pytest.raises(ValueError):
        density_grid(GaussianEnergy(), bounds, grid_size=grid_size)


# ---------------------------------------------------------------------------
# plot_density
# ---------------------------------------------------------------------------


def test_plot_density_image_extent_and_values():
    bounds = ((-3.0, 3.0), (-2.0, 2.0))
    grid_size = 41
    ax = plot_density(GaussianEnergy(), bounds=bounds, grid_size=grid_size, title="t")
    assert isinstance(ax, Axes)
    assert len(ax.images) == 1
    assert len(ax.collections) == 0
    assert ax.get_title() == "t"
    image = ax.images[0]
    dx, dy = 6.0 / (grid_size - 1), 4.0 / (grid_size - 1)
    np.testing.assert_allclose(
        image.get_extent(), [-3 - dx / 2, 3 + dx / 2, -2 - dy / 2, 2 + dy / 2]
    )
    assert image.origin == "lower"
    np.testing.assert_allclose(ax.get_xlim(), bounds[0])
    np.testing.assert_allclose(ax.get_ylim(), bounds[1])
    xx, yy, _ = density_grid(GaussianEnergy(), bounds, grid_size)
    arr = np.asarray(image.get_array())
    assert arr.shape == (grid_size, grid_size)
    np.testing.assert_allclose(arr, np.exp(_normal_logpdf(xx, yy)), rtol=1e-12)
    # the row at index 0 is the bottom of the picture (y = ymin)
    assert arr[0, grid_size // 2] < arr[grid_size // 2, grid_size // 2]


def test_plot_density_log_scale_and_default_bounds():
    ax = plot_density(GaussianEnergy(), grid_size=21, log_scale=True)
    np.testing.assert_allclose(ax.get_xlim(), (-4, 4))
    np.testing.assert_allclose(ax.get_ylim(), (-4, 4))
    xx, yy, _ = density_grid(GaussianEnergy(), ((-4, 4), (-4, 4)), 21)
    np.testing.assert_allclose(
        np.asarray(ax.images[0].get_array()), _normal_logpdf(xx, yy), rtol=0, atol=1e-12
    )


def test_plot_density_bounds_from_data_with_overlay(data):
    fig, ax = plt.subplots()
    out = plot_density(
        GaussianEnergy(), X=data, ax=ax, grid_size=20, scatter_kwargs={"c": "red", "s": 1}
    )
    assert out is ax
    lo, hi = data.min(axis=0), data.max(axis=0)
    margin = 0.1 * (hi - lo)
    np.testing.assert_allclose(ax.get_xlim(), (lo[0] - margin[0], hi[0] + margin[0]))
    np.testing.assert_allclose(ax.get_ylim(), (lo[1] - margin[1], hi[1] + margin[1]))
    assert len(ax.images) == 1
    assert len(ax.collections) == 1
    np.testing.assert_allclose(ax.collections[0].get_offsets(), data)
    assert ax.collections[0].get_alpha() < 1


def test_plot_density_unnormalised_is_scaled_to_max_one():
    ax = plot_density(UnnormalisedGaussian(), bounds=((-2, 2), (-2, 2)), grid_size=21)
    arr = np.asarray(ax.images[0].get_array())
    assert arr.max() == pytest.approx(1.0)
    assert arr[10, 10] == pytest.approx(1.0)


def test_plot_density_rejects_non_2d_estimator():
    with pytest.raises(ValueError, match=r"plot_density needs .*2-D.*n_features_in_=3"):
        plot_density(GaussianEnergy(n_features=3))


def test_plot_density_rejects_wrong_data_shape():
    with pytest.raises(ValueError, match="features"):
        plot_density(GaussianEnergy(), X=np.zeros((5, 3)), grid_size=5)


# ---------------------------------------------------------------------------
# plot_samples
# ---------------------------------------------------------------------------


def test_plot_samples_data_and_samples(data):
    samples = np.random.default_rng(1).normal(size=(50, 2))
    ax = plot_samples(data, samples, bounds=((-5, 5), (-6, 6)), s=3)
    assert isinstance(ax, Axes)
    assert len(ax.collections) == 2
    np.testing.assert_allclose(ax.collections[0].get_offsets(), data)
    np.testing.assert_allclose(ax.collections[1].get_offsets(), samples)
    assert _legend_labels(ax) == ["data", "samples"]
    assert ax.get_aspect() == 1.0
    np.testing.assert_allclose(ax.get_xlim(), (-5, 5))
    np.testing.assert_allclose(ax.collections[1].get_sizes(), [3])


def test_plot_samples_data_only_custom_labels(data):
    ax = plot_samples(data, labels=("train", "model"))
    assert len(ax.collections) == 1
    assert _legend_labels(ax) == ["train"]


def test_plot_samples_colour_override(data):
    ax = plot_samples(data, data[:10], c="red")
    np.testing.assert_allclose(ax.collections[1].get_facecolors()[0], [1, 0, 0, 0.7])


# ---------------------------------------------------------------------------
# plot_convergence
# ---------------------------------------------------------------------------


def test_plot_convergence_all_history_keys():
    est = GaussianEnergy()
    ax = plot_convergence(est)
    assert isinstance(ax, Axes)
    assert [line.get_label() for line in ax.lines] == list(est.history_)
    for line, values in zip(ax.lines, est.history_.values(), strict=True):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(len(values)))
        np.testing.assert_allclose(line.get_ydata(), values)
    assert _legend_labels(ax) == list(est.history_)


def test_plot_convergence_selected_keys():
    ax = plot_convergence(GaussianEnergy(), keys=["loss_sampler"])
    assert [line.get_label() for line in ax.lines] == ["loss_sampler"]
    ax = plot_convergence(GaussianEnergy(), keys="step_size")
    assert [line.get_label() for line in ax.lines] == ["step_size"]
    with pytest.raises(ValueError, match="nonexistent"):
        plot_convergence(GaussianEnergy(), keys=["nonexistent"])


def test_plot_convergence_falls_back_to_loss_curve():
    est = GaussianEnergy(with_history=False)
    est.loss_curve_ = [3.0, 2.0, 1.5]
    ax = plot_convergence(est)
    assert len(ax.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_ydata(), est.loss_curve_)


def test_plot_convergence_raises_without_history():
    with pytest.raises(NotFittedError, match="history_"):
        plot_convergence(GaussianEnergy(with_history=False))
    with pytest.raises(ValueError):
        plot_convergence(object())


# ---------------------------------------------------------------------------
# plot_energy_histogram
# ---------------------------------------------------------------------------


def test_plot_energy_histogram(data):
    samples = np.random.default_rng(2).normal(size=(300, 2))
    ax = plot_energy_histogram(GaussianEnergy(), data, samples, bins=20)
    assert isinstance(ax, Axes)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2
    assert all(len(b.patches) == 20 for b in bars)
    assert _legend_labels(ax) == ["data", "samples"]
    assert "energy" in ax.get_xlabel().lower()
    # shared bins: both histograms start at the same left edge
    assert bars[0].patches[0].get_x() == pytest.approx(bars[1].patches[0].get_x())


def test_plot_energy_histogram_draws_n_generated_samples(data):
    class Sampling(GaussianEnergy):
        def sample(self, n_samples, random_state=None):
            self.drawn = n_samples
            return np.random.default_rng(random_state).normal(size=(n_samples, 2))

    model = Sampling()
    ax = plot_energy_histogram(model, data, 150, bins=10)
    assert model.drawn == 150
    assert len([c for c in ax.containers if isinstance(c, BarContainer)]) == 2
    with pytest.raises(ValueError, match="positive"):
        plot_energy_histogram(model, data, 0)


# ---------------------------------------------------------------------------
# plot_fit_summary
# ---------------------------------------------------------------------------


def test_plot_fit_summary_writes_png(tmp_path, data):
    samples = np.random.default_rng(3).normal(size=(100, 2))
    path = tmp_path / "summary.png"
    fig = plot_fit_summary(GaussianEnergy(), data, samples, path=path, title="fit")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].collections) == 1
    assert len(fig.axes[1].collections) == 2
    assert len(fig.axes[2].images) == 1
    assert fig._suptitle is not None and fig._suptitle.get_text() == "fit"
    raw = path.read_bytes()
    assert len(raw) > 0
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", raw[16:24])
    w_in, h_in = fig.get_size_inches()
    assert (width, height) == (round(w_in * 100), round(h_in * 100))


def test_plot_fit_summary_without_path_and_bad_estimator(tmp_path, data):
    fig = plot_fit_summary(GaussianEnergy(), data, data)
    assert len(fig.axes) == 3
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="2-D"):
        plot_fit_summary(GaussianEnergy(n_features=3), data, data)
