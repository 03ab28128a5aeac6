"""The compression metrics of GrOWL §4, and the stability of the selected rows (footnote 2).

GrOWL §4 defines, over the parameters of a network::

    sparsity          = (# zero params) / (# total params)
    compression ratio = (# total params) / (# unique params)
    parameter sharing = (# nonzero params) / (# unique params)

so that compression ratio = parameter sharing / (1 - sparsity).

Which parameters are counted: the *weights* (Parameters of kind ``"weight"``: dense and
conv weights, tied layers' centroids), not biases and not batch norm's scale and shift --
as the paper's parameter counts do (Appendix C, Table 3: conv1 of VGG-16 has
3 * 64 * 3 * 3 = 1.7E+03 "params", no bias). ``layers=`` narrows the count to named layers
(the GrOWL authors regularized and compressed the first layer only).

For each counted layer, in the shape of the plain (untied) layer:

* total: every entry of the weight (a tied layer counts its original shape, pruned rows
  included; a layer whose outputs :func:`~minireg.compression.prune_previous` removed
  counts them too, from its ``kept_units`` buffer);
* zero: entries equal to 0 (a tied layer's pruned rows are zero, and so are the removed
  outputs' weights: the network no longer stores them);
* unique: the nonzero numbers the model must store -- each nonzero entry of a plain weight,
  each nonzero entry of a tied layer's centroids (a cluster is stored once however many
  rows share it). After :func:`~minireg.compression.tie_rows` the tied layer stores exactly
  ``centroids.size`` numbers, the unique count when no centroid entry is zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minireg.nn.module import Module, Parameter

from .tying import TIED_LAYERS


@dataclass
class ParameterCounts:
    """Counts of GrOWL §4 over some weights: ``total``, ``zero`` and ``unique`` (module docstring)."""

    total: int
    zero: int
    unique: int

    @property
    def nonzero(self) -> int:
        return self.total - self.zero

    @property
    def sparsity(self) -> float:
        """GrOWL §4: (# zero params) / (# total params)."""
        return self.zero / self.total

    @property
    def compression_ratio(self) -> float:
        """GrOWL §4: (# total params) / (# unique params); infinite when nothing is stored."""
        return self.total / self.unique if self.unique else float("inf")

    @property
    def parameter_sharing(self) -> float:
        """GrOWL §4: (# nonzero params) / (# unique params); 1 when nothing is stored."""
        return self.nonzero / self.unique if self.unique else 1.0

    def __add__(self, other: "ParameterCounts") -> "ParameterCounts":
        return ParameterCounts(self.total + other.total, self.zero + other.zero, self.unique + other.unique)


def _plain_counts(weight: np.ndarray) -> ParameterCounts:
    nonzero = int(np.count_nonzero(weight))
    return ParameterCounts(int(weight.size), int(weight.size) - nonzero, nonzero)


def _layer_counts(module: Module) -> ParameterCounts:
    if isinstance(module, TIED_LAYERS):
        expanded = module.expanded_weight()
        nonzero = int(np.count_nonzero(expanded))
        counts = ParameterCounts(int(expanded.size), int(expanded.size) - nonzero,
                                 int(np.count_nonzero(module.centroids.data)))
        weights = [expanded]
    else:
        weights = [p.data for p in _own_weights(module)]
        counts = sum((_plain_counts(w) for w in weights), ParameterCounts(0, 0, 0))
    kept_units = getattr(module, "kept_units", None)
    if kept_units is not None and weights:      # outputs removed by prune_previous: zeros of the original
        removed = sum(w.size // w.shape[1] for w in weights) * int(np.count_nonzero(~kept_units))
        counts = counts + ParameterCounts(removed, removed, 0)
    return counts


def _own_weights(module: Module) -> list:
    """The weights held directly by ``module`` (not by its sub-modules)."""
    return [value for value in vars(module).values() if isinstance(value, Parameter) and value.kind == "weight"]


def count_parameters(target, layers=None) -> ParameterCounts:
    """Total, zero and unique weights of a model (or of one weight array).

    Parameters
    ----------
    target : Module, or ndarray / Parameter
        A model (its weights are counted, tied layers as the module docstring says), or
        one weight, counted as a plain weight.
    layers : list of str, optional
        Names of the layers to count (``model.named_modules()``); default every layer.
    """
    if not isinstance(target, Module):
        array = target.data if isinstance(target, Parameter) else target
        if not isinstance(array, np.ndarray):
            raise TypeError(f"target must be a minireg Module, a Parameter or a NumPy array, "
                            f"got {type(target).__name__}")
        if layers is not None:
            raise ValueError("layers can only be given with a model")
        return _plain_counts(array)
    modules = dict(target.named_modules())
    if layers is None:
        names = list(modules)
    else:
        if isinstance(layers, str) or not all(isinstance(name, str) for name in layers):
            raise TypeError(f"layers must be a list of layer names, got {layers!r}")
        names = list(layers)
        unknown = [name for name in names if name not in modules]
        if unknown:
            raise ValueError(f"layers: {unknown} are not layers of the model; its layers are "
                             f"{[name for name in modules if name]}")
    counts = sum((_layer_counts(modules[name]) for name in names), ParameterCounts(0, 0, 0))
    if counts.total == 0:
        raise ValueError("no weight to count: the layers named hold no Parameter of kind 'weight'")
    return counts


def sparsity(target, layers=None) -> float:
    """GrOWL §4: (# zero params) / (# total params), over the weights (module docstring)."""
    return count_parameters(target, layers).sparsity


def compression_ratio(target, layers=None) -> float:
    """GrOWL §4: (# total params) / (# unique params), over the weights (module docstring)."""
    return count_parameters(target, layers).compression_ratio


def parameter_sharing(target, layers=None) -> float:
    """GrOWL §4: (# nonzero params) / (# unique params), over the weights (module docstring)."""
    return count_parameters(target, layers).parameter_sharing


def row_selection_stability(row_sets) -> float:
    """The mean ratio of changed indices of GrOWL's footnote 2 (Fig. 5): 0 when every run
    selects the same rows::

        (1/n) sum_k ||I_k - Ibar||_0 / ||I_k||_0,    Ibar = (1/n) sum_k I_k

    with ``I_k`` the 0/1 indicator of the rows run k kept (nonzero rows) and ``Ibar`` the
    mean indicator, read literally: ``I_k - Ibar`` is nonzero exactly on the rows that the
    runs do not all agree on, so each run's term is (# rows in dispute) / (# rows it kept).

    Parameters
    ----------
    row_sets : list of index arrays or of boolean masks (one per run, n >= 2)
        E.g. :func:`~minireg.compression.nonzero_rows` of each run's weight.
    """
    if isinstance(row_sets, np.ndarray) and row_sets.ndim == 2:
        row_sets = list(row_sets)
    if not isinstance(row_sets, (list, tuple)) or len(row_sets) < 2:
        raise ValueError("row_sets must be a list of at least two runs' selected rows")
    arrays = [np.asarray(rows) for rows in row_sets]
    if all(a.dtype == bool for a in arrays):
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise ValueError("row_sets given as boolean masks must all be 1-D of one length")
        indicators = np.array(arrays, dtype=np.float64)
    elif all(a.ndim == 1 and (a.dtype.kind in "iu" or a.size == 0) for a in arrays):
        if any(a.size and a.min() < 0 for a in arrays):
            raise ValueError("row_sets: row indices must be >= 0")
        n_rows = 1 + max((int(a.max()) for a in arrays if a.size), default=0)
        indicators = np.zeros((len(arrays), n_rows))
        for k, rows in enumerate(arrays):
            indicators[k, rows.astype(np.int64)] = 1.0
    else:
        raise TypeError("row_sets must hold 1-D arrays of row indices (integers) or boolean masks")
    kept = indicators.sum(axis=1)
    if np.any(kept == 0):
        raise ValueError("row_sets: a run kept no row; the ratio is undefined")
    disputed = np.count_nonzero(indicators != indicators.mean(axis=0), axis=1)
    return float(np.mean(disputed / kept))
