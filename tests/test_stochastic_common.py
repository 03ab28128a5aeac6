"""What every stochastic layer shares: its own generator (found by checkpoints), the same
draws for the same seed, float32 kept float32 in both modes, and eval(stochastic=True)."""
import numpy as np
import pytest

from minireg import nn
from minireg.training.checkpoint import module_generators

IMAGE = np.abs(np.random.default_rng(0).normal(size=(2, 3, 4, 4))).astype(np.float32)
MATRIX = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32)

LAYERS = {
    "Dropout": (lambda seed: nn.Dropout(keep=0.5, rng=seed), MATRIX),
    "FastDropoutLinear": (lambda seed: nn.FastDropoutLinear(8, 5, keep=0.5, rng=seed), MATRIX),
    "DropConnectLinear": (lambda seed: nn.DropConnectLinear(8, 5, keep=0.5, rng=seed), MATRIX),
    "DropConnectLinear sampling": (lambda seed: nn.DropConnectLinear(8, 5, keep=0.5, inference="sampling",
                                                                    activation=nn.ReLU(), rng=seed), MATRIX),
    "GaussianNoise": (lambda seed: nn.GaussianNoise(0.5, rng=seed), MATRIX),
    "WeightNoise": (lambda seed: nn.WeightNoise(nn.Linear(8, 5, rng=0), 0.5, rng=seed), MATRIX),
    "StochasticPool2d": (lambda seed: nn.StochasticPool2d(2, rng=seed), IMAGE),
    "StochasticDepth": (lambda seed: nn.StochasticDepth(nn.Linear(8, 8, rng=0), 0.5, mode="row", rng=seed),
                        MATRIX),
}


@pytest.mark.parametrize("name", LAYERS)
def test_same_seed_same_draws_and_float32_stays_float32(name):
    make, x = LAYERS[name]
    a, b, other = make(7), make(7), make(8)
    assert a.stochastic and set(module_generators(nn.Sequential(a))) == {"layers.0"}
    for _ in range(2):
        ya, yb = a(x).data, b(x).data
        np.testing.assert_array_equal(ya, yb)
        assert ya.dtype == np.float32
    assert not np.array_equal(ya, other(x).data)
    a.eval()
    assert a(x).data.dtype == np.float32
    if name != "DropConnectLinear sampling":       # the one evaluation rule that samples
        np.testing.assert_array_equal(a(x).data, a(x).data)
    a.eval(stochastic=True)
    assert a.training
