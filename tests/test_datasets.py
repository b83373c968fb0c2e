"""Tests for adesk.datasets: the paper's 14 toy generators and their registry.

Each statistical check compares a sample statistic of N_LARGE points with its exact
value under the spec, within Z_TOL standard errors estimated from the same sample, so a
correct generator fails with negligible probability and a wrong constant fails loudly.
"""

import re

import numpy as np
import pytest
from scipy import integrate, stats

from adesk.datasets import (
    DEGENERATE_DATASETS,
    TOY_DATASETS,
    make_banana,
    make_circles,
    make_cos,
    make_cosine,
    make_funnel,
    make_line,
    make_moons,
    make_multiring,
    make_pinwheel,
    make_ring,
    make_spiral,
    make_swissroll,
    make_toy,
    make_two_spirals,
    make_uniform,
)

N_LARGE = 20_000
Z_TOL = 5.0  # standard errors

PAPER_NAMES = (
    "swissroll",
    "circles",
    "moons",
    "pinwheel",
    "2spirals",
    "line",
    "cos",
    "Banana",
    "Cosine",
    "Funnel",
    "Ring",
    "Multiring",
    "Spiral",
    "Uniform",
)
GENERATORS = {
    "swissroll": make_swissroll,
    "circles": make_circles,
    "moons": make_moons,
    "pinwheel": make_pinwheel,
    "2spirals": make_two_spirals,
    "line": make_line,
    "cos": make_cos,
    "Banana": make_banana,
    "Cosine": make_cosine,
    "Funnel": make_funnel,
    "Ring": make_ring,
    "Multiring": make_multiring,
    "Spiral": make_spiral,
    "Uniform": make_uniform,
}


def assert_mean_close(values, expected, z_tol=Z_TOL):
    """Assert mean(values) == expected within z_tol standard errors of the mean."""
    values = np.asarray(values)
    standard_error = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(values.mean() - expected) <= z_tol * standard_error, (
        f"mean {values.mean():.5f} vs expected {expected:.5f} (SE {standard_error:.5f})"
    )


def assert_variance_close(values, expected_variance):
    """Assert the sample variance matches, using the mean-of-squares standard error."""
    values = np.asarray(values)
    assert_mean_close((values - values.mean()) ** 2, expected_variance)


def assert_complex_mean_close(values, expected):
    """Assert the mean of complex values matches, per real and imaginary part."""
    assert_mean_close(values.real, expected.real)
    assert_mean_close(values.imag, expected.imag)


def radius(X):
    return np.hypot(X[:, 0], X[:, 1])


# ---------------------------------------------------------------- registry and API


def test_registry_names_in_paper_order():
    assert TOY_DATASETS == PAPER_NAMES
    assert DEGENERATE_DATASETS == ("line", "cos")
    assert set(DEGENERATE_DATASETS) <= set(TOY_DATASETS)


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_make_toy_dispatches_to_named_generator(name):
    np.testing.assert_array_equal(
        make_toy(name, n_samples=50, random_state=3),
        GENERATORS[name](n_samples=50, random_state=3),
    )


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_shape_and_dtype(name):
    X = make_toy(name, n_samples=257, random_state=0)
    assert X.shape == (257, 2)
    assert X.dtype == np.float64
    assert np.isfinite(X).all()


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_default_n_samples(name):
    assert make_toy(name, random_state=0).shape == (1000, 2)


@pytest.mark.parametrize("name", PAPER_NAMES)
@pytest.mark.parametrize("n_samples", [1, 2, 3, 4, 5, 6, 7, 11, 101])
def test_exact_row_count_for_small_and_odd_n(name, n_samples):
    X = make_toy(name, n_samples=n_samples, random_state=1)
    assert X.shape == (n_samples, 2)
    assert np.isfinite(X).all()


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_random_state_determinism(name):
    same_a = make_toy(name, n_samples=100, random_state=42)
    same_b = make_toy(name, n_samples=100, random_state=42)
    other = make_toy(name, n_samples=100, random_state=43)
    np.testing.assert_array_equal(same_a, same_b)
    assert not np.array_equal(same_a, other)


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_random_state_instance_is_used_and_advanced(name):
    rng = np.random.RandomState(7)
    first = make_toy(name, n_samples=20, random_state=rng)
    second = make_toy(name, n_samples=20, random_state=rng)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(
        first, make_toy(name, n_samples=20, random_state=np.random.RandomState(7))
    )


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_global_numpy_rng_untouched(name):
    # Reading the legacy global state is the point of this test.
    state_before = np.random.get_state()  # noqa: NPY002
    make_toy(name, n_samples=100, random_state=0)
    make_toy(name, n_samples=100, random_state=np.random.RandomState(0))
    state_after = np.random.get_state()  # noqa: NPY002
    assert state_before[0] == state_after[0]
    np.testing.assert_array_equal(state_before[1], state_after[1])
    assert state_before[2:] == state_after[2:]


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown toy dataset 'donut'") as error:
        make_toy("donut")
    for name in PAPER_NAMES:
        assert name in str(error.value)
    assert "did you mean" not in str(error.value)


@pytest.mark.parametrize(
    "wrong_case, right_name",
    [("ring", "Ring"), ("RING", "Ring"), ("cosine", "Cosine"), ("SwissRoll", "swissroll")],
)
def test_wrong_case_suggests_paper_spelling(wrong_case, right_name):
    with pytest.raises(ValueError, match=f"did you mean '{right_name}'"):
        make_toy(wrong_case)


def test_non_string_name_is_rejected():
    with pytest.raises(ValueError, match="Unknown toy dataset"):
        make_toy(None)


@pytest.mark.parametrize("bad", [0, -3, 2.5, 10.0, "100", None, True])
@pytest.mark.parametrize("name", ["moons", "Ring", "pinwheel"])
def test_invalid_n_samples(name, bad):
    with pytest.raises(ValueError, match=rf"n_samples.*{re.escape(repr(bad))}"):
        make_toy(name, n_samples=bad)


def test_numpy_integer_n_samples_accepted():
    assert make_ring(np.int64(5), random_state=0).shape == (5, 2)


# ---------------------------------------------------------------- FFJORD family


def test_swissroll_scale():
    # t ~ U(1.5 pi, 4.5 pi); E|x|^2 = (E[t^2] + 2 noise variances) / 25.
    X = make_swissroll(N_LARGE, random_state=0)
    low, high = 1.5 * np.pi, 4.5 * np.pi
    mean_t_squared = (high**3 - low**3) / (3 * (high - low))
    assert_mean_close(radius(X) ** 2, (mean_t_squared + 2.0) / 25.0)
    assert radius(X).max() < (high + 6.0) / 5.0


def test_circles_radii_and_halves():
    # Outer radius 3, inner 1.5, noise std 3 * 0.08 = 0.24 per coordinate.
    X = make_circles(N_LARGE, random_state=0)
    noise_var = 0.24**2
    n_outer = N_LARGE // 2
    expected_sq_radius = (n_outer * 9.0 + (N_LARGE - n_outer) * 2.25) / N_LARGE + 2 * noise_var
    assert_mean_close(radius(X) ** 2, expected_sq_radius)
    is_outer = radius(X) > 2.25
    # Halfway between the circles is > 3 noise std from each: ~0.1% misassigned.
    assert abs(is_outer.mean() - 0.5) < 0.01
    # A circle of radius R plus isotropic N(0, s^2) noise has a Rice-distributed radius.
    for on_circle, circle_radius in [(is_outer, 3.0), (~is_outer, 1.5)]:
        rice = stats.rice(b=circle_radius / 0.24, scale=0.24)
        assert_mean_close(radius(X)[on_circle], rice.mean())


def test_circles_odd_n_puts_extra_point_inside():
    X = make_circles(3, random_state=0)
    assert np.sum(radius(X) > 2.25) == 1


def test_moons_range_and_centre():
    X = make_moons(N_LARGE, random_state=0)
    noise = 6 * 0.2  # 6 std of the scaled noise
    assert X[:, 0].min() > -3.0 - noise and X[:, 0].max() < 3.0 + noise
    assert X[:, 1].min() > -1.2 - noise and X[:, 1].max() < 1.8 + noise
    # Noise-free means: x averages cos over the upper and 1 - cos over the lower moon
    # (0.5 in sklearn's frame), y averages 2/pi and 0.5 - 2/pi (0.25); then * 2 + shift.
    assert_mean_close(X[:, 0], 0.0)
    assert_mean_close(X[:, 1], 0.3)


def test_pinwheel_radius_and_arms():
    X = make_pinwheel(N_LARGE, random_state=0)
    # |point|^2 = 4 (r^2 + t^2): E = 4 (1 + 0.3^2 + 0.1^2) = 4.4.
    assert_mean_close(radius(X) ** 2, 4.4)
    # As a complex number the point is z = 2 (r + i t) exp(-i a): five equally populated
    # arms at angles 2 pi k / 5 cancel E[z^k] for k = 1..4 ...
    z = X[:, 0] + 1j * X[:, 1]
    for power in range(1, 5):
        assert_complex_mean_close(z**power, 0.0)

    # ... and E[z^5] = 32 E[(r + i t)^5 exp(-1.25 i exp(r))], where averaging over
    # t ~ N(0, 0.1^2) leaves r^5 - 10 r^3 E[t^2] + 5 r E[t^4].
    def moment(part):
        def integrand(r):
            t_average = r**5 - 10 * r**3 * 0.1**2 + 5 * r * 3 * 0.1**4
            return part(t_average * np.exp(-1.25j * np.exp(r))) * stats.norm.pdf(r, 1.0, 0.3)

        return 32 * integrate.quad(integrand, -1.0, 3.0, limit=200)[0]

    expected_z5 = moment(np.real) + 1j * moment(np.imag)
    assert abs(expected_z5) > 10  # far from zero: the statistic sees the twisted arms
    assert_complex_mean_close(z**5, expected_z5)


def test_two_spirals_symmetry_and_spread():
    X = make_two_spirals(N_LARGE, random_state=0)
    # Arm 2 is arm 1 mirrored through the origin, so the noise-free mean is exactly 0.
    assert_mean_close(X[:, 0], 0.0)
    assert_mean_close(X[:, 1], 0.0)
    # s has density 2 s / (3 pi)^2 on [0, 3 pi]; u1, u2 ~ U(0, 1):
    # E|arm|^2 = E[s^2] + 0.5 E[s sin s - s cos s] + 0.25 * 2 E[u^2].
    s_max = 3 * np.pi

    def expect(function):
        return integrate.quad(lambda s: function(s) * 2 * s / s_max**2, 0, s_max, limit=200)[0]

    mean_arm_sq = (
        expect(lambda s: s**2) + 0.5 * expect(lambda s: s * np.sin(s) - s * np.cos(s)) + 0.5 / 3
    )
    assert_mean_close(radius(X) ** 2, mean_arm_sq / 9 + 2 * 0.1**2)


def test_two_spirals_mean_is_only_noise_for_even_n():
    # The mirrored arms cancel exactly for even n: only the N(0, 0.1^2) noise is left.
    X = make_two_spirals(1000, random_state=0)
    assert abs(X.mean(axis=0)).max() < 5 * 0.1 / np.sqrt(1000)


def test_line_is_exactly_diagonal():
    X = make_line(N_LARGE, random_state=0)
    np.testing.assert_array_equal(X[:, 1], X[:, 0])
    assert X[:, 0].min() >= -2.5 and X[:, 0].max() <= 2.5
    assert_mean_close(X[:, 0], 0.0)
    assert_variance_close(X[:, 0], 5.0**2 / 12)


def test_cos_is_exactly_a_sine_curve():
    X = make_cos(N_LARGE, random_state=0)
    np.testing.assert_array_equal(X[:, 1], 2.5 * np.sin(X[:, 0]))
    assert X[:, 0].min() >= -2.5 and X[:, 0].max() <= 2.5
    assert_variance_close(X[:, 0], 5.0**2 / 12)


# ---------------------------------------------------------------- kernel exp. family


def test_banana_marginal_and_conditional():
    X = make_banana(N_LARGE, random_state=0)
    assert_variance_close(X[:, 0], 4.0)
    residual = X[:, 1] - 0.2 * (X[:, 0] ** 2 - 4.0)
    assert_mean_close(residual, 0.0)
    assert_variance_close(residual, 1.0)
    assert_mean_close(X[:, 1], 0.0)  # E[x0^2] = 4 makes the ridge average zero


def test_cosine_marginal_and_residual():
    X = make_cosine(N_LARGE, random_state=0)
    assert X[:, 0].min() >= -4.0 and X[:, 0].max() <= 4.0
    assert_variance_close(X[:, 0], 8.0**2 / 12)
    residual = X[:, 1] - 3.0 * np.cos(2.0 * X[:, 0])
    assert_mean_close(residual, 0.0)
    assert_variance_close(residual, 1.0)


def test_funnel_marginal_and_conditional_variance():
    X = make_funnel(N_LARGE, random_state=0)
    assert_variance_close(X[:, 0], 4.0)
    conditional_variance = np.clip(np.exp(-X[:, 0]), 0.0, 10.0)
    standardised = X[:, 1] / np.sqrt(conditional_variance)
    assert_mean_close(standardised, 0.0)
    assert_variance_close(standardised, 1.0)


def test_funnel_variance_is_clipped_at_ten():
    X = make_funnel(N_LARGE, random_state=0)
    wide = X[:, 0] < -np.log(10.0)  # where exp(-x0) > 10 and the clip applies
    assert wide.sum() > 1000
    assert_variance_close(X[wide, 1], 10.0)


def test_ring_radius():
    X = make_ring(N_LARGE, random_state=0)
    r = radius(X)
    assert_mean_close(r, 5.0)
    assert_variance_close(r, 0.2**2)
    # Uniform angle: the mean point is the origin.
    assert_mean_close(X[:, 0], 0.0)
    assert_mean_close(X[:, 1], 0.0)


def test_multiring_radius_proportions():
    X = make_multiring(N_LARGE, random_state=0)
    r = radius(X)
    nearest = np.array([1.0, 3.0, 5.0])[np.abs(r[:, None] - [1.0, 3.0, 5.0]).argmin(axis=1)]
    for base, probability in [(1.0, 1 / 9), (3.0, 3 / 9), (5.0, 5 / 9)]:
        on_ring = nearest == base
        standard_error = np.sqrt(probability * (1 - probability) / N_LARGE)
        assert abs(on_ring.mean() - probability) < Z_TOL * standard_error
        assert_mean_close(r[on_ring] - base, 0.0)
        assert_variance_close(r[on_ring] - base, 0.2**2)


def test_spiral_three_arms():
    X = make_spiral(N_LARGE, random_state=0)
    z = X[:, 0] + 1j * X[:, 1]
    # Equal arms starting 2 pi / 3 apart cancel z and z^2; isotropic noise adds nothing
    # to z^3, so E[z^3] = E[(1.5 pi a)^3 exp(3 i pi a)], a ~ U(0, 1).
    assert_complex_mean_close(z, 0.0)
    assert_complex_mean_close(z**2, 0.0)

    def arm_moment(part):
        return integrate.quad(
            lambda a: part((1.5 * np.pi * a) ** 3 * np.exp(3j * np.pi * a)), 0, 1
        )[0]

    expected_z3 = arm_moment(np.real) + 1j * arm_moment(np.imag)
    assert abs(expected_z3) > 10  # far from zero: the statistic sees the three arms
    assert_complex_mean_close(z**3, expected_z3)
    # E|z|^2 = E[r^2] + 2 E[(0.5 a + 0.1)^2].
    expected_sq_radius = (1.5 * np.pi) ** 2 / 3 + 2 * (0.25 / 3 + 0.1 / 2 + 0.01)
    assert_mean_close(radius(X) ** 2, expected_sq_radius)


def test_spiral_rows_are_shuffled():
    # Unshuffled blocks would put arm 0 (angles near 0..pi) first.
    X = make_spiral(3000, random_state=0)
    first_third_angle = np.angle(X[:1000, 0] + 1j * X[:1000, 1])
    assert np.mean(first_third_angle < 0) > 0.2


def test_uniform_bounds_and_moments():
    X = make_uniform(N_LARGE, random_state=0)
    assert X.min() >= -3.0 and X.max() <= 3.0
    for column in X.T:
        assert_mean_close(column, 0.0)
        assert_variance_close(column, 3.0)
    assert_mean_close(X[:, 0] * X[:, 1], 0.0)  # independent coordinates
