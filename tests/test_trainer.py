"""The Trainer: each regularizer hook at its place, the history, schedules, checkpoints,
resuming after an interruption (bit for bit), and errors."""
import os
import signal

import numpy as np
import pytest
import torch
from sklearn.metrics import zero_one_loss

from minireg import functional as F
from minireg import io, losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD, StepDecay
from minireg.regularizers.base import Regularizer, StepContext
from minireg.tensor import Tensor, grad
from minireg.training import (Callback, Checkpoint, EarlyStopping, LearningRateSchedule, TrainingInterrupted,
                              Trainer, zero_one_error)


def make_data(seed=0, n=24, d=3, k=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, k, size=n).astype(np.int64)
    return X, y


def make_mlp(seed=0, d=3, hidden=5, k=3):
    return nn.Sequential(nn.Linear(d, hidden, rng=seed), nn.Tanh(), nn.Linear(hidden, k, rng=seed + 1))


# --------------------------------------------------------------------------------------
# The five places
# --------------------------------------------------------------------------------------


class Recorder(Regularizer):
    """Records when each hook runs and what the world looks like at that moment."""

    def __init__(self, name, events, model, optimizer):
        self.name, self.events, self.model, self.optimizer = name, events, model, optimizer

    def transform_batch(self, x, y, step):
        self.events.append((self.name, "transform_batch"))
        self.before = [p.data.copy() for p in self.model.parameters()]
        return x * 2.0, y

    def penalty(self, step):
        self.events.append((self.name, "penalty"))
        self.inputs, self.outputs = step.inputs, step.outputs
        self.recomputed = step.model.inner(step.inputs).data  # what the model gives on these inputs now
        return None

    def transform_gradients(self, step):
        model = step.model
        self.events.append((self.name, "transform_gradients"))
        assert all(p.grad is not None for p in model.parameters())            # after backward
        for p, old in zip(model.parameters(), self.before):                   # before the update
            np.testing.assert_array_equal(p.data, old)
        self.grads = [p.grad.data.copy() for p in model.parameters()]

    def after_step(self, step):
        model, lr = step.model, step.lr
        self.events.append((self.name, "after_step"))
        assert lr == self.optimizer.lr
        for p, old, g in zip(model.parameters(), self.before, self.grads):    # after the update
            np.testing.assert_allclose(p.data, old - np.float32(lr) * g, rtol=1e-6, atol=1e-7)


class SpyModel(nn.Module):
    def __init__(self, inner, events):
        super().__init__()
        self.inner, self.events, self.seen = inner, events, []

    def forward(self, x):
        self.events.append(("model", "forward"))
        self.seen.append(x.data.copy())
        return self.inner(x)


def test_hooks_run_at_their_places_in_order():
    events = []
    model = SpyModel(make_mlp(), events)
    optimizer = SGD(model.parameters(), lr=0.1)

    def loss_fn(outputs, y):
        events.append(("loss", "loss"))
        return losses.cross_entropy(outputs, y)

    first = Recorder("a", events, model, optimizer)
    second = Recorder("b", events, model, optimizer)
    trainer = Trainer(model, loss_fn, optimizer, regularizers=[first, second])
    X, y = make_data()
    trainer.train_step(X[:4], y[:4])
    assert events == [("a", "transform_batch"), ("b", "transform_batch"), ("model", "forward"),
                      ("loss", "loss"), ("a", "penalty"), ("b", "penalty"),
                      ("a", "transform_gradients"), ("b", "transform_gradients"),
                      ("a", "after_step"), ("b", "after_step")]
    np.testing.assert_array_equal(model.seen[0], X[:4] * 4.0)   # both data-side transforms applied
    np.testing.assert_array_equal(first.inputs.data, X[:4] * 4.0)  # penalties see the batch trained on
    assert first.outputs.requires_grad                              # and the outputs, still in the graph
    np.testing.assert_array_equal(first.outputs.data, first.recomputed)
    assert trainer.step == 1


def test_the_base_regularizer_changes_nothing():
    X, y = make_data()
    results = []
    for regularizers in ([], [Regularizer(), Regularizer()]):
        model = make_mlp()
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.9),
                          regularizers=regularizers)
        trainer.fit(DataLoader(X, y, 5, rng=1), epochs=3)
        results.append(model.state_dict())
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key], results[1][key])
    r = Regularizer()
    x0, y0 = X[:2], y[:2]
    step = StepContext(model, losses.cross_entropy, np.random.default_rng(0), 0, 0, 0.1)
    assert r.transform_batch(x0, y0, step) == (x0, y0)
    assert r.penalty(step) is None


class L2Penalty(Regularizer):
    """½ α Σ‖W‖² over the weights only (Deep Learning eq. 7.2), written for this test."""

    def __init__(self, alpha):
        self.alpha = alpha

    def penalty(self, step):
        return 0.5 * self.alpha * sum(F.sum(w * w) for w in step.model.weights())


class CaptureGradients(Regularizer):
    def transform_gradients(self, step):
        self.grads = {name: p.grad.data.copy() for name, p in step.model.named_parameters()}


def test_penalty_gradient_is_the_closed_form_and_matches_torch():
    X, y = make_data(n=8)
    alpha = 0.3
    model = make_mlp()
    capture = CaptureGradients()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.05),
                      regularizers=[L2Penalty(alpha), capture])
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    data_loss = losses.cross_entropy(model(Tensor(X)), y)
    names = [name for name, _ in model.named_parameters()]
    data_grads = dict(zip(names, grad(data_loss, model.parameters())))
    logs = trainer.train_step(X, y)

    weights = {name for name, _ in model.named_weights()}
    first, second = model[0], model[2]
    assert {id(w) for w in model.weights()} == {id(first.weight), id(second.weight)}   # no biases
    for name in names:
        expected = data_grads[name].data + (alpha * before[name] if name in weights else 0.0)
        np.testing.assert_allclose(capture.grads[name], expected, rtol=1e-5, atol=1e-7)

    # the same objective in PyTorch (which stores weights as (out, in))
    W1 = torch.tensor(before[names[0]].T, requires_grad=True)
    b1 = torch.tensor(before[names[1]], requires_grad=True)
    W2 = torch.tensor(before[names[2]].T, requires_grad=True)
    b2 = torch.tensor(before[names[3]], requires_grad=True)
    hidden = torch.tanh(torch.nn.functional.linear(torch.tensor(X), W1, b1))
    logits = torch.nn.functional.linear(hidden, W2, b2)
    penalty = 0.5 * alpha * (W1.square().sum() + W2.square().sum())
    objective = torch.nn.functional.cross_entropy(logits, torch.tensor(y)) + penalty
    objective.backward()
    assert logs["loss"] == pytest.approx(objective.item(), rel=1e-5)
    assert logs["penalty"] == pytest.approx(penalty.item(), rel=1e-5)
    for name, tensor in zip(names, (W1, b1, W2, b2)):
        torch_grad = tensor.grad.numpy().T if tensor.ndim == 2 else tensor.grad.numpy()
        np.testing.assert_allclose(capture.grads[name], torch_grad, rtol=1e-4, atol=1e-6)


class ClipGlobalNorm(Regularizer):
    """Rescale all gradients so that their joint norm is at most c (a place-4 hook)."""

    def __init__(self, c):
        self.c = c

    def transform_gradients(self, step):
        norm = np.sqrt(sum(float(np.sum(p.grad.data.astype(np.float64) ** 2)) for p in step.model.parameters()))
        if norm > self.c:
            for p in step.model.parameters():
                p.grad.data *= np.float32(self.c / norm)


class MaxNorm(Regularizer):
    """Project every unit's incoming weight vector (a column of W) into the ball of radius c."""

    def __init__(self, c):
        self.c = c

    def after_step(self, step):
        for w in step.model.weights():
            norms = np.sqrt(np.sum(w.data ** 2, axis=0, keepdims=True))
            w.data *= np.minimum(np.float32(1.0), np.float32(self.c) / np.maximum(norms, np.float32(1e-12)))


def test_gradient_side_and_constraint_hooks_match_their_closed_forms():
    X, y = make_data(n=8)
    X = X * 20
    lr, c_grad, c_norm = 0.5, 0.1, 0.4
    model = make_mlp()
    before = [p.data.copy() for p in model.parameters()]
    g = [t.data for t in grad(losses.cross_entropy(model(Tensor(X)), y), model.parameters())]
    norm = np.sqrt(sum(np.sum(a.astype(np.float64) ** 2) for a in g))
    assert norm > c_grad
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=lr),
                      regularizers=[ClipGlobalNorm(c_grad), MaxNorm(c_norm)])
    trainer.train_step(X, y)
    kinds = [p.kind for p in model.parameters()]
    for p, old, gradient, kind in zip(model.parameters(), before, g, kinds):
        expected = old - lr * gradient * (c_grad / norm)
        if kind == "weight":
            expected = expected * np.minimum(1.0, c_norm / np.linalg.norm(expected, axis=0, keepdims=True))
            assert np.all(np.linalg.norm(p.data, axis=0) <= c_norm * (1 + 1e-6))
        np.testing.assert_allclose(p.data, expected, rtol=1e-5, atol=1e-6)
        assert p.data.dtype == np.float32


def test_data_side_randomness_comes_from_the_trainers_generator():
    noise_seen = []

    class InputNoise(Regularizer):
        def transform_batch(self, x, y, step):
            noise = step.rng.normal(size=x.shape).astype(x.dtype)
            noise_seen.append(noise)
            return x + noise, y

    X, y = make_data()
    model = make_mlp()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                      regularizers=[InputNoise()], rng=42)
    trainer.fit(DataLoader(X, y, 8, shuffle=False), epochs=1)
    reference = np.random.default_rng(42)
    for noise in noise_seen:
        np.testing.assert_array_equal(noise, reference.normal(size=noise.shape).astype(np.float32))


# --------------------------------------------------------------------------------------
# History and evaluation
# --------------------------------------------------------------------------------------


class StepLog(Callback):
    def __init__(self):
        self.losses, self.lrs, self.evaluations = [], [], []

    def on_step_end(self, trainer, logs):
        self.losses.append(logs["loss"])
        self.lrs.append(trainer.optimizer.lr)

    def on_evaluate(self, trainer, logs):
        self.evaluations.append((trainer.step, dict(logs)))


def test_history_records_every_metric_where_it_was_measured():
    X, y = make_data(n=30)
    Xv, yv = make_data(seed=1, n=11)
    model = make_mlp()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.5))
    log = StepLog()
    trainer.fit(DataLoader(X, y, 7, rng=0), epochs=3, eval_sets={"val": (Xv, yv), "train": (X, y)},
                eval_every=4, callbacks=[log])
    h = trainer.history
    assert trainer.steps_per_epoch == 5 and trainer.step == 15 and trainer.epoch == 3
    assert set(h.names()) == {"val_loss", "val_error", "train_loss", "train_error", "batch_loss", "lr"}
    assert h.steps("val_loss") == [4, 8, 12]
    np.testing.assert_allclose(h.epochs("val_loss"), [4 / 5, 8 / 5, 12 / 5])
    assert h.steps("batch_loss") == [5, 10, 15] and h.epochs("batch_loss") == [1.0, 2.0, 3.0]
    for epoch in range(3):
        assert h.values("batch_loss")[epoch] == pytest.approx(np.mean(log.losses[5 * epoch:5 * epoch + 5]), rel=1e-12)
    assert [logs["val_loss"] for _, logs in log.evaluations] == h.values("val_loss")
    assert h.values("lr") == [0.1, 0.1, 0.1]

    # a second fit continues the counters; its evaluations come every 4 steps from its start
    trainer.fit(DataLoader(X, y, 7, rng=0), max_steps=24, eval_sets={"val": (Xv, yv)}, eval_every=4)
    assert h.steps("val_loss") == [4, 8, 12, 19, 23]


def test_evaluate_matches_torch_and_sklearn():
    X, y = make_data(n=2500, k=3)
    model = make_mlp()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), eval_batch_size=1000)
    results = trainer.evaluate(X, y)                # three batches, the last one smaller
    outputs = trainer.predict(X)
    expected_loss = torch.nn.functional.cross_entropy(torch.tensor(outputs, dtype=torch.float64), torch.tensor(y))
    assert results["loss"] == pytest.approx(expected_loss.item(), rel=1e-5)
    assert results["error"] == pytest.approx(zero_one_loss(y, outputs.argmax(axis=1)))
    soft = np.eye(3, dtype=np.float32)[y]
    assert zero_one_error(outputs, soft) == results["error"]
    assert model.training                           # evaluate switches back to training mode


def test_learning_rate_schedule_per_step_and_per_epoch():
    X, y = make_data(n=20)                                   # 4 batches of 5 per epoch
    cases = [("step", StepDecay(lr=0.4, step_size=3, gamma=0.5), [0.4 * 0.5 ** (t // 3) for t in range(12)]),
             ("epoch", StepDecay(lr=0.4, step_size=1, gamma=0.5), [0.4 * 0.5 ** (t // 4) for t in range(12)])]
    for per, schedule, expected in cases:
        model = make_mlp()
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=1.0))
        log = StepLog()
        trainer.fit(DataLoader(X, y, 5, rng=0), max_steps=12, callbacks=[LearningRateSchedule(schedule, per=per), log])
        np.testing.assert_allclose(log.lrs, expected, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Checkpoints, interruption, resume
# --------------------------------------------------------------------------------------


class NoisyTanh(nn.Module):
    """A stochastic layer (place 2) with its own generator, as dropout will have."""

    def __init__(self, rng):
        super().__init__()
        self.rng = np.random.default_rng(rng)

    def forward(self, x):
        if self.training:
            x = x + Tensor(self.rng.normal(scale=0.1, size=x.shape).astype(np.float32))
        return F.tanh(x)


class InputNoise(Regularizer):
    def transform_batch(self, x, y, step):
        return x + step.rng.normal(scale=0.05, size=x.shape).astype(np.float32), y


class InterruptAt(Callback):
    """Press Ctrl-C at a given step: send SIGINT to this process."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, logs):
        if trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def build_run(path, init_seed=0, extra=(), every_steps=5, every_epochs=None):
    X, y = make_data(n=26)
    Xv, yv = make_data(seed=5, n=9)
    model = nn.Sequential(nn.Linear(3, 6, rng=init_seed), NoisyTanh(7), nn.Linear(6, 3, rng=init_seed + 1))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.2, momentum=0.9),
                      regularizers=[InputNoise()], rng=3)
    loader = DataLoader(X, y, 4, rng=11)
    stopper = EarlyStopping("val_loss", patience=50)
    callbacks = [stopper, LearningRateSchedule(StepDecay(0.2, 2, 0.7), per="epoch"),
                 Checkpoint(path, every_steps=every_steps, every_epochs=every_epochs), *extra]
    fit_args = dict(epochs=6, eval_sets={"val": (Xv, yv)}, eval_every=3, callbacks=callbacks)
    return trainer, loader, stopper, fit_args


@pytest.mark.parametrize("every_steps, every_epochs, interrupt_at, resumes_at",
                         [(5, None, 13, 10),     # inside an epoch (7 batches per epoch)
                          (None, 1, 30, 28)])    # at an epoch boundary
def test_resume_after_ctrl_c_gives_the_uninterrupted_result(tmp_path, capsys, every_steps, every_epochs,
                                                            interrupt_at, resumes_at):
    reference, loader, reference_stopper, fit_args = build_run(tmp_path / "ref.npz", every_steps=every_steps,
                                                               every_epochs=every_epochs)
    reference.fit(loader, **fit_args)

    path = tmp_path / "run.npz"
    trainer, loader, _, fit_args = build_run(path, extra=[InterruptAt(interrupt_at)], every_steps=every_steps,
                                             every_epochs=every_epochs)
    with pytest.raises(TrainingInterrupted) as interrupted:     # a KeyboardInterrupt
        trainer.fit(loader, **fit_args)
    message = str(interrupted.value)
    assert "resume_from" in message and str(path) in message and f"step {resumes_at}" in message
    assert interrupted.value.checkpoint == str(path) and interrupted.value.step == interrupt_at
    assert capsys.readouterr().err == ""          # one instruction, in the exception, nothing printed

    resumed, loader, resumed_stopper, fit_args = build_run(path, init_seed=99, every_steps=every_steps,
                                                           every_epochs=every_epochs)
    resumed.fit(loader, resume_from=path, **fit_args)

    assert resumed.step == reference.step == 42
    for key, value in reference.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)
    for key, value in reference.optimizer.state_dict().items():
        np.testing.assert_array_equal(np.asarray(resumed.optimizer.state_dict()[key]), np.asarray(value))
    assert resumed.history.to_dict() == reference.history.to_dict()
    assert resumed_stopper.best_step == reference_stopper.best_step
    assert resumed.rng.bit_generator.state == reference.rng.bit_generator.state


def test_an_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    trainer, loader, _, fit_args = build_run(path)
    trainer.fit(loader, **{**fit_args, "epochs": 1})
    saved_step = fit_args["callbacks"][2].last_saved_step
    assert saved_step == 5
    good = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half of a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(io.np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]   # no temporary file left behind
    monkeypatch.undo()
    fresh, loader, _, fit_args = build_run(path)
    fresh.load_checkpoint(path, loader, fit_args["callbacks"])
    assert fresh.step == saved_step


def test_resume_refuses_a_mismatch(tmp_path):
    path = tmp_path / "run.npz"
    trainer, loader, _, fit_args = build_run(path)
    trainer.fit(loader, **{**fit_args, "epochs": 1})
    other, loader, _, fit_args = build_run(path)
    with pytest.raises(ValueError, match="EarlyStopping#0"):
        other.fit(loader, resume_from=path, epochs=2)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        other.fit(loader, resume_from=tmp_path / "missing.npz", epochs=2)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors():
    X, y = make_data()
    model = make_mlp()
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    loader = DataLoader(X, y, 5, rng=0)
    with pytest.raises(ValueError, match="budget"):
        trainer.fit(loader)
    with pytest.raises(ValueError, match="eval_every"):
        trainer.fit(loader, epochs=1, eval_sets={"val": (X, y)})
    with pytest.raises(ValueError, match="eval_every"):
        trainer.fit(loader, epochs=1, eval_sets={"val": (X, y)}, eval_every=0)
    with pytest.raises(TypeError, match="callbacks\\[0\\]"):
        trainer.fit(loader, epochs=1, callbacks=[print])
    with pytest.raises(TypeError, match="regularizers\\[0\\]"):
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), regularizers=[object()])
    with pytest.raises(TypeError, match="rng"):
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), rng="seed")
    exploding = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    with pytest.raises(FloatingPointError, match="learning rate"):
        exploding.train_step(np.full((2, 3), np.nan, dtype=np.float32), y[:2])
