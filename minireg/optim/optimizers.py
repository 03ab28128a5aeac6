"""First-order optimizers: SGD, SGD with (Nesterov) momentum, and Adam.

Every optimizer holds a list of parameters (Tensors with ``requires_grad=True``)
and, on :meth:`Optimizer.step`, reads each parameter's gradient ``p.grad.data``
and changes ``p.data`` **in place**, so that views of a parameter held elsewhere
stay valid. Parameters whose ``grad`` is None are skipped; a step on which none
has a gradient is an error (the optimizer was built on other parameters).

The optimizers contain no weight decay: weight decay is a regularizer, and
regularizers live in :mod:`minireg.regularizers` (a penalty added to the loss,
or a gradient-side transformation applied before ``step``).

Conventions follow PyTorch (``torch.optim.SGD``, ``torch.optim.Adam``), so that
trajectories can be compared with it step by step. ``docs/optim.md`` writes out
each update rule and relates it to the forms in *Deep Learning*, chapter 8.

float32 parameters stay float32: the learning rate and other hyperparameters are
turned into Python floats before they meet an array, and every state array is
allocated with the parameter's dtype.
"""
import math
import re

import numpy as np

from minireg.checks import FLOAT_DTYPES, check_int, check_number, check_probability
from minireg.tensor import Tensor


# ----------------------------------------------------------------------------
# Argument checks shared by the optimizers (the numbers: minireg.checks)
# ----------------------------------------------------------------------------

def _check_learning_rate(lr):
    """``lr`` as a float: a finite number >= 0 (a bool is refused)."""
    return check_number(lr, "lr", minimum=0.0)


def _check_nesterov(nesterov, momentum):
    """``nesterov`` as a bool; it needs a momentum in (0, 1)."""
    if not isinstance(nesterov, (bool, np.bool_)):
        raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
    if nesterov and momentum == 0.0:
        raise ValueError("nesterov=True needs momentum in (0, 1), got momentum=0")
    return bool(nesterov)


def _check_parameters(params):
    """Turn ``params`` into a list of trainable Tensors, or raise a clear error."""
    if isinstance(params, Tensor):
        raise TypeError(
            "params must be an iterable of Tensors (e.g. model.parameters()), "
            "got a single Tensor; wrap it in a list")
    if callable(params):
        raise TypeError(
            "params must be an iterable of Tensors such as model.parameters() (call the "
            f"method), got {getattr(params, '__qualname__', type(params).__name__)} itself")
    try:
        params = list(params)
    except TypeError:
        raise TypeError("params must be an iterable of Tensors such as model.parameters(), "
                        f"got {type(params).__name__}") from None
    if len(params) == 0:
        raise ValueError("params must contain at least one parameter, got an empty list")
    seen = set()
    for index, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{index}] must be a Tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(
                f"params[{index}] does not require grad; an optimizer can only update "
                "Tensors created with requires_grad=True")
        if p.data.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"params[{index}] must have dtype float32 or float64, got {p.data.dtype}")
        if id(p) in seen:
            raise ValueError(f"params[{index}] appears more than once in params")
        seen.add(id(p))
    return params


def _number_from_state(state, key):
    """A number saved in a state dict (a Python number, or a 0-d array from .npz)."""
    value = np.asarray(state[key])
    if value.shape != () or value.dtype.kind not in "biuf":
        raise ValueError(f"state_dict[{key!r}] must be a single number, got {value.dtype} "
                         f"data of shape {value.shape}")
    return value.item()


# ----------------------------------------------------------------------------
# The base class
# ----------------------------------------------------------------------------

class Optimizer:
    """Base class: holds the parameters and the learning rate, runs the update loop.

    Parameters
    ----------
    params : iterable of Tensor
        Tensors with ``requires_grad=True``, e.g. ``model.parameters()``.
    lr : float
        Learning rate, >= 0. A plain attribute: a schedule or the trainer may set
        ``optimizer.lr`` between steps.

    Notes
    -----
    A subclass writes one method, ``_update(index, param, grad)``, which changes the
    NumPy array ``param`` in place given the NumPy array ``grad``. ``step`` reads the
    gradient of each parameter and passes it on unchanged: a gradient transformation
    (clipping, decoupled decay, ...) belongs between those two lines, and is done by
    the regularizers of the training step, not here.
    """

    def __init__(self, params, lr):
        self.params = _check_parameters(params)
        self.lr = _check_learning_rate(lr)
        self.state = [self._initial_state(p.data) for p in self.params]

    def _initial_state(self, param):
        """Per-parameter state (a dict of arrays shaped and typed like ``param``,
        and numbers); a subclass with state overrides this."""
        return {}

    def _update(self, index, param, grad):
        raise NotImplementedError

    def step(self):
        """Apply one update to every parameter that has a gradient.

        A parameter without a gradient is skipped, but at least one must have one: an
        optimizer none of whose parameters has a gradient was almost surely built on
        another model's parameters (or ``loss.backward()`` was not called), and would
        train nothing without a word, so that raises a RuntimeError.
        """
        self.lr = _check_learning_rate(self.lr)
        with_gradient = [(index, p) for index, p in enumerate(self.params) if p.grad is not None]
        if not with_gradient:
            raise RuntimeError(
                f"step(): none of the {len(self.params)} parameters of this "
                f"{type(self).__name__} has a gradient, so nothing would be trained; was the "
                "optimizer built on this model's parameters (model.parameters() of the model "
                "whose loss you backpropagate), and was loss.backward() called before step()?")
        for index, p in with_gradient:  # every gradient checked before anything changes
            grad = p.grad.data
            if grad.shape != p.data.shape:
                raise ValueError(
                    f"params[{index}].grad has shape {grad.shape}, but the parameter "
                    f"has shape {p.data.shape}")
            if grad.dtype != p.data.dtype:
                raise TypeError(
                    f"params[{index}].grad has dtype {grad.dtype}, but the parameter "
                    f"has dtype {p.data.dtype}; they must match")
        for index, p in with_gradient:
            self._update(index, p.data, p.grad.data)
            p._bump_version()  # a graph kept with retain_graph=True now holds stale values

    def zero_grad(self):
        """Forget the gradients: set ``p.grad = None`` for every parameter."""
        for p in self.params:
            p.grad = None

    # --- saving and restoring the training state -----------------------------

    def hyperparameters(self):
        """The numbers that define the update rule, as a dict of Python numbers."""
        return {"lr": self.lr}

    def _set_hyperparameters(self, values):
        self.lr = _check_learning_rate(values["lr"])

    def state_dict(self):
        """The optimizer's state as a flat dict of NumPy arrays and numbers.

        Keys are ``"optimizer"`` (the class name), the hyperparameters (``"lr"``,
        ...), and ``"state.<i>.<name>"`` for the state arrays of parameter ``i``
        (its position in ``params``). The arrays are copies. The dict can be
        written with ``numpy.savez(path, **optimizer.state_dict())`` and read
        back with ``optimizer.load_state_dict(dict(numpy.load(path)))``.
        """
        result = {"optimizer": type(self).__name__}
        result.update(self.hyperparameters())
        for index, state in enumerate(self.state):
            for name, value in state.items():
                key = f"state.{index}.{name}"
                if isinstance(value, np.ndarray):
                    result[key] = value.copy()
                else:
                    result[key] = value
        return result

    def load_state_dict(self, state_dict):
        """Restore a state saved by :meth:`state_dict` (hyperparameters included).

        Everything is checked before anything changes, so a failed load leaves the
        optimizer as it was.

        Raises
        ------
        TypeError
            If ``state_dict`` is not a dict, or a hyperparameter or counter has the
            wrong type.
        ValueError
            If the dict comes from another optimizer class or from another number of
            parameters, misses a key or has an unexpected one, or holds a number out of
            range or an array whose shape or dtype differs from its parameter's.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict (as made by state_dict()), got "
                            f"{type(state_dict).__name__}")
        name = type(self).__name__
        if "optimizer" in state_dict:
            saved_class = str(np.asarray(state_dict["optimizer"]).item())
            if saved_class != name:
                raise ValueError(f"state_dict was saved by a {saved_class}, cannot load it into a {name}")
        saved_count = len({key.split(".")[1] for key in state_dict if re.fullmatch(r"state\.\d+\..+", key)})
        own_count = sum(1 for state in self.state if state)
        if saved_count and own_count and saved_count != own_count:
            raise ValueError(
                f"state_dict holds the state of {saved_count} parameters, but this {name} has "
                f"{own_count}; was it saved from another model's optimizer?")
        expected = set(self.state_dict())
        given = set(state_dict)
        if given != expected:
            raise ValueError(
                f"state_dict does not match this {name}: missing keys {sorted(expected - given)}, "
                f"unexpected keys {sorted(given - expected)}")
        values = {key: _number_from_state(state_dict, key) for key in self.hyperparameters()}
        loaded = []
        for index, state in enumerate(self.state):
            for entry, current in state.items():
                key = f"state.{index}.{entry}"
                if isinstance(current, np.ndarray):
                    saved = np.asarray(state_dict[key])
                    if saved.shape != current.shape:
                        raise ValueError(f"state_dict[{key!r}] has shape {saved.shape}, but "
                                         f"params[{index}] has shape {current.shape}")
                    if saved.dtype != current.dtype:
                        raise ValueError(f"state_dict[{key!r}] has dtype {saved.dtype}, but "
                                         f"params[{index}] has dtype {current.dtype}; they must match")
                    loaded.append((state, entry, saved))
                else:  # a counter, such as Adam's step
                    count = check_int(_number_from_state(state_dict, key), f"state_dict[{key!r}]", minimum=0)
                    loaded.append((state, entry, count))
        self._set_hyperparameters(values)
        for state, entry, value in loaded:
            if isinstance(value, np.ndarray):
                np.copyto(state[entry], value)
            else:
                state[entry] = value

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


# ----------------------------------------------------------------------------
# The optimizers
# ----------------------------------------------------------------------------

class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum.

    Without momentum (``momentum=0``), the update is

    .. math:: \theta \leftarrow \theta - \epsilon g

    (Deep Learning, Algorithm 8.1). With momentum :math:`\mu` the velocity
    :math:`v` (zero at the start) accumulates gradients, in PyTorch's convention:

    .. math::
        v \leftarrow \mu v + g, \qquad \theta \leftarrow \theta - \epsilon v

    This is Deep Learning's Algorithm 8.2 (:math:`v \leftarrow \alpha v - \epsilon g`,
    :math:`\theta \leftarrow \theta + v`) with the learning rate taken out of the
    velocity; the two agree while :math:`\epsilon` is constant. Nesterov momentum
    (Sutskever et al., 2013; Deep Learning, Algorithm 8.3) steps along the
    gradient plus the look-ahead of the velocity:

    .. math::
        v \leftarrow \mu v + g, \qquad \theta \leftarrow \theta - \epsilon (g + \mu v)

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to update.
    lr : float
        Learning rate :math:`\epsilon \ge 0`.
    momentum : float, default 0
        :math:`\mu \in [0, 1)`.
    nesterov : bool, default False
        Use Nesterov momentum; needs ``momentum > 0``.
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False):
        self.momentum = check_probability(momentum, "momentum")
        self.nesterov = _check_nesterov(nesterov, self.momentum)
        super().__init__(params, lr)

    def _initial_state(self, param):
        if self.momentum == 0.0:
            return {}
        return {"velocity": np.zeros_like(param)}

    def _update(self, index, param, grad):
        """Update ``param`` in place from ``grad``: θ ← θ - εg without momentum (Algorithm
        8.1), else v ← μv + g and θ ← θ - εv, or θ ← θ - ε(g + μv) with Nesterov (8.2, 8.3)."""
        lr = self.lr
        if self.momentum == 0.0:
            param -= lr * grad
            return
        velocity = self.state[index]["velocity"]
        velocity *= self.momentum
        velocity += grad
        if self.nesterov:
            param -= lr * (grad + self.momentum * velocity)
        else:
            param -= lr * velocity

    def hyperparameters(self):
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}

    def _set_hyperparameters(self, values):
        # Whether momentum is zero is already fixed by the keys (a "velocity" per
        # parameter or none), which load_state_dict has checked.
        momentum = check_probability(values["momentum"], "momentum")
        nesterov = _check_nesterov(values["nesterov"], momentum)
        self.lr = _check_learning_rate(values["lr"])
        self.momentum = momentum
        self.nesterov = nesterov


class Adam(Optimizer):
    r"""Adam: adaptive moment estimation (Kingma and Ba, 2015, Algorithm 1).

    With :math:`t` counting this parameter's updates (from 1), and first and second
    moment estimates :math:`m, v` starting at zero:

    .. math::
        m &\leftarrow \beta_1 m + (1 - \beta_1) g \\
        v &\leftarrow \beta_2 v + (1 - \beta_2) g \odot g \\
        \hat m &= m / (1 - \beta_1^t), \qquad \hat v = v / (1 - \beta_2^t) \\
        \theta &\leftarrow \theta - \epsilon \, \hat m / (\sqrt{\hat v} + \delta)

    (Deep Learning, Algorithm 8.7, where :math:`\delta` is written ``eps`` here and
    :math:`\epsilon` is ``lr``). As in PyTorch, each parameter keeps its own step
    count, so a parameter that received no gradient on a step is not advanced.

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to update.
    lr : float, default 1e-3
        Learning rate :math:`\epsilon \ge 0`.
    betas : tuple of two floats, default (0.9, 0.999)
        Decay rates :math:`\beta_1, \beta_2 \in [0, 1)` of the moment estimates.
    eps : float, default 1e-8
        :math:`\delta > 0`, added to :math:`\sqrt{\hat v}` for numerical stability.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        beta1, beta2 = self._check_betas(betas)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = check_number(eps, "eps", minimum=0.0, include_minimum=False)
        super().__init__(params, lr)

    @staticmethod
    def _check_betas(betas):
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        return check_probability(betas[0], "betas[0]"), check_probability(betas[1], "betas[1]")

    def _initial_state(self, param):
        return {"first_moment": np.zeros_like(param),
                "second_moment": np.zeros_like(param),
                "step": 0}

    def _update(self, index, param, grad):
        """Update ``param`` in place from ``grad`` by Algorithm 8.7: advance this parameter's
        step t and the moments m, v, then θ ← θ - ε m̂ / (√v̂ + δ) with the bias-corrected m̂, v̂."""
        state = self.state[index]
        state["step"] += 1
        t = state["step"]
        m = state["first_moment"]
        v = state["second_moment"]
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * (grad * grad)
        # Python floats: they keep float32 arrays float32.
        bias_correction1 = 1.0 - self.beta1 ** t
        bias_correction2 = 1.0 - self.beta2 ** t
        step_size = self.lr / bias_correction1
        denominator = np.sqrt(v) / math.sqrt(bias_correction2)
        denominator += self.eps
        param -= step_size * (m / denominator)

    def hyperparameters(self):
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _set_hyperparameters(self, values):
        beta1, beta2 = self._check_betas((values["beta1"], values["beta2"]))
        eps = check_number(values["eps"], "eps", minimum=0.0, include_minimum=False)
        self.lr = _check_learning_rate(values["lr"])
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
