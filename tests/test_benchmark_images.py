"""The image benchmark driver on a tiny configuration, so it cannot rot.

Three iterations and 90-image sets check the protocol, the bookkeeping and the files, not
the numbers: such short fits are meaningless as generators.
"""

import pickle

import numpy as np
import pytest
import torch

from adesk.benchmarks import _images
from adesk.benchmarks.__main__ import main
from adesk.benchmarks._images import (
    ADE_Q0_ROW,
    ADE_ROW,
    IMAGE_MODELS,
    NOISE,
    REAL,
    ROW_ORDER,
    ConvEnergyFactory,
    run_images,
)

TINY = dict(
    n_jobs=1,
    max_iter=3,
    max_iter_nonparametric=3,
    n_steps=2,
    pcd_steps=2,
    pcd_sampling_steps=2,
    reference_fraction=0.05,  # 90 reference and 90 held-out digits
    classifier_epochs=2,
    device="cpu",
    verbose=False,
)
TINY_FLAGS = [
    "--max-iter", "3", "--max-iter-nonparametric", "3", "--n-steps", "2", "--pcd-steps", "2",
    "--pcd-sampling-steps", "2", "--reference-fraction", "0.05", "--classifier-epochs", "2",
    "--device", "cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("images")
    return run_images("quick", output_dir=str(output_dir), **TINY)


def test_every_row_is_reported_with_finite_metrics(result):
    assert [row["label"] for row in result["rows"]] == list(ROW_ORDER)
    for row in result["rows"]:
        assert np.isfinite(row["frechet"]) and row["frechet"] >= 0, row
        assert 1.0 <= row["score_mean"] <= 10.0, row
        assert np.isfinite(row["score_std"]), row
    assert result["n_reference"] == 90
    assert 0.0 <= result["classifier_accuracy"] <= 1.0


def test_ablation_row_shares_the_ade_fit(result):
    rows = {row["label"]: row for row in result["rows"]}
    assert rows[ADE_Q0_ROW]["fit_s"] == rows[ADE_ROW]["fit_s"]
    assert "same fit" in rows[ADE_Q0_ROW]["note"]
    assert np.isnan(rows[REAL]["fit_s"]) and np.isnan(rows[NOISE]["fit_s"])


def test_held_out_digits_beat_noise(result):
    # The ceiling must be far from the floor, else the feature network measures nothing.
    rows = {row["label"]: row for row in result["rows"]}
    assert rows[REAL]["frechet"] < 0.5 * rows[NOISE]["frechet"]
    assert rows[REAL]["score_mean"] > rows[NOISE]["score_mean"]


def test_files_are_written(result):
    paths = result["paths"]
    assert sorted(paths) == ["completion", "energy_histogram", "results", "samples"]
    for name in ("completion", "energy_histogram", "samples"):
        with open(paths[name], "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(paths["results"], encoding="utf-8") as handle:
        text = handle.read()
    assert text == result["markdown"]
    assert "python -m adesk.benchmarks images --mode quick" in text
    assert "wall time" in text
    for label in ROW_ORDER:
        assert f"| {label} |" in text


def test_command_line_runs_one_model(tmp_path):
    main(
        ["images", "--models", "PCD-Langevin", *TINY_FLAGS]
        + ["--output-dir", str(tmp_path), "--no-figures", "--quiet"]
    )
    text = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| PCD-Langevin (replay buffer) |" in text
    assert "| ADE (q0 + HMC) |" not in text
    assert not list(tmp_path.glob("*.png"))


def test_failed_fit_is_a_row_not_a_crash(tmp_path, monkeypatch):
    make = _images._make_estimator

    def broken(model, settings, image_shape, seed):
        est = make(model, settings, image_shape, seed)
        return est.set_params(max_iter=-1)  # rejected by fit's parameter validation

    monkeypatch.setattr(_images, "_make_estimator", broken)
    out = run_images(models=["ADE nonparametric"], output_dir=str(tmp_path), **dict(TINY, n_jobs=1))
    rows = {row["label"]: row for row in out["rows"]}
    assert rows["ADE nonparametric"]["note"] == "fit failed"
    assert np.isnan(rows["ADE nonparametric"]["frechet"])
    assert "max_iter" in out["markdown"]
    assert "energy_histogram" not in out["paths"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "huge"}, "mode"),
        ({"models": ["GAN"]}, "unknown models"),
        ({"reference_fraction": 0.6}, "reference_fraction"),
    ],
)
def test_invalid_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_images(output_dir=str(tmp_path), **{**TINY, **kwargs})


def test_mnist_root_without_files_is_a_clear_error(tmp_path):
    with pytest.raises((FileNotFoundError, ImportError), match="MNIST|mnist|torchvision"):
        run_images(models=["ADE"], output_dir=str(tmp_path), mnist_root=str(tmp_path), **TINY)


def test_energy_factory_pickles_and_checks_the_size():
    factory = pickle.loads(pickle.dumps(ConvEnergyFactory((1, 8, 8), channels=(4, 8))))
    energy = factory(64)
    assert energy(torch.zeros(3, 64)).shape == (3,)
    with pytest.raises(ValueError, match="64 features"):
        factory(63)


def test_models_are_the_documented_ones():
    assert IMAGE_MODELS == ("ADE", "ADE nonparametric", "PCD-Langevin")
    assert set(_images.IMAGE_MODES) == {"quick", "full"}
