"""Losses: values and gradients against PyTorch CPU, stability at extreme logits,
first- and second-order finite-difference checks, input validation."""
import numpy as np
import pytest
import torch
from scipy.special import log_softmax as scipy_log_softmax

from minireg import functional as F
from minireg import losses
from minireg.gradcheck import check_gradients, check_hessian_vector
from minireg.tensor import Tensor

RNG = np.random.default_rng(3)
TF = torch.nn.functional


def soft_targets(n, k):
    q = RNG.uniform(0.0, 1.0, (n, k))
    return q / q.sum(axis=1, keepdims=True)


def ours_and_torch(loss, reference, x, target, torch_target=None, **options):
    """Loss value and gradient w.r.t. x from minireg and from torch."""
    xt = Tensor(x, requires_grad=True)
    value = loss(xt, target, **options)
    upstream = RNG.standard_normal(value.shape)
    value.backward(upstream.astype(x.dtype) if value.ndim else None)
    tx = torch.tensor(x, requires_grad=True)
    expected = reference(tx, torch.tensor(target) if torch_target is None else torch_target, **options)
    expected.backward(torch.tensor(upstream, dtype=expected.dtype) if expected.ndim else None)
    return value, xt.grad, expected.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_matches_torch(reduction, soft):
    logits = RNG.standard_normal((6, 5)) * 3
    target = soft_targets(6, 5) if soft else RNG.integers(0, 5, 6)
    value, grad, expected, expected_grad = ours_and_torch(
        losses.cross_entropy, TF.cross_entropy, logits, target, reduction=reduction
    )
    np.testing.assert_allclose(value.data, expected, rtol=1e-12)
    np.testing.assert_allclose(grad.data, expected_grad, rtol=1e-10, atol=1e-14)


def test_cross_entropy_float32_matches_torch_and_stays_float32():
    logits = (RNG.standard_normal((8, 10)) * 5).astype(np.float32)
    labels = RNG.integers(0, 10, 8)
    value, grad, expected, expected_grad = ours_and_torch(losses.cross_entropy, TF.cross_entropy, logits, labels)
    assert value.dtype == grad.dtype == np.float32
    np.testing.assert_allclose(value.data, expected, rtol=1e-5)
    np.testing.assert_allclose(grad.data, expected_grad, rtol=1e-4, atol=1e-7)
    soft = soft_targets(8, 10)  # float64 probabilities meet float32 logits
    assert losses.cross_entropy(Tensor(logits), soft).dtype == np.float32


def test_hard_target_equals_its_one_hot_soft_target():
    logits = RNG.standard_normal((4, 3))
    labels = np.array([2, 0, 1, 2])
    one_hot = np.eye(3)[labels]
    np.testing.assert_allclose(
        losses.cross_entropy(Tensor(logits), labels, reduction="none").data,
        losses.cross_entropy(Tensor(logits), one_hot, reduction="none").data,
        rtol=1e-14,
    )


def test_cross_entropy_is_finite_and_exact_for_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3 + 1.0, 5e3]], dtype=np.float32)
    labels = np.array([1, 2])
    value = losses.cross_entropy(Tensor(logits, requires_grad=True), labels, reduction="none")
    expected = -scipy_log_softmax(logits.astype(np.float64), axis=1)[[0, 1], labels]
    assert np.all(np.isfinite(value.data))
    # the loss is a difference of two numbers near 5e3, where float32's spacing is 4.9e-4
    np.testing.assert_allclose(value.data, expected, rtol=1e-6, atol=1e-3)
    logits_tensor = Tensor(logits, requires_grad=True)
    losses.cross_entropy(logits_tensor, labels).backward()
    assert np.all(np.isfinite(logits_tensor.grad.data))


def test_a_logit_of_minus_infinity_on_another_class_adds_nothing_as_in_torch():
    """A masked class (logit -inf) that is not the target: a finite loss and gradient,
    equal to PyTorch's; the target class masked: an infinite loss, as in PyTorch."""
    logits = np.array([[1.0, -np.inf, 0.5], [2.0, 1.0, -np.inf], [-np.inf, 0.3, -1.0]])
    labels = np.array([0, 1, 2])
    z = Tensor(logits, requires_grad=True)
    loss = losses.cross_entropy(z, labels)
    loss.backward()
    tz = torch.tensor(logits, requires_grad=True)
    reference = TF.cross_entropy(tz, torch.tensor(labels))
    reference.backward()
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), reference.item(), rtol=1e-14)
    np.testing.assert_allclose(z.grad.data, tz.grad.numpy(), rtol=1e-14, atol=1e-16)
    on_target = losses.cross_entropy(Tensor(logits), np.array([1, 2, 0]), reduction="none")
    assert np.all(np.isinf(on_target.data)) and np.all(on_target.data > 0)


def test_soft_targets_with_zero_probability_on_a_masked_class_stay_finite():
    """0 log 0 = 0: PyTorch returns NaN here (with the right gradient); minireg returns the
    limit, -sum over the classes of positive probability, and PyTorch's gradient."""
    logits = np.array([[1.0, -np.inf, 0.5], [2.0, 1.0, -np.inf]])
    target = np.array([[0.7, 0.0, 0.3], [0.5, 0.5, 0.0]])
    z = Tensor(logits, requires_grad=True)
    loss = losses.cross_entropy(z, target, reduction="none")
    log_p = scipy_log_softmax(logits, axis=1)
    expected = -(target * np.where(target > 0, log_p, 0.0)).sum(axis=1)
    np.testing.assert_allclose(loss.data, expected, rtol=1e-14)
    loss.sum().backward()
    tz = torch.tensor(logits, requires_grad=True)
    TF.cross_entropy(tz, torch.tensor(target), reduction="sum").backward()
    np.testing.assert_allclose(z.grad.data, tz.grad.numpy(), rtol=1e-14, atol=1e-16)
    # probability on the masked class: the loss is infinite
    assert np.isposinf(losses.cross_entropy(Tensor(logits), np.array([[0.5, 0.5, 0.0]] * 2)).item())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_index_gradient_is_the_same_whether_the_backward_is_recorded_or_not(reduction, dtype):
    # the backward computes on arrays unless create_graph=True asks for Tensor ops
    logits = (RNG.standard_normal((5, 4)) * 3).astype(dtype)
    labels = np.array([3, 0, 0, 2, 1])
    upstream = RNG.standard_normal(5).astype(dtype) if reduction == "none" else None
    gradients = []
    for create_graph in (False, True):
        z = Tensor(logits, requires_grad=True)
        losses.cross_entropy(z, labels, reduction=reduction).backward(upstream, create_graph=create_graph)
        assert z.grad.dtype == dtype
        gradients.append(z.grad.data)
    np.testing.assert_array_equal(gradients[0], gradients[1])


def test_cross_entropy_of_an_empty_batch():
    logits = Tensor(np.zeros((0, 3)), requires_grad=True)
    labels = np.zeros(0, dtype=np.int64)
    with pytest.raises(ValueError, match="empty batch"):
        losses.cross_entropy(logits, labels)
    assert losses.cross_entropy(logits, labels, reduction="sum").item() == 0.0
    assert losses.cross_entropy(logits, labels, reduction="none").shape == (0,)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_cross_entropy_second_order_for_every_reduction(reduction):
    check_hessian_vector(lambda z: F.sum(losses.cross_entropy(z, np.array([0, 3, 1]), reduction=reduction) ** 2),
                         [RNG.standard_normal((3, 4))])


@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_first_and_second_order(soft):
    target = soft_targets(3, 4) if soft else np.array([0, 3, 1])

    def fn(logits):
        return losses.cross_entropy(logits, target)

    check_gradients(fn, [RNG.standard_normal((3, 4))])
    check_hessian_vector(fn, [RNG.standard_normal((3, 4))])


def test_soft_target_gradient_flows_to_a_target_tensor():
    # d/dq of -sum q log softmax(z) is -log softmax(z): check it by finite differences
    logits = RNG.standard_normal((2, 3))
    check_gradients(lambda q: losses.cross_entropy(Tensor(logits), q), [soft_targets(2, 3)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_matches_torch(reduction):
    pred, target = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    value, grad, expected, expected_grad = ours_and_torch(losses.mse_loss, TF.mse_loss, pred, target, reduction=reduction)
    np.testing.assert_allclose(value.data, expected, rtol=1e-12)
    np.testing.assert_allclose(grad.data, expected_grad, rtol=1e-12)
    check_gradients(lambda p: losses.mse_loss(p, target, reduction=reduction), [pred])
    check_hessian_vector(lambda p: losses.mse_loss(p, target, reduction=reduction), [pred])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(reduction):
    logits, target = RNG.standard_normal((5, 2)) * 4, RNG.uniform(0, 1, (5, 2))
    value, grad, expected, expected_grad = ours_and_torch(
        losses.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, logits, target, reduction=reduction
    )
    np.testing.assert_allclose(value.data, expected, rtol=1e-12)
    np.testing.assert_allclose(grad.data, expected_grad, rtol=1e-10, atol=1e-14)


def test_bce_with_logits_is_stable_at_extreme_logits():
    logits = np.array([-200.0, -50.0, 0.0, 50.0, 200.0], dtype=np.float32)
    target = np.array([1.0, 1.0, 0.5, 0.0, 0.0], dtype=np.float32)
    xt = Tensor(logits, requires_grad=True)
    value = losses.binary_cross_entropy_with_logits(xt, target, reduction="none")
    value.sum().backward()
    expected = TF.binary_cross_entropy_with_logits(torch.tensor(logits), torch.tensor(target), reduction="none")
    assert np.all(np.isfinite(value.data)) and np.all(np.isfinite(xt.grad.data))
    np.testing.assert_allclose(value.data, expected.numpy(), rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_on_probabilities_matches_torch(reduction):
    probs, target = RNG.uniform(0.02, 0.98, (4, 3)), RNG.uniform(0, 1, (4, 3))
    value, grad, expected, expected_grad = ours_and_torch(
        losses.binary_cross_entropy, TF.binary_cross_entropy, probs, target, reduction=reduction
    )
    np.testing.assert_allclose(value.data, expected, rtol=1e-12)
    np.testing.assert_allclose(grad.data, expected_grad, rtol=1e-10)


def test_bce_on_probabilities_clamps_the_log_like_torch():
    probs = np.array([0.0, 1.0, 0.0, 1.0])
    target = np.array([1.0, 0.0, 0.0, 1.0])
    pt = Tensor(probs, requires_grad=True)
    value = losses.binary_cross_entropy(pt, target, reduction="none")
    expected = TF.binary_cross_entropy(torch.tensor(probs), torch.tensor(target), reduction="none")
    np.testing.assert_allclose(value.data, expected.numpy())  # 100, 100, 0, 0
    value.sum().backward()
    assert np.all(np.isfinite(pt.grad.data))


@pytest.mark.parametrize(
    "loss, make_target",
    [
        (losses.binary_cross_entropy_with_logits, lambda: RNG.uniform(0, 1, (3, 2))),
        (losses.binary_cross_entropy, lambda: RNG.uniform(0, 1, (3, 2))),
    ],
)
def test_binary_losses_first_and_second_order(loss, make_target):
    target = make_target()
    x = RNG.uniform(0.1, 0.9, (3, 2))  # valid as probabilities and as logits
    check_gradients(lambda p: loss(p, target), [x])
    check_hessian_vector(lambda p: loss(p, target), [x])


def test_targets_are_validated_with_clear_messages():
    logits = Tensor(RNG.standard_normal((3, 4)))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        losses.cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        losses.cross_entropy(logits, np.array([[0], [1], [2]]))
    with pytest.raises(ValueError, match="sum to 1"):
        losses.cross_entropy(logits, np.ones((3, 4)) * 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        losses.cross_entropy(logits, np.array([[1.5, -0.5, 0, 0]] * 3))
    with pytest.raises(ValueError, match=r"soft target probabilities must lie in \[0, 1\]; found NaN"):
        losses.cross_entropy(logits, np.array([[np.nan, 0.5, 0.5, 0]] * 3))
    with pytest.raises(ValueError, match="target must lie in .*found NaN"):
        losses.binary_cross_entropy_with_logits(logits, np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="probs must lie in .*found NaN"):
        losses.binary_cross_entropy(Tensor(np.full((3, 4), np.nan)), np.zeros((3, 4)))
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        losses.cross_entropy(logits, np.array([True, False, True]))  # booleans are not class indices
    with pytest.raises(ValueError, match="target has shape"):
        losses.cross_entropy(logits, soft_targets(3, 5))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        losses.cross_entropy(Tensor(np.zeros(4)), np.array([1]))
    with pytest.raises(TypeError, match="logits"):
        losses.cross_entropy(Tensor(np.zeros((3, 4), dtype=np.int64)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="target"):
        losses.cross_entropy(logits, np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="reduction"):
        losses.mse_loss(logits, np.zeros((3, 4)), reduction="average")
    with pytest.raises(ValueError, match="must match"):
        losses.mse_loss(logits, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="target"):
        losses.binary_cross_entropy_with_logits(logits, np.full((3, 4), 2.0))
    with pytest.raises(ValueError, match="probs"):
        losses.binary_cross_entropy(logits, np.zeros((3, 4)))
