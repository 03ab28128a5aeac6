"""Module and Parameter: the containers that models are built from.

A :class:`Parameter` is a Tensor that an optimizer updates. It knows its *kind*:

* ``"weight"`` -- a connection weight (Linear, Conv2d, Maxout);
* ``"bias"`` -- an additive offset;
* ``"scale"`` and ``"shift"`` -- batch normalization's gamma and beta.

The kind is what lets a regularizer pick its parameters explicitly: ``model.weights()``
returns the weights only, because "by weights, we mean parameters of a linear
transformation. Not all parameters are weights. For example, the biases parameterize
the offset of an affine transformation" (Deep Learning, sec. 7.2.1; published 7.1.1); batch norm's scale
and shift are not weights either.

A :class:`Module` finds its parameters and sub-modules by looking at its own
attributes, in the order they were assigned: an attribute that is a Parameter, a
Module, or a list/tuple of Modules is part of the model. Nothing is registered
behind the scenes. *Buffers* -- arrays that belong to the model's state but are not
trained, like batch norm's running statistics -- are declared explicitly with
:meth:`Module.register_buffer`.
"""
from __future__ import annotations

import numpy as np

from minireg import functional as F
from minireg.checks import FLOAT_DTYPES, check_float_dtype
from minireg.io import load_npz, save_npz_atomic
from minireg.tensor import DEFAULT_DTYPE, Tensor

PARAMETER_KINDS = ("weight", "bias", "scale", "shift")
"""The kinds a Parameter can have (see the module docstring)."""


class Parameter(Tensor):
    """A trainable Tensor (``requires_grad=True``) that knows what kind of parameter it is.

    Parameters
    ----------
    data : array_like
        Initial values. A NumPy array keeps its dtype unless ``dtype`` is given.
    kind : {"weight", "bias", "scale", "shift"}
        What the parameter is; :meth:`Module.weights` selects ``kind == "weight"``.
    dtype : numpy dtype, optional
        Convert the data to this dtype, float32 or float64. Python numbers and lists
        become float32 (:data:`minireg.tensor.DEFAULT_DTYPE`) when it is not given.

    Notes
    -----
    Operations on a Parameter return plain Tensors; only the leaf is a Parameter.
    """

    __slots__ = ("kind",)

    def __init__(self, data, kind: str = "weight", dtype=None):
        if kind not in PARAMETER_KINDS:
            raise ValueError(f"Parameter(kind=...) must be one of {PARAMETER_KINDS}, got {kind!r}")
        if isinstance(data, Tensor):
            data = data.data
        if dtype is not None:
            dtype = check_float_dtype(dtype, "Parameter(dtype=...)")
        elif not isinstance(data, np.ndarray):
            dtype = DEFAULT_DTYPE
        array = np.array(data, dtype=dtype)  # a copy: the Parameter owns its memory
        if array.dtype not in FLOAT_DTYPES:  # float16 among them: Adam would turn its weights into NaN
            raise TypeError(f"Parameter(data=...) must be floating point (float32 or float64), got {array.dtype}")
        super().__init__(array, requires_grad=True)
        self.kind = kind

    def __repr__(self):
        return f"Parameter(kind={self.kind!r}, shape={self.shape}, dtype={self.dtype})"


def row_view(weight):
    """A weight as a matrix whose rows are its input features (or input channels).

    * dense weight (in, out): returned as is -- row i holds the outgoing weights of
      input feature i (GrOWL, eq. (3));
    * conv weight (in, out, kh, kw): reshaped to (in, out * kh * kw) -- row c holds
      every filter entry that reads input channel c (GrOWL, eq. (4)).

    Row-wise regularizers (group Lasso over input features, GrOWL) act on this view.
    Given a Tensor or Parameter it returns a Tensor (the reshape is differentiable, so
    penalties can be written on it); given a NumPy array it returns an array, a view
    for a C-contiguous weight, so that a proximal step written into it changes the
    weight (:mod:`minireg.regularizers.proximal`).
    """
    if not isinstance(weight, (Tensor, np.ndarray)):
        raise TypeError(f"weight must be a Tensor, Parameter or NumPy array, got {type(weight).__name__}")
    if weight.ndim == 2:
        return weight
    if weight.ndim == 4:
        rows = (weight.shape[0], -1)
        return F.reshape(weight, rows) if isinstance(weight, Tensor) else weight.reshape(rows)
    raise ValueError(
        f"weight must be dense (in, out) or conv (in, out, kh, kw); got shape {weight.shape}"
    )


class HookHandle:
    """What :meth:`Module.register_forward_hook` returns: ``remove()`` unregisters the hook."""

    _next_key = 0

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.key = HookHandle._next_key
        HookHandle._next_key += 1

    def remove(self) -> None:
        self.hooks.pop(self.key, None)


class Module:
    """Base class of every layer and model.

    A subclass calls ``super().__init__()`` first, assigns its Parameters and
    sub-modules as attributes, and defines ``forward``. Calling the module calls
    ``forward``.

    Attributes
    ----------
    training : bool
        True in training mode (the default), False after :meth:`eval`. Layers such as
        batch normalization and dropout behave differently in the two modes.
    stochastic : bool
        A class attribute: True for layers that draw random numbers in training mode
        (dropout, noise, stochastic depth). ``model.eval(stochastic=True)`` leaves
        exactly these switched on.
    """

    stochastic = False

    def __init__(self):
        self.training = True
        self._buffer_names = []
        self._forward_hooks = {}

    # ---- running the module ---------------------------------------------------------
    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *inputs, **options):
        if "_buffer_names" not in vars(self):
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before using the module"
            )
        output = self.forward(*inputs, **options)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                hook(self, inputs, output)
        return output

    def register_forward_hook(self, hook) -> "HookHandle":
        """Call ``hook(module, inputs, output)`` after every forward pass of this module.

        This is how a regularizer reads what a layer computes without rewriting the
        model: an activation penalty (Deep Learning eq. 7.29) keeps the named layer's
        output of the current step. ``output`` is the Tensor the module returns, still in
        the graph. The returned handle's ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_forward_hook(hook=...) must be callable as hook(module, inputs, output), "
                            f"got {type(hook).__name__}")
        handle = HookHandle(self._forward_hooks)
        self._forward_hooks[handle.key] = hook
        return handle

    # ---- buffers ------------------------------------------------------------------------
    def register_buffer(self, name: str, array) -> None:
        """Declare an attribute holding a NumPy array that is saved but not trained.

        The array is stored as ``self.<name>``; :meth:`state_dict` includes it, and
        :meth:`load_state_dict` restores it. The module may replace the attribute by a
        new array (of the same shape) at any time.
        """
        if "_buffer_names" not in vars(self):
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"register_buffer(name=...) must be a valid attribute name, got {name!r}")
        if not isinstance(array, np.ndarray):
            raise TypeError(f"register_buffer(array=...) must be a NumPy array, got {type(array).__name__}")
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, array)

    def named_buffers(self, prefix: str = "") -> list:
        """``[(name, array)]`` for the buffers of this module and its sub-modules."""
        found = []
        for module_name, module in self.named_modules(prefix):
            dot = module_name + "." if module_name else ""
            for name in module._buffer_names:
                found.append((dot + name, getattr(module, name)))
        return found

    # ---- the module tree ------------------------------------------------------------------
    def _members(self) -> list:
        """``[(name, value)]`` for the attributes that are Parameters or Modules, in
        assignment order; a list or tuple of Modules in attribute ``layers`` gives
        ``layers.0``, ``layers.1``, ..."""
        members = []
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                members.append((name, value))
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
                members.extend((f"{name}.{i}", v) for i, v in enumerate(value))
        return members

    def named_children(self) -> list:
        """``[(name, Module)]`` for the direct sub-modules, in assignment order."""
        return [(name, value) for name, value in self._members() if isinstance(value, Module)]

    def named_modules(self, prefix: str = "") -> list:
        """``[(name, Module)]`` for this module (name ``prefix``) and all its descendants."""
        found = [(prefix, self)]
        for name, child in self.named_children():
            found.extend(child.named_modules(f"{prefix}.{name}" if prefix else name))
        return found

    def modules(self) -> list:
        """This module and all its descendants, parents before children."""
        return [module for _, module in self.named_modules()]

    def named_parameters(self, prefix: str = "") -> list:
        """``[(name, Parameter)]`` for every parameter, e.g. ``("layers.0.weight", W)``,
        in the order the attributes were assigned (depth first).

        A Parameter shared by two modules (tied weights) appears once, under the
        first name met.
        """
        found, seen = [], set()
        self._collect_parameters(prefix + "." if prefix else "", found, seen)
        return found

    def _collect_parameters(self, dot_prefix, found, seen):
        for name, value in self._members():
            if isinstance(value, Module):
                value._collect_parameters(f"{dot_prefix}{name}.", found, seen)
            elif id(value) not in seen:
                seen.add(id(value))
                found.append((dot_prefix + name, value))

    def parameters(self) -> list:
        """Every Parameter of the model (what an optimizer updates)."""
        return [p for _, p in self.named_parameters()]

    def named_weights(self) -> list:
        """``[(name, Parameter)]`` for the parameters of kind ``"weight"`` only."""
        return [(name, p) for name, p in self.named_parameters() if p.kind == "weight"]

    def weights(self) -> list:
        """The connection weights: no biases, no batch-norm scale or shift.

        These are what norm penalties act on by default (Deep Learning, sec. 7.2.1, published 7.1.1:
        the biases, offsets of an affine map, are not weights).
        """
        return [p for _, p in self.named_weights()]

    # ---- modes and gradients ------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Put this module and all sub-modules in training mode (or evaluation mode)."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train(mode=...) takes True or False, got {mode!r}")
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self, stochastic: bool = False) -> "Module":
        """Put this module and all sub-modules in evaluation mode.

        With ``stochastic=True``, the stochastic layers -- modules whose class sets
        :attr:`stochastic` -- stay in training mode, and only they: dropout keeps drawing
        masks while batch normalization uses its running statistics. That is the mode of
        a Monte-Carlo prediction such as MC dropout (see ``Trainer.predict``).
        """
        if not isinstance(stochastic, (bool, np.bool_)):
            raise TypeError(f"eval(stochastic=...) takes True or False, got {stochastic!r}")
        self.train(False)
        if stochastic:
            for module in self.modules():
                if module.stochastic:
                    module.training = True
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    def to(self, dtype) -> "Module":
        """Convert every parameter and floating-point buffer to ``dtype``, in place.

        For example ``model.to(np.float64)`` before a finite-difference gradient check.
        Returns the module.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to(dtype=...) needs a floating-point dtype, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
            p._bump_version()            # a graph built before the conversion is stale
        for module in self.modules():
            for name in module._buffer_names:
                array = getattr(module, name)
                if array.dtype.kind == "f":
                    setattr(module, name, array.astype(dtype))
        return self

    # ---- saving and loading ---------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{name: array copy}`` for every parameter, then every buffer."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        for name, array in self.named_buffers():
            state[name] = np.array(array, copy=True)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Copy the arrays of ``state`` (as made by :meth:`state_dict`) into the model.

        Every key must match a parameter or buffer and every shape must agree; the
        values are converted to the dtype the model already has. Nothing is changed
        unless everything matches.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict(state=...) must be a dict of arrays, got {type(state).__name__}")
        parameters = dict(self.named_parameters())
        buffer_owners = {}
        for module_name, module in self.named_modules():
            dot = module_name + "." if module_name else ""
            for name in module._buffer_names:
                buffer_owners[dot + name] = (module, name)
        expected = list(parameters) + list(buffer_owners)
        missing = [key for key in expected if key not in state]
        unexpected = [key for key in state if key not in parameters and key not in buffer_owners]
        if missing or unexpected:
            raise KeyError(
                f"state does not match the model {type(self).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}"
            )
        converted = {}
        for key in expected:
            current = parameters[key].data if key in parameters else getattr(*buffer_owners[key])
            value = np.asarray(state[key])
            if value.shape != current.shape:
                raise ValueError(
                    f"state[{key!r}] has shape {value.shape}, the model expects {current.shape}"
                )
            converted[key] = np.array(value, dtype=current.dtype, copy=True)
        for key, value in converted.items():
            if key in parameters:
                parameters[key].data = value
                parameters[key]._bump_version()
            else:
                module, name = buffer_owners[key]
                setattr(module, name, value)

    def save(self, path) -> None:
        """Write :meth:`state_dict` to the ``.npz`` file ``path``, atomically
        (:func:`minireg.io.save_npz_atomic`: an interrupted save keeps the old file)."""
        save_npz_atomic(path, **self.state_dict())

    def load(self, path) -> "Module":
        """Load parameters and buffers saved by :meth:`save`; returns the module."""
        self.load_state_dict(load_npz(path))
        return self

    # ---- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The part inside the parentheses of ``repr``; layers override it."""
        return ""

    def __repr__(self):
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in children:
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        lines.append(")")
        return "\n".join(lines)


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    The modules are stored in the list ``self.layers``, so their parameters are named
    ``layers.0.weight``, ``layers.0.bias``, ``layers.1...``.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(layer).__name__}, not a Module")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)
