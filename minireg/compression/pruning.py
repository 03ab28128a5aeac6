"""Remove the units a tied layer no longer reads from the layer that computes them.

After :func:`~minireg.compression.tie_rows` a layer reads only the inputs of its nonzero
rows (GrOWL §3.4.2: "zero rows are removed, their inputs pruned"). When those inputs are
the outputs of an earlier ``Linear``/``Conv2d`` reached through layers that act on each
unit (channel) separately -- activations, batch norm, dropout, pooling -- the earlier
layer still computes and stores the pruned units. :func:`prune_previous` removes them
there too, so that the network neither stores nor computes them.

What it changes, in the manner of ``torch.nn.utils.prune`` (DESIGN.md, "A structural
change as a visible reparametrization"), for the tied layer ``model.<layer>`` with kept
rows ``rows`` (indices into the ``n`` units of its input):

* the **previous layer** (``Linear``, ``Conv2d``, or a tied one): its weight keeps the
  output columns (channels) ``rows`` only -- ``weight[:, rows]`` for a ``Linear``/``Conv2d``,
  ``centroids[:, rows]`` for a tied layer -- and its bias ``bias[rows]`` (new Parameters,
  same kinds); ``out_features``/``out_channels`` become ``len(rows)``; it gains the
  boolean buffer ``kept_units`` (length ``n``, True on ``rows``), saved in its state, by
  which :mod:`~minireg.compression.metrics` still counts the removed weights as zero
  entries of the original network and :func:`~minireg.compression.load_tied` rebuilds
  the shapes;
* every **batch norm** in between: ``scale``, ``shift`` (new Parameters), ``running_mean``
  and ``running_var`` keep the entries ``rows``; ``num_features`` becomes ``len(rows)``;
* the **tied layer**: ``reads_pruned_input`` becomes True -- its input now holds exactly
  the kept units, in order, so it no longer selects ``x[:, rows]``; ``rows``,
  ``in_features``/``in_channels`` and :meth:`expanded_weight` keep the original numbering;
* nothing changes when a check fails: every check comes first, then the assignments.

The outputs of the network are exactly those before (the removed units reached only the
tied layer's pruned, zero rows). The old optimizer holds the old Parameters: build a new
one to train on.
"""
from __future__ import annotations

import numpy as np

from minireg.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from minireg.nn.dropout import Dropout
from minireg.nn.layers import Linear, ReLU, Sigmoid, Tanh
from minireg.nn.module import Module, Parameter
from minireg.nn.normalization import BatchNorm1d, BatchNorm2d

from .tying import TIED_LAYERS, TiedLinear, _find_layer, _TiedRows, tie_rows

# layers that act on each unit (channel) on its own: a removed unit is removed through them
UNIT_WISE = (ReLU, Tanh, Sigmoid, Dropout, MaxPool2d, AvgPool2d)
BATCH_NORMS = (BatchNorm1d, BatchNorm2d)
PRODUCERS = (Linear, Conv2d) + TIED_LAYERS


def _parent_list(model: Module, layer: str):
    """``(list, index)`` of the list of layers (a Sequential's ``layers``) holding ``model.<layer>``,
    or ``(None, None)`` when the layer is not an item of a list."""
    *path, last = layer.split(".")
    if not last.isdigit():
        return None, None
    parent = model
    for part in path:
        parent = parent[int(part)] if part.isdigit() else getattr(parent, part)
    return (parent, int(last)) if isinstance(parent, list) else (None, None)


def find_previous(model: Module, layer: str):
    """``(producer, batch_norms, reason)``: the layer that computes the input of the tied
    layer ``model.<layer>`` and the batch norms in between, or ``(None, [], reason)``
    saying why :func:`prune_previous` does not apply (the input is the model's input, a
    layer in between mixes units, ...)."""
    tied = _find_layer(model, layer, TIED_LAYERS)
    layers, index = _parent_list(model, layer)
    if layers is None:
        return None, [], f"{layer!r} is not an item of a list of layers (a Sequential)"
    norms = []
    for before in reversed(layers[:index]):
        if type(before) in PRODUCERS:
            width = before.centroids.shape[1] if isinstance(before, _TiedRows) else before.weight.shape[1]
            if width != tied.input_width or any(norm.num_features != width for norm in norms):
                return None, [], (f"the layer before {layer!r} has {width} outputs, not the {tied.input_width} "
                                  "inputs it reads")
            return before, norms, ""
        if isinstance(before, BATCH_NORMS):
            norms.append(before)
        elif type(before) not in UNIT_WISE:
            return None, [], (f"a {type(before).__name__} comes before {layer!r}; only "
                              f"{', '.join(k.__name__ for k in UNIT_WISE + BATCH_NORMS)} may stand between it "
                              "and the layer that computes its input")
    return None, [], f"{layer!r} reads the model's input"


def prune_previous(model: Module, layer: str) -> Module:
    """Remove the units that the tied layer ``model.<layer>`` does not read from the layer
    before it and the batch norms in between (the module docstring lists every change).

    Returns the previous layer. Raises ``ValueError`` (and changes nothing) when
    ``model.<layer>`` is not a tied layer, when its input was already pruned, or when no
    ``Linear``/``Conv2d`` computes its input through unit-wise layers only (the message
    says which layer stands in the way); :func:`find_previous` tells beforehand.
    """
    producer, norms, reason = find_previous(model, layer)
    tied = _find_layer(model, layer, TIED_LAYERS)
    if tied.reads_pruned_input:
        raise ValueError(f"the input of {layer!r} was already pruned")
    if producer is None:
        raise ValueError(f"cannot prune the inputs of {layer!r} in the layer before it: {reason}")
    if "kept_units" in producer._buffer_names:
        raise ValueError(f"the layer before {layer!r} had its outputs pruned already")
    rows = tied.rows
    kept = np.zeros(tied.in_rows, dtype=bool)
    kept[rows] = True
    name = "centroids" if isinstance(producer, _TiedRows) else "weight"
    weight = getattr(producer, name)
    setattr(producer, name, Parameter(weight.data[:, rows], kind=weight.kind))
    if producer.bias is not None:
        producer.bias = Parameter(producer.bias.data[rows], kind=producer.bias.kind)
    if isinstance(producer, (Linear, TiedLinear)):
        producer.out_features = int(rows.size)
    else:
        producer.out_channels = int(rows.size)
    producer.register_buffer("kept_units", kept)
    for norm in norms:
        if norm.scale is not None:
            norm.scale = Parameter(norm.scale.data[rows], kind=norm.scale.kind)
            norm.shift = Parameter(norm.shift.data[rows], kind=norm.shift.kind)
        norm.running_mean = norm.running_mean[rows]
        norm.running_var = norm.running_var[rows]
        norm.num_features = int(rows.size)
    tied.reads_pruned_input = True
    return producer


def tie_and_prune(model, layer: str, preference=0.8, damping=0.5, max_iter=200, centroid_gradient="mean"):
    """:func:`~minireg.compression.tie_rows` on ``model.<layer>``, then
    :func:`prune_previous` where it applies (the layer's input is
    computed by an earlier Linear/Conv2d through unit-wise layers). Returns the
    :class:`~minireg.compression.TyingResult`."""
    tying = tie_rows(model, layer, preference=preference, damping=damping, max_iter=max_iter,
                     centroid_gradient=centroid_gradient)
    if find_previous(model, layer)[0] is not None:
        prune_previous(model, layer)
    return tying
