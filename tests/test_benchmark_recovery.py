"""The parameter-recovery driver (paper Table 5) on a tiny configuration.

The tiny run (2-D, one run, 20 iterations, 500 samples) checks the protocol and the
bookkeeping, not the numbers: 20 iterations do not reach the MLE.
"""

import argparse
import pickle

import numpy as np
import pytest

from adesk.benchmarks._recovery import (
    PAPER_TABLE5,
    RECOVERY_ESTIMATORS,
    GaussianStart,
    add_recovery_arguments,
    format_recovery,
    learned_gaussian,
    main_recovery,
    make_recovery_data,
    run_recovery,
    run_recovery_case,
    summarize_recovery,
    true_parameters,
)
from adesk.estimators import ScoreMatchingEstimator
from adesk.partition import AutoPartition

TINY_FLAGS = ["--dims", "2", "--n-runs", "1", "--max-iter", "20", "--n-train", "500"]


@pytest.fixture(scope="module")
def tiny():
    """Rows and printed table of the CLI entry point on the tiny configuration."""
    parser = add_recovery_arguments(argparse.ArgumentParser())
    args = parser.parse_args(TINY_FLAGS)
    return main_recovery(args)


def test_tiny_rows(tiny):
    assert [(r["dims"], r["estimator"], r["run"]) for r in tiny] == [
        (2, "MLE", 0),
        (2, "SM", 0),
        (2, "CD-5", 0),
        (2, "ADE", 0),
    ]
    for row in tiny:
        for key in ("rmse", "rmse_mean", "rmse_var", "rmse_to_mle", "fit_s"):
            assert np.isfinite(row[key]) and row[key] >= 0
        assert row["n_train"] == 500 and row["truth"] == "reference"
        # The RMSE over (mu, sigma^2) is the root of the mean of the halves' squares.
        assert row["rmse"] == pytest.approx(
            np.sqrt((row["rmse_mean"] ** 2 + row["rmse_var"] ** 2) / 2)
        )
    mle = tiny[0]
    assert mle["rmse_to_mle"] == 0 and mle["max_iter"] == 0
    assert all(r["max_iter"] == 20 for r in tiny[1:])


def test_tiny_table(tiny):
    table = format_recovery(tiny)
    lines = table.splitlines()
    assert lines[0].startswith("| d | estimator | RMSE (mu, sigma^2) | paper |")
    body = {line.split(" | ")[1]: line for line in lines[2:6]}
    assert set(body) == {"MLE", "SM", "CD-5", "ADE"}
    assert "| 2 | MLE |" in body["MLE"] and "| - | 1.00 |" in body["MLE"]
    for label, line in body.items():
        if label != "MLE":
            assert f"{PAPER_TABLE5[label][2]:.2e}" in line
    assert "N(-1, 0.1^2)" in lines[-1] and "n_train 500" in lines[-1]


def test_main_prints_the_table(capsys):
    flags = ["--dims", "2", "--estimators", "SM", "--n-runs", "2", "--max-iter", "5"]
    args = add_recovery_arguments(argparse.ArgumentParser()).parse_args(flags + ["--n-train", "50"])
    rows = main_recovery(args)
    assert [(r["estimator"], r["run"]) for r in rows] == [
        ("MLE", 0),
        ("MLE", 1),
        ("SM", 0),
        ("SM", 1),
    ]
    printed = capsys.readouterr().out
    assert format_recovery(rows) in printed
    assert " +- " in printed and "2 run(s); 5 iterations" in printed


def test_summary_ratio_to_the_mle(tiny):
    summary = summarize_recovery(tiny)
    by_label = {s["estimator"]: s for s in summary}
    assert by_label["MLE"]["ratio_mle"] == 1.0
    assert by_label["SM"]["ratio_mle"] == pytest.approx(
        by_label["SM"]["rmse"] / by_label["MLE"]["rmse"]
    )
    assert np.isnan(by_label["MLE"]["paper"]) and by_label["ADE"]["paper"] == 2.28e-3
    assert np.isnan(by_label["SM"]["rmse_sd"])  # one run: no spread


def test_every_paper_row_has_an_estimator():
    assert set(PAPER_TABLE5) == set(RECOVERY_ESTIMATORS)


def test_true_parameters():
    mean, std = true_parameters(3)
    np.testing.assert_array_equal(mean, -1.0)
    np.testing.assert_array_equal(std, 0.1)
    mean, std = true_parameters(1000, "random", seed=3)
    assert np.all((-1 <= mean) & (mean <= 1)) and np.all((0.5 <= std) & (std <= 1.5))
    np.testing.assert_array_equal(true_parameters(1000, "random", seed=3)[0], mean)
    with pytest.raises(ValueError, match="truth"):
        true_parameters(2, "other")


def test_mle_error_matches_its_standard_error():
    """The MLE row is the sampling floor: its errors are those of a sample mean and variance.

    Over 40 coordinates of n = 10,000 samples, the RMSE of the means should be close to
    sigma / sqrt(n) = 1e-3 and that of the variances to sigma^2 sqrt(2 / n) = 1.41e-4
    (chi-square with 40 degrees of freedom: within +-40% with probability > 0.99).
    """
    row = run_recovery_case("MLE", 40)
    assert row["rmse_mean"] == pytest.approx(1e-3, rel=0.4)
    assert row["rmse_var"] == pytest.approx(0.1**2 * np.sqrt(2 / 10000), rel=0.4)


def test_learned_gaussian_is_in_the_data_units():
    """With no training the standardized N(0, I) energy is exactly the data's MLE."""
    X, _, _ = make_recovery_data(3, 200, "random", seed=0)
    est = ScoreMatchingEstimator(
        energy_model="gaussian", max_iter=0, partition=AutoPartition(n_samples=100), device="cpu"
    ).fit(X)
    mean, var = learned_gaussian(est)
    np.testing.assert_allclose(mean, X.mean(0), rtol=1e-6)
    np.testing.assert_allclose(var, X.var(0), rtol=1e-6)


def test_gaussian_start_is_a_picklable_energy_factory():
    start = pickle.loads(pickle.dumps(GaussianStart(mean=0.5, std=2.0)))
    energy = start(3)
    np.testing.assert_allclose(energy.mean.detach().numpy(), 0.5)
    np.testing.assert_allclose(energy.log_std.exp().detach().numpy(), 2.0)
    assert all(p.requires_grad for p in energy.parameters())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "slow"}, "mode"),
        ({"estimators": ("SM", "NCE")}, "NCE"),
        ({"truth": "other"}, "truth"),
        ({"start": "other"}, "start"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_recovery(**kwargs)


def test_cli_defaults():
    args = add_recovery_arguments(argparse.ArgumentParser()).parse_args([])
    assert args.mode == "quick" and args.dims == [2, 5, 10]
    assert args.estimators == ["SM", "CD-5", "ADE"]
    assert args.n_runs is None and args.max_iter is None and args.truth == "reference"
    assert args.ade_initial == "latent" and args.start == "perturbed"
