"""Tests of the checker itself: minireg.gradcheck must fail on a wrong backward.

Each test builds a tiny op with :meth:`Tensor.from_op` whose backward is wrong in one
deliberate way, and asserts that the check raises AssertionError; the same op with the
right backward must pass.
"""
import numpy as np
import pytest

import minireg.functional as F
from minireg.gradcheck import check_gradients, check_hessian_vector, numerical_gradient
from minireg.tensor import Tensor


def square(x, backward):
    """x^2 elementwise, with the backward under test."""
    return Tensor.from_op(x.data ** 2, (x,), backward)


def right_square(x):
    return square(x, lambda g, out: (g * x * 2.0,))


X = np.array([[0.3, -1.2, 0.8], [1.5, -0.4, 2.0]])


def test_right_backward_passes_both_checks():
    assert check_gradients(right_square, [X]) < 1e-8
    assert check_hessian_vector(right_square, [X]) < 1e-6


def test_wrong_first_order_backward_is_caught():
    def missing_factor_two(x):
        return square(x, lambda g, out: (g * x,))

    with pytest.raises(AssertionError, match="input 0"):
        check_gradients(missing_factor_two, [X])


def test_wrong_gradient_for_one_element_of_a_vector_output_is_caught():
    """The non-scalar output is probed with a random vector, so an error in any one
    entry of the vector-Jacobian product shows."""
    error = np.zeros_like(X)
    error[1, 2] = 1e-3

    def one_entry_off(x):
        return square(x, lambda g, out: (g * x * 2.0 + g * error,))

    # the message names the entry (NumPy 2 prints the indices as np.int64(1), np.int64(2))
    with pytest.raises(AssertionError, match=r"input 0 .*at \((np\.int64\()?1\)?, (np\.int64\()?2\)?\)"):
        check_gradients(one_entry_off, [X])


def test_wrong_gradient_of_the_second_input_is_caught():
    def product(a, b):
        return Tensor.from_op(a.data * b.data, (a, b), lambda g, out: (g * b, g * b))  # d/db should be g * a

    with pytest.raises(AssertionError, match="input 1"):
        check_gradients(product, [X, X[::-1] + 3.0])


def test_backward_that_is_not_differentiable_fails_the_second_order_check():
    """Right values, but computed with NumPy: the graph is cut, so H v comes out 0 while
    the true Hessian of x^2 is 2 I. Only the second-order check can see it."""
    def numpy_backward(x):
        return square(x, lambda g, out: (g * (2.0 * x.data),))

    check_gradients(numpy_backward, [X])  # first order is right
    with pytest.raises(AssertionError, match="Hessian-vector"):
        check_hessian_vector(numpy_backward, [X])


def test_wrong_second_derivative_is_caught():
    """Cube with a backward 3 x^2 written as 3 * x * |x|: right for x > 0, so the first-order
    check passes at positive points, but the Hessian 6 x vs 6 |x| differs at negative ones."""
    def cube(x):
        return Tensor.from_op(x.data ** 3, (x,), lambda g, out: (g * 3.0 * x * F.abs(x),))

    positive = np.abs(X) + 0.1
    check_gradients(cube, [positive])
    check_hessian_vector(cube, [positive])
    with pytest.raises(AssertionError):
        check_gradients(cube, [X])
    with pytest.raises(AssertionError, match="Hessian-vector"):
        check_hessian_vector(lambda x: cube(x) * x, [X])


def test_gradient_of_the_wrong_shape_is_caught():
    """A backward that returns a scalar for a vector input is wrong even where the value
    would broadcast to the right numbers (here d sum(x)/dx = 1 everywhere)."""
    def total_with_scalar_gradient(x):
        return Tensor.from_op(np.sum(x.data), (x,), lambda g, out: (g,))

    with pytest.raises(AssertionError):
        check_gradients(total_with_scalar_gradient, [np.array([1.0, 2.0, 3.0])])


def test_numerical_gradient_matches_closed_form():
    grads = numerical_gradient(lambda a, b: F.sum(a * a * b), [X.copy(), X.copy() + 1.0])
    np.testing.assert_allclose(grads[0], 2 * X * (X + 1.0), rtol=1e-6)
    np.testing.assert_allclose(grads[1], X * X, rtol=1e-6)


def test_returned_worst_difference_covers_every_input():
    """check_gradients returns 'the largest absolute difference found' over all inputs:
    an error of 1e-7 (inside atol) in the gradient of input 0 must show in it."""
    def product(a, b):
        return Tensor.from_op(a.data * b.data, (a, b), lambda g, out: (g * b + 1e-7, g * a))

    worst = check_gradients(product, [X, X + 3.0])
    assert worst >= 5e-8
