"""What every experiment is made of, and how a run is written to disk.

An experiment is four things (:class:`Experiment`):

1. a **config**: a dataclass whose fields, with their defaults and help texts, become
   the options of ``minireg run NAME --option value``;
2. ``run(config) -> results``: does the work and returns plain data (numbers, lists,
   strings) that ``json`` can write;
3. ``report(results, folder) -> markdown``: turns the results into a report that sets
   our numbers beside the published ones, and writes its plots (PNG) into ``folder``;
4. a name and a one-line description for ``minireg list``.

:func:`run_experiment` runs one and writes ``results.json``, ``report.md`` and the
plots into ``runs/NAME/<timestamp>/``, each file atomically (:mod:`minireg.io`).

Plots need matplotlib, an optional extra (``pip install minireg[plot]``); without it
:func:`line_plot` returns False and the report keeps its tables and says that the plots
were skipped.
"""
from __future__ import annotations

import dataclasses
import io as _bytes_io
import json
import math
import os
import time
import typing
from dataclasses import dataclass
from pathlib import Path

from minireg import io

SUPPORTED_OPTION_TYPES = (int, float, str, bool)


@dataclass(frozen=True)
class Experiment:
    """An experiment as the ``minireg`` command sees it.

    Attributes
    ----------
    name : str
        What ``minireg run`` takes, e.g. ``"early-stopping"``.
    description : str
        One line for ``minireg list``.
    config_class : type
        A dataclass; every field has a default and a type among int, float, str, bool,
        and ``metadata={"help": ...}``.
    run : callable
        ``run(config) -> dict`` of JSON-ready results.
    report : callable
        ``report(results, folder) -> str``: markdown; plots are written into ``folder``.
    """

    name: str
    description: str
    config_class: type
    run: typing.Callable
    report: typing.Callable


def option(default, help: str):
    """A config field with a default and a help text (shown by ``minireg run NAME --help``)."""
    return dataclasses.field(default=default, metadata={"help": help})


def config_fields(config_class) -> list:
    """``[(name, type, default, help)]`` for the fields of a config dataclass.

    Raises
    ------
    TypeError
        If a field has no default or a type other than int, float, str or bool.
    """
    if not dataclasses.is_dataclass(config_class):
        raise TypeError(f"config_class must be a dataclass, got {config_class!r}")
    hints = typing.get_type_hints(config_class)
    fields = []
    for field in dataclasses.fields(config_class):
        kind = hints[field.name]
        if kind not in SUPPORTED_OPTION_TYPES:
            raise TypeError(f"{config_class.__name__}.{field.name} has type {kind!r}; options must be "
                            "int, float, str or bool")
        if field.default is dataclasses.MISSING:
            raise TypeError(f"{config_class.__name__}.{field.name} needs a default value")
        fields.append((field.name, kind, field.default, field.metadata.get("help", "")))
    return fields


# --------------------------------------------------------------------------------------
# Writing a run
# --------------------------------------------------------------------------------------


def new_run_folder(runs_dir, name: str) -> Path:
    """Make ``runs_dir/name/<YYYYmmdd-HHMMSS>/`` (with ``-2``, ``-3`` ... if it exists)."""
    parent = Path(runs_dir) / name
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, counter = parent / stamp, 1
    while True:
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            counter += 1
            folder = parent / f"{stamp}-{counter}"


def _json_ready(value):
    """Results with NaN/inf turned into None (JSON has no NaN) and tuples into lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def run_experiment(experiment: Experiment, config, runs_dir="runs") -> Path:
    """Run ``experiment`` with ``config`` and write its files; return the run folder.

    Files written (atomically) into ``runs_dir/NAME/<timestamp>/``:

    * ``results.json`` -- ``{"experiment", "config", "started", "seconds", "results"}``;
    * ``report.md`` -- the experiment's report;
    * the report's PNG plots (when matplotlib is installed).
    """
    if not isinstance(config, experiment.config_class):
        raise TypeError(f"config must be a {experiment.config_class.__name__}, got {type(config).__name__}")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    start = time.perf_counter()
    results = experiment.run(config)
    seconds = time.perf_counter() - start
    folder = new_run_folder(runs_dir, experiment.name)
    document = {
        "experiment": experiment.name,
        "config": dataclasses.asdict(config),
        "started": started,
        "seconds": round(seconds, 3),
        "results": results,
    }
    io.atomic_write_text(folder / "results.json", json.dumps(_json_ready(document), indent=2) + "\n")
    markdown = experiment.report(document, folder)
    io.atomic_write_text(folder / "report.md", markdown)
    return folder


# --------------------------------------------------------------------------------------
# Pieces of reports
# --------------------------------------------------------------------------------------


def format_number(value, digits: int = 4) -> str:
    """A number for a table: ``None``/NaN as a dash, floats with ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(header, rows) -> str:
    """A GitHub-flavoured markdown table; cells go through :func:`format_number`."""
    header = [str(cell) for cell in header]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(format_number(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def plotting_available() -> bool:
    """Whether matplotlib can be imported (plots are optional)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


PLOTS_SKIPPED = ("*Plots were skipped: matplotlib is not installed "
                 "(`pip install minireg[plot]` adds it); the tables above hold the same numbers.*\n")


def line_plot(path, curves, title: str, xlabel: str, ylabel: str, vertical_lines=(), log_y: bool = False) -> bool:
    """Draw curves into a PNG file, atomically; return False if matplotlib is missing.

    Parameters
    ----------
    path : path
        The PNG file to write.
    curves : dict
        ``{label: (x values, y values)}``.
    vertical_lines : sequence of (x, label)
        Marked moments, e.g. the epoch early stopping picks.
    log_y : bool
        Logarithmic y axis.
    """
    if not plotting_available():
        return False
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.2), dpi=110)
    try:
        for label, (x, y) in curves.items():
            axes.plot(x, y, label=label, linewidth=1.6)
        styles = ("--", ":", "-.")
        for index, (x, label) in enumerate(vertical_lines):
            axes.axvline(x, color="0.35", linestyle=styles[index % len(styles)], linewidth=1.2, label=label)
        if log_y:
            axes.set_yscale("log")
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        buffer = _bytes_io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        pyplot.close(figure)
    io.atomic_write_bytes(os.fspath(path), buffer.getvalue())
    return True
