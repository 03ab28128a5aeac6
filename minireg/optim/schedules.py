"""Learning-rate schedules: pure functions of the step count.

A schedule is a small object called as ``schedule(t) -> lr``. The step ``t`` is
whatever the caller counts (updates or epochs; a fraction of an epoch is allowed),
starting at 0, and the schedule keeps no state, so ``schedule(t)`` is the same
number whenever it is asked. The trainer (or any loop) applies it with::

    optimizer.lr = schedule(epoch)

The lecture slides ("Learning Rate Decay", 002_*) list continuous decays (linear,
exponential, 1/t), the discrete staircase, and cosine decay with warm restarts;
each class below gives its formula and source. Where PyTorch has the same
schedule (``torch.optim.lr_scheduler``) the conventions match it, and the tests
compare the two.
"""
import bisect
import math
import numbers


# ----------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------

def _check_number(name, value, minimum, minimum_allowed=True, maximum=None,
                  maximum_allowed=True):
    """Return ``value`` as a float if it is a finite number in the given range."""
    left = "[" if minimum_allowed else "("
    right = "]" if maximum_allowed else ")"
    upper = "inf" if maximum is None else repr(maximum)
    accepted = f"a finite number in {left}{minimum!r}, {upper}{right}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    value = float(value)
    too_small = value < minimum if minimum_allowed else value <= minimum
    too_large = False
    if maximum is not None:
        too_large = value > maximum if maximum_allowed else value >= maximum
    if not math.isfinite(value) or too_small or too_large:
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return value


def _check_positive_integer(name, value):
    """Return ``value`` as an int if it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_step(step):
    """Return the step count ``t`` as a float, or raise if it is not a number >= 0."""
    return _check_number("step", step, 0.0)


# ----------------------------------------------------------------------------
# The schedules
# ----------------------------------------------------------------------------

class ConstantSchedule:
    r"""The same learning rate at every step: :math:`\epsilon_t = \epsilon_0`.

    Parameters
    ----------
    lr : float
        The learning rate :math:`\epsilon_0 \ge 0`.
    """

    def __init__(self, lr):
        self.lr = _check_number("lr", lr, 0.0)

    def __call__(self, step):
        _check_step(step)
        return self.lr

    def __repr__(self):
        return f"ConstantSchedule(lr={self.lr!r})"


class StepDecay:
    r"""Staircase decay: multiply by :math:`\gamma` every ``step_size`` steps.

    .. math:: \epsilon_t = \epsilon_0 \, \gamma^{\lfloor t / s \rfloor}

    The "discrete staircase learning rate decay" of the lecture slides (002_*,
    "Learning Rate Decay", after He et al., 2016); PyTorch's ``StepLR``.

    Parameters
    ----------
    lr : float
        Initial learning rate :math:`\epsilon_0 \ge 0`.
    step_size : int
        :math:`s \ge 1`, the number of steps between two decays.
    gamma : float
        Decay factor :math:`\gamma \in (0, 1]`.
    """

    def __init__(self, lr, step_size, gamma):
        self.lr = _check_number("lr", lr, 0.0)
        self.step_size = _check_positive_integer("step_size", step_size)
        self.gamma = _check_number("gamma", gamma, 0.0, minimum_allowed=False, maximum=1.0)

    def __call__(self, step):
        t = _check_step(step)
        return self.lr * self.gamma ** math.floor(t / self.step_size)

    def __repr__(self):
        return f"StepDecay(lr={self.lr!r}, step_size={self.step_size}, gamma={self.gamma!r})"


class MultiStepDecay:
    r"""Piecewise-constant decay: multiply by :math:`\gamma` at each milestone.

    .. math:: \epsilon_t = \epsilon_0 \, \gamma^{\#\{m_k \,:\, m_k \le t\}}

    The staircase of the lecture slides (002_*, "Learning Rate Decay") with steps
    placed by hand, e.g. dividing by 10 at epochs 30 and 60 (He et al., 2016);
    PyTorch's ``MultiStepLR``.

    Parameters
    ----------
    lr : float
        Initial learning rate :math:`\epsilon_0 \ge 0`.
    milestones : sequence of numbers
        The steps :math:`m_1 < m_2 < \dots` (each > 0) at which the rate drops.
    gamma : float
        Decay factor :math:`\gamma \in (0, 1]`.
    """

    def __init__(self, lr, milestones, gamma):
        self.lr = _check_number("lr", lr, 0.0)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"milestones must be a sequence of numbers, got {milestones!r}")
        values = [_check_number(f"milestones[{k}]", m, 0.0, minimum_allowed=False)
                  for k, m in enumerate(milestones)]
        for k in range(1, len(values)):
            if values[k] <= values[k - 1]:
                raise ValueError(
                    f"milestones must be strictly increasing, got {list(milestones)!r}")
        self.milestones = values
        self.gamma = _check_number("gamma", gamma, 0.0, minimum_allowed=False, maximum=1.0)

    def __call__(self, step):
        t = _check_step(step)
        passed = bisect.bisect_right(self.milestones, t)
        return self.lr * self.gamma ** passed

    def __repr__(self):
        return (f"MultiStepDecay(lr={self.lr!r}, milestones={self.milestones!r}, "
                f"gamma={self.gamma!r})")


class ExponentialDecay:
    r"""Exponential decay, continuous or in stairs.

    .. math::
        \epsilon_t = \epsilon_0 \, \gamma^{t / T}
        \quad\text{or, with staircase=True,}\quad
        \epsilon_t = \epsilon_0 \, \gamma^{\lfloor t / T \rfloor}

    One of the continuous decays of the lecture slides (002_*, "Learning Rate
    Decay"). With :math:`T = 1` this is PyTorch's ``ExponentialLR``; with
    ``staircase=True`` it equals :class:`StepDecay` with ``step_size = T``.

    Parameters
    ----------
    lr : float
        Initial learning rate :math:`\epsilon_0 \ge 0`.
    gamma : float
        Factor :math:`\gamma \in (0, 1]` applied every ``decay_steps`` steps.
    decay_steps : float, default 1
        :math:`T > 0`.
    staircase : bool, default False
        Round :math:`t / T` down to an integer.
    """

    def __init__(self, lr, gamma, decay_steps=1, staircase=False):
        self.lr = _check_number("lr", lr, 0.0)
        self.gamma = _check_number("gamma", gamma, 0.0, minimum_allowed=False, maximum=1.0)
        self.decay_steps = _check_number("decay_steps", decay_steps, 0.0,
                                         minimum_allowed=False)
        if not isinstance(staircase, bool):
            raise TypeError(f"staircase must be True or False, got {staircase!r}")
        self.staircase = staircase

    def __call__(self, step):
        """The learning rate at step t: ε₀ γ^(t/T), or ε₀ γ^⌊t/T⌋ with ``staircase``."""
        t = _check_step(step)
        exponent = t / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.lr * self.gamma ** exponent

    def __repr__(self):
        return (f"ExponentialDecay(lr={self.lr!r}, gamma={self.gamma!r}, "
                f"decay_steps={self.decay_steps!r}, staircase={self.staircase})")


class InverseTimeDecay:
    r"""1/t decay.

    .. math:: \epsilon_t = \frac{\epsilon_0}{1 + k t}

    One of the continuous decays of the lecture slides (002_*, "Learning Rate
    Decay"). It satisfies the Robbins-Monro conditions :math:`\sum_t \epsilon_t
    = \infty`, :math:`\sum_t \epsilon_t^2 < \infty` that guarantee convergence of
    SGD (Deep Learning, eq. 8.12-8.13).

    Parameters
    ----------
    lr : float
        Initial learning rate :math:`\epsilon_0 \ge 0`.
    decay_rate : float
        :math:`k \ge 0`.
    """

    def __init__(self, lr, decay_rate):
        self.lr = _check_number("lr", lr, 0.0)
        self.decay_rate = _check_number("decay_rate", decay_rate, 0.0)

    def __call__(self, step):
        t = _check_step(step)
        return self.lr / (1.0 + self.decay_rate * t)

    def __repr__(self):
        return f"InverseTimeDecay(lr={self.lr!r}, decay_rate={self.decay_rate!r})"


class LinearDecay:
    r"""Linear decay from :math:`\epsilon_0` to :math:`\epsilon_\tau` over :math:`\tau` steps, then constant.

    .. math::
        \epsilon_t = (1 - \alpha)\, \epsilon_0 + \alpha\, \epsilon_\tau,
        \qquad \alpha = \min(t / \tau, 1)

    Deep Learning, section 8.3.1, eq. 8.14; one of the continuous decays of the
    lecture slides (002_*, "Learning Rate Decay"). PyTorch's ``LinearLR`` with
    ``start_factor=1``, ``end_factor`` :math:`= \epsilon_\tau / \epsilon_0` and
    ``total_iters`` :math:`= \tau`.

    Parameters
    ----------
    lr : float
        Initial learning rate :math:`\epsilon_0 \ge 0`.
    lr_end : float
        Final learning rate :math:`\epsilon_\tau \ge 0`.
    total_steps : int
        :math:`\tau \ge 1`, the step at which :math:`\epsilon_\tau` is reached.
    """

    def __init__(self, lr, lr_end, total_steps):
        self.lr = _check_number("lr", lr, 0.0)
        self.lr_end = _check_number("lr_end", lr_end, 0.0)
        self.total_steps = _check_positive_integer("total_steps", total_steps)

    def __call__(self, step):
        t = _check_step(step)
        alpha = min(t / self.total_steps, 1.0)
        return (1.0 - alpha) * self.lr + alpha * self.lr_end

    def __repr__(self):
        return (f"LinearDecay(lr={self.lr!r}, lr_end={self.lr_end!r}, "
                f"total_steps={self.total_steps})")


class CosineWarmRestarts:
    r"""Cosine decay with warm restarts (SGDR).

    .. math::
        \epsilon_t = \eta_{\min} + \tfrac{1}{2} (\eta^i_{\max} - \eta_{\min})
        \left(1 + \cos\left(\frac{T_{\mathrm{cur}}}{T_i} \pi\right)\right)

    The formula of the lecture slides (002_*, "Cosine learning rate decay with
    restarts"), from Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent
    with Warm Restarts", ICLR 2017, eq. (5). :math:`T_{\mathrm{cur}}` counts the
    steps since the last restart (a fraction of an epoch is allowed), and the
    :math:`i`-th cycle (from 0) lasts :math:`T_i = T_0 \, T_{\mathrm{mult}}^i`
    steps. At each restart the rate jumps back to :math:`\eta^i_{\max} =
    \eta_{\max} \cdot \mathrm{peak\_decay}^i`; with ``peak_decay=1`` (the paper's
    experiments, and PyTorch's ``CosineAnnealingWarmRestarts``) every cycle starts
    at :math:`\eta_{\max}`.

    Parameters
    ----------
    lr : float
        :math:`\eta_{\max} \ge 0`, the rate at the start of the first cycle.
    T_0 : int
        :math:`T_0 \ge 1`, the length of the first cycle.
    T_mult : int, default 1
        :math:`T_{\mathrm{mult}} \ge 1`, the factor by which each cycle is longer
        than the one before.
    eta_min : float, default 0
        :math:`\eta_{\min} \ge 0`, the rate approached at the end of each cycle;
        at most ``lr``.
    peak_decay : float, default 1
        Factor in (0, 1] applied to :math:`\eta_{\max}` at each restart.
    """

    def __init__(self, lr, T_0, T_mult=1, eta_min=0.0, peak_decay=1.0):
        self.lr = _check_number("lr", lr, 0.0)
        self.T_0 = _check_positive_integer("T_0", T_0)
        self.T_mult = _check_positive_integer("T_mult", T_mult)
        self.eta_min = _check_number("eta_min", eta_min, 0.0, maximum=self.lr)
        self.peak_decay = _check_number("peak_decay", peak_decay, 0.0,
                                        minimum_allowed=False, maximum=1.0)

    def cycle_position(self, step):
        """Return ``(i, T_cur, T_i)``: the cycle index, the steps into it, its length."""
        t = _check_step(step)
        cycle = 0
        length = self.T_0
        if self.T_mult == 1:
            cycle = math.floor(t / length)
            t = t - cycle * length
        else:
            while t >= length:
                t -= length
                length *= self.T_mult
                cycle += 1
        return cycle, t, length

    def __call__(self, step):
        cycle, t_cur, t_i = self.cycle_position(step)
        eta_max = max(self.lr * self.peak_decay ** cycle, self.eta_min)
        cosine = 1.0 + math.cos(math.pi * t_cur / t_i)
        return self.eta_min + 0.5 * (eta_max - self.eta_min) * cosine

    def __repr__(self):
        return (f"CosineWarmRestarts(lr={self.lr!r}, T_0={self.T_0}, T_mult={self.T_mult}, "
                f"eta_min={self.eta_min!r}, peak_decay={self.peak_decay!r})")
