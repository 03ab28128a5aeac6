"""Proximal operators: the regularizers that act after the optimizer's step.

A proximal gradient step (GrOWL, eq. (5)) first takes a plain gradient step on the loss,
then applies the *proximal operator* of the regularizer R scaled by the step size eta:

    prox_{eta R}(z) = argmin_x  eta * R(x) + 1/2 * ||x - z||^2

Every function here computes prox_{eta R} for one R, takes ``eta`` as an argument, keeps
float32 as float32 and float64 as float64, and either returns a new array or writes into
``out`` (``out=w`` works in place):

============================  ====================================================  =============================
function                      R(w)                                                  source
============================  ====================================================  =============================
``prox_l1``                   ``alpha * sum_ij |w_ij|``                             DL 7.2.2 (published 7.1.2)
``prox_group_lasso``          ``alpha * sum_i ||w_i||_2``  (rows w_i)               GrOWL, eq. (1), lam_i = alpha
``prox_owl``                  ``sum_i lam_i |z|_[i]``  (i-th largest magnitude)     GrOWL, Appendix A, Alg. 2
``prox_growl``                ``sum_i lam_i ||w_[i]||_2``  (i-th largest row)       GrOWL, eqs. (1), (4), (8)
============================  ====================================================  =============================

The weights ``lam`` of OWL and GrOWL come from :func:`growl_weights` (GrOWL, eq. (9)) or
one of its named special cases: :func:`oscar_weights`, :func:`group_lasso_weights`,
:func:`linf_weights`.

Rows
----
minireg stores a dense weight as (in_features, out_features), so a row of W holds every
weight leaving one input, and GrOWL groups rows (GrOWL, eq. (3)): a zero row switches
an input off. A convolution weight is stored (in_channels, out_channels, kh, kw); its
rows are the input channels, one row of out_channels * kh * kw entries each (GrOWL,
eq. (4)). :func:`row_view` gives this (n_rows, n_columns) view of any weight, and the
row-wise operators go through it.

The OWL and GrOWL operators run the compiled kernels of ``minireg/_ext/pava.pyx`` when
they are built and switched on, and their NumPy twins in ``minireg.kernels`` otherwise
(``MINIREG_PURE_NUMPY=1`` or ``minireg.kernels.use_compiled(False)``).
"""
import numpy as np

from minireg import checks, kernels
from minireg.checks import check_choice, check_number
from minireg.kernels.pava import row_norms
from minireg.nn.module import row_view
from minireg.regularizers.base import Regularizer


# ---------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------

def _as_array(weight, name, finite=True):
    """The ndarray behind ``weight`` (an ndarray, or anything with ``.data``, such as a
    minireg Parameter), checked to be float32 or float64 and, when ``finite``, to hold
    no NaN or infinity (the OWL kernels check that on their own first pass)."""
    array = weight if isinstance(weight, np.ndarray) else getattr(weight, "data", weight)
    return checks.check_float_array(checks.as_array(array, name), name, finite=finite)


def _as_out(out, like):
    """``out`` as an ndarray shaped and typed like ``like`` (or None); a Parameter's
    array is taken from its ``.data``."""
    if out is not None and not isinstance(out, np.ndarray):
        out = getattr(out, "data", out)
    return kernels.check_out(out, like)


def _write_rows(result_rows, out):
    """Put rows computed for ``row_view(out)`` into ``out`` and return ``out``."""
    out[...] = result_rows.reshape(out.shape)
    return out


# ---------------------------------------------------------------------------------------
# l1 and group Lasso: closed forms
# ---------------------------------------------------------------------------------------

def soft_threshold(x, threshold, out=None):
    """Soft thresholding ``S_t(x) = sign(x) * max(|x| - t, 0)``, entry by entry.

    ``S_t`` is the prox of ``t * ||x||_1``: it is the closed-form minimizer of
    ``1/2 (w - w*)^2 + t |w|``, ``w = sign(w*) max(|w*| - t, 0)`` (Deep Learning,
    sec. 7.2.2 (published 7.1.2), with the Hessian gamma_i = 1 and beta = t).
    """
    x = _as_array(x, "x")
    threshold = checks.check_number(threshold, "threshold", minimum=0.0)
    return _soft_threshold(x, threshold, _as_out(out, x))


def _soft_threshold(x, threshold, out):
    """:func:`soft_threshold` of checked arguments (``out`` None or checked)."""
    excess = np.maximum(np.abs(x) - threshold, 0)  # a Python float keeps float32 as float32
    return np.copysign(excess, x, out=np.empty_like(x) if out is None else out)  # an array even when 0-d


def prox_l1(weight, alpha, eta, out=None):
    """prox of ``eta * alpha * ||w||_1``: soft thresholding at ``eta * alpha``.

    Parameters
    ----------
    weight : float32 or float64 array (or minireg Parameter), any shape
    alpha : float >= 0, the L1 coefficient (Deep Learning, eq. 7.9: Omega = ||w||_1)
    eta : float >= 0, the step size
    out : None, or an array like ``weight`` to write into
    """
    w = _as_array(weight, "weight")
    alpha = checks.check_number(alpha, "alpha", minimum=0.0)
    eta = checks.check_number(eta, "eta", minimum=0.0)
    return _soft_threshold(w, eta * alpha, _as_out(out, w))


def prox_group_lasso(weight, alpha, eta, out=None):
    """prox of ``eta * alpha * sum_i ||w_i||_2`` over the rows ``w_i`` of ``row_view(weight)``.

    Each row is shrunk toward zero by ``eta * alpha`` in norm, and set to zero when its
    norm is at most that (block soft thresholding):

        U_i = max(0, 1 - eta * alpha / ||w_i||_2) * w_i.

    This is GrOWL with all weights equal, lam_i = alpha (GrOWL, eq. (1) and sec. 3.1).
    """
    w = _as_array(weight, "weight")
    alpha = checks.check_number(alpha, "alpha", minimum=0.0)
    eta = checks.check_number(eta, "eta", minimum=0.0)
    out = _as_out(out, w)
    rows = row_view(w)
    norms = row_norms(rows)
    keep_fraction = np.zeros_like(norms)
    nonzero = norms > 0
    keep_fraction[nonzero] = np.maximum(0.0, 1.0 - eta * alpha / norms[nonzero])
    result_rows = rows * keep_fraction.astype(w.dtype)[:, None]
    if out is None:
        return result_rows.reshape(w.shape)
    return _write_rows(result_rows, out)


# ---------------------------------------------------------------------------------------
# OWL and GrOWL
# ---------------------------------------------------------------------------------------

def prox_owl(z, lam, eta, out=None):
    """prox of ``eta * Omega_lam`` with ``Omega_lam(z) = sum_i lam_i |z|_[i]`` (OWL / SLOPE).

    ``|z|_[i]`` is the i-th largest magnitude; ``lam`` must be non-increasing and
    non-negative. Sort the magnitudes, subtract ``eta * lam``, project onto the
    non-increasing non-negative sequences by pool adjacent violators, undo the sort and
    restore the signs (GrOWL, Appendix A, Algorithm 2; Bogdan et al. 2015).

    Parameters
    ----------
    z : float32 or float64 array of any shape, treated as one vector of its entries
    lam : ``z.size`` weights, e.g. from :func:`growl_weights`
    eta : float >= 0, the step size
    out : None, or an array like ``z`` to write into (``out=z`` works in place)
    """
    z = _as_array(z, "z", finite=False)
    out = _as_out(out, z)
    flat = z.reshape(-1)
    if out is None:
        return kernels.owl_prox(flat, lam, eta).reshape(z.shape)
    if out.flags.c_contiguous:
        kernels.owl_prox(flat, lam, eta, out=out.reshape(-1))
        return out
    out[...] = kernels.owl_prox(flat, lam, eta).reshape(z.shape)
    return out


def prox_growl(weight, lam, eta, out=None):
    """prox of ``eta * Omega_lam`` on the rows of ``row_view(weight)`` (GrOWL, eq. (8)).

    ``Omega_lam(W) = sum_i lam_i ||w_[i]||_2`` with ``w_[i]`` the row of i-th largest
    norm (GrOWL, eq. (1)); rows are inputs of a dense weight and input channels of a
    convolution weight (eq. (4)). The OWL prox of the row norms gives each row its new
    norm: ``U_i = w_i * prox_{eta Omega_lam}(r)_i / r_i`` with ``r_i = ||w_i||_2``.

    Parameters
    ----------
    weight : float32 or float64 array (or minireg Parameter) of 2 or more dimensions
    lam : one weight per row, non-increasing and non-negative (e.g. :func:`growl_weights`)
    eta : float >= 0, the step size
    out : None, or an array like ``weight`` to write into (``out=weight`` works in place)
    """
    w = _as_array(weight, "weight", finite=False)
    out = _as_out(out, w)
    rows = row_view(w)
    if out is None:
        return kernels.growl_prox(rows, lam, eta).reshape(w.shape)
    if out.ndim == 2 or out.flags.c_contiguous:  # row_view(out) is a view of out
        kernels.growl_prox(rows, lam, eta, out=row_view(out))
        return out
    return _write_rows(kernels.growl_prox(rows, lam, eta), out)


def owl_norm(z, lam):
    """``Omega_lam(z) = sum_i lam_i |z|_[i]``, the OWL norm (GrOWL, eq. (1) for vectors).

    ``z``: finite, of any shape (one vector of its entries); ``lam``: ``z.size`` weights,
    finite, non-increasing and non-negative, so that Omega_lam is a norm.
    """
    z = _as_array(z, "z")
    return _ordered_weighted_sum(np.abs(z.reshape(-1)).astype(np.float64), lam)


def growl_norm(weight, lam):
    """``Omega_lam(W) = sum_i lam_i ||w_[i]||_2`` over the rows of ``row_view(weight)`` (GrOWL, eq. (1))."""
    rows = row_view(_as_array(weight, "weight"))
    with np.errstate(over="ignore"):  # a norm above 1.8e308 is inf, the float for "too large"
        return _ordered_weighted_sum(row_norms(rows), lam)


def _ordered_weighted_sum(magnitudes, lam):
    """``sum_i lam_i m_[i]`` with ``m_[1] >= m_[2] >= ...``, for checked weights ``lam``.

    Only the positive weights take part, so that a magnitude that overflowed to inf
    (a row norm above 1.8e308) meets no zero weight (0 * inf is nan).
    """
    lam = kernels.check_owl_weights(lam, magnitudes.size)
    largest_first = np.sort(magnitudes)[::-1]
    positive = lam > 0
    return float(np.dot(lam[positive], largest_first[positive]))


# ---------------------------------------------------------------------------------------
# The weights lam (GrOWL, eq. (9)) and their special cases
# ---------------------------------------------------------------------------------------

def growl_weights(n, lambda1, lambda2, p):
    """The GrOWL weights of eq. (9): a linear decay over the first ``p``, then constant.

        lam_i = Lambda1 + (p - i + 1) * Lambda2   for i = 1, ..., p
        lam_i = Lambda1                            for i = p + 1, ..., n

    ``Lambda1`` sets the sparsifying strength and ``Lambda2`` the clustering strength;
    only the ``p`` largest rows are encouraged to tie (GrOWL, sec. 3.4.1).

    Parameters
    ----------
    n : int >= 1, the number of groups (rows)
    lambda1, lambda2 : floats >= 0
    p : int in 1 ... n

    Returns
    -------
    lam : float64 array of shape (n,), non-increasing and non-negative
    """
    n = checks.check_int(n, "n (the number of rows)", minimum=1)
    p = checks.check_int(p, "p", minimum=1, maximum=n)
    lambda1 = checks.check_number(lambda1, "lambda1", minimum=0.0)
    lambda2 = checks.check_number(lambda2, "lambda2", minimum=0.0)
    i = np.arange(1, n + 1, dtype=np.float64)
    return np.where(i <= p, lambda1 + (p - i + 1) * lambda2, lambda1)


def oscar_weights(n, lambda1, lambda2):
    """OSCAR (Bondell & Reich 2008): eq. (9) with ``p = n``, a linear decay over all rows.

    ``lam_i = Lambda1 + (n - i + 1) * Lambda2`` (GrOWL, sec. 3.4.1: "if p = n, the above
    setting is equivalent to OSCAR").
    """
    return growl_weights(n, lambda1, lambda2, n)


def group_lasso_weights(n, lambda1):
    """Group Lasso: eq. (9) with ``Lambda2 = 0``, all weights equal to ``Lambda1``.

    With equal weights GrOWL is the group Lasso (GrOWL, sec. 3.1), and OWL is the l1
    norm, whose prox is soft thresholding.
    """
    return growl_weights(n, lambda1, 0.0, n)


def linf_weights(n, alpha):
    """``lam = (alpha, 0, ..., 0)``: OWL becomes ``alpha * ||z||_inf`` (the largest magnitude).

    This is eq. (9) with ``Lambda1 = 0``, ``Lambda2 = alpha``, ``p = 1``. Its prox is
    ``z`` minus the projection of ``z`` onto the l1 ball of radius ``eta * alpha``
    (Moreau decomposition; the l1 norm is the dual of the l-inf norm).
    """
    return growl_weights(n, 0.0, alpha, 1)


# ---------------------------------------------------------------------------------------
# The proximal regularizers: the operators above applied in training (place 5)
# ---------------------------------------------------------------------------------------


class ProximalRegularizer(Regularizer):
    r"""A proximal gradient step in training: :math:`W \leftarrow \mathrm{prox}_{\eta R}(W)`.

    The trainer's optimizer makes the gradient step on the loss; this regularizer then
    applies the prox of :math:`\eta\,c_l R` to each selected parameter (GrOWL, eqs. (5)
    and (7); Algorithm 1), with :math:`\eta` the learning rate in force and :math:`c_l`
    the parameter's coefficient (``params``). ``every="step"`` applies it after every
    update, as proximal gradient descent does; ``every="epoch"`` once per pass over the
    data, after its last update, as the GrOWL authors' code did (cheaper; the weights
    drift from the prox's fixed points in between).

    Rows, entries or whole weights that the prox sets to zero stay exactly zero as long
    as the data's pull on them (the gradient step) is weaker than the threshold: the
    next prox zeroes them again. With momentum the velocity still holds old gradients
    and can push a zeroed weight off zero for a few steps; with Adam, :math:`\eta` is
    the base learning rate, while Adam's effective per-coordinate step differs, so the
    combination is a heuristic rather than the exact proximal step.

    A subclass defines :meth:`prox` for one parameter.
    """

    def __init__(self, params=None, every="step"):
        self.params = params
        self.every = check_choice(every, "every", ("step", "epoch"))

    def after_step(self, step):
        if self.every == "step":
            self.apply(step.lr)

    def after_epoch(self, step):
        if self.every == "epoch":
            self.apply(step.lr)

    def apply(self, eta: float) -> None:
        """Apply the prox with step size ``eta`` to every selected parameter, in place."""
        for _, w, c in self.selected:
            self.prox(w, eta * c)
            w._bump_version()            # a graph that saved the old values is stale

    def prox(self, w, eta: float) -> None:
        """Replace ``w.data`` by prox_{eta R}(w.data), in place (``w`` is the Parameter)."""
        raise NotImplementedError

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                             if k not in ("params", "selected") and not k.startswith("_"))
        return f"{type(self).__name__}({settings})"


class ProxL1(ProximalRegularizer):
    r"""L1 by its prox: soft thresholding at :math:`\eta\alpha` (Deep Learning 7.2.2,
    published 7.1.2): exact zeros, where the L1 *penalty*'s subgradient only makes
    weights small. One SGD step followed by it is the ISTA step of the Lasso."""

    def __init__(self, alpha, params=None, every="step"):
        super().__init__(params, every)
        self.alpha = check_number(alpha, "alpha", minimum=0.0)

    def prox(self, w, eta):
        prox_l1(w.data, self.alpha, eta, out=w.data)


class ProxGroupLasso(ProximalRegularizer):
    r"""Group Lasso on rows, :math:`\alpha \sum_i \lVert w_i \rVert_2` (GrOWL eq. (1) with equal
    λ): block soft thresholding switches whole inputs (rows of a dense weight, input
    channels of a conv weight) off."""

    def __init__(self, alpha, params=None, every="step"):
        super().__init__(params, every)
        self.alpha = check_number(alpha, "alpha", minimum=0.0)

    def prox(self, w, eta):
        prox_group_lasso(w.data, self.alpha, eta, out=w.data)


def _rows_p(p, n_rows: int, name: str) -> int:
    """``p`` as a number of rows: an int in 1..n, or a fraction in (0, 1] of n (rounded up)."""
    if isinstance(p, (float, np.floating)):
        fraction = check_number(p, name, minimum=0.0, maximum=1.0, include_minimum=False)
        return max(1, int(np.ceil(fraction * n_rows)))
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer)) or not 1 <= p <= n_rows:
        raise ValueError(f"{name} must be an int in 1 ... {n_rows} (the rows) or a fraction in (0, 1], got {p!r}")
    return int(p)


class _OrderedWeighted(ProximalRegularizer):
    """What OWL and GrOWL share: Λ1, Λ2 and p of GrOWL's eq. (9), made into one weight
    vector λ per selected parameter when the trainer is built (:meth:`groups` says how
    many entries or rows λ weighs)."""

    def __init__(self, lambda1, lambda2, p, params, every):
        super().__init__(params, every)
        self.lambda1 = check_number(lambda1, "lambda1", minimum=0.0)
        self.lambda2 = check_number(lambda2, "lambda2", minimum=0.0)
        if isinstance(p, (float, np.floating)):
            check_number(p, "p", minimum=0.0, maximum=1.0, include_minimum=False)
        self.p = p

    def groups(self, name: str, w) -> int:
        raise NotImplementedError

    def attach(self, model):
        super().attach(model)
        self._lam = {}
        for name, w, _ in self.selected:
            n = self.groups(name, w)
            self._lam[id(w)] = growl_weights(n, self.lambda1, self.lambda2, _rows_p(self.p, n, "p"))


class ProxGrOWL(_OrderedWeighted):
    r"""GrOWL on rows with the weights of eq. (9): sparsity and tying of correlated inputs.

    :math:`R(W) = \sum_i \lambda_i \lVert w_{[i]} \rVert_2`, rows sorted by norm, with
    :math:`\lambda_i = \Lambda_1 + (p - i + 1)\Lambda_2` for :math:`i \le p` and
    :math:`\Lambda_1` after (GrOWL, eqs. (1), (4), (9)); its prox is the OWL prox of the
    row norms (eq. (8)). Rows are the inputs of a dense weight and the input channels
    of a conv weight. ``p`` is an int or a fraction of the rows (the paper's recipe:
    half).

    Parameters
    ----------
    lambda1, lambda2 : float
        :math:`\Lambda_1, \Lambda_2 \ge 0`.
    p : int or float, default 0.5
    params, every : as for :class:`ProximalRegularizer`
    """

    def __init__(self, lambda1, lambda2, p=0.5, params=None, every="step"):
        super().__init__(lambda1, lambda2, p, params, every)

    def groups(self, name, w):
        if w.ndim not in (2, 4):
            raise ValueError(f"{type(self).__name__} acts on rows of dense or conv weights; "
                             f"{name!r} has shape {w.shape}")
        return w.shape[0]

    def prox(self, w, eta):
        prox_growl(w.data, self._lam[id(w)], eta, out=w.data)


class ProxOSCAR(ProxGrOWL):
    r"""OSCAR on rows (Bondell and Reich 2008): GrOWL's eq. (9) with :math:`p = n`, the
    linear decay over all rows (GrOWL, sec. 3.4.1)."""

    def __init__(self, lambda1, lambda2, params=None, every="step"):
        super().__init__(lambda1, lambda2, p=1.0, params=params, every=every)


class ProxOWL(_OrderedWeighted):
    r"""OWL (SLOPE) on a flattened weight: :math:`R(w) = \sum_i \lambda_i |w|_{[i]}` over its
    entries, with the weights of GrOWL's eq. (9) for :math:`n` = the number of entries
    (GrOWL, Appendix A, Algorithm 2: sort, PAVA, unsort).

    Parameters
    ----------
    lambda1, lambda2 : float
        :math:`\Lambda_1, \Lambda_2 \ge 0`.
    p : int or float, default 1.0
        The entries over which the weights decay: 1.0 (all) is OSCAR's weights.
    params, every : as for :class:`ProximalRegularizer`
    """

    def __init__(self, lambda1, lambda2, p=1.0, params=None, every="step"):
        super().__init__(lambda1, lambda2, p, params, every)

    def groups(self, name, w):
        return w.size

    def prox(self, w, eta):
        prox_owl(w.data, self._lam[id(w)], eta, out=w.data)
