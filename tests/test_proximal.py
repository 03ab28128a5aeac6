"""The proximal operators of minireg.regularizers.proximal, checked against their definitions.

prox_{eta R}(z) = argmin_x eta R(x) + 1/2 ||x - z||^2. Each operator is checked by
(a) its optimality conditions (for a norm R with dual norm R*, x is the prox iff
    g = (z - x) / eta satisfies R*(g) <= 1 and <g, x> = R(x)),
(b) the objective at our answer against SciPy's general-purpose minimizer,
(c) the special cases named in the issue (equal weights, (alpha, 0, ..., 0)), and
(d) PAVA against scikit-learn's isotonic regression.
The OWL / GrOWL checks run on both paths: compiled kernel and NumPy twin.
"""

import numpy as np
import pytest
from scipy.optimize import brentq, minimize
from sklearn.isotonic import isotonic_regression

import helpers
from minireg import kernels
from minireg.regularizers import proximal as P


def kernel_path(path):
    return helpers.kernel_path(path, "pava")


PATHS = ["compiled", "twin"]


def random_weights(rng, n):
    """Non-increasing, non-negative weights, with some ties."""
    lam = np.sort(np.round(rng.random(n) * 4, 1))[::-1]
    return lam.copy()


def owl_dual_norm(g, lam):
    """max_k (sum of the k largest |g|) / (sum of the k largest lam): the dual of OWL."""
    top = np.cumsum(np.sort(np.abs(g))[::-1])
    weights = np.cumsum(lam)
    ratios = np.where(weights > 0, top / np.where(weights > 0, weights, 1), np.where(top > 0, np.inf, 0))
    return float(np.max(ratios)) if g.size else 0.0


def assert_norm_prox_optimal(x, z, eta, norm, dual_norm, tol):
    """x = prox_{eta R}(z) iff g = (z - x)/eta has R*(g) <= 1 and <g, x> = R(x)."""
    g = (z - x) / eta
    assert dual_norm(g) <= 1 + tol
    assert abs(np.vdot(g, x) - norm(x)) <= tol * max(1.0, norm(x))


def scipy_objective_min(objective, starts):
    """The smallest objective value SciPy's Powell and Nelder-Mead find from the starts."""
    best = np.inf
    options = {
        "Powell": {"xtol": 1e-10, "ftol": 1e-12, "maxiter": 20000},
        "Nelder-Mead": {"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    }
    for start in starts:
        for method in ("Powell", "Nelder-Mead"):
            result = minimize(objective, start, method=method, options=options[method])
            best = min(best, result.fun)
    return best


# ---------------------------------------------------------------------------------------
# Soft thresholding and group Lasso
# ---------------------------------------------------------------------------------------

def test_soft_threshold_optimality_conditions():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(200)
    t = 0.7
    x = P.soft_threshold(z, t)
    nonzero = x != 0
    # Where x_i != 0: z_i - x_i = t sign(x_i). Where x_i = 0: |z_i| <= t.
    np.testing.assert_allclose((z - x)[nonzero], t * np.sign(x[nonzero]), atol=1e-14)
    assert np.all(np.abs(z[~nonzero]) <= t)
    assert nonzero.sum() > 20 and (~nonzero).sum() > 20


def test_prox_l1_beats_scipy_and_is_soft_threshold_at_eta_alpha():
    rng = np.random.default_rng(1)
    for _ in range(5):
        z = rng.standard_normal(4)
        alpha, eta = 0.8, 0.5
        x = P.prox_l1(z, alpha, eta)
        def objective(v):
            return eta * alpha * np.sum(np.abs(v)) + 0.5 * np.sum((v - z) ** 2)
        assert objective(x) <= scipy_objective_min(objective, [z, np.zeros(4)]) + 1e-9
        np.testing.assert_array_equal(x, P.soft_threshold(z, eta * alpha))


def test_group_lasso_optimality_conditions_on_rows():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((30, 5))
    alpha, eta = 1.5, 1.0
    x = P.prox_group_lasso(w, alpha, eta)
    for row_in, row_out in zip(w, x):
        norm_out = np.linalg.norm(row_out)
        if norm_out > 0:
            # z_i - x_i = eta alpha x_i / ||x_i||
            np.testing.assert_allclose(row_in - row_out, eta * alpha * row_out / norm_out, atol=1e-12)
        else:
            assert np.linalg.norm(row_in) <= eta * alpha
    norms = np.linalg.norm(x, axis=1)
    assert (norms == 0).sum() > 3 and (norms > 0).sum() > 3


def test_group_lasso_beats_scipy():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 2))
    alpha, eta = 0.9, 0.7
    x = P.prox_group_lasso(w, alpha, eta)
    def objective(v):
        v = v.reshape(w.shape)
        return eta * alpha * np.sum(np.linalg.norm(v, axis=1)) + 0.5 * np.sum((v - w) ** 2)
    assert objective(x.ravel()) <= scipy_objective_min(objective, [w.ravel(), np.zeros(6)]) + 1e-9


# ---------------------------------------------------------------------------------------
# OWL
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_owl_optimality_conditions(path):
    rng = np.random.default_rng(4)
    with kernel_path(path):
        for n in [1, 2, 7, 50, 300]:
            z = rng.standard_normal(n) * 2
            z[rng.random(n) < 0.2] = 0.0
            z[: n // 3] = np.round(z[: n // 3])  # ties
            lam = random_weights(rng, n)
            eta = 0.6
            x = P.prox_owl(z, lam, eta)
            assert_norm_prox_optimal(
                x, z, eta, lambda v: P.owl_norm(v, lam), lambda g: owl_dual_norm(g, lam), 1e-9
            )


@pytest.mark.parametrize("path", PATHS)
def test_owl_objective_no_larger_than_scipy(path):
    rng = np.random.default_rng(5)
    with kernel_path(path):
        for _ in range(4):
            z = rng.standard_normal(4) * 2
            lam = random_weights(rng, 4)
            eta = 0.5
            x = P.prox_owl(z, lam, eta)
            def objective(v):
                return eta * P.owl_norm(v, lam) + 0.5 * np.sum((v - z) ** 2)
            assert objective(x) <= scipy_objective_min(objective, [z, np.zeros(4), x + 0.1]) + 1e-9


@pytest.mark.parametrize("path", PATHS)
def test_owl_with_equal_weights_is_soft_thresholding(path):
    rng = np.random.default_rng(6)
    z = rng.standard_normal(500)
    with kernel_path(path):
        x = P.prox_owl(z, P.group_lasso_weights(500, 0.3), 2.0)
    np.testing.assert_allclose(x, P.soft_threshold(z, 0.6), rtol=1e-13, atol=1e-15)


def project_onto_l1_ball(z, radius):
    """Euclidean projection onto {v : ||v||_1 <= radius}, by solving for the threshold."""
    if np.sum(np.abs(z)) <= radius:
        return z.copy()
    theta = brentq(lambda t: np.sum(np.maximum(np.abs(z) - t, 0)) - radius, 0, np.max(np.abs(z)))
    return np.sign(z) * np.maximum(np.abs(z) - theta, 0)


@pytest.mark.parametrize("path", PATHS)
def test_owl_with_alpha_then_zeros_is_prox_of_linf(path):
    rng = np.random.default_rng(7)
    alpha, eta = 1.3, 0.8
    with kernel_path(path):
        for n in [1, 5, 40]:
            z = rng.standard_normal(n)
            x = P.prox_owl(z, P.linf_weights(n, alpha), eta)
            # Moreau: prox of s * ||.||_inf = z - projection onto the l1 ball of radius s.
            np.testing.assert_allclose(x, z - project_onto_l1_ball(z, eta * alpha), atol=1e-10)


@pytest.mark.parametrize("path", PATHS)
def test_owl_float32_stays_float32_and_works_in_place(path):
    rng = np.random.default_rng(8)
    z = rng.standard_normal((6, 7)).astype(np.float32)  # any shape: one vector of entries
    lam = P.oscar_weights(42, 0.1, 0.01)
    with kernel_path(path):
        expected = P.prox_owl(z.astype(np.float64), lam, 0.5)
        x = P.prox_owl(z, lam, 0.5)
        assert x.dtype == np.float32 and x.shape == z.shape
        np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-7)
        same = P.prox_owl(z, lam, 0.5, out=z)
        assert same is z
        np.testing.assert_array_equal(z, x)


@pytest.mark.parametrize("path", PATHS)
def test_pava_agrees_with_scikit_learn(path):
    rng = np.random.default_rng(9)
    with kernel_path(path):
        for n in [1, 2, 10, 1000]:
            values = rng.standard_normal(n) + np.linspace(-1, 1, n)
            values[: n // 4] = np.round(values[: n // 4])
            np.testing.assert_allclose(
                kernels.isotonic_nonincreasing(values),
                isotonic_regression(values, increasing=False), rtol=1e-12, atol=1e-12,
            )


# ---------------------------------------------------------------------------------------
# GrOWL
# ---------------------------------------------------------------------------------------

def growl_dual_norm(g, lam):
    return owl_dual_norm(np.linalg.norm(g, axis=1), lam)


@pytest.mark.parametrize("path", PATHS)
def test_growl_optimality_conditions(path):
    rng = np.random.default_rng(10)
    with kernel_path(path):
        for n_rows in [1, 3, 40]:
            w = rng.standard_normal((n_rows, 6))
            w[rng.random(n_rows) < 0.2] = 0.0
            w[1::4] = w[0]  # rows with tied norms
            lam = P.growl_weights(n_rows, 0.5, 0.2, max(1, n_rows // 2))
            x = P.prox_growl(w, lam, 1.0)
            assert_norm_prox_optimal(
                x, w, 1.0, lambda v: P.growl_norm(v, lam), lambda g: growl_dual_norm(g, lam), 1e-9
            )


@pytest.mark.parametrize("path", PATHS)
def test_growl_objective_no_larger_than_scipy(path):
    rng = np.random.default_rng(11)
    w = rng.standard_normal((3, 2)) * 2
    lam = P.oscar_weights(3, 0.4, 0.3)
    with kernel_path(path):
        x = P.prox_growl(w, lam, 0.9)
    def objective(v):
        return 0.9 * P.growl_norm(v.reshape(3, 2), lam) + 0.5 * np.sum((v - w.ravel()) ** 2)
    assert objective(x.ravel()) <= scipy_objective_min(objective, [w.ravel(), np.zeros(6)]) + 1e-9


@pytest.mark.parametrize("path", PATHS)
def test_growl_with_equal_weights_is_group_lasso(path):
    rng = np.random.default_rng(12)
    w = rng.standard_normal((100, 8)).astype(np.float32)
    with kernel_path(path):
        x = P.prox_growl(w, P.group_lasso_weights(100, 1.1), 2.0)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, P.prox_group_lasso(w, 1.1, 2.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", PATHS)
def test_growl_on_conv_weight_groups_input_channels_and_writes_through(path):
    rng = np.random.default_rng(13)
    in_channels, out_channels, kh, kw = 5, 3, 2, 2
    w = rng.standard_normal((in_channels, out_channels, kh, kw))
    rows = P.row_view(w)
    assert rows.shape == (in_channels, out_channels * kh * kw)
    assert np.shares_memory(rows, w)
    np.testing.assert_array_equal(rows[2], w[2].ravel())  # row 2 = everything of input channel 2
    lam = P.growl_weights(in_channels, 1.0, 0.5, 3)
    with kernel_path(path):
        expected = P.prox_growl(w.reshape(in_channels, -1), lam, 0.7).reshape(w.shape)
        returned = P.prox_growl(w, lam, 0.7, out=w)
    assert returned is w
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-14)


def test_row_view_of_a_dense_weight_and_of_a_parameter_like_object():
    w = np.arange(12.0).reshape(3, 4)
    assert P.row_view(w) is w

    class Parameter:  # stands in for minireg.nn.Parameter: the array is in .data
        def __init__(self, data):
            self.data = data

    parameter = Parameter(w)
    x = P.prox_group_lasso(parameter, 0.5, 1.0, out=parameter)
    assert x is w
    with pytest.raises(ValueError, match="dense"):
        P.row_view(np.ones(3))


@pytest.mark.parametrize("path", PATHS)
def test_prox_into_non_contiguous_out(path):
    rng = np.random.default_rng(14)
    w = rng.standard_normal((4, 3, 2, 2))
    lam = P.oscar_weights(4, 0.2, 0.1)
    buffer = np.zeros((4, 3, 2, 4))
    out = buffer[..., ::2]  # not contiguous: row_view(out) would be a copy
    with kernel_path(path):
        result = P.prox_growl(w, lam, 1.0, out=out)
        expected = P.prox_growl(w, lam, 1.0)
    assert result is out
    np.testing.assert_allclose(buffer[..., ::2], expected, atol=1e-15)
    assert np.all(buffer[..., 1::2] == 0)


# ---------------------------------------------------------------------------------------
# The weights of eq. (9)
# ---------------------------------------------------------------------------------------

def test_growl_weights_follow_eq_9():
    lam = P.growl_weights(6, 0.5, 0.25, 3)
    expected = [0.5 + (3 - i + 1) * 0.25 if i <= 3 else 0.5 for i in range(1, 7)]
    np.testing.assert_allclose(lam, expected)
    np.testing.assert_allclose(P.oscar_weights(4, 1.0, 2.0), [9.0, 7.0, 5.0, 3.0])
    np.testing.assert_array_equal(P.group_lasso_weights(3, 0.7), [0.7, 0.7, 0.7])
    np.testing.assert_array_equal(P.linf_weights(4, 2.5), [2.5, 0.0, 0.0, 0.0])


def test_owl_norm_with_special_weights():
    z = np.array([3.0, -1.0, 4.0, -1.5])
    assert P.owl_norm(z, P.linf_weights(4, 2.0)) == pytest.approx(2.0 * 4.0)
    assert P.owl_norm(z, P.group_lasso_weights(4, 0.5)) == pytest.approx(0.5 * 9.5)
    w = np.array([[3.0, 4.0], [0.0, 1.0]])
    assert P.growl_norm(w, np.array([2.0, 1.0])) == pytest.approx(2.0 * 5.0 + 1.0)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_bad_weights_are_refused_with_a_clear_error(path):
    z = np.array([1.0, -2.0, 3.0])
    with kernel_path(path):
        with pytest.raises(ValueError, match="lam must be non-increasing"):
            P.prox_owl(z, [0.1, 0.2, 0.3], 1.0)
        with pytest.raises(ValueError, match="lam must be non-negative"):
            P.prox_owl(z, [1.0, 0.5, -0.1], 1.0)
        with pytest.raises(ValueError, match="lam must be finite"):
            P.prox_growl(np.ones((3, 2)), [np.nan, 1.0, 0.0], 1.0)
        with pytest.raises(ValueError, match=r"lam must have shape \(3,\)"):
            P.prox_owl(z, [1.0, 0.5], 1.0)
        with pytest.raises(ValueError, match=r"lam must have shape \(4,\)"):
            P.prox_growl(np.ones((4, 2)), [1.0, 0.5], 1.0)
        with pytest.raises(ValueError, match="z must be finite"):
            P.prox_owl(np.array([1.0, np.inf, 0.0]), [1.0, 0.5, 0.0], 1.0)
        with pytest.raises(ValueError, match="w .* must be finite"):
            P.prox_growl(np.array([[1e200, 1e200], [1.0, 1.0]]), [1.0, 0.5], 1.0)
        with pytest.raises(TypeError, match="lam must be an array of real numbers"):
            P.prox_owl(z, np.array(["a", "b", "c"]), 1.0)


def test_bad_arrays_and_numbers_are_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="z must be a NumPy array of float32 or float64"):
        P.prox_owl(np.array([1, 2, 3]), [1.0, 0.5, 0.0], 1.0)
    with pytest.raises(TypeError, match="weight must be a NumPy array of float32 or float64"):
        P.prox_growl(np.array([[1, 2]], dtype=object), [1.0], 1.0)
    with pytest.raises(TypeError, match="x must be a NumPy array of float32 or float64"):
        P.soft_threshold(np.arange(3), 0.5)
    with pytest.raises(ValueError, match=r"eta must be a finite number in \[0.0, inf\)"):
        P.prox_l1(np.ones(3), 0.5, -1.0)
    with pytest.raises(TypeError, match="eta must be a finite number"):
        P.prox_owl(np.ones(3), [1.0, 0.5, 0.0], "fast")
    with pytest.raises(ValueError, match=r"alpha must be a finite number in \[0.0, inf\)"):
        P.prox_group_lasso(np.ones((2, 2)), -0.5, 1.0)
    with pytest.raises(ValueError, match=r"out must be a writeable NumPy array of shape \(3, 2\)"):
        P.prox_growl(np.ones((3, 2)), [1.0, 0.5, 0.0], 1.0, out=np.ones((2, 3)))
    with pytest.raises(ValueError, match="out must be .* and dtype float64; got dtype float32"):
        P.prox_l1(np.ones(3), 0.5, 1.0, out=np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"p must be an integer in \[1, 5\], got 6"):
        P.growl_weights(5, 1.0, 0.1, 6)
    with pytest.raises(ValueError, match=r"n \(the number of rows\) must be an integer >= 1"):
        P.growl_weights(0, 1.0, 0.1, 1)
    with pytest.raises(ValueError, match=r"lambda2 must be a finite number in \[0.0, inf\)"):
        P.oscar_weights(5, 1.0, -0.1)


def test_owl_norm_checks_every_rule_of_its_weights():
    """A negative weight made owl_norm return a negative "norm"; NaN, complex weights
    (their imaginary part was dropped) and increasing weights were accepted too."""
    z = np.array([3.0, -1.0, 2.0])
    for lam, error, message in [([-1.0, -2.0, -3.0], ValueError, "lam must be non-negative"),
                                ([1.0, 0.5, -0.5], ValueError, "lam must be non-negative"),
                                ([0.5, 1.0, 0.0], ValueError, "lam must be non-increasing"),
                                ([np.nan, 0.5, 0.0], ValueError, "lam must be finite"),
                                ([np.inf, 0.5, 0.0], ValueError, "lam must be finite"),
                                (np.array([1 + 1j, 0, 0]), TypeError, "lam must be an array of real numbers"),
                                ([1.0, 0.5], ValueError, r"lam must have shape \(3,\)")]:
        with pytest.raises(error, match=message):
            P.owl_norm(z, lam)
        with pytest.raises(error, match=message):
            P.growl_norm(np.ones((3, 2)), lam)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="z must hold finite numbers only"):
            P.owl_norm(np.array([1.0, bad, 0.0]), [1.0, 0.5, 0.0])
        with pytest.raises(ValueError, match="weight must hold finite numbers only"):
            P.growl_norm(np.array([[1.0, bad], [0.0, 1.0]]), [1.0, 0.5])
    # A row norm that overflows meets no zero weight: inf with a positive weight, else 0.
    huge = np.array([[1e200, 1e200], [3.0, 4.0]])
    assert P.growl_norm(huge, [1.0, 0.0]) == np.inf
    assert P.growl_norm(huge, [0.0, 0.0]) == 0.0


def test_closed_form_proxes_refuse_non_finite_weights():
    """soft thresholding of NaN returned NaN without a word; a prox needs a finite input."""
    for bad in (np.nan, np.inf, -np.inf):
        w = np.array([[1.0, bad], [0.5, -0.5]])
        with pytest.raises(ValueError, match="x must hold finite numbers only"):
            P.soft_threshold(w, 0.1)
        with pytest.raises(ValueError, match="weight must hold finite numbers only"):
            P.prox_l1(w, 0.1, 1.0)
        with pytest.raises(ValueError, match="weight must hold finite numbers only"):
            P.prox_group_lasso(w, 0.1, 1.0)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        P.soft_threshold(np.ones(3), np.inf)


def test_soft_threshold_of_a_scalar_weight_is_an_array():
    """A 0-d weight ended in NumPy's "return arrays must be of ArrayType"."""
    shrunk = P.prox_l1(np.float32(-0.5), 0.2, 1.0)
    assert isinstance(shrunk, np.ndarray) and shrunk.shape == () and shrunk.dtype == np.float32
    assert shrunk == np.float32(-0.3)
    out = np.zeros((), dtype=np.float64)
    assert P.soft_threshold(np.array(2.0), 0.5, out=out) is out and out == 1.5
