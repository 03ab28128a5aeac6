"""Loss functions, written to stay finite for any logits.

* :func:`cross_entropy` -- softmax cross-entropy with hard (class index) or soft
  (probability vector) targets; soft targets are what label smoothing, mixup and
  CutMix produce.
* :func:`mse_loss` -- mean squared error.
* :func:`binary_cross_entropy_with_logits` and :func:`binary_cross_entropy`.

Every loss takes ``reduction``: ``"mean"`` (the default) averages over the examples,
``"sum"`` adds them up, ``"none"`` returns one loss per example (or per element for the
elementwise losses).

Numerical stability: the cross-entropy is computed from ``log_softmax``, i.e.
z_k - logsumexp(z), where logsumexp subtracts max(z) before exponentiating, so large
logits neither overflow nor lose the small probabilities. Binary cross-entropy on
logits uses ``softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^-|z|)``.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import check_choice
from minireg.tensor import Tensor, is_grad_enabled, no_grad

REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_example, reduction):
    if reduction == "mean":
        return F.mean(per_example)
    if reduction == "sum":
        return F.sum(per_example)
    return per_example


def _float_tensor(x, name):
    """``x`` as a floating-point Tensor (an error for integer or other input)."""
    x = F.as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point tensor (float32 or float64), got dtype {x.dtype}")
    return x


def _target_like(target, like, name, role):
    """A float target as a Tensor of ``like``'s dtype and shape (constant unless it is a
    Tensor that requires grad)."""
    if isinstance(target, Tensor):
        if target.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be numeric, got dtype {target.dtype}")
        if target.dtype != like.dtype:
            target = F.astype(target, like.dtype)
    else:
        array = np.asarray(target)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
        target = Tensor(array.astype(like.dtype, copy=False))
    if target.shape != like.shape:
        raise ValueError(f"{name} has shape {target.shape}, but {role} has shape {like.shape}; they must match")
    return target


def _check_probabilities(values, name):
    """Values in [0, 1], NaN refused by name."""
    if np.isnan(values).any():
        raise ValueError(f"{name} must lie in [0, 1]; found NaN")
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"{name} must lie in [0, 1]; found values from {values.min()} to {values.max()}")


def _class_index_cross_entropy(logits, labels, reduction):
    """-log softmax(z_n)_{c_n} for class indices c_n, reduced, as one node.

    The target's entry of log_softmax is picked out: the product with the one-hot
    q = e_c without the product (so no 0 * log 0 for a -inf logit elsewhere). The
    gradient is the textbook one,

        dloss_n/dz_n = softmax(z_n) - e_{c_n}    (times g / N for the mean),

    written in Tensor ops on the logits when the backward pass is recorded
    (``create_graph=True``), so that it can be differentiated again, and otherwise on
    the arrays, with the forward's softmax (as conv2d's backward does); the two give the
    same bits. One node instead of four (log_softmax, pick, minus, mean), and no graph
    built in the usual backward: it runs on every step.
    """
    n_examples, n_classes = logits.shape
    if reduction == "mean" and n_examples == 0:  # as F.mean, NumPy and PyTorch (NaN) have it
        raise ValueError("cross_entropy: an empty batch (0 examples) has no mean loss")
    with no_grad():
        log_probabilities = F.log_softmax(logits, axis=1).data
    per_example = -log_probabilities[np.arange(n_examples), labels]
    if reduction == "none":
        scale, data = None, per_example
    else:
        scale = 1.0 / n_examples if reduction == "mean" else 1.0
        data = per_example.sum() * scale

    def backward(g, out):
        one_hot = np.eye(n_classes, dtype=logits.dtype)[labels]
        if is_grad_enabled():
            weight = F.reshape(g, (n_examples, 1)) if scale is None else g * scale
            return ((F.softmax(logits, axis=1) - one_hot) * weight,)
        weight = g.data.reshape(n_examples, 1) if scale is None else g.data * scale
        return (Tensor((np.exp(log_probabilities) - one_hot) * weight),)

    return Tensor.from_op(data, (logits,), backward)


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy between logits and a hard or soft target.

    For example n with logits z (K classes) and target distribution q,

        loss_n = - sum_k q_k log softmax(z)_k = logsumexp(z) - sum_k q_k z_k   (sum q = 1)

    A hard target (class index c) is the one-hot q = e_c, giving -log softmax(z)_c,
    the negative log-likelihood of the correct class.

    A logit of -inf (a class masked out) contributes nothing when its class has target
    probability 0, as in the limit; the loss is +inf only where the target puts
    probability on such a class. (PyTorch agrees for hard targets and returns NaN for
    soft ones.)

    Parameters
    ----------
    logits : Tensor of shape (N, K), float
        Unnormalized scores.
    target : int array of shape (N,) or float array/Tensor of shape (N, K)
        Class indices in [0, K), or a probability vector per row (non-negative, rows
        summing to 1), e.g. smoothed labels or mixup targets.
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    Tensor
        A scalar, or shape (N,) for ``reduction="none"``.
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    logits = _float_tensor(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got shape {logits.shape}")
    n_examples, n_classes = logits.shape
    target_dtype = target.dtype if isinstance(target, (Tensor, np.ndarray)) else np.asarray(target).dtype
    if target_dtype.kind in "iu":
        labels = np.asarray(target.data if isinstance(target, Tensor) else target)
        if labels.shape != (n_examples,):
            raise ValueError(
                f"integer target must have shape (N,) = ({n_examples},), got shape {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(
                f"target class indices must lie in [0, {n_classes}), got values from "
                f"{labels.min()} to {labels.max()}"
            )
        return _class_index_cross_entropy(logits, labels, reduction)
    elif target_dtype.kind == "f":
        probabilities = _target_like(target, logits, "target", "logits")
        values = probabilities.data
        _check_probabilities(values, "soft target probabilities")
        row_sums = values.sum(axis=1)
        if not np.allclose(row_sums, 1.0, rtol=0, atol=1e-3):
            raise ValueError(
                "soft target rows must sum to 1 (a probability vector per example); "
                f"row sums range from {row_sums.min()} to {row_sums.max()}"
            )
        log_probabilities = F.log_softmax(logits, axis=1)
        masked = np.isneginf(log_probabilities.data) & (values == 0)
        if masked.any():  # a class of probability 0 with a logit of -inf adds 0 (0 log 0 = 0), not NaN
            log_probabilities = F.where(masked, 0.0, log_probabilities)
        per_example = F.neg(F.sum(probabilities * log_probabilities, axis=1))
    else:
        raise TypeError(
            f"target must hold integer class indices (N,) or float probabilities (N, K), got dtype {target_dtype}"
        )
    return _reduce(per_example, reduction)


def mse_loss(pred, target, reduction="mean"):
    """Squared error (pred - target)^2, averaged over every element by default.

    Parameters
    ----------
    pred : Tensor, float
    target : array_like or Tensor of the same shape
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns the elementwise squared errors.
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    pred = _float_tensor(pred, "pred")
    target = _target_like(target, pred, "target", "pred")
    difference = pred - target
    return _reduce(difference * difference, reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], from logits.

        loss = -[t log s(z) + (1 - t) log(1 - s(z))] = softplus(z) - t z

    since log s(z) = -softplus(-z) and softplus(z) - softplus(-z) = z. softplus is
    evaluated stably, so this is finite for any z.

    Parameters
    ----------
    logits : Tensor, float
    target : array_like or Tensor of the same shape, values in [0, 1]
    reduction : {"mean", "sum", "none"}
        Over every element.
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    logits = _float_tensor(logits, "logits")
    target = _target_like(target, logits, "target", "logits")
    _check_probabilities(target.data, "target")
    return _reduce(F.softplus(logits) - target * logits, reduction)


def _clamped_log(p):
    """log(p) bounded below by -100 (as PyTorch does), with no NaN gradient at p = 0."""
    positive = p.data > 0
    safe_p = F.where(positive, p, 1.0)  # log(1) = 0 is never used where p == 0
    return F.where(positive, F.maximum(F.log(safe_p), -100.0), -100.0)


def binary_cross_entropy(probs, target, reduction="mean"):
    """Binary cross-entropy -[t log p + (1 - t) log(1 - p)] of probabilities p.

    Prefer :func:`binary_cross_entropy_with_logits` when the probabilities come from a
    sigmoid: it is exact where p rounds to 0 or 1. Here each log is bounded below by
    -100, as in PyTorch, so the loss stays finite.

    Parameters
    ----------
    probs : Tensor, float, values in [0, 1]
    target : array_like or Tensor of the same shape, values in [0, 1]
    reduction : {"mean", "sum", "none"}
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    probs = _float_tensor(probs, "probs")
    _check_probabilities(probs.data, "probs")
    target = _target_like(target, probs, "target", "probs")
    _check_probabilities(target.data, "target")
    loss = F.neg(target * _clamped_log(probs) + (1.0 - target) * _clamped_log(1.0 - probs))
    return _reduce(loss, reduction)
