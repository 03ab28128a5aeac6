"""Parameter tying after GrOWL training: cluster the rows, store each cluster once, retrain.

GrOWL §3.4.2 (Fig. 1): after the first training phase the zero rows of a layer's weight
are inputs the layer no longer reads, and the nonzero rows of correlated inputs are nearly
equal. :func:`tie_rows` turns this into a smaller model:

1. the nonzero rows are clustered by affinity propagation on their similarities
   (:func:`~minireg.compression.row_similarity`, eq. (10);
   :func:`~minireg.compression.affinity_propagation`, Appendix B);
2. the layer is replaced by a *tied* layer (:class:`TiedLinear`, :class:`TiedConv2d`) that
   reads only the inputs of the nonzero rows and stores each cluster's centroid -- the
   average of its rows -- once;
3. retraining updates one centroid per cluster with the gradient of eq. (11),
   ``dL/dg_k = (1 / |G_k|) sum_{i in G_k} dL/dW_i``, the *average* of its members'
   gradients. (The true gradient of the loss with respect to g_k is the sum; eq. (11) is
   that divided by the cluster size, i.e. a step size ``1 / |G_k|`` per cluster.
   ``centroid_gradient="sum"`` gives the true gradient instead.)

What the change does to the model, in the manner of ``torch.nn.utils.prune``
(DESIGN.md, "A structural change as a visible reparametrization"):

* the layer at ``model.<layer>`` is replaced, at the same place, by a tied layer; its
  ``weight`` Parameter is gone and the tied layer holds

  - ``centroids``: Parameter (kind ``"weight"``) of shape (n_clusters, out) for a dense
    layer, (n_clusters, out, kh, kw) for a conv layer -- the only trained weight;
  - ``assignment``: int64 buffer (n_kept,), the cluster of each kept row;
  - ``rows``: int64 buffer (n_kept,), the inputs (input channels) it still reads;
  - ``bias``: the same Parameter object as before (or None);

* its forward pass builds ``W = centroids[assignment]`` (a gather inside the autograd
  graph), selects ``x[:, rows]`` and applies the plain layer's operation;
* ``state_dict`` saves the three arrays under the layer's name (``<layer>.centroids``,
  ``<layer>.assignment``, ``<layer>.rows``); :func:`load_tied` rebuilds and loads a tied
  model from such a state, and :func:`untie` turns the tied layer back into a plain
  ``Linear``/``Conv2d`` of the original shape (pruned rows zero, tied rows equal);
* the old optimizer holds the old weight: build a new one (a new Trainer) to retrain;
* nothing changes when any check fails: the model is modified by one assignment, last.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minireg import functional as F
from minireg.checks import check_choice
from minireg.nn.conv import Conv2d
from minireg.nn.layers import Linear
from minireg.nn.module import Module, Parameter, row_view
from minireg.tensor import Tensor

from .affinity import AffinityResult, affinity_propagation
from .similarity import nonzero_rows, row_similarity

CENTROID_GRADIENTS = ("mean", "sum")


def cluster_sums(values: np.ndarray, assignment: np.ndarray, n_clusters: int) -> np.ndarray:
    """``sums[k] = sum of values[r] over the rows r with assignment[r] == k`` (zero for a
    cluster without rows): ``np.add.at(sums, assignment, values)``, computed by one stable
    sort of the rows by cluster and ``np.add.reduceat`` over the runs of equal clusters,
    which adds whole rows at a time instead of one entry at a time."""
    assignment = np.asarray(assignment)
    sums = np.zeros((n_clusters,) + values.shape[1:], dtype=values.dtype)
    if assignment.size == 0:
        return sums
    order = np.argsort(assignment, kind="stable")
    sorted_clusters = assignment[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_clusters[1:] != sorted_clusters[:-1])))
    sums[sorted_clusters[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return sums


def _summed_by_cluster(values: Tensor, assignment: np.ndarray, n_clusters: int) -> Tensor:
    """:func:`cluster_sums` in the autograd graph; its backward is the gather ``g[assignment]``."""
    values = F.as_tensor(values)
    return Tensor.from_op(cluster_sums(values.data, assignment, n_clusters), (values,),
                          lambda g, out: (F.getitem(g, assignment),))


def gather_rows(centroids: Tensor, assignment: np.ndarray, centroid_gradient: str = "mean") -> Tensor:
    """``centroids[assignment]``, with the centroid gradient of GrOWL eq. (11).

    Forward: row ``r`` of the result is centroid ``assignment[r]``. Backward: the
    gradients of the rows of one cluster are summed (the adjoint of the gather,
    :func:`cluster_sums`) and, with ``centroid_gradient="mean"``, divided by the
    cluster's size: eq. (11)'s average.
    """
    centroids = F.as_tensor(centroids)
    index = np.asarray(assignment)
    n_clusters = centroids.shape[0]
    scale = None
    if centroid_gradient != "sum":
        scale = (1.0 / np.maximum(np.bincount(index, minlength=n_clusters), 1)).astype(centroids.dtype)
        scale = scale.reshape((-1,) + (1,) * (centroids.ndim - 1))

    def backward(g, out):
        sums = _summed_by_cluster(g, index, n_clusters)
        return (sums if scale is None else F.mul(sums, scale),)

    return Tensor.from_op(centroids.data[index], (centroids,), backward)


class _TiedRows(Module):
    """What the tied dense and conv layers share: centroids, assignment, kept rows, bias."""

    def __init__(self, in_rows: int, rows, assignment, centroids, bias, centroid_gradient="mean"):
        super().__init__()
        self.in_rows = int(in_rows)
        check_choice(centroid_gradient, "centroid_gradient", CENTROID_GRADIENTS)
        centroids = centroids if isinstance(centroids, Parameter) else Parameter(centroids, kind="weight")
        rows = np.asarray(rows, dtype=np.int64)
        assignment = np.asarray(assignment, dtype=np.int64)
        if rows.ndim != 1 or assignment.shape != rows.shape:
            raise ValueError(f"rows and assignment must be 1-D of one length, got shapes {rows.shape} "
                             f"and {assignment.shape}")
        if rows.size and (rows.min() < 0 or rows.max() >= self.in_rows or np.any(np.diff(rows) <= 0)):
            raise ValueError(f"rows must be increasing indices in 0 ... {self.in_rows - 1}")
        if assignment.size and (assignment.min() < 0 or assignment.max() >= centroids.shape[0]):
            raise ValueError(f"assignment must hold clusters 0 ... {centroids.shape[0] - 1}")
        self.centroids = centroids
        self.bias = bias
        self.register_buffer("rows", rows)
        self.register_buffer("assignment", assignment)
        # saved with the state, so that a loaded model retrains with the same gradient
        self.register_buffer("mean_gradient", np.array(centroid_gradient == "mean"))
        self.reads_pruned_input = False      # set by prune_previous

    @property
    def centroid_gradient(self) -> str:
        """``"mean"`` (eq. (11)) or ``"sum"``, from the buffer ``mean_gradient``."""
        return "mean" if self.mean_gradient else "sum"

    @property
    def input_width(self) -> int:
        """The inputs (channels) the layer receives: ``in_rows``, or only the kept rows
        once :func:`~minireg.compression.prune_previous` removed the others upstream."""
        return int(self.rows.size) if self.reads_pruned_input else self.in_rows

    def kept_input(self, x: Tensor) -> Tensor:
        """``x[:, rows]``; ``x`` itself when the layer before computes only the kept rows."""
        return x if self.reads_pruned_input else F.getitem(x, (slice(None), self.rows))

    @property
    def n_clusters(self) -> int:
        return self.centroids.shape[0]

    def tied_weight(self) -> Tensor:
        """The weight of the kept rows, ``centroids[assignment]``, in the graph."""
        return gather_rows(self.centroids, self.assignment, self.centroid_gradient)

    def expanded_weight(self) -> np.ndarray:
        """The weight of the plain layer of the original shape: zero rows for the pruned
        inputs, each kept row equal to its centroid (a new array)."""
        shape = (self.in_rows,) + self.centroids.shape[1:]
        weight = np.zeros(shape, dtype=self.centroids.dtype)
        weight[self.rows] = self.centroids.data[self.assignment]
        return weight


class TiedLinear(_TiedRows):
    """A dense layer whose kept input rows are tied to cluster centroids (GrOWL §3.4.2).

    ``y = x[:, rows] @ centroids[assignment] + b``: the same map as ``Linear`` with the
    weight :meth:`expanded_weight`, computed on the kept inputs only.
    """

    def __init__(self, in_features, rows, assignment, centroids, bias=None, centroid_gradient="mean"):
        super().__init__(in_features, rows, assignment, centroids, bias, centroid_gradient)
        self.in_features = self.in_rows
        self.out_features = self.centroids.shape[1]

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.input_width:
            raise ValueError(f"TiedLinear expects input of shape (N, {self.input_width}), got shape {x.shape}")
        return F.linear(self.kept_input(x), self.tied_weight(), self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"kept_rows={self.rows.size}, clusters={self.n_clusters}")


class TiedConv2d(_TiedRows):
    """A conv layer whose kept input channels are tied to cluster centroids (GrOWL eq. (4),
    §3.4.2): ``conv2d(x[:, rows], centroids[assignment])`` with the original stride and
    padding."""

    def __init__(self, in_channels, rows, assignment, centroids, bias=None, stride=1, padding=0,
                 centroid_gradient="mean"):
        super().__init__(in_channels, rows, assignment, centroids, bias, centroid_gradient)
        self.in_channels = self.in_rows
        self.out_channels = self.centroids.shape[1]
        self.kernel_size = tuple(self.centroids.shape[2:])
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.input_width:
            raise ValueError(f"TiedConv2d expects input of shape (N, {self.input_width}, H, W), got shape {x.shape}")
        return F.conv2d(self.kept_input(x), self.tied_weight(), self.bias,
                        stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, kept_rows={self.rows.size}, "
                f"clusters={self.n_clusters}")


TIED_LAYERS = (TiedLinear, TiedConv2d)


@dataclass
class TyingResult:
    """What :func:`tie_rows` did to one layer.

    Attributes
    ----------
    layer : str
        The layer's name in the model.
    rows : ndarray of int64
        The nonzero rows kept (inputs or input channels); the others were pruned.
    labels : ndarray of int64
        The cluster of each kept row.
    exemplars : ndarray of int64
        Affinity propagation's exemplar of each cluster, as a row index of the weight.
    affinity : AffinityResult
        The clustering itself (its indices count kept rows).
    """

    layer: str
    rows: np.ndarray
    labels: np.ndarray
    exemplars: np.ndarray
    affinity: AffinityResult

    @property
    def n_clusters(self) -> int:
        return int(self.exemplars.size)


def _find_layer(model: Module, layer: str, kinds: tuple) -> Module:
    if not isinstance(model, Module):
        raise TypeError(f"model must be a minireg Module, got {type(model).__name__}")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer's name (a str such as 'layers.0'), got {layer!r}")
    modules = dict(model.named_modules())
    candidates = [name for name, module in modules.items() if isinstance(module, kinds)]
    if layer not in modules or not isinstance(modules[layer], kinds):
        kind_names = " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"layer={layer!r} is not a {kind_names} of the model; its {kind_names} layers "
                         f"are {candidates}")
    return modules[layer]


def _replace_layer(model: Module, layer: str, new: Module) -> None:
    """Put ``new`` where ``model.<layer>`` is (an attribute, or an item of a list of layers)."""
    *path, last = layer.split(".")
    parent = model
    for part in path:
        parent = parent[int(part)] if part.isdigit() else getattr(parent, part)
    if last.isdigit():
        if not isinstance(parent, list):
            raise TypeError(f"cannot replace layer {layer!r}: its container is a {type(parent).__name__}, "
                            "not a list")
        parent[int(last)] = new
    else:
        setattr(parent, last, new)


def _tied_layer(plain: Module, rows, labels, centroids, centroid_gradient) -> _TiedRows:
    if isinstance(plain, Linear):
        return TiedLinear(plain.in_features, rows, labels, centroids, plain.bias, centroid_gradient)
    return TiedConv2d(plain.in_channels, rows, labels, centroids, plain.bias, plain.stride, plain.padding,
                      centroid_gradient)


def _distinct_rows(kept: np.ndarray):
    """``(distinct, point_of_row)``: the first of each set of exactly equal rows, in order,
    and for every row the index of its set in ``distinct``.

    Affinity propagation cannot separate exact duplicates (their messages tie at zero, so
    none of them becomes an exemplar; see docs/growl.md), so equal rows -- which GrOWL
    does produce -- enter the clustering as one point and always share a cluster.
    """
    _, first, inverse = np.unique(kept, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return first[order], position[inverse.ravel()]


def tie_rows(model: Module, layer: str, preference=0.8, damping=0.5, max_iter=200, convergence_iter=15,
             rng=0, centroid_gradient="mean") -> TyingResult:
    """Prune the zero rows of a layer and tie its other rows to cluster centroids, in place.

    Exactly equal rows are one point for affinity propagation (:func:`_distinct_rows`);
    without duplicates the clustering is that of the nonzero rows as they are.

    Parameters
    ----------
    model : Module
    layer : str
        The name of a ``Linear`` or ``Conv2d`` in ``model.named_modules()``, e.g. ``"layers.0"``.
    preference, damping, max_iter, convergence_iter, rng
        Of :func:`~minireg.compression.affinity_propagation`, run on the eq. (10)
        similarities of the nonzero rows. The GrOWL authors used preferences 0.6-0.8.
    centroid_gradient : {"mean", "sum"}
        "mean" is eq. (11); "sum" the true gradient of the loss (see the module docstring).

    Returns
    -------
    TyingResult

    Raises
    ------
    ValueError
        The layer is not a Linear/Conv2d of the model, its weight has no nonzero row, or
        affinity propagation found no exemplar. The model is then unchanged.
    """
    plain = _find_layer(model, layer, (Linear, Conv2d))
    check_choice(centroid_gradient, "centroid_gradient", CENTROID_GRADIENTS)
    weight = plain.weight.data
    rows = nonzero_rows(weight)
    if rows.size == 0:
        row_similarity(weight)                           # raises: no nonzero row
    kept = row_view(weight)[rows]
    distinct, point_of_row = _distinct_rows(kept)
    similarity, _ = row_similarity(kept[distinct])
    clusters = affinity_propagation(similarity, preference=preference, damping=damping, max_iter=max_iter,
                                    convergence_iter=convergence_iter, rng=rng)
    if clusters.n_clusters == 0:
        raise ValueError(f"affinity propagation found no cluster in the rows of {layer!r}; "
                         "raise max_iter or damping")
    labels = clusters.labels[point_of_row]
    centroids = cluster_sums(kept.astype(np.float64), labels, clusters.n_clusters) / np.bincount(labels)[:, None]
    centroids = centroids.astype(weight.dtype).reshape((clusters.n_clusters,) + weight.shape[1:])
    tied = _tied_layer(plain, rows, labels, centroids, centroid_gradient)
    tied.training = plain.training
    _replace_layer(model, layer, tied)
    return TyingResult(layer, rows, labels, rows[distinct[clusters.exemplars]], clusters)


def untie(model: Module, layer: str) -> Module:
    """Replace the tied layer ``model.<layer>`` by a plain ``Linear``/``Conv2d`` whose weight
    is :meth:`~_TiedRows.expanded_weight` (the ``torch`` ``prune.remove`` of this
    reparametrization): of the original shape, or -- when
    :func:`~minireg.compression.prune_previous` removed the pruned inputs upstream -- of
    the kept rows only, the input it now receives. The bias stays the same Parameter.
    Returns the new layer."""
    tied = _find_layer(model, layer, TIED_LAYERS)
    weight = tied.expanded_weight()
    if tied.reads_pruned_input:
        weight = weight[tied.rows]
    if isinstance(tied, TiedLinear):
        plain = Linear(len(weight), tied.out_features, bias=tied.bias is not None, rng=0, dtype=weight.dtype)
    else:
        plain = Conv2d(len(weight), tied.out_channels, tied.kernel_size, tied.stride, tied.padding,
                       bias=tied.bias is not None, rng=0, dtype=weight.dtype)
    plain.weight = Parameter(weight, kind="weight")
    plain.bias = tied.bias
    plain.training = tied.training
    _replace_layer(model, layer, plain)
    return plain


def load_tied(model: Module, state: dict) -> Module:
    """Load a state saved from a tied model into ``model`` built plain (untied).

    Every ``<layer>.assignment`` key in ``state`` marks a tied layer: the plain
    ``Linear``/``Conv2d`` there is replaced by a tied one with the saved rows (and the
    saved centroid gradient, buffer ``<layer>.mean_gradient``); where the layer before it
    has a ``kept_units`` entry, :func:`~minireg.compression.prune_previous` removes the
    same units again. Then ``model.load_state_dict(state)`` fills in every value.
    Returns ``model``.
    """
    from .pruning import find_previous, prune_previous      # pruning builds on this module

    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of arrays (Module.state_dict, minireg.io.load_npz), "
                        f"got {type(state).__name__}")
    tied_layers = [name for name, _ in model.named_modules() if f"{name}.assignment" in state]
    for layer in tied_layers:
        plain = _find_layer(model, layer, (Linear, Conv2d))
        for part in ("rows", "centroids"):
            if f"{layer}.{part}" not in state:
                raise KeyError(f"state has {layer + '.assignment'!r} but not {layer}.{part!r}")
        centroids = np.zeros(np.shape(state[f"{layer}.centroids"])[:1] + plain.weight.shape[1:],
                             dtype=plain.weight.dtype)
        rows = np.asarray(state[f"{layer}.rows"], dtype=np.int64)
        _replace_layer(model, layer, _tied_layer(plain, rows, np.zeros_like(rows), centroids, "mean"))
    names = {id(module): name for name, module in model.named_modules()}
    for layer in tied_layers:
        producer = find_previous(model, layer)[0]
        if producer is not None and f"{names[id(producer)]}.kept_units" in state:
            prune_previous(model, layer)
    model.load_state_dict(state)
    return model
