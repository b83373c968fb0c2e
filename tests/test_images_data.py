"""Tests for the image data loaders, image-quality metrics and image plots."""

import sys
import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from adesk.datasets._images import load_cifar10, load_digits_images, load_mnist  # noqa: E402
from adesk.metrics._image_quality import (  # noqa: E402
    FeatureClassifier,
    classifier_score,
    frechet_distance,
    image_quality,
    train_feature_classifier,
)
from adesk.plotting._images import plot_completion, plot_images  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits_images(return_labels=True)
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def digits_classifier(digits_split):
    X_train, _, y_train, _ = digits_split
    return train_feature_classifier(X_train, y_train, (1, 8, 8), random_state=0)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def test_load_digits_images_shape_range_determinism():
    X, y = load_digits_images(return_labels=True)
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float64
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    assert 0.0 < X.min() and X.max() < 1.0
    np.testing.assert_array_equal(X, load_digits_images())
    assert not np.array_equal(X, load_digits_images(random_state=1))
    # Dequantization only spreads each level over its own bin [v/17, (v+1)/17).
    levels = load_digits_images(dequantize=False) * 16
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-12)
    np.testing.assert_array_equal(np.floor(X * 17), levels.round())
    assert load_digits_images(dequantize=False).max() == 1.0


def test_load_digits_images_does_not_touch_global_rng():
    # The legacy global RandomState is exactly what must stay untouched.
    state = np.random.get_state()  # noqa: NPY002
    load_digits_images(random_state=None)
    load_digits_images(random_state=np.random.default_rng(3))
    assert np.array_equal(np.random.get_state()[1], state[1])  # noqa: NPY002
    with pytest.raises(ValueError, match="random_state"):
        load_digits_images(random_state="seed")


@pytest.mark.parametrize(
    "loader, folder, names",
    [
        (load_mnist, ("MNIST", "raw"), ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        (load_cifar10, ("cifar-10-batches-py",), ["data_batch_1", "test_batch", "batches.meta"]),
    ],
)
def test_torchvision_loaders_missing_files(tmp_path, monkeypatch, loader, folder, names):
    # Must fail before anything is imported or downloaded, torchvision or not.
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(FileNotFoundError) as info:
        loader(tmp_path, train=False)
    message = str(info.value)
    assert "download=True" in message
    for name in names:
        assert str(tmp_path.joinpath(*folder, name)) in message
    assert list(tmp_path.iterdir()) == []  # nothing created


def _touch(folder, names):
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")


MNIST_NAMES = [
    f"{s}-{k}-idx{d}-ubyte" for s in ("train", "t10k") for k, d in (("images", 3), ("labels", 1))
]
CIFAR_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


@pytest.mark.parametrize("download", [False, True])
def test_torchvision_loaders_without_torchvision(tmp_path, monkeypatch, download):
    _touch(tmp_path / "MNIST" / "raw", MNIST_NAMES)
    _touch(tmp_path / "cifar-10-batches-py", CIFAR_NAMES)
    # A None entry makes `import torchvision` raise ImportError, installed or not.
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    for loader in (load_mnist, load_cifar10):
        with pytest.raises(ImportError, match=r"pip install adesk\[vision\]"):
            loader(tmp_path, download=download)


def test_torchvision_loaders_convert_with_fake_torchvision(tmp_path, monkeypatch):
    _touch(tmp_path / "MNIST" / "raw", MNIST_NAMES)
    _touch(tmp_path / "cifar-10-batches-py", CIFAR_NAMES)
    calls = []

    class FakeMNIST:
        def __init__(self, root, train, download):
            calls.append(("mnist", root, train, download))
            self.data = torch.full((4, 28, 28), 255, dtype=torch.uint8)
            self.targets = torch.arange(4)

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            calls.append(("cifar", root, train, download))
            self.data = np.zeros((3, 32, 32, 3), dtype=np.uint8)
            self.data[..., 0] = 51  # red channel
            self.targets = [0, 1, 2]

    fake = types.ModuleType("torchvision")
    fake.datasets = types.ModuleType("torchvision.datasets")
    fake.datasets.MNIST, fake.datasets.CIFAR10 = FakeMNIST, FakeCIFAR10
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)

    X, y = load_mnist(tmp_path, train=False)
    assert X.shape == (4, 1, 28, 28) and X.dtype == np.float32 and np.all(X == 1.0)
    np.testing.assert_array_equal(y, np.arange(4))
    X, y = load_cifar10(str(tmp_path))
    assert X.shape == (3, 3, 32, 32) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, 0], 0.2)
    np.testing.assert_array_equal(X[:, 1:], 0.0)
    assert y.dtype == np.int64
    assert calls == [("mnist", str(tmp_path), False, False), ("cifar", str(tmp_path), True, False)]


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


def test_classifier_score_extremes():
    n_classes = 10
    labels = np.arange(1000) % n_classes
    confident = np.eye(n_classes)[labels]
    mean, std = classifier_score(confident)
    assert mean == pytest.approx(n_classes) and std == pytest.approx(0.0, abs=1e-12)
    # The same as logits: a softmax of +-30 is one-hot to 1e-13.
    mean, _ = classifier_score(60.0 * confident - 30.0, kind="logits")
    assert mean == pytest.approx(n_classes, rel=1e-9)
    # Identical predictions, whatever they are, carry no information: score 1.
    rng = np.random.default_rng(0)
    same = np.tile(rng.dirichlet(np.ones(n_classes)), (500, 1))
    assert classifier_score(same) == pytest.approx((1.0, 0.0))
    assert classifier_score(torch.tensor(same), n_splits=1)[0] == pytest.approx(1.0)


def test_classifier_score_validation():
    with pytest.raises(ValueError, match="n_splits"):
        classifier_score(np.eye(3), n_splits=4)
    with pytest.raises(ValueError, match="2-D"):
        classifier_score(np.ones(3))
    with pytest.raises(ValueError, match="kind='probs'"):
        classifier_score(np.full((4, 2), 2.0), n_splits=1, kind="probs")
    with pytest.raises(ValueError, match="kind"):
        classifier_score(np.eye(3), n_splits=1, kind="softmax")


def test_frechet_distance_matches_gaussian_closed_form():
    rng = np.random.default_rng(0)
    n, d = 200_000, 3
    mu_a, mu_b = np.array([0.0, 1.0, -1.0]), np.array([0.5, 1.0, 1.0])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    a = mu_a + np.sqrt(var_a) * rng.standard_normal((n, d))
    b = mu_b + np.sqrt(var_b) * rng.standard_normal((n, d))
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    # Monte Carlo error of the plug-in estimate is O(sqrt(var / n)) ~ 1e-2 here.
    assert frechet_distance(a, b) == pytest.approx(expected, abs=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_exact_on_full_covariances():
    # With the sample covariances themselves the formula must hold to rounding:
    # Tr((S_a S_b)^(1/2)) = sum of square roots of the eigenvalues of S_a S_b.
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    b = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6)) + 1.0
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)
    diff = a.mean(0) - b.mean(0)
    expected = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(eig).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_singular_covariance_and_validation():
    rng = np.random.default_rng(2)
    # 5 samples of 20 features and a constant feature: rank-deficient covariances.
    a, b = rng.standard_normal((5, 20)), rng.standard_normal((5, 20))
    a[:, 0] = b[:, 0] = 1.0
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="same number of columns"):
        frechet_distance(a, b[:, :3])
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(a[:1], b)
    with pytest.raises(ValueError, match="finite"):
        frechet_distance(np.full((3, 2), np.nan), b[:, :2])


def test_frechet_distance_sqrtm_fallbacks(monkeypatch):
    import adesk.metrics._image_quality as module

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((400, 4)), 2.0 * rng.standard_normal((400, 4))
    exact = frechet_distance(a, b)
    real_sqrtm = module.linalg.sqrtm
    calls = []

    def failing_once(matrix):
        calls.append(matrix)
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    # A failed root is recomputed on the ridged covariances, S + eps I.
    monkeypatch.setattr(
        module, "linalg", types.SimpleNamespace(sqrtm=failing_once, LinAlgError=Exception)
    )
    assert frechet_distance(a, b, eps=1e-6) == pytest.approx(exact, rel=1e-5)
    assert len(calls) == 2

    # Rounding-level imaginary parts are dropped ...
    def complex_root(matrix):
        return real_sqrtm(matrix) + 1e-10j

    monkeypatch.setattr(
        module, "linalg", types.SimpleNamespace(sqrtm=complex_root, LinAlgError=Exception)
    )
    assert frechet_distance(a, b) == pytest.approx(exact, rel=1e-8)
    # ... significant ones (impossible for a product of true covariances) are an error.
    monkeypatch.setattr(module, "_sqrtm_checked", lambda m: real_sqrtm(m) + 1j * np.eye(len(m)))
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(a, b)


def test_feature_classifier_accuracy_and_determinism(digits_split, digits_classifier):
    X_train, X_test, y_train, y_test = digits_split
    model = digits_classifier
    assert isinstance(model, FeatureClassifier) and not model.training
    accuracy = np.mean(model.predict(X_test) == y_test)
    assert accuracy > 0.9, accuracy
    with torch.no_grad():
        assert tuple(model.features(X_test.reshape(len(X_test), -1)).shape) == (len(X_test), 64)
        assert tuple(model.logits(X_test).shape) == (len(X_test), 10)
    state = torch.get_rng_state()
    again = train_feature_classifier(X_train, y_train, (1, 8, 8), n_epochs=2, random_state=3)
    same = train_feature_classifier(X_train, y_train, (1, 8, 8), n_epochs=2, random_state=3)
    assert torch.equal(torch.get_rng_state(), state)
    for p, q in zip(again.state_dict().values(), same.state_dict().values(), strict=True):
        assert torch.equal(p, q)


def test_train_feature_classifier_validation():
    X, y = np.zeros((6, 1, 4, 4)), np.array([0, 1] * 3)
    with pytest.raises(ValueError, match="image_shape"):
        train_feature_classifier(X, y, (4, 4))
    with pytest.raises(ValueError, match="X must have shape"):
        train_feature_classifier(X, y, (1, 5, 5))
    with pytest.raises(ValueError, match="one label per image"):
        train_feature_classifier(X, y[:5], (1, 4, 4))
    with pytest.raises(ValueError, match="at least 2 classes"):
        train_feature_classifier(X, np.zeros(6), (1, 4, 4))
    with pytest.raises(ValueError, match="n_epochs"):
        train_feature_classifier(X, y, (1, 4, 4), n_epochs=0)


def test_image_quality_ceiling_and_floor(digits_split, digits_classifier):
    X_train, X_test, _, _ = digits_split
    real = image_quality(X_test, X_train, digits_classifier)
    noise = np.random.default_rng(0).uniform(size=X_test.shape)
    floor = image_quality(noise, X_train, digits_classifier, batch_size=100)
    assert set(real) == {"classifier_score_mean", "classifier_score_std", "frechet_distance"}
    assert real["classifier_score_mean"] > 7.0 > floor["classifier_score_mean"]
    assert real["frechet_distance"] < 0.1 * floor["frechet_distance"]
    # Plain callables work too; without logits the score is NaN.
    flat = image_quality(
        X_test, X_train, lambda x: digits_classifier.features(x), image_shape=(64,)
    )
    assert np.isnan(flat["classifier_score_mean"])
    assert flat["frechet_distance"] == pytest.approx(real["frechet_distance"], rel=1e-6)
    with pytest.raises(ValueError, match="feature_extractor"):
        image_quality(X_test, X_train, "inception")


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------


def test_plot_images_grey_rgb_and_shapes():
    rng = np.random.default_rng(0)
    ax = plot_images(rng.uniform(-1, 2, size=(7, 1, 8, 8)), title="samples")
    assert isinstance(ax, Axes) and ax.get_title() == "samples"
    grid = ax.images[0].get_array()
    assert grid.shape == (3 * 9 + 1, 3 * 9 + 1)  # 7 images -> 3 x 3 grid
    assert grid.min() >= 0.0 and grid.max() <= 1.0
    fig, given = plt.subplots()
    rgb = plot_images(torch.rand(4, 3, 5, 6), n_rows=1, ax=given)
    assert rgb is given and rgb.images[0].get_array().shape == (7, 4 * 7 + 1, 3)
    flat = plot_images(rng.uniform(size=(2, 64)), image_shape=(1, 8, 8))
    assert flat.images[0].get_array().shape == (10, 19)
    assert plot_images(rng.uniform(size=(2, 8, 8))).images[0].get_array().shape == (10, 19)


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.zeros((2, 2, 8, 8)), {}, "1 or 3 channels"),
        (np.zeros((2, 8, 8, 3)), {}, "1 or 3 channels"),
        (np.zeros((2, 64)), {}, "ndim=2"),
        (np.zeros((2, 64)), {"image_shape": (1, 7, 7)}, "cannot be reshaped"),
        (np.zeros((2, 1, 8, 8)), {"n_rows": 0}, "n_rows"),
    ],
)
def test_plot_images_rejects_bad_input(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_images(images, **kwargs)


def test_plot_completion_layout_and_mask():
    rng = np.random.default_rng(0)
    mask = np.zeros((8, 8), dtype=bool)
    mask[4:] = True
    steps = [rng.uniform(size=(10, 1, 8, 8)) for _ in range(4)]
    ax = plot_completion(steps, mask, n_show=3, title="completion")
    assert isinstance(ax, Axes) and ax.get_title() == "completion"
    strip, overlay = (image.get_array() for image in ax.images)
    assert strip.shape == (3 * 9 + 1, 4 * 9 + 1)
    alpha = np.asarray(overlay)[..., 3]
    # Tint exactly on the lower half of each first-column tile, nowhere else.
    assert alpha.sum() == pytest.approx(3 * 32 * 0.4)
    assert np.all(alpha[1 + 4 : 1 + 8, 1:9] > 0) and np.all(alpha[1:5, 1:9] == 0)
    assert np.all(alpha[:, 10:] == 0)
    # Per-example RGB masks and a (T, n, C, H, W) array.
    per_example = np.zeros((10, 3, 8, 8), dtype=bool)
    per_example[0, 1, 0, 0] = True
    ax = plot_completion(rng.uniform(size=(2, 10, 3, 8, 8)), per_example, n_show=20)
    assert ax.images[0].get_array().shape == (10 * 9 + 1, 2 * 9 + 1, 3)
    assert np.asarray(ax.images[1].get_array())[..., 3].sum() == pytest.approx(0.4)


def test_plot_completion_rejects_bad_input():
    rng = np.random.default_rng(0)
    mask = np.ones((8, 8), dtype=bool)
    steps = [rng.uniform(size=(2, 1, 8, 8)) for _ in range(3)]
    with pytest.raises(ValueError, match="at least one"):
        plot_completion([], mask)
    with pytest.raises(ValueError, match="same shape"):
        plot_completion(steps + [rng.uniform(size=(3, 1, 8, 8))], mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        plot_completion(steps, np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="does not match"):
        plot_completion(steps, np.ones((5, 8, 8), dtype=bool))
    with pytest.raises(ValueError, match="n_show"):
        plot_completion(steps, mask, n_show=0)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        plot_completion([rng.uniform(size=(2, 2, 8, 8))], mask)


def test_plot_images_warns_about_diverged_images():
    images = np.full((3, 1, 4, 4), 0.5)
    images[1, 0, 0, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="1 of 3 images have non-finite pixels"):
        ax = plot_images(images)
    assert isinstance(ax, Axes)
    # The NaN pixel is masked and drawn in the colormap's "bad" colour (red), not as a grey.
    shown = ax.images[0]
    assert np.ma.count_masked(shown.get_array()) == 1
    assert shown.get_cmap().get_bad().tolist() == [1.0, 0.0, 0.0, 1.0]
    plt.close("all")


def test_plot_images_marks_nan_pixels_of_colour_images():
    images = np.full((2, 3, 4, 4), 0.5)
    images[0, :, 1, 1] = np.nan
    with pytest.warns(RuntimeWarning, match="non-finite pixels"):
        ax = plot_images(images)
    rgba = ax.images[0].get_array()
    assert (np.asarray(rgba)[..., :3] == [1.0, 0.0, 0.0]).all(axis=-1).sum() == 1
    plt.close("all")
