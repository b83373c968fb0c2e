"""The paper's synthetic-experiment driver on a tiny configuration, so it cannot rot.

Ten iterations and a few hundred points check the protocol, the bookkeeping and the files,
not the numbers: such short fits are meaningless as density estimates.
"""

import argparse
import shlex

import numpy as np
import pytest

from adesk.benchmarks._paper import (
    GMM,
    KDE,
    MODES,
    ORACLE,
    PAPER_ESTIMATORS,
    PAPER_TABLE2,
    add_paper_arguments,
    main_paper,
    run_paper,
)
from adesk.datasets import TOY_DATASETS

DATASETS = ["moons", "line"]  # moons is in Figure 2; line is degenerate (no density)
ESTIMATORS = ["NF", "ADE"]
TINY = dict(
    seeds=[0],
    n_jobs=1,
    max_iter=10,
    n_train=300,
    n_test=200,
    n_mmd=100,
    n_mmd_large=150,
    n_val=200,
    device="cpu",
    grid_size=30,
    verbose=False,
)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("paper")
    result = run_paper("quick", DATASETS, ESTIMATORS, output_dir=str(output_dir), **TINY)
    return result


def _table(markdown, title_start):
    """Rows (lists of cells) of the markdown table under the heading starting with a text."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### " + title_start))
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("### "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table


def test_files_are_written_and_small(result):
    paths = result["paths"]
    assert set(paths) == {"table2", "figure1", "figure2"}
    with open(paths["table2"], encoding="utf-8") as handle:
        assert handle.read() == result["markdown"]
    for key in ("figure1", "figure2"):
        with open(paths[key], "rb") as handle:
            content = handle.read()
        assert content.startswith(b"\x89PNG")
        assert len(content) < 400_000


def test_header_states_the_settings_and_a_command_that_parses(result):
    markdown = result["markdown"]
    for text in ("mode: `quick`", "seeds: [0]", "n_train: 300", "max_iter: 10", "wall time:"):
        assert text in markdown
    command = next(line for line in markdown.splitlines() if line.startswith("- command:"))
    words = shlex.split(command.split("`")[1])
    assert words[:4] == ["python", "-m", "adesk.benchmarks", "paper"]
    args = add_paper_arguments(argparse.ArgumentParser()).parse_args(words[4:])
    assert args.datasets == DATASETS and args.estimators == ESTIMATORS
    assert (args.seeds, args.max_iter, args.n_train, args.n_mmd) == ([0], 10, 300, 100)


def test_rows_cover_every_job_with_finite_numbers(result):
    rows = result["rows"]
    labels = [*ESTIMATORS, GMM, KDE, ORACLE]
    assert [(r["dataset"], r["estimator"]) for r in rows] == [
        (name, label) for name in DATASETS for label in labels
    ]
    for row in rows:
        assert row["error"] == ""
        assert np.isfinite(row["mmd"]) and np.isfinite(row["mmd_large"])
        assert "figure1" not in row and "figure2" not in row
        if row["dataset"] == "line" or row["estimator"] == ORACLE:
            assert np.isnan(row["ll"])
        else:
            assert np.isfinite(row["ll"])


def test_paper_protocol_table_has_oracle_and_paper_numbers(result):
    table = _table(result["markdown"], "Paper protocol")
    assert table[0] == ["dataset", *ESTIMATORS, "oracle", "best model"]
    assert [row[0] for row in table[1:]] == DATASETS
    for row in table[1:]:
        assert all(np.isfinite(float(cell)) for cell in row[1:-1])
        assert row[-1] in ESTIMATORS
    paper = _table(result["markdown"], "The paper's Table 2")
    assert paper[0] == ["dataset", "SM", "NF", "CD-15", "ADE"]
    assert paper[1] == ["moons", *(f"{v:.2f}" for v in PAPER_TABLE2["moons"])]


def test_likelihood_table_leaves_out_degenerate_data_and_counts_ade_vs_gmm(result):
    markdown = result["markdown"]
    table = _table(markdown, "Held-out log-likelihood")
    assert table[0] == ["dataset", *ESTIMATORS, GMM, KDE, "ADE >= GMM"]
    assert [row[0] for row in table[1:]] == ["moons"]
    assert all(np.isfinite(float(cell)) for cell in table[1][1:-1])
    assert table[1][-1] in {"yes", "no"}
    assert "Count: ADE >= GMM on " in markdown and "/1." in markdown


def test_large_sample_mmd_table_has_references(result):
    table = _table(result["markdown"], "MMD^2 x 1e3 at 150")
    assert table[0] == ["dataset", *ESTIMATORS, GMM, KDE, ORACLE]
    assert [row[0] for row in table[1:]] == DATASETS
    assert all(np.isfinite(float(cell)) for row in table[1:] for cell in row[1:])


def test_presets_and_registries_match_the_paper():
    assert set(PAPER_TABLE2) == set(TOY_DATASETS)
    assert MODES["full"]["seeds"] == (0, 1, 2, 3, 4)
    for label in ("SM", "NF", "CD-15", "ADE"):
        params = PAPER_ESTIMATORS[label][1]
        assert params["energy_model"].hidden_layer_sizes == (128, 128, 128)
        assert params["energy_model"].activation == "relu"
    assert PAPER_ESTIMATORS["ADE"][1]["sampler"].n_steps <= 10
    assert PAPER_ESTIMATORS["ADE (adesk defaults)"][1] == {}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "medium"}, "mode must be one of"),
        ({"datasets": ["mnist"]}, "unknown datasets"),
        ({"estimators": ["GAN"]}, "unknown estimators"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        run_paper(output_dir=str(tmp_path), **kwargs)


def test_main_paper_runs_the_parsed_command_line(tmp_path, capsys):
    flags = "--datasets Uniform --estimators NF --seeds 1 --max-iter 5 --n-train 200 "
    flags += "--n-test 100 --n-mmd 50 --n-mmd-large 60 --n-val 100 --device cpu --no-figures"
    parser = add_paper_arguments(argparse.ArgumentParser())
    args = parser.parse_args([*flags.split(), "--output-dir", str(tmp_path), "--quiet"])
    result = main_paper(args)
    assert capsys.readouterr().out == ""
    assert set(result["paths"]) == {"table2"}
    assert (tmp_path / "table2.md").is_file()
    assert {(r["estimator"], r["seed"]) for r in result["rows"]} == {
        ("NF", 1),
        (GMM, 1),
        (KDE, 1),
        (ORACLE, 1),
    }


def test_paper_command_writes_table2_and_table5(tmp_path, monkeypatch):
    """``python -m adesk.benchmarks paper`` runs Table 2 then Table 5 and writes both."""
    from adesk.benchmarks import __main__ as cli
    from adesk.benchmarks import _recovery

    def tiny_recovery(mode, n_jobs):
        return _recovery.run_recovery(
            mode, dims=(2,), n_runs=1, n_jobs=n_jobs, n_train=300, max_iter=5
        )

    monkeypatch.setattr(cli, "run_recovery", tiny_recovery)
    argv = (
        "paper --datasets moons --estimators NF --seeds 0 --n-train 200 --max-iter 5 "
        "--n-test 100 --n-mmd 50 --n-mmd-large 60 --n-val 100 --device cpu --no-figures "
        f"--quiet --output-dir {tmp_path}"
    )
    cli.main(shlex.split(argv))
    assert (tmp_path / "table2.md").exists()
    table5 = (tmp_path / "table5.md").read_text()
    assert "MLE" in table5 and "2.18" in table5


@pytest.mark.parametrize("module", ["_paper", "_images", "_recovery"])
def test_quick_and_full_flags_are_aliases_of_mode(module):
    import importlib

    benchmark = importlib.import_module(f"adesk.benchmarks.{module}")
    add = getattr(benchmark, f"add_{module.strip('_')}_arguments")
    parser = add(argparse.ArgumentParser())
    assert parser.parse_args(["--quick"]).mode == "quick"
    assert parser.parse_args(["--full"]).mode == "full"
    assert parser.parse_args([]).mode == "quick"
