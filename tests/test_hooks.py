"""The hook protocol (regularizers/base.py) as the regularizers to come will use it.

Each test writes the small regularizer that needs one part of the protocol -- inputs
that require gradients, the targets and the loss at the penalty, the model at the
penalty (adversarial training), a state kept across a resume, a per-epoch action, a
choice of parameters -- and checks it against a closed form or PyTorch.
"""
import json
import math

import numpy as np
import pytest
import torch

from minireg import functional as F
from minireg import io, losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.regularizers import AdversarialTraining
from minireg.regularizers.base import Regularizer, StepContext, select_parameters
from minireg.tensor import Tensor, grad
from minireg.training import Callback, Checkpoint, Trainer, TrainingInterrupted


def make_data(seed=0, n=24, d=3, k=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float64)
    y = rng.integers(0, k, size=n).astype(np.int64)
    return X, y


def make_mlp(seed=0, d=3, hidden=5, k=3, dtype=np.float64):
    return nn.Sequential(nn.Linear(d, hidden, rng=seed), nn.Tanh(),
                         nn.Linear(hidden, k, rng=seed + 1)).to(dtype)


def torch_mlp(model):
    """The same MLP's parameters as float64 torch leaves (torch stores weights (out, in))."""
    return [torch.tensor(p.data.T if p.ndim == 2 else p.data, requires_grad=True) for p in model.parameters()]


def torch_forward(params, x):
    W1, b1, W2, b2 = params
    return torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(x, W1, b1)), W2, b2)


class CaptureGradients(Regularizer):
    def transform_gradients(self, step):
        self.grads = [p.grad.data.copy() for p in step.model.parameters()]


def assert_gradients_match(captured, torch_params):
    for mine, theirs in zip(captured, torch_params):
        expected = theirs.grad.numpy()
        np.testing.assert_allclose(mine, expected.T if expected.ndim == 2 else expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------
# Inputs that require gradients, targets and the loss at the penalty
# --------------------------------------------------------------------------------------


class InputGradientPenalty(Regularizer):
    """ν E‖∇ₓ J‖², by double backpropagation (the input-gradient term of Deep Learning
    eq. 7.17 with the loss in place of the output), written for this test."""

    needs_input_grad = True

    def __init__(self, nu):
        self.nu = nu

    def penalty(self, step):
        g, = grad(step.data_loss, [step.inputs], create_graph=True)
        return self.nu * (g * g).sum() / len(step.inputs.data)


class SeeInputs(Regularizer):
    def penalty(self, step):
        self.requires_grad = step.inputs.requires_grad


def test_inputs_require_gradients_when_and_only_when_a_regularizer_asks():
    X, y = make_data()
    for asking, expected in (([], False), ([InputGradientPenalty(0.1)], True)):
        seen = SeeInputs()
        model = make_mlp()
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                regularizers=[seen, *asking]).train_step(X, y)
        assert seen.requires_grad is expected


def test_the_input_gradient_penalty_by_double_backprop_matches_torch():
    X, y = make_data(n=8)
    nu = 0.7
    model = make_mlp()
    params = torch_mlp(model)
    capture = CaptureGradients()
    logs = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                   regularizers=[InputGradientPenalty(nu), capture]).train_step(X, y)

    x = torch.tensor(X, requires_grad=True)
    data_loss = torch.nn.functional.cross_entropy(torch_forward(params, x), torch.tensor(y))
    gx, = torch.autograd.grad(data_loss, x, create_graph=True)
    objective = data_loss + nu * gx.square().sum() / len(X)
    objective.backward()
    assert logs["loss"] == pytest.approx(objective.item(), rel=1e-12)
    assert_gradients_match(capture.grads, params)


def test_adversarial_training_as_a_penalty_is_the_mixed_objective_of_torch():
    X, y = make_data(n=10)
    epsilon, alpha = 0.25, 0.3
    model = make_mlp()
    params = torch_mlp(model)
    capture = CaptureGradients()
    logs = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                   regularizers=[AdversarialTraining(epsilon, alpha, clip=None), capture]).train_step(X, y)

    x, target = torch.tensor(X, requires_grad=True), torch.tensor(y)
    clean = torch.nn.functional.cross_entropy(torch_forward(params, x), target)
    gx, = torch.autograd.grad(clean, x, retain_graph=True)
    x_adv = (x + epsilon * gx.sign()).detach()
    objective = alpha * clean + (1 - alpha) * torch.nn.functional.cross_entropy(torch_forward(params, x_adv), target)
    objective.backward()
    assert logs["loss"] == pytest.approx(objective.item(), rel=1e-12)
    assert_gradients_match(capture.grads, params)


# --------------------------------------------------------------------------------------
# The step and the epoch, per-epoch actions, non-finite objectives
# --------------------------------------------------------------------------------------


class Clock(Regularizer):
    def __init__(self):
        self.seen = []

    def transform_batch(self, x, y, step):
        self.seen.append(("batch", step.step, step.epoch))
        return x, y

    def after_step(self, step):
        self.seen.append(("after_step", step.step, step.epoch))

    def after_epoch(self, step):
        self.seen.append(("after_epoch", step.step, step.epoch))


def test_hooks_know_the_step_and_the_epoch():
    X, y = make_data(n=9)
    clock = Clock()
    model = make_mlp()
    Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
            regularizers=[clock]).fit(DataLoader(X, y, 3, rng=0), epochs=2)
    expected = []
    for epoch in range(2):
        for batch in range(3):
            expected += [("batch", 3 * epoch + batch, epoch), ("after_step", 3 * epoch + batch, epoch)]
        expected.append(("after_epoch", 3 * epoch + 3, epoch + 1))
    assert clock.seen == expected


class ZeroTheLastLayerEachEpoch(Regularizer):
    """A per-epoch action whose effect is plain to see: uniform predictions."""

    def after_epoch(self, step):
        self.lrs = getattr(self, "lrs", []) + [step.lr]
        last = step.model[2]
        last.weight.data[...] = 0
        last.bias.data[...] = 0


def test_the_per_epoch_action_comes_after_the_last_step_and_before_evaluation():
    X, y = make_data(n=12)
    Xv, yv = make_data(seed=1, n=7)
    model = make_mlp()
    action = ZeroTheLastLayerEachEpoch()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.3), regularizers=[action])
    trainer.fit(DataLoader(X, y, 4, rng=0), epochs=3, eval_sets={"val": (Xv, yv)}, eval_every="epoch")
    np.testing.assert_allclose(trainer.history.values("val_loss"), [math.log(3)] * 3, rtol=1e-12)
    assert action.lrs == [0.3] * 3


class NaNPenalty(Regularizer):
    def __init__(self, at):
        self.at, self.after_steps = at, 0

    def penalty(self, step):
        w = step.model.weights()[0]
        return (w * 0).sum() + (np.nan if step.step == self.at else 0.0)

    def after_step(self, step):
        self.after_steps += 1


def test_a_non_finite_objective_stops_before_the_update_and_the_prox():
    X, y = make_data(n=12)
    model = make_mlp()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    nan = NaNPenalty(at=2)
    trainer = Trainer(model, losses.cross_entropy, optimizer, regularizers=[nan])
    trainer.train_step(X[:4], y[:4])
    trainer.train_step(X[4:8], y[4:8])
    parameters = {k: v.copy() for k, v in model.state_dict().items()}
    momentum = {k: np.array(v, copy=True) for k, v in optimizer.state_dict().items()}
    with pytest.raises(FloatingPointError, match="at step 3.*not updated"):
        trainer.train_step(X[8:], y[8:])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, parameters[key])
    for key, value in optimizer.state_dict().items():
        np.testing.assert_array_equal(value, momentum[key])
    assert nan.after_steps == 2 and trainer.step == 2


# --------------------------------------------------------------------------------------
# State kept across an interruption
# --------------------------------------------------------------------------------------


class AnnealedInputNoise(Regularizer):
    """Input noise whose scale is annealed by a step counter, with its own generator and a
    per-epoch shrink: three kinds of state that a resume must restore."""

    def __init__(self, scale, seed):
        self.scale, self.count, self.shrinks = scale, 0, 0
        self.rng = np.random.default_rng(seed)

    def transform_batch(self, x, y, step):
        sigma = self.scale * 0.9 ** self.count
        self.count += 1
        return x + self.rng.normal(scale=sigma, size=x.shape), y

    def after_epoch(self, step):
        self.shrinks += 1
        for w in step.model.weights():
            w.data *= 1 - 0.01 * self.shrinks

    def state_dict(self):
        return {"count": self.count, "shrinks": self.shrinks,
                "rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state):
        self.count = int(state["count"])
        self.shrinks = int(state["shrinks"])
        self.rng.bit_generator.state = json.loads(str(state["rng"]))


class InterruptAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, logs):
        if trainer.step == self.step:
            raise KeyboardInterrupt


def stateful_run(path, extra=(), seed=0):
    X, y = make_data(n=20)
    model = make_mlp(seed=seed)
    noise = AnnealedInputNoise(0.5, seed=4)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.2, momentum=0.9),
                      regularizers=[noise], rng=5)
    callbacks = [Checkpoint(path, every_steps=3), *extra]
    return trainer, noise, DataLoader(X, y, 6, rng=2), callbacks


def test_a_stateful_regularizer_resumes_bit_identically(tmp_path):
    reference, reference_noise, loader, callbacks = stateful_run(tmp_path / "ref.npz")
    reference.fit(loader, epochs=5, callbacks=callbacks)

    path = tmp_path / "run.npz"
    trainer, _, loader, callbacks = stateful_run(path, extra=[InterruptAt(11)])
    with pytest.raises(TrainingInterrupted) as interrupted:
        trainer.fit(loader, epochs=5, callbacks=callbacks)
    assert interrupted.value.checkpoint == str(path) and "step 9" in str(interrupted.value)

    resumed, resumed_noise, loader, callbacks = stateful_run(path, seed=7)   # other initial weights
    resumed.fit(loader, epochs=5, callbacks=callbacks, resume_from=path)
    assert resumed.step == reference.step == 20
    for key, value in reference.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)
    assert resumed_noise.state_dict() == reference_noise.state_dict()

    model = make_mlp()                               # a trainer without the regularizer is refused
    without = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="AnnealedInputNoise#0"):
        without.fit(loader, epochs=6, resume_from=path)


# --------------------------------------------------------------------------------------
# Which parameters a regularizer touches
# --------------------------------------------------------------------------------------


def test_parameters_are_the_weights_by_default_a_list_or_a_coefficient_per_layer():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2, rng=1))
    names = lambda selection: [(name, c) for name, _, c in selection]   # noqa: E731
    assert names(select_parameters(model)) == [("layers.0.weight", 1.0), ("layers.3.weight", 1.0)]
    assert names(select_parameters(model, [model[3].bias, model[0].weight])) == [("layers.0.weight", 1.0), ("layers.3.bias", 1.0)]
    assert names(select_parameters(model, {"layers.3": 0.5, "layers.0.weight": 2, "layers.1.scale": 0.0})) == \
        [("layers.0.weight", 2.0), ("layers.1.scale", 0.0), ("layers.3.weight", 0.5)]
    with pytest.raises(ValueError, match=r"'7' is neither.*modules: \['layers.0', 'layers.1', ") as error:
        select_parameters(model, {"7": 1.0})
    assert "parameters: ['layers.0.weight'" in str(error.value)
    with pytest.raises(ValueError, match="the module 'layers.2' has no weights"):
        select_parameters(model, {"layers.2": 1.0})
    with pytest.raises(ValueError, match=r"params\['layers.0'\] must be a finite number in \[0.0, inf\)"):
        select_parameters(model, {"layers.0": -1e-4})
    with pytest.raises(ValueError, match="finite"):
        select_parameters(model, {"layers.0": float("nan")})
    with pytest.raises(ValueError, match="named twice"):
        select_parameters(model, {"layers.0": 1.0, "layers.0.weight": 2.0})
    with pytest.raises(ValueError, match=r"params\[0\] is not a parameter of this model"):
        select_parameters(model, [nn.Linear(3, 4).weight])
    with pytest.raises(TypeError, match="a list of the model's parameters"):
        select_parameters(model, "0.weight")


class LayerL2(Regularizer):
    """½ Σ_l α_l ‖W_l‖², one α per layer (Deep Learning 7.2), written for this test."""

    def __init__(self, params=None):
        self.params = params

    def penalty(self, step):
        return sum(0.5 * alpha * (w * w).sum() for _, w, alpha in self.selected)


def test_a_coefficient_per_layer_reaches_the_gradient():
    X, y = make_data(n=6)
    model = make_mlp()
    before = [p.data.copy() for p in model.parameters()]
    data_grads = [g.data for g in grad(losses.cross_entropy(model(Tensor(X)), y), model.parameters())]
    capture = CaptureGradients()
    Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
            regularizers=[LayerL2({"layers.0": 0.1, "layers.2": 0.7}), capture]).train_step(X, y)
    for got, data_grad, old, alpha in zip(capture.grads, data_grads, before, (0.1, 0.0, 0.7, 0.0)):
        np.testing.assert_allclose(got, data_grad + alpha * old, rtol=1e-12)


def test_a_bad_choice_of_parameters_is_refused_when_the_trainer_is_built():
    model = make_mlp()
    with pytest.raises(ValueError, match="'hidden' is neither a module nor a parameter"):
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), regularizers=[LayerL2({"hidden": 1.0})])


def test_an_optimizer_of_another_model_is_refused():
    model, other = make_mlp(), make_mlp()
    with pytest.raises(ValueError, match="not this model's"):
        Trainer(model, losses.cross_entropy, SGD(other.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="optimizer must be a minireg optimizer"):
        Trainer(model, losses.cross_entropy, object())


# --------------------------------------------------------------------------------------
# Monte-Carlo prediction: only the stochastic layers switched on
# --------------------------------------------------------------------------------------


class Noise(nn.Module):
    stochastic = True

    def __init__(self, seed):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        if self.training:
            return x + Tensor(self.rng.normal(size=x.shape))
        return x


class ModeSpy(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.modes = inner, []

    def forward(self, x):
        self.modes.append((self.training, self.inner.training))
        return self.inner(x)


def test_a_stochastic_prediction_switches_on_the_stochastic_layers_only():
    X, y = make_data(n=10)
    noise = Noise(0)
    spy = ModeSpy(nn.BatchNorm1d(5))
    model = nn.Sequential(nn.Linear(3, 5, rng=0), spy, noise, nn.Linear(5, 3, rng=1)).to(np.float64)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    trainer.train_step(X, y)                                 # some running statistics
    deterministic = trainer.predict(X)
    first, second = trainer.predict(X, stochastic=True), trainer.predict(X, stochastic=True)
    assert not np.array_equal(first, second)                 # new noise each call
    assert spy.modes[-1] == (False, False)                   # batch norm stayed in evaluation mode
    np.testing.assert_array_equal(trainer.predict(X), deterministic)
    assert all(m.training for m in model.modules())          # the modes are put back
    model.eval(stochastic=True)
    assert [m.training for m in model.modules()] == [False, False, False, False, True, False]


# --------------------------------------------------------------------------------------
# Loaders that break their length; checkpoints that do not fit
# --------------------------------------------------------------------------------------


class OnePassLoader:
    """A loader whose len() is 2 but which yields its batches only once (a generator)."""

    def __init__(self, X, y, yield_per_pass=(2,)):
        self.X, self.y, self.passes = X, y, list(yield_per_pass)

    def __len__(self):
        return 2

    def __iter__(self):
        count = self.passes.pop(0) if self.passes else 0
        return iter([(self.X[i::2], self.y[i::2]) for i in range(count)])


def test_a_pass_that_yields_no_batch_is_an_error_not_an_epoch():
    X, y = make_data(n=8)
    model = make_mlp()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="yielded only 0 batches in epoch 2, but len.*is 2"):
        trainer.fit(OnePassLoader(X, y), max_steps=10)      # used to loop forever
    assert trainer.step == 2 and trainer.epoch == 1
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="yielded only 1 batches in epoch 2"):
        trainer.fit(OnePassLoader(X, y, (2, 1, 2)), epochs=5)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="yielded more than 2 batches in epoch 1"):
        trainer.fit(OnePassLoader(X, y, (3,)), epochs=1)


def test_a_checkpoint_that_does_not_fit_leaves_the_trainer_as_it_was(tmp_path):
    path = tmp_path / "run.npz"
    X, y = make_data(n=12)
    model = make_mlp()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.9))
    trainer.fit(DataLoader(X, y, 4, rng=0), epochs=1, callbacks=[Checkpoint(path, every_steps=1)])

    wider = make_mlp(hidden=6)                       # a parameter of another shape
    other = Trainer(wider, losses.cross_entropy, SGD(wider.parameters(), lr=0.1, momentum=0.9))
    other.fit(DataLoader(X, y, 4, rng=0), max_steps=2)
    before = {k: v.copy() for k, v in wider.state_dict().items()}
    momentum = {k: np.array(v, copy=True) for k, v in other.optimizer.state_dict().items()}
    with pytest.raises(ValueError):
        other.load_checkpoint(path, DataLoader(X, y, 4, rng=0))
    assert other.step == 2 and other.epoch == 0
    for key, value in wider.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    for key, value in other.optimizer.state_dict().items():
        np.testing.assert_array_equal(value, momentum[key])

    fresh_model = make_mlp(seed=3)
    fresh = Trainer(fresh_model, losses.cross_entropy, SGD(fresh_model.parameters(), lr=0.1, momentum=0.9))
    before = {k: v.copy() for k, v in fresh_model.state_dict().items()}
    with pytest.raises(ValueError, match="3 batches into an epoch, but the loader has only 2"):
        fresh.load_checkpoint(path, DataLoader(X[:8], y[:8], 4, rng=0))
    assert fresh.step == 0
    for key, value in fresh_model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])

    arrays = io.load_npz(path)
    counters = json.loads(str(arrays["trainer"]))
    counters["step"] = -3
    arrays["trainer"] = np.array(json.dumps(counters))
    bad = tmp_path / "negative.npz"
    io.save_npz_atomic(bad, **arrays)
    with pytest.raises(ValueError, match="its step is -3, not an integer >= 0"):
        trainer.load_checkpoint(bad)
