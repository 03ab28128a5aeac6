"""Multi-task learning (T5, Deep Learning 7.12, published 7.7): MultiTask, MultiTaskLoss, task_error."""
import numpy as np
import pytest

from minireg import losses, nn
from minireg.gradcheck import numerical_gradient
from minireg.optim import SGD
from minireg.tensor import Tensor, grad
from minireg.training import Trainer
from minireg.training.multitask import MISSING, MultiTask, MultiTaskLoss, task_error


def _model(dtype=np.float64):
    trunk = nn.Sequential(nn.Linear(5, 6, rng=0, dtype=dtype), nn.Tanh())
    return MultiTask(trunk, {"digit": nn.Linear(6, 4, rng=1, dtype=dtype), "parity": nn.Linear(6, 2, rng=2, dtype=dtype)})


def _batch(dtype=np.float64):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 5)).astype(dtype)
    y = np.stack([rng.integers(0, 4, size=8), rng.integers(0, 2, size=8)], axis=1)
    y[::2, 0] = MISSING       # the digit task has labels on half the examples
    y[1, 1] = MISSING
    return x, y


def _gradients(model, loss):
    return [g.data for g in grad(loss, model.parameters(), allow_unused=True)]


def test_the_output_holds_each_head_s_outputs_in_its_columns():
    model = _model()
    x, _ = _batch()
    out = model(Tensor(x)).data
    shared = model.trunk(Tensor(x))
    assert out.shape == (8, 6) and model.columns == {"digit": slice(0, 4), "parity": slice(4, 6)}
    assert np.allclose(out[:, 4:], model.head("parity")(shared).data)


def test_each_task_loss_is_the_mean_cross_entropy_over_its_labelled_examples():
    model = _model()
    x, y = _batch()
    out = model(Tensor(x))
    found = MultiTaskLoss(model).task_losses(out, y)
    labelled = y[:, 0] != MISSING
    expected = losses.cross_entropy(Tensor(out.data[labelled][:, :4]), y[labelled, 0]).item()
    assert np.isclose(found["digit"].item(), expected)


def test_the_weighted_loss_s_gradient_is_the_weighted_sum_of_the_task_gradients():
    model = _model()
    x, y = _batch()
    weights = {"digit": 0.3, "parity": 2.0}
    total = _gradients(model, MultiTaskLoss(model, weights)(model(Tensor(x)), y))
    per_task = {task: _gradients(model, MultiTaskLoss(model, {t: float(t == task) for t in weights})(model(Tensor(x)), y))
                for task in weights}
    for k, g in enumerate(total):
        assert np.allclose(g, sum(weights[t] * per_task[t][k] for t in weights), atol=1e-12)
    # and the gradient is the derivative: central differences on every parameter
    parameters = model.parameters()

    def objective(*arrays):
        for p, a in zip(parameters, arrays):
            p.data[...] = a.data if isinstance(a, Tensor) else a
        return MultiTaskLoss(model, weights)(model(Tensor(x)), y)

    start = [p.data.copy() for p in parameters]
    numeric = numerical_gradient(objective, start)
    for p, a in zip(parameters, start):
        p.data[...] = a
    for g, n in zip(total, numeric):
        assert np.allclose(g, n, atol=1e-7)


def test_a_head_receives_only_its_own_task_s_gradient():
    model = _model()
    x, y = _batch()
    loss = MultiTaskLoss(model, {"digit": 1.0, "parity": 0.5})(model(Tensor(x)), y)
    gradients = dict(zip((name for name, _ in model.named_parameters()), _gradients(model, loss)))
    digit_only = MultiTaskLoss(model, {"digit": 1.0, "parity": 0.0})(model(Tensor(x)), y)
    digit_gradients = dict(zip((name for name, _ in model.named_parameters()), _gradients(model, digit_only)))
    for name in ("head0.weight", "head0.bias"):
        assert np.array_equal(gradients[name], digit_gradients[name])     # parity's loss adds nothing to it
    assert all(np.all(digit_gradients[name] == 0) for name in ("head1.weight", "head1.bias"))
    assert np.any(gradients["trunk.layers.0.weight"] != digit_gradients["trunk.layers.0.weight"])


def test_examples_without_a_label_do_not_move_that_task_s_head():
    model = _model()
    x, y = _batch()
    y[:, 0] = MISSING
    loss = MultiTaskLoss(model)(model(Tensor(x)), y)
    assert all(np.all(g == 0) for (name, _), g in zip(model.named_parameters(), _gradients(model, loss))
               if name.startswith("head0"))


def test_a_float32_model_trains_with_the_trainer_and_stays_float32():
    model = _model(np.float32)
    x, y = _batch(np.float32)
    trainer = Trainer(model, MultiTaskLoss(model, {"digit": 1.0, "parity": 0.5}), SGD(model.parameters(), lr=0.5),
                      metrics={"digit_error": task_error(model, "digit"), "parity_error": task_error(model, "parity")})
    first = trainer.train_step(x, y)["loss"]
    for _ in range(60):
        last = trainer.train_step(x, y)["loss"]
    assert last < first / 3 and all(p.dtype == np.float32 for p in model.parameters())
    scores = trainer.evaluate(x, y)
    assert scores["digit_error"] == 0 and scores["parity_error"] == 0


def test_task_error_counts_only_labelled_examples():
    model = _model()
    model(Tensor(np.zeros((1, 5))))          # fills the columns
    outputs = np.zeros((3, 6))
    outputs[:, 1] = outputs[:, 5] = 1         # predicts digit 1 and parity 1
    y = np.array([[1, 0], [2, MISSING], [MISSING, 1]])
    assert task_error(model, "digit")(outputs, y) == 0.5 and task_error(model, "parity")(outputs, y) == 0.5


def test_bad_arguments_are_refused_by_name():
    model = _model()
    with pytest.raises(ValueError, match="weights must give one weight per task"):
        MultiTaskLoss(model, {"digit": 1.0})
    with pytest.raises(ValueError, match=r"weights\['parity'\]"):
        MultiTaskLoss(model, {"digit": 1.0, "parity": -1.0})
    with pytest.raises(TypeError, match="heads"):
        MultiTask(nn.ReLU(), [nn.ReLU()])
    with pytest.raises(ValueError, match="targets must be an integer array of shape"):
        MultiTaskLoss(model)(model(Tensor(np.zeros((2, 5)))), np.zeros(2, dtype=int))
    with pytest.raises(KeyError, match="task must be one of"):
        task_error(model, "colour")
    with pytest.raises(RuntimeError, match="has not run yet"):
        MultiTaskLoss(_model())(Tensor(np.zeros((2, 6))), np.zeros((2, 2), dtype=int))
