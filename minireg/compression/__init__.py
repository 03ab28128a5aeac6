"""GrOWL's "learning to share" after training: row similarity (eq. (10)), affinity
propagation (Appendix B), tied retraining (§3.4.2, eq. (11)) and the compression metrics
(§4), one module each:

* :mod:`.similarity` -- :func:`row_similarity`, :func:`similarity_matrix`, :func:`nonzero_rows`;
* :mod:`.affinity` -- :func:`affinity_propagation`, :class:`AffinityResult`;
* :mod:`.tying` -- :func:`tie_rows`, :func:`untie`, :func:`load_tied`, the tied layers;
* :mod:`.pruning` -- :func:`prune_previous`, :func:`find_previous`, :func:`tie_and_prune`: the pruned
  inputs removed from the layer that computes them;
* :mod:`.metrics` -- :func:`sparsity`, :func:`compression_ratio`, :func:`parameter_sharing`,
  :func:`row_selection_stability`.

The whole pipeline (train with GrOWL, cluster, tie, retrain) is
:func:`minireg.training.procedures.learn_to_share`.
"""
from .affinity import AffinityResult, affinity_propagation
from .metrics import (ParameterCounts, compression_ratio, count_parameters, parameter_sharing,
                      row_selection_stability, sparsity)
from .pruning import find_previous, prune_previous, tie_and_prune
from .similarity import nonzero_rows, row_similarity, similarity_matrix
from .tying import (TiedConv2d, TiedLinear, TyingResult, cluster_sums, gather_rows, load_tied, tie_rows,
                     untie)

__all__ = [
    "AffinityResult", "affinity_propagation",
    "ParameterCounts", "compression_ratio", "count_parameters", "parameter_sharing",
    "row_selection_stability", "sparsity",
    "find_previous", "prune_previous", "tie_and_prune",
    "nonzero_rows", "row_similarity", "similarity_matrix",
    "TiedConv2d", "TiedLinear", "TyingResult", "cluster_sums", "gather_rows", "load_tied", "tie_rows", "untie",
]
