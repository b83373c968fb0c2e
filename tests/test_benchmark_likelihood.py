"""``python -m adesk.benchmarks likelihood`` on a tiny configuration, so the driver cannot rot.

The tiny runs (8 iterations, 16-32 AIS chains) check the protocol and the bookkeeping, not the
numbers: the log-likelihoods of such short fits are meaningless.
"""

import numpy as np
import pytest

from adesk.benchmarks.__main__ import main
from adesk.benchmarks._likelihood import (
    REAL_DATASETS,
    ade_against_baselines,
    adesk_configs,
    fit_adesk_config,
    format_likelihood,
    load_real_dataset,
    run_likelihood,
    select_on_validation,
    standardized_splits,
)

TINY = dict(max_iter=8, ais_chains=32, ais_temperatures=10, device="cpu")


@pytest.fixture(scope="module")
def rows():
    return run_likelihood(["iris"], ["ADE", "NCE"], seed=0, n_jobs=1, **TINY)


@pytest.mark.parametrize(
    "name, shape", [("iris", (150, 4)), ("wine", (178, 13)), ("breast_cancer", (569, 30))]
)
def test_load_real_dataset_shapes(name, shape):
    X = load_real_dataset(name)
    assert X.shape == shape
    assert X.dtype == np.float64


def test_digits_are_dequantized_deterministically():
    X = load_real_dataset("digits", random_state=0)
    assert X.shape == (1797, 64)
    # Integer pixels 0..16 plus uniform [0, 1) noise: no value is an integer any more.
    assert np.all((X >= 0) & (X < 17))
    assert np.all(X != np.floor(X))
    np.testing.assert_array_equal(X, load_real_dataset("digits", random_state=0))
    assert not np.array_equal(X, load_real_dataset("digits", random_state=1))


def test_load_real_dataset_rejects_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        load_real_dataset("mnist")


def test_splits_are_60_20_20_and_standardized_on_train():
    X_train, X_val, X_test = standardized_splits("wine", random_state=0)
    assert (X_train.shape[0], X_val.shape[0], X_test.shape[0]) == (106, 36, 36)
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=0), 1.0, atol=1e-12)
    # The held-out splits are not re-standardized (that would leak their statistics).
    assert np.abs(X_val.mean(axis=0)).max() > 1e-3
    for a, b in zip(standardized_splits("wine", 0), (X_train, X_val, X_test)):
        np.testing.assert_array_equal(a, b)


def test_adesk_configs_are_a_small_grid():
    for label in ("ADE", "CD-15", "PCD-15", "SM", "NCE", "NF"):
        configs = adesk_configs(label, 800)
        assert len(configs) <= 4
        # A short run among them guards against overfitting the small training splits.
        assert min(c["max_iter"] for c in configs) < 800
    assert {"gradient_penalty": 0.1}.items() <= adesk_configs("ADE", 800)[2].items()
    assert adesk_configs("NCE", 800)[2]["alpha"] == 1e-3


def test_rows_cover_every_model_with_finite_scores(rows):
    assert [(r["dataset"], r["model"]) for r in rows] == [
        ("iris", "GMM"),
        ("iris", "KDE"),
        ("iris", "ADE"),
        ("iris", "NCE"),
    ]
    for r in rows:
        assert np.isfinite(r["test_ll"]) and np.isfinite(r["val_ll"])
        assert r["test_se"] > 0
        assert r["n_test"] == 30 == r["test_ll_per_sample"].shape[0]
        assert r["test_ll"] == pytest.approx(np.mean(r["test_ll_per_sample"]))
    for r in rows[2:]:
        assert r["logz_method"] == "ais"
        assert np.isfinite(r["logz_std"]) and r["logz_std"] > 0
        assert r["params"] in adesk_configs(r["model"], TINY["max_iter"])
        assert r["n_configs"] == 4
        assert r["tune_s"] >= r["fit_s"] > 0
        # se combines the sampling error of the mean with the log Z error in quadrature.
        per_sample = r["test_ll_per_sample"]
        sampling = np.std(per_sample, ddof=1) / np.sqrt(per_sample.shape[0])
        assert r["test_se"] == pytest.approx(np.hypot(sampling, r["logz_std"]))
    gmm, kde = rows[0], rows[1]
    assert gmm["logz_method"] == kde["logz_method"] == "exact"
    assert set(gmm["params"]) == {"n_components", "covariance_type", "reg_covar"}
    assert set(kde["params"]) == {"bandwidth"}


def test_format_has_table_footnote_and_verdict(rows):
    text = format_likelihood(rows)
    assert text.startswith("| dataset | model | test ll ± se |")
    assert "| iris | ADE |" in text and "| iris | NCE |" in text
    assert "standardized coordinates" in text
    assert "iris: ADE is " in text and "the best of GMM and KDE" in text


def test_ade_against_baselines_is_paired():
    base = np.array([-1.0, -2.0, -3.0, -4.0])

    def row(model, values, logz_std=0.0):
        return {
            "dataset": "d",
            "model": model,
            "test_ll": float(np.mean(values)),
            "test_ll_per_sample": np.asarray(values),
            "logz_std": logz_std,
        }

    rows = [row("GMM", base), row("KDE", base - 1.0), row("ADE", base + 0.5, logz_std=0.1)]
    comparison = ade_against_baselines(rows)["d"]
    assert comparison["baseline"] == "GMM"
    assert comparison["difference"] == pytest.approx(0.5)
    # A constant per-point difference has no sampling error: only log Z's is left.
    assert comparison["se"] == pytest.approx(0.1)
    assert comparison["at_or_above"]
    assert ade_against_baselines(rows[:2]) == {}


def test_failed_configuration_is_never_selected():
    failed = fit_adesk_config(
        "iris", "NCE", {"energy_model__hidden_layer_sizes": (0,)}, seed=0, device="cpu"
    )
    assert np.isnan(failed["val_ll"]) and "error" in failed
    good = {**failed, "val_ll": -5.0, "params": {"max_iter": 3}}
    chosen = select_on_validation([failed, good])
    assert chosen["params"] == {"max_iter": 3}
    assert chosen["n_configs"] == 2


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown estimators"):
        run_likelihood(["iris"], ["GAN"])
    with pytest.raises(ValueError, match="unknown datasets"):
        run_likelihood(["mnist"], ["ADE"])
    assert "digits" in REAL_DATASETS


def test_command_line(capsys):
    main(
        [
            "likelihood",
            "--datasets",
            "iris",
            "--estimators",
            "NCE",
            "--max-iter",
            "4",
            "--ais-chains",
            "16",
            "--ais-temperatures",
            "5",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert "| iris | GMM |" in out and "| iris | NCE |" in out
    # Without ADE there is no verdict line.
    assert "ADE is" not in out


def test_nested_settings_build_objects_and_leave_shared_ones_alone():
    """The configurations name the energy's widths by their path; the objects they change are
    copies, so the registries' shared parameter objects stay as they are."""
    from adesk import ContrastiveDivergenceEstimator
    from adesk.energies import MLP
    from adesk.partition import AutoPartition
    from adesk.samplers import HMC
    from adesk.train import estimator_from_params

    shared = HMC(n_transitions=15)
    est = estimator_from_params(
        ContrastiveDivergenceEstimator,
        {
            "sampler": shared,
            "sampler__n_steps": 3,
            "energy_model__hidden_layer_sizes": (8,),
            "partition__resolution": 16,
            "max_iter": 2,
        },
    )
    assert shared == HMC(n_transitions=15)
    assert est.sampler == HMC(n_steps=3, n_transitions=15) and est.sampler is not shared
    assert est.energy_model == MLP((8,))
    assert est.partition == AutoPartition(resolution=16)
    assert est.max_iter == 2
    with pytest.raises(ValueError, match="Invalid parameter"):
        estimator_from_params(ContrastiveDivergenceEstimator, {"sampler__latent_dim": 2})
