"""Tensor: a NumPy array that remembers how it was computed, and reverse-mode autograd.

Every differentiable operation (see :mod:`minireg.functional`) produces a new Tensor
that records its *parents* (the Tensors it was computed from) and a *backward*
function. ``backward(grad, out)`` receives the gradient of the final scalar with
respect to ``out`` and returns one gradient per parent (the vector-Jacobian product).

Backward functions are themselves written with Tensor operations. The engine runs them
under :func:`no_grad` by default, so they cost no more than plain NumPy; with
``create_graph=True`` they are recorded like any forward computation, and the gradient
is a differentiable function of the inputs. That is what makes the input-gradient
penalty (Deep Learning, eq. 7.17) and Hessian-vector products (eqs. 7.6-7.8) work.

The engine (:func:`_backpropagate`) is the one from micrograd: sort the graph
topologically, then walk it from the output back to the leaves, summing the
gradients that reach each node.
"""
from __future__ import annotations

import contextlib

import numpy as np

# Tensor's operators (+, *, @, .sum(), ...) call the ops of minireg.functional, and the
# ops build Tensors: the two modules import each other. functional is imported first
# (minireg/__init__.py does that, and every import of minireg.tensor runs it before),
# so when it asks for Tensor, this module runs, finds functional already in sys.modules
# and binds F to it; F's functions are looked up only when an operator runs. An import
# inside each operator would cost 0.3 us per call (timeit), 7 % of an elementwise op.
from minireg import functional as F

DEFAULT_DTYPE = np.float32
"""dtype of Tensors made from Python numbers or lists (float64 is used for gradient checks)."""

_grad_enabled = True
_in_place_changes = 0  # the clock of Tensor._bump_version
_leading_to_wanted = None  # during grad(output, inputs): ids of the tensors on a path to inputs


def needs_grad(t) -> bool:
    """Whether a backward function must compute the gradient for its input ``t``.

    ``t.requires_grad``, and, while :func:`grad` asks for the gradients of some tensors
    only, whether ``t`` lies on a path to one of them: ``grad(loss, [x])`` then does not
    compute the weights' gradients on the way (as ``torch.autograd.grad`` does not). Every
    backward function asks this for each of its inputs.
    """
    return t.requires_grad and (_leading_to_wanted is None or id(t) in _leading_to_wanted)


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph for backpropagation."""
    return _grad_enabled


@contextlib.contextmanager
def set_grad_enabled(enabled: bool):
    """Context manager that turns graph recording on or off inside its block."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, bool(enabled)
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad():
    """Context manager: inside it, operations record nothing (evaluation, updates)."""
    return set_grad_enabled(False)


def enable_grad():
    """Context manager: record the graph even inside an enclosing :func:`no_grad`."""
    return set_grad_enabled(True)


ACCEPTED_DTYPES = "bool, integer, float32 or float64"
"""What a Tensor may hold: float16 is too coarse for training (Adam's moments underflow),
and complex, string and object data have no place in the graph."""


def _is_accepted(dtype: np.dtype) -> bool:
    return dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize in (4, 8))


def _check_dtype(dtype, name: str) -> np.dtype:
    """``dtype`` as a NumPy dtype, if a Tensor may hold it (:data:`ACCEPTED_DTYPES`)."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a dtype of {ACCEPTED_DTYPES} values, got {dtype!r}") from None
    if not _is_accepted(resolved):
        raise TypeError(f"{name} must be a dtype of {ACCEPTED_DTYPES} values, got {resolved}")
    return resolved


def _to_array(data, dtype=None) -> np.ndarray:
    """The NumPy array behind ``data``; Python numbers and lists become DEFAULT_DTYPE floats."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = _check_dtype(dtype, "Tensor(dtype=...)")
    if isinstance(data, np.ndarray) and _is_accepted(data.dtype):
        return data if dtype is None else data.astype(dtype, copy=False)
    try:
        array = np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise type(error)(f"Tensor(data=...) needs numbers or a numeric array: {error}") from None
    if dtype is None and array.dtype == np.float64 and not isinstance(data, np.generic):
        array = array.astype(DEFAULT_DTYPE)
    if not _is_accepted(array.dtype):
        raise TypeError(
            f"Tensor(data=...) must hold {ACCEPTED_DTYPES} values, got {type(data).__name__} of dtype "
            f"{array.dtype}" + ("; convert it with .astype(np.float32)" if array.dtype.kind == "f" else "")
        )
    return array


class Tensor:
    """A NumPy array with an optional gradient and the record of how it was computed.

    Parameters
    ----------
    data : array_like
        The values. A NumPy array keeps its dtype; Python numbers and (nested) lists of
        floats become ``float32`` (:data:`DEFAULT_DTYPE`).
    requires_grad : bool
        Whether gradients with respect to this tensor are wanted. Only floating-point
        tensors can require gradients.
    dtype : numpy dtype, optional
        Convert the data to this dtype.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_version", "_changed_at",
                 "_made_at", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad=True needs a floating-point dtype (float32 or float64), "
                f"got {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._parents = ()
        self._backward = None
        self._version = 0
        self._changed_at = 0

    @classmethod
    def from_op(cls, data, parents, backward):
        """The result of an operation: ``data``, computed from ``parents``.

        The graph edge (parents and the backward function) is recorded only when
        gradient mode is on and some parent requires a gradient, together with the
        time it was made (see :meth:`_bump_version`).
        """
        out = cls.__new__(Tensor)
        out.data = data
        out.grad = None
        out._version = 0
        out._changed_at = 0
        if _grad_enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = parents
            out._backward = backward
            out._made_at = _in_place_changes
        else:
            out.requires_grad = False
            out._parents = ()
            out._backward = None
        return out

    # ---- plain properties -------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation."""
        return self._backward is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{grad})"

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def _bump_version(self) -> None:
        """Record that ``self.data`` was changed in place (or replaced).

        Code that writes a Tensor's values -- an optimizer step, a proximal step,
        ``load_state_dict``, ``model.to(dtype)`` -- calls this once afterwards. Then
        :meth:`backward` refuses to run the backward of an op made before the change
        that reads this tensor, since it would compute the gradient from the new values
        (PyTorch raises the same way).

        ``_version`` counts the changes of this tensor. The check itself uses a clock: a
        count of all in-place changes so far, which stamps the tensor changed here
        (``_changed_at``) and every op when it is made (``_made_at``). An op's input
        changed after the op iff its stamp is later; when the clock has not moved since
        the op was made (the usual case: forward, backward, then the update), nothing
        needs checking.
        """
        global _in_place_changes
        _in_place_changes += 1
        self._changed_at = _in_place_changes
        self._version += 1

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place and return self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad=True needs a floating-point dtype, got {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    # ---- backpropagation ----------------------------------------------------------------
    def backward(self, gradient=None, create_graph: bool = False, retain_graph: bool | None = None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Parameters
        ----------
        gradient : array_like or Tensor, optional
            The gradient with respect to ``self``; may be omitted only when ``self`` has
            exactly one element (a loss), where it is 1.
        create_graph : bool
            Record the backward pass itself, so that the resulting ``.grad`` tensors
            can be differentiated again (gradient penalties, Hessian-vector products).
        retain_graph : bool, optional
            Keep the graph for another backward pass through it. By default (as in
            PyTorch) it is kept only with ``create_graph=True``; otherwise the backward
            functions and the values they hold are released, and a second backward
            through the same graph raises an error.
        """
        given = set()
        for leaf, g in _backpropagate(self, gradient, create_graph, None, retain_graph).items():
            if not create_graph and (not g.data.flags.owndata or id(g.data) in given):
                # a view (of a broadcast, of another gradient) or an array that another
                # leaf already holds: give this leaf memory of its own
                g = Tensor(np.array(g.data))
            given.add(id(g.data))
            leaf.grad = g if leaf.grad is None else leaf.grad + g

    # ---- operators: thin wrappers around minireg.functional ------------------------------
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __neg__(self):
        return F.neg(self)

    def __abs__(self):
        return F.abs(self)

    def __pow__(self, exponent):
        return F.power(self, exponent)

    def __rpow__(self, base):
        return F.power(base, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # comparisons give plain boolean arrays: they have no gradient
    def __lt__(self, other):
        return self.data < _to_array(other)

    def __le__(self, other):
        return self.data <= _to_array(other)

    def __gt__(self, other):
        return self.data > _to_array(other)

    def __ge__(self, other):
        return self.data >= _to_array(other)

    __hash__ = object.__hash__  # tensors are dictionary keys by identity

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def abs(self):
        return F.abs(self)

    def relu(self):
        return F.relu(self)

    def tanh(self):
        return F.tanh(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def clip(self, low=None, high=None):
        return F.clip(self, low, high)

    def sum(self, axis=None, keepdims=False):
        return F.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return F.mean(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return F.var(self, axis, keepdims, ddof)

    def max(self, axis=None, keepdims=False):
        return F.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return F.min(self, axis, keepdims)

    def reshape(self, *shape):
        return F.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def flatten(self, start_axis=1):
        return F.reshape(self, self.shape[:start_axis] + (-1,))

    def transpose(self, *axes):
        return F.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None))

    @property
    def T(self):
        return F.transpose(self, None)

    def astype(self, dtype):
        return F.astype(self, dtype)


# ---- the engine ---------------------------------------------------------------------------


def _topological_order(root: Tensor) -> list:
    """Nodes of the graph below ``root``, each after all of its parents (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def _released_backward(g, out):
    raise RuntimeError(
        "backward: this graph was already backpropagated through, and its backward functions and "
        "saved values were released; pass retain_graph=True to the first backward() or grad() "
        "to backpropagate through it again (or compute the forward pass again)"
    )


def _check_unchanged(node: Tensor) -> None:
    """Raise if an input of ``node``'s op, or its output, changed in place since the op ran."""
    changed = [i for i, parent in enumerate(node._parents) if parent._changed_at > node._made_at]
    if not changed and node._changed_at <= node._made_at:
        return
    op = node._backward.__qualname__.split(".")[0]
    which = (f"input {changed[0]} (shape {node._parents[changed[0]].shape})" if changed
             else f"output (shape {node.shape})")
    raise RuntimeError(
        f"backward: the {which} of the op {op!r} was changed in place after the graph was built "
        "(by an optimizer step, a proximal step, load_state_dict, ...), so its gradient would be "
        "computed from the new values; compute the forward pass again after changing the values"
    )


def _backpropagate(root: Tensor, gradient, create_graph: bool, wanted, retain_graph=None) -> dict:
    """Run the chain rule from ``root`` down.

    Returns ``{tensor: gradient}`` for the leaves that require grad when ``wanted`` is
    None, or for the tensors in ``wanted`` (leaves or not) otherwise. Unless the graph is
    retained (``retain_graph``, which defaults to ``create_graph``), each node's backward
    function and parents are dropped once the pass is done, which frees the values they
    hold; a later pass through the node raises (:func:`_released_backward`).
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad (no input of its computation has "
            "requires_grad=True, or it was computed under no_grad())"
        )
    if gradient is None:
        if root.data.size != 1:
            raise ValueError(
                f"backward: the tensor has shape {root.shape}; pass gradient=... of that shape "
                "(an implicit gradient of 1 exists only for a single-element tensor such as a loss)"
            )
        gradient = np.ones_like(root.data)
    gradient = Tensor(np.array(_to_array(gradient), dtype=root.dtype))  # a copy: never alias the caller's array
    if gradient.shape != root.shape:
        raise ValueError(f"backward: gradient has shape {gradient.shape}, the tensor has shape {root.shape}")

    wanted_ids = None if wanted is None else {id(t) for t in wanted}
    order = _topological_order(root)
    leading = None
    if wanted_ids is not None:  # the nodes on a path to a wanted tensor (parents come first in order)
        leading = set()
        for node in order:
            if id(node) in wanted_ids or any(id(parent) in leading for parent in node._parents):
                leading.add(id(node))
    grads = {id(root): gradient}
    found = {}
    release = not (create_graph if retain_graph is None else retain_graph)
    ran = []  # the nodes whose backward ran
    global _leading_to_wanted
    outer, _leading_to_wanted = _leading_to_wanted, leading
    try:
        _run_backward(order, grads, found, wanted_ids, ran, create_graph)
    finally:
        _leading_to_wanted = outer
    if release:  # only after a pass that succeeded: one that raised leaves the graph as it was
        for node in ran:
            node._backward, node._parents = _released_backward, ()
    return found


def _run_backward(order, grads, found, wanted_ids, ran, create_graph) -> None:
    """The chain rule over ``order`` (parents before children), from the root down."""
    with set_grad_enabled(create_graph):
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if wanted_ids is None:
                if node._backward is None:
                    found[node] = g
                    continue
            elif id(node) in wanted_ids:
                found[node] = g
            if node._backward is None:
                continue
            if node._made_at != _in_place_changes:
                _check_unchanged(node)
            for parent, parent_grad in zip(node._parents, node._backward(g, node)):
                if parent_grad is None or not needs_grad(parent):
                    continue
                key = id(parent)
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
            ran.append(node)


def grad(output: Tensor, inputs, gradient=None, create_graph: bool = False, allow_unused: bool = False,
         retain_graph: bool | None = None):
    """Gradients of ``output`` with respect to ``inputs``, returned rather than accumulated.

    Like ``torch.autograd.grad``. With ``create_graph=True`` the returned gradients are
    differentiable, e.g. for a Hessian-vector product::

        g = grad(loss, [w], create_graph=True)[0]
        hv = grad((g * v).sum(), [w])[0]          # H v

    Parameters
    ----------
    output : Tensor
        Usually a scalar loss; otherwise pass ``gradient``.
    inputs : Tensor or sequence of Tensor
        Tensors of the graph (leaves or intermediate results).
    allow_unused : bool
        Return ``None`` for an input that ``output`` does not depend on, instead of
        raising.
    retain_graph : bool, optional
        As in :meth:`Tensor.backward`: by default the graph is kept only with
        ``create_graph=True``.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"grad: output must be a Tensor, got {type(output).__name__}")
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}, not a Tensor")
        if not t.requires_grad:
            raise ValueError(
                f"grad: inputs[{i}] does not require grad; make it with requires_grad=True (or call "
                f".requires_grad_()) before computing the output from it"
            )
    found = _backpropagate(output, gradient, create_graph, inputs, retain_graph)
    result = []
    for i, t in enumerate(inputs):
        if t not in found and not allow_unused:
            raise ValueError(f"grad: output does not depend on inputs[{i}]; pass allow_unused=True to get None")
        result.append(found.get(t))
    return result[0] if single else result


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a Tensor (the same as ``Tensor(...)``, as in ``torch.tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
