"""The speed benchmark's driver on a tiny grid (its numbers are measured, not asserted)."""

import numpy as np
import torch

from adesk.benchmarks.__main__ import main
from adesk.benchmarks._speed import _median_ratio, format_speed, run_speed, saved_tensor_bytes

TINY = dict(
    rounds=1,
    dims=(2,),
    n_transitions=1,
    training_steps=(2,),
    scaling_steps=(1,),
    scaling_batches=(100,),
    scaling_dims=(3,),
)


def test_saved_tensor_bytes_counts_each_storage_once():
    x = torch.ones(100, requires_grad=True)
    w = torch.ones(100, requires_grad=True)

    def product():
        # mul saves both operands; the second use of x saves the same storage again.
        ((x * w) * x).sum().backward()

    # x, w and the intermediate x * w: three float32 storages of 100 entries.
    assert saved_tensor_bytes(product) == 3 * 100 * 4


def test_run_speed_tables_on_a_tiny_grid():
    results = run_speed(settings=TINY)
    sampling = {row["method"]: row for row in results["sampling"]}
    assert np.isfinite(sampling["adesk run_mcmc (HMC kernel)"]["ratio_to_floor"])
    assert "adesk ADE sample() (T=10, ADE defaults)" in sampling
    training = {row["method"]: row for row in results["training"]}
    # Checkpointing keeps the graph small; without it the unrolled energy activations stay.
    assert (
        training["ADE BPTT + checkpointing, T=2"]["graph_mib"]
        < 0.5 * training["ADE BPTT, T=2"]["graph_mib"]
    )
    assert [row["varied"] for row in results["scaling"]] == ["T", "batch", "dimension"]
    text = format_speed(results)
    assert "### Sampling from a fixed energy" in text and "| ADE BPTT, T=2 |" in text


def test_ratios_are_paired_by_round():
    """A ratio is the median over rounds of time / reference time in the same round, which
    cancels a slow round; the ratio of the medians (4 here) would not."""
    times = np.array([2.0, 9.0, 4.0])
    reference = np.array([1.0, 3.0, 1.0])
    assert _median_ratio(times, reference) == 3.0


def test_speed_command_writes_its_tables(tmp_path, capsys, monkeypatch):
    import adesk.benchmarks._speed as speed

    monkeypatch.setitem(speed.SPEED_MODES, "quick", {**speed.SPEED_MODES["quick"], **TINY})
    output = tmp_path / "speed.md"
    main(["speed", "--tables", "sampling", "--output", str(output)])
    written = output.read_text()
    assert written.startswith("Produced by `python -m adesk.benchmarks speed --mode quick")
    assert "adesk run_mcmc" in capsys.readouterr().out
