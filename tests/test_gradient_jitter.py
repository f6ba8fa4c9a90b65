"""optimizer.gradient_jitter: a rounding-sized, per-update perturbation of chosen gradients."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_doctor.config import parse_config

pytest.importorskip("keras")

from keras import ops  # noqa: E402

from mnist_doctor.train.gradient_jitter import gradient_perturbation  # noqa: E402


def perturbation(**optimizer):
    return gradient_perturbation(parse_config({
        "model": {"layers": [{"type": "dense", "units": 4, "activation": "relu"},
                             {"type": "dropout", "rate": 0.5},
                             {"type": "dense", "units": 10, "activation": "softmax"}]},
        "optimizer": {"name": "adam", **optimizer}, "train": {"steps": 1}}, "g.yaml"))


def grads():
    return [np.ones(shape, np.float32) for shape in ((784, 4), (4,), (4, 10), (10,))]


def test_no_jitter_no_perturbation():
    assert perturbation() is None


@pytest.mark.parametrize(("target", "changed"), [("all", [True, True, True, True]),
                                                 ("kernel", [True, False, True, False]),
                                                 ("bias", [False, True, False, True])])
def test_it_perturbs_the_chosen_gradients_by_at_most_the_jitter(target, changed):
    perturb = perturbation(gradient_jitter=1e-3, gradient_jitter_on=target)
    out = [ops.convert_to_numpy(g) for g in perturb(grads(), ops.convert_to_tensor(5))]
    assert [bool(np.any(o != 1.0)) for o in out] == changed
    assert all(np.all(np.abs(o - 1.0) <= 1e-3 * (1 + 1e-6)) for o in out)


def test_each_update_draws_afresh_and_the_same_update_draws_the_same():
    perturb = perturbation(gradient_jitter=1e-3)
    first, again, later = (ops.convert_to_numpy(perturb(grads(), ops.convert_to_tensor(s))[0])
                           for s in (5, 5, 6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, later)


def test_an_unknown_target_is_a_config_error():
    from mnist_doctor.config.errors import ConfigError

    with pytest.raises(ConfigError, match="optimizer.gradient_jitter_on"):
        perturbation(gradient_jitter=1e-3, gradient_jitter_on="weights")
