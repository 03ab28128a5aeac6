"""Penalties on activations (Deep Learning eq. 7.29) and on gradients (the last terms of
eqs. 7.17 and 7.22, by double backpropagation), against closed forms and PyTorch."""
import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from minireg import losses, nn  # noqa: E402
from minireg.datasets import DataLoader  # noqa: E402
from minireg.optim import SGD  # noqa: E402
from minireg.regularizers import Regularizer  # noqa: E402
from minireg.regularizers.penalties import (ActivationL1, ActivationL2, InputGradientPenalty,  # noqa: E402
                                            KLSparsity, StudentTPenalty, WeightGradientPenalty)
from minireg.training import Trainer  # noqa: E402

tF = torch.nn.functional


class CaptureGradients(Regularizer):
    def transform_gradients(self, step):
        self.grads = [p.grad.data.copy() for p in step.model.parameters()]


def mlp(seed=0, d=4, hidden=5, k=3, activation=nn.Tanh):
    return nn.Sequential(nn.Linear(d, hidden, rng=seed), activation(), nn.Linear(hidden, k, rng=seed + 1)).to(np.float64)


def convnet(seed=0):
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=seed), nn.Tanh(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 3, rng=seed + 1)).to(np.float64)


def torch_parameters(model):
    """Leaves in torch's layout: Linear weight (out, in); Conv2d weight (out, in, kh, kw)."""
    leaves = []
    for p in model.parameters():
        data = p.data.T if p.ndim == 2 else (p.data.transpose(1, 0, 2, 3) if p.ndim == 4 else p.data)
        leaves.append(torch.tensor(np.ascontiguousarray(data), requires_grad=True))
    return leaves


def torch_run(model, params, x, hidden_out=None):
    """The same network in torch; returns (hidden activation after layer 1, outputs)."""
    if isinstance(model[0], nn.Conv2d):
        w1, b1, w2, b2 = params
        h = torch.tanh(tF.conv2d(x, w1, b1, padding=1))
        return h, tF.linear(h.flatten(1), w2, b2)
    w1, b1, w2, b2 = params
    pre = tF.linear(x, w1, b1)
    h = {nn.Tanh: torch.tanh, nn.Sigmoid: torch.sigmoid}[type(model[1])](pre)
    return h, tF.linear(h, w2, b2)


def mine_vs_torch(model, X, y, regularizer, torch_penalty):
    """One train_step with ``regularizer``; the same objective in torch; compare."""
    params = torch_parameters(model)
    capture = CaptureGradients()
    logs = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                   regularizers=[regularizer, capture], rng=0).train_step(X, y)
    x = torch.tensor(X, requires_grad=True)
    h, out = torch_run(model, params, x)
    data_loss = tF.cross_entropy(out, torch.tensor(y))
    objective = data_loss + torch_penalty(x, h, out, data_loss, params)
    objective.backward()
    assert logs["loss"] == pytest.approx(objective.item(), rel=1e-10)
    for mine, leaf in zip(capture.grads, params):
        theirs = leaf.grad.numpy()
        theirs = theirs.T if theirs.ndim == 2 else (theirs.transpose(1, 0, 2, 3) if theirs.ndim == 4 else theirs)
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    return logs


def data(n=6, d=4, k=3, seed=0, image=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2, 4, 4) if image else (n, d))
    return X, rng.integers(0, k, size=n)


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, omega", [
    (lambda: ActivationL1(0.3, "layers.1"), lambda h: 0.3 * h.abs().sum() / len(h)),
    (lambda: ActivationL2(0.3, "layers.1"), lambda h: 0.3 * 0.5 * h.square().sum() / len(h)),
    (lambda: StudentTPenalty(0.3, "layers.1", scale=0.5), lambda h: 0.3 * torch.log1p(h.square() / 0.25).sum() / len(h)),
])
def test_activation_penalties_match_their_closed_forms_in_torch(make, omega):
    X, y = data()
    mine_vs_torch(mlp(), X, y, make(), lambda x, h, out, loss, params: omega(h))


def test_kl_sparsity_matches_its_closed_form_and_refuses_units_outside_the_unit_interval():
    X, y = data(n=8)
    rho = 0.1

    def kl(x, h, out, loss, params):
        rate = h.mean(dim=0)
        return 0.5 * (rho * torch.log(rho / rate) + (1 - rho) * torch.log((1 - rho) / (1 - rate))).sum()

    mine_vs_torch(mlp(activation=nn.Sigmoid), X, y, KLSparsity(0.5, "layers.1", rho), kl)
    model = mlp()                                   # tanh units go below zero
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                      regularizers=[KLSparsity(0.5, "layers.1", rho)])
    with pytest.raises(ValueError, match=r"outputs of layer 'layers.1' in \[0, 1\]"):
        trainer.train_step(X, y)


def test_kl_sparsity_drives_the_mean_activation_towards_rho():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 10))
    y = (X[:, 0] > 0).astype(np.int64)
    rates = {}
    for alpha in (0.0, 1.0):
        model = nn.Sequential(nn.Linear(10, 20, rng=1), nn.Sigmoid(), nn.Linear(20, 2, rng=2)).to(np.float64)
        regularizers = [KLSparsity(alpha, "layers.1", rho=0.05)]
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.5, momentum=0.9),
                          regularizers=regularizers)
        trainer.fit(DataLoader(X, y, 50, rng=0), epochs=30)
        hidden = nn.Sequential(model[0], model[1])
        rates[alpha] = hidden(X).data.mean(axis=0)
    assert np.all(np.abs(rates[1.0] - 0.05) < 0.02), rates[1.0]          # every unit near rho
    assert np.mean(np.abs(rates[0.0] - 0.05)) > 0.2                       # not by itself


def test_the_activation_hook_keeps_only_the_training_forward_pass():
    X, y = data()
    model = mlp()
    penalty = ActivationL1(1.0, "layers.1")
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), regularizers=[penalty])
    trainer.evaluate(X, y)                          # an evaluation pass does not feed the penalty
    assert penalty._output is None
    logs = trainer.train_step(X, y)
    assert logs["penalty"] > 0
    with pytest.raises(ValueError, match=r"layer='hidden' is not a module of the model; its modules are \['layers.0'"):
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), regularizers=[ActivationL1(1.0, "hidden")])


# --------------------------------------------------------------------------------------
# Gradients, by double backpropagation
# --------------------------------------------------------------------------------------


def torch_input_gradient_norm(x, out, of_loss_value=None):
    if of_loss_value is not None:
        g, = torch.autograd.grad(of_loss_value, x, create_graph=True)
        return (g * len(x)).square().sum() / len(x)           # ∇ℓ_n = n ∇(mean)
    total = 0
    for k in range(out.shape[1]):
        g, = torch.autograd.grad(out[:, k].sum(), x, create_graph=True)
        total = total + g.square().sum()
    return total / len(x)


@pytest.mark.parametrize("image", [False, True])
@pytest.mark.parametrize("of", ["outputs", "loss"])
def test_input_gradient_penalty_equals_torch_double_backprop(image, of):
    X, y = data(image=image)
    nu = 0.4
    model = convnet() if image else mlp()

    def penalty(x, h, out, loss, params):
        return nu * torch_input_gradient_norm(x, out, loss if of == "loss" else None)

    mine_vs_torch(model, X, y, InputGradientPenalty(nu, of=of), penalty)


def torch_per_example_weight_gradient_norm(x, params, model):
    total = 0
    for n in range(len(x)):
        _, out = torch_run(model, params, x[n:n + 1])
        for k in range(out.shape[1]):
            gs = torch.autograd.grad(out[0, k], [params[0], params[2]], create_graph=True)
            total = total + sum(g.square().sum() for g in gs)
    return total / len(x)


@pytest.mark.parametrize("image", [False, True])
def test_exact_weight_gradient_penalty_equals_torch_double_backprop(image):
    X, y = data(n=4, image=image)
    nu = 0.3
    model = convnet() if image else mlp()
    mine_vs_torch(model, X, y, WeightGradientPenalty(nu, estimator="exact"),
                  lambda x, h, out, loss, params: nu * torch_per_example_weight_gradient_norm(x, params, model))


def test_the_rademacher_estimator_is_unbiased_and_differentiated_like_torch():
    X, y = data(n=5)
    nu = 0.3
    model = mlp()
    exact = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.0),
                    regularizers=[WeightGradientPenalty(nu, estimator="exact")]).train_step(X, y)["penalty"]
    estimator = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.0),
                        regularizers=[WeightGradientPenalty(nu)], rng=1)
    draws = np.array([estimator.train_step(X, y)["penalty"] for _ in range(600)])
    standard_error = draws.std(ddof=1) / np.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 4 * standard_error, (draws.mean(), exact, standard_error)
    assert draws.std() > 0                                      # it is an estimate, not the exact value

    signs = np.random.default_rng(7).integers(0, 2, size=(5, 3)) * 2 - 1    # what rng=7 draws first

    def with_signs(x, h, out, loss, params):
        gs = torch.autograd.grad((out * torch.tensor(signs, dtype=out.dtype)).sum(), [params[0], params[2]],
                                 create_graph=True)
        return nu * sum(g.square().sum() for g in gs) / len(x)

    model = mlp()
    params = torch_parameters(model)
    capture = CaptureGradients()
    logs = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                   regularizers=[WeightGradientPenalty(nu), capture], rng=7).train_step(X, y)
    x = torch.tensor(X)
    _, out = torch_run(model, params, x)
    objective = tF.cross_entropy(out, torch.tensor(y)) + with_signs(x, None, out, None, params)
    objective.backward()
    assert logs["loss"] == pytest.approx(objective.item(), rel=1e-10)
    for mine, leaf in zip(capture.grads, params):
        theirs = leaf.grad.numpy()
        np.testing.assert_allclose(mine, theirs.T if theirs.ndim == 2 else theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("build, message", [
    (lambda: ActivationL1(-1, "layers.1"), "alpha must be"),
    (lambda: ActivationL2(0.1, 3), "layer must be a module's name"),
    (lambda: StudentTPenalty(0.1, "layers.1", scale=0), "scale must be"),
    (lambda: KLSparsity(0.1, "layers.1", rho=1.0), r"rho must be a finite number in \(0.0, 1.0\)"),
    (lambda: KLSparsity(0.1, "layers.1", rho=0.0), "rho must be"),
    (lambda: InputGradientPenalty(-0.1), "nu must be"),
    (lambda: InputGradientPenalty(0.1, of="input"), "of must be one of 'outputs', 'loss'"),
    (lambda: WeightGradientPenalty(0.1, estimator="hutchinson"), "estimator must be one of"),
])
def test_bad_arguments_are_refused(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()
