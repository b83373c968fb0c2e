"""Small, fast estimator settings shared by the tests."""

from adesk import ADEDensityEstimator

FAST_ADE = dict(
    hidden_layer_sizes=(16, 16),
    max_iter=8,
    n_steps=2,
    batch_size=16,
    partition_resolution=16,
    partition_n_samples=64,
    partition_n_temperatures=10,
    max_initial_points=50,
    replay_buffer_size=64,
    random_state=0,
    device="cpu",
)


def fast_ade(**overrides):
    return ADEDensityEstimator(**{**FAST_ADE, **overrides})
