"""Images of similarity matrices (GrOWL Figs. 3 and 4), for the GrOWL experiments.

matplotlib is optional: :func:`similarity_maps_png` returns False, and writes nothing,
without it.
"""
from __future__ import annotations

import numpy as np

from minireg import io


def similarity_maps_png(path, maps: dict) -> bool:
    """One image per entry of ``maps`` (``{title: square matrix}``, arrays or nested lists,
    e.g. eq. (10) similarities sorted by cluster), on one colour scale from -1 to 1 with
    one colour bar, three to a row; written atomically into ``path``. An empty matrix is
    drawn as a single 0. Returns False when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401 (only whether it is installed)
    except ImportError:
        return False
    columns = min(3, len(maps))
    rows = -(-len(maps) // columns)
    with io.png_figure(path, rows, columns, figsize=(3.4 * columns, 3.4 * rows), dpi=100,
                       squeeze=False) as (figure, axes):
        for ax in axes.flat:
            ax.axis("off")
        for ax, (title, matrix) in zip(axes.flat, maps.items()):
            matrix = np.asarray(matrix, dtype=np.float64)
            image = ax.imshow(matrix if matrix.size else np.zeros((1, 1)), vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_title(title, fontsize="small")
        figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.7, label="similarity, eq. (10)")
    return True
