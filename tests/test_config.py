"""Global settings and the torch thread policy of adesk's public calls."""

import pytest
import torch

import adesk
from adesk._config import effective_threads
from adesk.datasets import make_toy

from ._configs import fast_ade


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    adesk.set_config(n_threads=None)


def _threads_seen_during_fit(**config):
    seen = []

    def record(estimator, iteration, logs):
        seen.append(torch.get_num_threads())

    with adesk.config_context(**config):
        fast_ade(max_iter=2, callbacks=[record]).fit(make_toy("moons", 100, random_state=0))
    return seen


def test_fit_uses_the_configured_threads_and_restores_them(restore_threads):
    torch.set_num_threads(2)
    assert _threads_seen_during_fit(n_threads=1) == [1, 1]
    assert torch.get_num_threads() == 2
    # -1 leaves torch's own setting alone.
    assert _threads_seen_during_fit(n_threads=-1) == [2, 2]


def test_default_policy_is_half_the_cores_capped_by_torch(restore_threads, monkeypatch):
    monkeypatch.setattr("adesk._config._available_cores", lambda: 8)
    torch.set_num_threads(16)
    assert effective_threads() == 4
    torch.set_num_threads(2)
    assert effective_threads() == 2
    monkeypatch.setattr("adesk._config._available_cores", lambda: 1)
    assert effective_threads() == 1


def test_threads_restored_after_an_error(restore_threads):
    torch.set_num_threads(2)
    est = fast_ade(max_iter=1)
    with adesk.config_context(n_threads=1), pytest.raises(ValueError):
        est.fit([[float("nan"), 0.0]] * 10)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("value", [0, -2, 1.5, "two", True])
def test_invalid_n_threads_names_the_setting(value):
    with pytest.raises(ValueError, match="n_threads must be None"):
        adesk.set_config(n_threads=value)
    assert adesk.get_config() == {"n_threads": None}


def test_config_context_restores_the_previous_value():
    with adesk.config_context(n_threads=3):
        assert adesk.get_config()["n_threads"] == 3
        with adesk.config_context(n_threads=1):
            assert adesk.get_config()["n_threads"] == 1
        assert adesk.get_config()["n_threads"] == 3
    assert adesk.get_config()["n_threads"] is None
