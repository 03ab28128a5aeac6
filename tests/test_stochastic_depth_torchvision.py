"""Our StochasticDepth against torchvision's ``ops.stochastic_depth`` (issue 17: agree with
torchvision in the equivalent mode).

The two forms. torchvision drops a residual branch's output with probability p (its
argument is the *drop* probability) and divides what survives by 1 - p in training; at
test time it returns the branch unchanged (inverted scaling, like inverted dropout):

    torchvision:  x + m f(x) / q  in training,   x + f(x)  at test,   m ~ Bernoulli(q), q = 1 - p.

Ours is the paper's (Huang et al. 2016): no scaling in training, the expected block at
test time:

    ours:         x + m g(x)      in training,   x + q g(x)  at test.

With g = f / q (our body followed by a division by q) the two are the same function in
both modes, given the same draws m. That is what is checked: (a) at test time exactly,
(b) in training with torchvision's draws injected into our layer (read off which rows
torchvision kept), (c) the drop frequencies of both, per row and per batch, against
each other and against p. The draws themselves cannot be shared (torch's generator
against NumPy's).
"""
import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

from minireg import nn
from minireg.nn.module import Module
from stochastic_helpers import Z, assert_proportion


def load_torchvision_stochastic_depth():
    """torchvision's own ``torchvision.ops.stochastic_depth`` function, without running
    ``torchvision/__init__.py``.

    Why: the torchvision wheel on PyPI (0.28.0, in the ``test`` extra) was built against
    another build of torch than our 2.13.0+cpu; ``import torchvision`` loads its compiled
    operators and fails with "operator torchvision::nms does not exist". The function we
    compare with is pure Python (it imports only torch and ``torchvision/utils.py``), so
    this helper finds the installed package without importing it
    (``importlib.util.find_spec`` of a top-level package runs nothing), registers two
    empty packages ``torchvision`` and ``torchvision.ops`` whose ``__path__`` are the
    real directories, and imports ``torchvision.ops.stochastic_depth`` from them. Only
    the two package ``__init__`` files are skipped: everything the module imports is
    torchvision's own code. The entries are removed from ``sys.modules`` afterwards, so
    that no other test sees the stand-in packages.
    """
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('torchvision is not installed; it is in the test extra: pip install -e ".[test]"')
    root = list(spec.submodule_search_locations)[0]
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "torchvision"}
    try:
        for name, path in (("torchvision", root), ("torchvision.ops", f"{root}/ops")):
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
        return importlib.import_module("torchvision.ops.stochastic_depth").stochastic_depth
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        sys.modules.update(saved)


tv_stochastic_depth = load_torchvision_stochastic_depth()


class DividedBy(Module):
    """g(x) = f(x) / q: our body equivalent to torchvision's inverted branch."""

    def __init__(self, body, q):
        super().__init__()
        self.body, self.q = body, q

    def forward(self, x):
        return self.body(x) / self.q


class Draws:
    """Stands for the layer's Generator: ``random()`` returns uniforms that keep exactly
    the rows torchvision kept (0 < q keeps, 1 >= q drops)."""

    def __init__(self, kept):
        self.uniforms = np.where(kept, 0.0, 1.0)

    def random(self, size=None):
        return self.uniforms if size is not None else float(self.uniforms)


def blocks(q, mode, rng=0):
    """(x, f(x), torchvision's block as a function of ``training``, our block)."""
    body = nn.Linear(4, 4, rng=3, dtype=np.float64)
    x = np.random.default_rng(4).normal(size=(64, 4))
    branch = body(x).data

    def theirs(training):
        return x + tv_stochastic_depth(torch.from_numpy(branch), 1 - q, mode, training).numpy()

    return x, branch, theirs, nn.StochasticDepth(DividedBy(body, q), q, mode=mode, rng=rng)


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("q", [0.5, 0.8])
def test_at_test_time_torchvision_returns_the_branch_and_ours_the_same_block(q, mode):
    x, branch, theirs, ours = blocks(q, mode)
    np.testing.assert_array_equal(theirs(training=False), x + branch)           # torchvision: identity
    np.testing.assert_allclose(ours.eval()(x).data, theirs(training=False), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("q", [0.5, 0.8])
def test_in_training_the_same_draws_give_the_same_output(q, mode):
    x, branch, theirs, ours = blocks(q, mode)
    outcomes = set()
    for seed in range(12):
        torch.manual_seed(seed)
        expected = theirs(training=True)
        kept = ~np.all(expected == x, axis=1)                        # the rows whose branch survived
        if mode == "batch":
            assert kept.all() or not kept.any()
            kept = kept[0]
        outcomes.update(np.atleast_1d(kept).tolist())
        ours.rng = Draws(kept)
        np.testing.assert_allclose(ours.train()(x).data, expected, rtol=1e-14, atol=1e-14)
    assert outcomes == {True, False}                                 # kept and dropped branches were both seen


@pytest.mark.parametrize("q", [0.3, 0.8])
def test_drop_frequencies_agree_per_row_and_per_batch(q):
    n_rows, n_batches = 20000, 4000
    torch.manual_seed(0)
    ones = torch.ones((n_rows, 1), dtype=torch.float64)
    tv_rows = np.count_nonzero(tv_stochastic_depth(ones, 1 - q, "row", True).numpy())
    tv_batches = sum(bool(tv_stochastic_depth(ones[:2], 1 - q, "batch", True).any()) for _ in range(n_batches))
    x = np.zeros((n_rows, 1))
    row_block = nn.StochasticDepth(DividedBy(nn.Linear(1, 1, rng=0, dtype=np.float64), q), q, "row", rng=1)
    row_block.body.body.bias.data[...] = 1.0                         # f(0) = 1: a kept row is nonzero
    our_rows = np.count_nonzero(row_block(x).data)
    batch_block = nn.StochasticDepth(row_block.body, q, "batch", rng=2)
    our_batches = sum(bool(batch_block(x[:2]).data.any()) for _ in range(n_batches))
    for kept, trials, what in ((tv_rows, n_rows, "torchvision rows"), (our_rows, n_rows, "our rows"),
                               (tv_batches, n_batches, "torchvision batches"), (our_batches, n_batches, "our batches")):
        assert_proportion(kept, trials, q, what)
    for theirs, ours, trials in ((tv_rows, our_rows, n_rows), (tv_batches, our_batches, n_batches)):
        gap = abs(theirs - ours) / trials                            # two independent samples of one rate
        assert gap <= Z * np.sqrt(2 * q * (1 - q) / trials), (theirs, ours, trials)
