"""Penalties (place 3), the gradient side (place 4) and constraints (place 5) against
their closed forms and against PyTorch's optimizers and clipping, step for step."""
import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from minireg import losses, nn  # noqa: E402
from minireg.datasets import DataLoader  # noqa: E402
from minireg.gradcheck import check_gradients  # noqa: E402
from minireg.optim import SGD, Adam  # noqa: E402
from minireg.regularizers import (L1, L2, ClipGradientNorm, DecoupledWeightDecay, MaxNorm,  # noqa: E402
                                  NormBall, ParameterTying, Regularizer)
from minireg.regularizers.base import StepContext  # noqa: E402
from minireg.tensor import Tensor  # noqa: E402
from minireg.training import Trainer  # noqa: E402


def make_data(seed=0, n=40, d=4, k=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n)


def make_mlp(seed=0, d=4, hidden=6, k=3, dtype=np.float64):
    return nn.Sequential(nn.Linear(d, hidden, rng=seed), nn.Tanh(), nn.Linear(hidden, k, rng=seed + 1)).to(dtype)


class TorchMLP(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        first, last = model[0], model[2]
        self.l1 = torch.nn.Linear(first.weight.shape[0], first.weight.shape[1]).double()
        self.l2 = torch.nn.Linear(last.weight.shape[0], last.weight.shape[1]).double()
        with torch.no_grad():
            for mine, theirs in ((first, self.l1), (last, self.l2)):
                theirs.weight.copy_(torch.tensor(mine.weight.data.T))
                theirs.bias.copy_(torch.tensor(mine.bias.data))

    def forward(self, x):
        return self.l2(torch.tanh(self.l1(x)))

    def groups(self, decay):
        return [{"params": [self.l1.weight, self.l2.weight], "weight_decay": decay},
                {"params": [self.l1.bias, self.l2.bias], "weight_decay": 0.0}]


def assert_same_parameters(model, reference, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(model[0].weight.data, reference.l1.weight.detach().numpy().T, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model[0].bias.data, reference.l1.bias.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(model[2].weight.data, reference.l2.weight.detach().numpy().T, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model[2].bias.data, reference.l2.bias.detach().numpy(), rtol=rtol, atol=atol)


def train_side_by_side(model, reference, optimizer, torch_optimizer, regularizers, steps=12, clip=None):
    X, y = make_data()
    trainer = Trainer(model, losses.cross_entropy, optimizer, regularizers=regularizers)
    batches = list(DataLoader(X, y, 10, shuffle=False))
    for step in range(steps):
        x, t = batches[step % len(batches)]
        trainer.train_step(x, t)
        torch_optimizer.zero_grad()
        torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(t)).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(reference.parameters(), clip)
        torch_optimizer.step()
        assert_same_parameters(model, reference)


# --------------------------------------------------------------------------------------
# Against PyTorch, step for step
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_l2_with_sgd_follows_torch_sgd_weight_decay(momentum, nesterov):
    alpha = 0.05
    model = make_mlp()
    reference = TorchMLP(model)
    train_side_by_side(model, reference, SGD(model.parameters(), lr=0.3, momentum=momentum, nesterov=nesterov),
                       torch.optim.SGD(reference.groups(alpha), lr=0.3, momentum=momentum, nesterov=nesterov),
                       [L2(alpha)])


def test_decoupled_weight_decay_with_adam_follows_torch_adamw():
    decay = 0.2
    model = make_mlp()
    reference = TorchMLP(model)
    train_side_by_side(model, reference, Adam(model.parameters(), lr=0.02),
                       torch.optim.AdamW(reference.groups(decay), lr=0.02), [DecoupledWeightDecay(decay)])


def test_gradient_clipping_matches_torch_clip_grad_norm():
    model = make_mlp()
    reference = TorchMLP(model)
    clip = ClipGradientNorm(0.05)
    train_side_by_side(model, reference, SGD(model.parameters(), lr=0.5, momentum=0.5),
                       torch.optim.SGD(reference.parameters(), lr=0.5, momentum=0.5), [clip], clip=0.05)
    assert clip.last_norm > 0.05                        # the bound was active


# --------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------


def step_of(model):
    return StepContext(model, losses.cross_entropy, np.random.default_rng(0), 0, 0, 0.1)


def attached(regularizer, model):
    regularizer.attach(model)
    return regularizer


def test_l2_towards_a_reference_point_has_the_closed_form_gradient_and_skips_biases():
    model, pretrained = make_mlp(), make_mlp(seed=5)
    l2 = attached(L2(0.3, reference=pretrained, params={"layers.0": 1.0, "layers.2": 2.0}), model)
    value = l2.penalty(step_of(model))
    w1, w2 = model[0].weight.data, model[2].weight.data
    r1, r2 = pretrained[0].weight.data, pretrained[2].weight.data
    assert value.item() == pytest.approx(0.15 * np.sum((w1 - r1) ** 2) + 0.3 * np.sum((w2 - r2) ** 2), rel=1e-12)
    value.backward()
    np.testing.assert_allclose(model[0].weight.grad.data, 0.3 * (w1 - r1), rtol=1e-12)
    np.testing.assert_allclose(model[2].weight.grad.data, 0.6 * (w2 - r2), rtol=1e-12)
    assert model[0].bias.grad is None and model[2].bias.grad is None
    pretrained[0].weight.data[...] = 0                # the point was copied when attached
    assert l2.penalty(step_of(model)).item() == pytest.approx(value.item(), rel=1e-12)


def test_l1_gradient_is_alpha_sign_with_zero_at_zero_and_passes_finite_differences():
    model = make_mlp()
    model[0].weight.data[0, :3] = 0.0
    l1 = attached(L1(0.7), model)
    value = l1.penalty(step_of(model))
    assert value.item() == pytest.approx(0.7 * sum(np.abs(w.data).sum() for w in model.weights()), rel=1e-12)
    value.backward()
    for w in model.weights():
        np.testing.assert_array_equal(w.grad.data, 0.7 * np.sign(w.data))
    assert np.all(model[0].weight.grad.data[0, :3] == 0)
    w = Tensor(np.random.default_rng(1).normal(size=(3, 2)) + 0.5, requires_grad=True)
    holder = nn.Linear(3, 2).to(np.float64)
    holder.weight = nn.Parameter(w.data)
    l1 = attached(L1(0.7), holder)
    check_gradients(lambda _: l1.penalty(step_of(holder)), [holder.weight])


def test_parameter_tying_pulls_both_members_together():
    a, b = make_mlp(), make_mlp(seed=3)
    tying = ParameterTying.between(0.4, a, b)
    tying.attach(a)
    value = tying.penalty(step_of(a))
    expected = 0.4 * sum(np.sum((wa.data - wb.data) ** 2) for wa, wb in zip(a.weights(), b.weights()))
    assert value.item() == pytest.approx(expected, rel=1e-12)
    value.backward()
    for wa, wb in zip(a.weights(), b.weights()):
        np.testing.assert_allclose(wa.grad.data, 0.8 * (wa.data - wb.data), rtol=1e-12)
        np.testing.assert_allclose(wb.grad.data, -0.8 * (wa.data - wb.data), rtol=1e-12)
    with pytest.raises(ValueError, match=r"pairs\[0\]\[0\] is not a parameter of the trained model"):
        ParameterTying.between(0.4, b, a).attach(a)


class Peek(Regularizer):
    """Records a weight after the optimizer's update and before the constraint."""

    def __init__(self, weight):
        self.weight = weight

    def after_step(self, step):
        self.raw = self.weight.data.copy()


@pytest.mark.parametrize("conv", [False, True])
def test_max_norm_keeps_every_units_incoming_norm_at_most_c(conv):
    c = 0.8
    rng = np.random.default_rng(0)
    if conv:   # weight (in, out, kh, kw): unit o's incoming vector is the filter [:, o]
        model, axes = nn.Sequential(nn.Conv2d(3, 4, 2, rng=0), nn.Flatten()), (0, 2, 3)
        X = rng.normal(size=(30, 3, 2, 2)).astype(np.float32)
    else:      # weight (in, out): unit j's incoming vector is the column [:, j]
        model, axes = nn.Sequential(nn.Linear(5, 4, rng=0)), (0,)
        X = rng.normal(size=(30, 5)).astype(np.float32)
    y = rng.integers(0, 4, size=30)
    weight = model[0].weight
    weight.data[:, 0] *= 0.01                         # one unit well inside the ball
    peek = Peek(weight)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.3 if conv else 3.0), regularizers=[peek, MaxNorm(c)])
    projected, left = 0, 0
    for x, t in DataLoader(X, y, 5, shuffle=False):
        trainer.train_step(x, t)
        norms = np.sqrt(np.sum(weight.data.astype(np.float64) ** 2, axis=axes))
        assert np.all(norms <= c * (1 + 1e-6)), norms
        raw_norms = np.sqrt(np.sum(peek.raw.astype(np.float64) ** 2, axis=axes, keepdims=True))
        projected, left = projected + np.sum(raw_norms > c), left + np.sum(raw_norms < c)
        np.testing.assert_allclose(weight.data, peek.raw * np.minimum(1.0, c / raw_norms), rtol=1e-5, atol=1e-7)
        assert weight.data.dtype == np.float32
    assert projected > 0 and left > 0                 # both cases happened


def test_norm_ball_projects_the_whole_parameter():
    model = make_mlp()
    model[0].weight.data *= 10
    ball = attached(NormBall(1.5), model)
    big = model[0].weight.data.copy()
    small = model[2].weight.data * 0 + 0.01
    model[2].weight.data[...] = small
    ball.after_step(step_of(model))
    np.testing.assert_allclose(model[0].weight.data, big * 1.5 / np.linalg.norm(big), rtol=1e-12)
    np.testing.assert_array_equal(model[2].weight.data, small)


def test_float32_models_stay_float32_through_every_regularizer():
    X, y = make_data()
    model = make_mlp(dtype=np.float32)
    regularizers = [L2(1e-3), L1(1e-3), DecoupledWeightDecay(1e-2), ClipGradientNorm(1.0), MaxNorm(2.0),
                    NormBall(10.0), L2(1e-3, reference={n: p.data * 0 for n, p in model.named_weights()})]
    trainer = Trainer(model, losses.cross_entropy, Adam(model.parameters(), lr=1e-2), regularizers=regularizers)
    trainer.train_step(X.astype(np.float32), y)
    assert all(p.data.dtype == np.float32 and p.grad.data.dtype == np.float32 for p in model.parameters())


# --------------------------------------------------------------------------------------
# Bad arguments
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda: L2(-1.0), r"alpha must be a finite number in \[0.0, inf\)"),
    (lambda: L2(float("nan")), "alpha must be a finite number"),
    (lambda: L1(True), "alpha must be a finite number"),
    (lambda: L2(0.1, reference=[1, 2]), "reference must be None, a Module or a dict"),
    (lambda: DecoupledWeightDecay(-0.1), "weight_decay must be"),
    (lambda: ClipGradientNorm(0.0), r"max_norm must be a finite number in \(0.0, inf\)"),
    (lambda: MaxNorm(-2.0), "max_norm must be"),
    (lambda: NormBall(float("inf")), "radius must be"),
    (lambda: ParameterTying(0.1, []), "pairs must hold at least one"),
])
def test_bad_arguments_are_refused_when_built(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_bad_choices_are_refused_when_attached():
    model = make_mlp()
    with pytest.raises(ValueError, match="reference has no parameter 'layers.0.weight'"):
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), regularizers=[L2(0.1, reference={})])
    with pytest.raises(ValueError, match=r"reference\['layers.0.weight'\] has shape \(2, 2\)"):
        L2(0.1, reference={"layers.0.weight": np.zeros((2, 2)), "layers.2.weight": np.zeros((6, 3))}).attach(model)
    with pytest.raises(ValueError, match="MaxNorm constrains dense or conv weights"):
        MaxNorm(1.0, params=[model[0].bias]).attach(model)
    with pytest.raises(ValueError, match="coefficient of 'layers.0.weight' must be > 0"):
        MaxNorm(1.0, params={"layers.0": 0.0}).attach(model)
