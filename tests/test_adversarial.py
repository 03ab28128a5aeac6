"""The fast gradient sign method and adversarial training (Deep Learning 7.13; Goodfellow
et al. 2015), against their defining properties and PyTorch, for dense and conv models."""
import numpy as np
import pytest
import torch

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.regularizers import AdversarialTraining, Regularizer, fgsm
from minireg.regularizers.penalties import fast_gradient_sign, input_gradient
from minireg.tensor import Tensor
from minireg.training import Checkpoint, Trainer

tF = torch.nn.functional


def dense(seed=0, dtype=np.float64):
    return nn.Sequential(nn.Linear(6, 8, rng=seed), nn.Tanh(), nn.Linear(8, 3, rng=seed + 1)).to(dtype)


def conv(seed=0, dtype=np.float64):
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, rng=seed), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 3 * 3, 3, rng=seed + 1)).to(dtype)


MODELS = {"dense": (dense, (6,)), "conv": (conv, (1, 6, 6))}


def batch(kind, n=7, seed=0, dtype=np.float64):
    """Pixels in [0.05, 0.95] (inside the clip range) and class labels."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.95, size=(n, *MODELS[kind][1])).astype(dtype), rng.integers(0, 3, size=n)


def torch_function(model):
    """The same network as a torch function of (x, leaves), and its parameters as torch leaves
    (torch keeps Linear weights as (out, in) and Conv2d weights as (out, in, kh, kw))."""
    leaves = []
    for p in model.parameters():
        data = {2: lambda a: a.T, 4: lambda a: a.transpose(1, 0, 2, 3)}.get(p.ndim, lambda a: a)(p.data)
        leaves.append(torch.tensor(np.ascontiguousarray(data), requires_grad=True))

    def forward(x, leaves=leaves):
        it = iter(leaves)
        for layer in model:
            if isinstance(layer, nn.Linear):
                x = tF.linear(x, next(it), next(it))
            elif isinstance(layer, nn.Conv2d):
                x = tF.conv2d(x, next(it), next(it), padding=layer.padding)
            else:
                x = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu, nn.Flatten: lambda t: t.flatten(1),
                     nn.MaxPool2d: lambda t: tF.max_pool2d(t, 2)}[type(layer)](x)
        return x

    return forward, leaves


def as_minireg_layout(leaf):
    g = leaf.grad.numpy()
    return g.T if g.ndim == 2 else (g.transpose(1, 0, 2, 3) if g.ndim == 4 else g)


def loss(model, X, y):
    return float(losses.cross_entropy(model(Tensor(X)), y).item())


# --------------------------------------------------------------------------------------
# The perturbation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MODELS)
def test_the_perturbation_has_max_norm_epsilon_and_stays_in_the_clip_range(kind):
    make, _ = MODELS[kind]
    model = make()
    X, y = batch(kind, seed=1)
    X[0].flat[:3] = [0.0, 1.0, 0.5]                     # pixels at the border of the range
    epsilon = 0.2
    free = fgsm(model, losses.cross_entropy, X, y, epsilon, clip=None)
    moved = np.sign(input_gradient(model, losses.cross_entropy, X, y)) != 0
    assert moved.mean() > 0.9
    np.testing.assert_allclose(np.abs(free - X)[moved], epsilon, rtol=1e-12)
    np.testing.assert_array_equal(free[~moved], X[~moved])
    clipped = fgsm(model, losses.cross_entropy, X, y, epsilon)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0 and ((clipped == 0).any() or (clipped == 1).any())
    np.testing.assert_array_equal(clipped, np.clip(free, 0.0, 1.0))
    np.testing.assert_array_equal(fgsm(model, losses.cross_entropy, X, y, 0.0), X)


@pytest.mark.parametrize("kind", MODELS)
def test_the_perturbation_raises_the_loss_by_epsilon_times_the_gradients_l1_norm_to_first_order(kind):
    make, _ = MODELS[kind]
    model = make()
    X, y = batch(kind, seed=2)
    l1 = np.abs(input_gradient(model, losses.cross_entropy, X, y)).sum()
    gaps = []
    for epsilon in (1e-3, 1e-4):
        rise = loss(model, fgsm(model, losses.cross_entropy, X, y, epsilon, clip=None), y) - loss(model, X, y)
        assert rise > 0
        gaps.append(abs(rise / epsilon - l1) / l1)
    assert gaps[1] < 1e-3 and gaps[1] < gaps[0] / 5      # the remainder is O(ε²): the gap shrinks with ε


@pytest.mark.parametrize("kind", MODELS)
def test_the_perturbation_is_torchs_sign_of_the_input_gradient(kind):
    make, _ = MODELS[kind]
    model = make(seed=3)
    X, y = batch(kind, n=9, seed=3)
    forward, _ = torch_function(model)
    x = torch.tensor(X, requires_grad=True)
    gx, = torch.autograd.grad(tF.cross_entropy(forward(x), torch.tensor(y)), x)
    np.testing.assert_array_equal(np.sign(input_gradient(model, losses.cross_entropy, X, y)), gx.sign().numpy())
    expected = (x + 0.3 * gx.sign()).clamp(0, 1).detach().numpy()
    np.testing.assert_array_equal(fgsm(model, losses.cross_entropy, X, y, 0.3), expected)


def test_a_float32_model_gives_float32_adversarial_examples_and_stays_float32():
    for kind, (make, _) in MODELS.items():
        model = make(dtype=np.float32)
        X, y = batch(kind, dtype=np.float32)
        assert fgsm(model, losses.cross_entropy, X, y, 0.1).dtype == np.float32
        assert fast_gradient_sign(X, np.ones_like(X), 0.1, clip=None).dtype == np.float32
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                          regularizers=[AdversarialTraining(0.1)])
        trainer.train_step(X, y)
        assert all(p.data.dtype == np.float32 for p in model.parameters())


# --------------------------------------------------------------------------------------
# The training objective
# --------------------------------------------------------------------------------------


class CaptureGradients(Regularizer):
    """Records the parameters' and the inputs' gradients after backward (place 4)."""

    def transform_gradients(self, step):
        self.parameters = [p.grad.data.copy() for p in step.model.parameters()]
        self.inputs = step.inputs.grad.data.copy()


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5])
def test_the_objective_is_alpha_clean_plus_one_minus_alpha_adversarial_as_in_torch(kind, alpha):
    make, _ = MODELS[kind]
    model = make(seed=4)
    X, y = batch(kind, n=8, seed=4)
    epsilon = 0.1
    forward, leaves = torch_function(model)
    capture = CaptureGradients()
    logs = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1),
                   regularizers=[AdversarialTraining(epsilon, alpha=alpha), capture]).train_step(X, y)

    target = torch.tensor(y)
    results = {}
    for x_adv_is_constant in (True, False):
        x = torch.tensor(X, requires_grad=True)
        clean = tF.cross_entropy(forward(x), target)
        gx, = torch.autograd.grad(clean, x, create_graph=True)
        x_adv = (x + epsilon * gx.sign()).clamp(0, 1)
        if x_adv_is_constant:
            x_adv = x_adv.detach()
        objective = alpha * clean + (1 - alpha) * tF.cross_entropy(forward(x_adv), target)
        parameter_grads = torch.autograd.grad(objective, [x, *leaves], retain_graph=True)
        results[x_adv_is_constant] = objective.item(), parameter_grads
    value, (input_grad, *parameter_grads) = results[True]
    assert logs["loss"] == pytest.approx(value, rel=1e-12)
    assert logs["penalty"] == pytest.approx(value - loss(make(seed=4), X, y), abs=1e-12)
    for mine, leaf, theirs in zip(capture.parameters, leaves, parameter_grads):
        leaf.grad = theirs
        np.testing.assert_allclose(mine, as_minireg_layout(leaf), rtol=1e-10, atol=1e-13)
    # x' is a constant: the inputs' gradient is α∇ₓJ(x), without the term of J(x')
    np.testing.assert_allclose(capture.inputs, input_grad.numpy(), rtol=1e-10, atol=1e-15)
    # ... and since sign() is piecewise constant, a gradient through x' changes no parameter's gradient
    for constant, through in zip(parameter_grads, results[False][1][1:]):
        np.testing.assert_allclose(constant.numpy(), through.numpy(), rtol=1e-12, atol=1e-15)
    if alpha < 1:
        assert not np.allclose(results[False][1][0].numpy(), input_grad.numpy())


def test_alpha_one_is_plain_training():
    X, y = batch("dense", n=12)
    models = []
    for regularizers in ([], [AdversarialTraining(0.3, alpha=1.0)]):
        model = dense()
        Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.5), regularizers=regularizers).fit(
            DataLoader(X, y, 4, rng=0), epochs=2, progress=False)
        models.append(model)
    for a, b in zip(*(m.parameters() for m in models)):
        np.testing.assert_array_equal(a.data, b.data)


# --------------------------------------------------------------------------------------
# Runs: the same seed, a resume
# --------------------------------------------------------------------------------------


def adversarial_run(seed=0):
    X, y = batch("conv", n=20, seed=5)
    model = conv(seed=seed)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.2, momentum=0.9),
                      regularizers=[AdversarialTraining(0.1, alpha=0.5)], rng=5)
    return trainer, DataLoader(X, y, 6, rng=2)


def test_the_same_seed_gives_the_same_run_and_a_resume_changes_nothing(tmp_path):
    runs = []
    for _ in range(2):
        trainer, loader = adversarial_run()
        trainer.fit(loader, epochs=3, progress=False)
        runs.append(trainer.model.state_dict())
    path = tmp_path / "run.npz"
    trainer, loader = adversarial_run()
    trainer.fit(loader, max_steps=7, progress=False, callbacks=[Checkpoint(path, every_steps=2)])   # stops mid-epoch
    resumed, loader = adversarial_run(seed=9)                     # other initial weights
    resumed.fit(loader, epochs=3, progress=False, callbacks=[Checkpoint(path, every_steps=2)], resume_from=path)
    runs.append(resumed.model.state_dict())
    for key, value in runs[0].items():
        np.testing.assert_array_equal(runs[1][key], value)
        np.testing.assert_array_equal(runs[2][key], value)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("arguments, error, message", [
    ({"epsilon": -0.1}, ValueError, r"epsilon must be a finite number in \[0.0, inf\), got -0.1"),
    ({"epsilon": float("nan")}, ValueError, "epsilon must be a finite number"),
    ({"epsilon": "0.1"}, TypeError, "epsilon must be"),
    ({"epsilon": 0.1, "alpha": 1.5}, ValueError, r"alpha must be a finite number in \[0.0, 1.0\], got 1.5"),
    ({"epsilon": 0.1, "alpha": -0.1}, ValueError, "alpha must be"),
    ({"epsilon": 0.1, "clip": (1.0, 0.0)}, ValueError, r"clip must be None or a pair \(low, high\) with low < high"),
    ({"epsilon": 0.1, "clip": (0.5, 0.5)}, ValueError, "clip must be None or a pair"),
    ({"epsilon": 0.1, "clip": (0.0,)}, ValueError, "clip must be None or a pair"),
    ({"epsilon": 0.1, "clip": (0.0, float("inf"))}, ValueError, r"clip\[1\] must be a finite number"),
])
def test_bad_arguments_are_refused_naming_them(arguments, error, message):
    with pytest.raises(error, match=message):
        AdversarialTraining(**arguments)
    if "alpha" not in arguments:
        X, y = batch("dense", n=2)
        with pytest.raises(error, match=message):
            fgsm(dense(), losses.cross_entropy, X, y, **arguments)
