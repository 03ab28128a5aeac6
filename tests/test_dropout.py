"""Dropout: the layer, its masks' statistics, its gradient, PyTorch's semantics, the
three inference rules (with the chapter's exactness result) and an exact resume."""
import itertools

import numpy as np
import pytest
import torch

from minireg import functional as F
from minireg import kernels, losses, nn
from minireg.datasets import DataLoader
from minireg.gradcheck import check_gradients
from minireg.optim import SGD
from minireg.tensor import Tensor
from minireg.training import Checkpoint, Trainer
from minireg.training.checkpoint import module_generators
from stochastic_helpers import assert_mean, assert_proportion


def effective_keep(keep):
    """The kernel keeps with probability round(keep * 2**16) / 2**16 (kernels/dropout.py)."""
    return kernels.dropout_threshold(keep) / 2**16


# --------------------------------------------------------------------------------------
# The masks
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.8])
def test_drop_rate_is_inside_the_binomial_interval(keep):
    layer = nn.Dropout(keep=keep, rng=0)
    y = layer(np.ones((1000, 1000), dtype=np.float32)).data
    assert_proportion(np.count_nonzero(y), y.size, effective_keep(keep), f"kept fraction at keep={keep}")


def test_inverted_scaling_is_unbiased():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200).astype(np.float64)
    layer = nn.Dropout(keep=0.7, rng=2)
    draws = np.stack([layer(x).data for _ in range(4000)])
    assert set(np.unique(np.round(draws / x, 9))) == {0.0, round(1 / 0.7, 9)}   # x * m / keep
    assert_mean(draws, x * effective_keep(0.7) / 0.7, "E[y]")


def test_masks_are_independent_across_units_and_calls():
    layer = nn.Dropout(keep=0.6, rng=3)
    ones = np.ones(1_000_000, dtype=np.float32)
    first, second = layer(ones).data != 0, layer(ones).data != 0
    both = effective_keep(0.6) ** 2
    assert_proportion(np.count_nonzero(first & second), ones.size, both, "kept in two calls")
    for lag in (1, 3, 4, 5):                       # inside one 64-bit word and across words
        pairs = first[:-lag] & first[lag:]
        assert_proportion(np.count_nonzero(pairs), pairs.size, both, f"units {lag} apart both kept")


def test_the_same_seed_gives_the_same_masks():
    x = np.ones((64, 100), dtype=np.float32)
    a, b, c = nn.Dropout(keep=0.5, rng=7), nn.Dropout(keep=0.5, rng=7), nn.Dropout(keep=0.5, rng=8)
    for _ in range(3):
        ya, yb, yc = a(x).data, b(x).data, c(x).data
        np.testing.assert_array_equal(ya, yb)
        assert not np.array_equal(ya, yc)


def test_compiled_kernel_and_twin_give_the_same_layer_output():
    x = np.random.default_rng(0).normal(size=(33, 17)).astype(np.float32)
    compiled = nn.Dropout(keep=0.3, rng=5)(x).data
    previous = kernels.use_compiled(False)
    try:
        twin = nn.Dropout(keep=0.3, rng=5)(x).data
    finally:
        kernels.use_compiled(previous)
    np.testing.assert_array_equal(compiled, twin)


# --------------------------------------------------------------------------------------
# Modes, dtype, gradient
# --------------------------------------------------------------------------------------


def test_float32_stays_float32_and_evaluation_is_the_identity():
    x = Tensor(np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32), requires_grad=True)
    layer = nn.Dropout(keep=0.8, rng=0)
    y = layer(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    layer.eval()
    assert layer(x) is x
    assert nn.Dropout(keep=1.0, rng=0)(x) is x


def test_backward_uses_the_forward_mask_divided_by_keep():
    x = Tensor(np.random.default_rng(0).normal(size=(50, 40)), requires_grad=True)
    y = nn.Dropout(keep=0.4, rng=1)(x)
    r = np.random.default_rng(2).normal(size=y.shape)
    (y * r).sum().backward()
    np.testing.assert_allclose(x.grad.data, r * (y.data != 0) / 0.4, rtol=1e-15)


def test_gradient_check_with_the_mask_held_fixed():
    layer = nn.Dropout(keep=0.5)

    def fixed_mask(x):
        layer.rng = np.random.default_rng(11)       # the same mask at every evaluation
        return F.tanh(layer(x))

    check_gradients(fixed_mask, [np.random.default_rng(0).normal(size=(4, 6))])


def test_eval_stochastic_keeps_dropout_on_and_trainer_predict_draws():
    model = nn.Sequential(nn.Linear(5, 5, rng=0), nn.BatchNorm1d(5), nn.Dropout(keep=0.5, rng=1))
    model.eval(stochastic=True)
    assert model[2].training and not model[1].training
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    X = np.ones((6, 5), dtype=np.float32)
    assert not np.array_equal(trainer.predict(X, stochastic=True), trainer.predict(X, stochastic=True))
    np.testing.assert_array_equal(trainer.predict(X), trainer.predict(X))


def test_agrees_with_torch_dropout_with_p_equal_to_one_minus_keep():
    x = np.random.default_rng(0).normal(size=(200, 500)).astype(np.float32)
    r = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    torch.manual_seed(0)
    theirs = torch.nn.Dropout(p=0.2)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    (yt * torch.tensor(r)).sum().backward()
    ours = nn.Dropout(keep=0.8, rng=0)
    xm = Tensor(x, requires_grad=True)
    ym = ours(xm)
    (ym * r).sum().backward()
    for y, g in ((yt.detach().numpy(), xt.grad.numpy()), (ym.data, xm.grad.data)):
        kept = y != 0
        np.testing.assert_allclose(y[kept], x[kept] / np.float32(0.8), rtol=1e-6)   # x / (1 - p)
        np.testing.assert_allclose(g, r * kept / np.float32(0.8), rtol=1e-6)
        assert_proportion(np.count_nonzero(kept), kept.size, 0.8, "kept fraction")
    theirs.eval(), ours.eval()
    np.testing.assert_array_equal(theirs(torch.tensor(x)).numpy(), ours(x).data)


@pytest.mark.parametrize("call, message", [
    (lambda: nn.Dropout(0.5), "by name"),
    (lambda: nn.Dropout(p=0.5), "1 - p"),
    (lambda: nn.Dropout(), "keep=0.8"),
    (lambda: nn.Dropout(keep=0.0), "Dropout\\(keep=...\\)"),
    (lambda: nn.Dropout(keep=1.5), "Dropout\\(keep=...\\)"),
    (lambda: nn.Dropout(keep=float("nan")), "Dropout\\(keep=...\\)"),
    (lambda: nn.Dropout(keep=1e-7), "2\\*\\*-16"),
])
def test_bad_keep_is_refused_by_name(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()


# --------------------------------------------------------------------------------------
# Inference rules
# --------------------------------------------------------------------------------------


def softmax_regression(n_inputs, n_classes, keep, seed=0):
    return nn.Sequential(nn.Dropout(keep=keep, rng=seed), nn.Linear(n_inputs, n_classes, rng=seed)).to(np.float64)


def every_mask_prediction(model, v, keep):
    """[(probability of mask d, p(y | v; d))] over all 2^n masks d of the input v."""
    linear = model[1]
    out = []
    for bits in itertools.product((0, 1), repeat=v.shape[1]):
        d = np.array(bits, dtype=np.float64)
        logits = (v * d / keep) @ linear.weight.data + linear.bias.data
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        weight = np.prod(np.where(d == 1, keep, 1 - keep))
        out.append((weight, p / p.sum(axis=1, keepdims=True)))
    return out


@pytest.mark.parametrize("keep", [0.5, 0.8])
def test_weight_scaling_is_the_renormalized_geometric_mean_over_all_masks(keep):
    """Deep Learning eq. 7.30 and the derivation after it: for softmax regression the
    (probability-weighted) geometric mean over all 2^n sub-networks, renormalized, is the
    weight-scaled network. keep = 1/2 is the chapter's case: every mask equally likely."""
    model = softmax_regression(8, 4, keep)
    model[1].bias.data[:] = np.random.default_rng(3).normal(size=4)
    v = np.random.default_rng(1).normal(size=(5, 8)) * 2
    members = every_mask_prediction(model, v, keep)
    log_mean = sum(w * np.log(p) for w, p in members)
    geometric = np.exp(log_mean) / np.exp(log_mean).sum(axis=1, keepdims=True)
    scaled = nn.dropout_predict(model, v)
    np.testing.assert_allclose(scaled, geometric, rtol=1e-12)
    arithmetic = sum(w * p for w, p in members)
    assert np.abs(arithmetic - scaled).max() > 1e-3     # the arithmetic mean is another rule


def test_monte_carlo_rules_converge_to_their_exact_means():
    keep, k = 0.5, 4000
    model = softmax_regression(6, 3, keep, seed=4)
    v = np.random.default_rng(5).normal(size=(4, 6)) * 2
    members = every_mask_prediction(model, v, keep)
    arithmetic = sum(w * p for w, p in members)
    mc = nn.dropout_predict(model, v, rule="arithmetic", masks=k)
    assert np.all(np.abs(mc - arithmetic) <= 6 * 0.5 / np.sqrt(k))   # each term is in [0, 1]
    geometric = nn.dropout_predict(model, v, rule="geometric", masks=k)
    np.testing.assert_allclose(geometric, nn.dropout_predict(model, v), atol=0.03)
    np.testing.assert_allclose(mc.sum(axis=1), 1.0)
    np.testing.assert_allclose(geometric.sum(axis=1), 1.0)


def test_k_masks_cost_k_forward_passes_and_modes_are_restored():
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Dropout(keep=0.5, rng=1), nn.Linear(8, 3, rng=2))
    calls = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0].data)))
    X = np.random.default_rng(0).normal(size=(25, 4)).astype(np.float32)
    probabilities = nn.dropout_predict(model, X, rule="geometric", masks=7, batch_size=10)
    assert calls == [10] * 7 + [10] * 7 + [5] * 7 and probabilities.dtype == np.float32
    assert all(module.training for module in model.modules())


@pytest.mark.parametrize("arguments, message", [
    (dict(rule="mean"), "rule must be one of"),
    (dict(rule="arithmetic", masks=0), "masks must be an integer >= 1"),
    (dict(masks=10), "rule='weight_scaling' takes none"),
])
def test_dropout_predict_refuses_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        nn.dropout_predict(softmax_regression(3, 2, 0.5), np.ones((2, 3)), **arguments)


# --------------------------------------------------------------------------------------
# Checkpoints: a resumed run draws the same masks
# --------------------------------------------------------------------------------------


def dropout_run(path, init_seed=0, mask_seed=1):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)).astype(np.float32), rng.integers(0, 3, size=40)
    model = nn.Sequential(nn.Dropout(keep=0.8, rng=mask_seed), nn.Linear(6, 10, rng=init_seed), nn.ReLU(),
                          nn.Dropout(keep=0.5, rng=mask_seed + 1), nn.Linear(10, 3, rng=init_seed + 1))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.9))
    return trainer, DataLoader(X, y, 8, rng=3), [Checkpoint(path, every_epochs=1)]


def test_a_resumed_run_with_dropout_is_identical_bit_for_bit(tmp_path):
    reference, loader, callbacks = dropout_run(tmp_path / "reference.npz")
    reference.fit(loader, epochs=4, callbacks=callbacks)

    first, loader, callbacks = dropout_run(tmp_path / "run.npz")
    first.fit(loader, epochs=2, callbacks=callbacks)
    assert set(module_generators(first.model)) == {"layers.0", "layers.3"}
    resumed, loader, callbacks = dropout_run(tmp_path / "run.npz", init_seed=50, mask_seed=60)
    resumed.fit(loader, epochs=4, callbacks=callbacks, resume_from=tmp_path / "run.npz")

    for key, value in reference.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)
    for i in (0, 3):
        assert resumed.model[i].rng.bit_generator.state == reference.model[i].rng.bit_generator.state
    assert resumed.history.to_dict() == reference.history.to_dict()
