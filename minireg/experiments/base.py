"""What every experiment is made of, and how a run is written to disk.

An experiment is four things (:class:`Experiment`):

1. a **config**: a dataclass whose fields, with their defaults and help texts, become
   the options of ``minireg run NAME --option value``;
2. ``run(config, progress) -> results``: does the work and returns plain data (numbers,
   lists, strings) that ``json`` can write; ``progress`` (a :class:`RunProgress`, or
   None) is where it checkpoints its phases so that an interrupted run can resume;
3. ``report(results, folder) -> markdown``: turns the results into a report that sets
   our numbers beside the published ones, and writes its plots (PNG) into ``folder``;
4. a name and a one-line description for ``minireg list``.

:func:`run_experiment` runs one and writes ``results.json``, ``report.md`` and the
plots into ``runs/NAME/<timestamp>/``, each file atomically (:mod:`minireg.io`). It is
:func:`start_run` (make the folder, write ``config.json``) then :func:`continue_run`
(run, checkpointing as it goes, and write the results). After a Ctrl-C,
:func:`continue_run` on the same folder resumes the run: ``minireg resume FOLDER``.

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
from minireg.training import Checkpoint

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
        ``run(config, progress) -> dict`` of JSON-ready results; ``progress`` is a
        :class:`RunProgress` (checkpoints of the run's phases) or None (no checkpoints).
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


CONFIG_FILE = "config.json"
PROGRESS_FILE = "progress.json"
RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
CHECKPOINT_PREFIX = "checkpoint-"


def _check_checkpoint_every_epochs(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"checkpoint_every_epochs must be an integer >= 1, got {value!r}")
    return value


class RunProgress:
    """What a run folder remembers so that an interrupted run can go on where it was.

    A run is made of *phases* (for early stopping: Algorithm 7.1, then 7.2, then 7.3),
    each one :meth:`Trainer.fit <minireg.training.Trainer.fit>`. While a phase trains,
    :meth:`checkpoint` saves its whole training state every ``checkpoint_every_epochs``
    epochs into ``checkpoint-PHASE.npz``; when it ends, :meth:`finish` saves its end
    state there and records the phase and its results in ``progress.json``. Every file
    is written atomically (:mod:`minireg.io`), so an interruption leaves the previous
    version of each one intact.

    A resumed run builds the same objects from the same seed, in the same order, and
    calls ``fit(..., resume_from=progress.resume_from(phase))`` for each phase: a phase
    that was finished starts from its end state and trains no further, the phase that
    was interrupted continues from its last checkpoint (bit for bit, see
    ``docs/training.md``), and the phases after it start from the beginning.

    Parameters
    ----------
    folder : path
        The run folder, ``runs/NAME/<time>/``.
    checkpoint_every_epochs : int
        Save a phase's state every this many epochs (and always at its end).

    Attributes
    ----------
    finished : dict
        ``{phase: results}`` of the phases done, in order (read from ``progress.json``).
    seconds : float
        Running time of the earlier sessions of this run (an interrupted session counts
        up to its interruption).
    """

    def __init__(self, folder, checkpoint_every_epochs: int = 1):
        self.folder = Path(folder)
        self.checkpoint_every_epochs = _check_checkpoint_every_epochs(checkpoint_every_epochs)
        self.finished = {}
        self.seconds = 0.0
        if (self.folder / PROGRESS_FILE).is_file():
            saved = json.loads((self.folder / PROGRESS_FILE).read_text(encoding="utf-8"))
            self.finished = dict(saved["finished"])
            self.seconds = float(saved["seconds"])

    def checkpoint_path(self, phase: str) -> Path:
        """``FOLDER/checkpoint-PHASE.npz``."""
        if not isinstance(phase, str) or not phase.replace("_", "").isalnum():
            raise ValueError(f"phase must be a name of letters, digits and '_', got {phase!r}")
        return self.folder / f"{CHECKPOINT_PREFIX}{phase}.npz"

    def checkpoint(self, phase: str):
        """The :class:`~minireg.training.Checkpoint` callback of ``phase``."""
        return Checkpoint(self.checkpoint_path(phase), every_epochs=self.checkpoint_every_epochs)

    def resume_from(self, phase: str):
        """The checkpoint to resume ``phase`` from, or None when it has none (not started).

        Raises
        ------
        FileNotFoundError
            If ``phase`` is recorded as finished but its checkpoint is gone.
        """
        path = self.checkpoint_path(phase)
        if path.is_file():
            return path
        if phase in self.finished:
            raise FileNotFoundError(f"{PROGRESS_FILE} records phase {phase!r} as finished, but its checkpoint "
                                    f"{path} is missing; the run cannot be resumed")
        return None

    def finish(self, phase: str, results: dict) -> None:
        """Record that ``phase`` is done, with its results (JSON-ready), in progress.json."""
        self.finished[phase] = results
        self.save()

    def save(self, seconds_of_this_session: float = 0.0) -> None:
        """Write ``progress.json`` atomically (with the running time so far)."""
        document = {"finished": self.finished, "seconds": self.seconds + seconds_of_this_session}
        io.atomic_write_text(self.folder / PROGRESS_FILE, json.dumps(_json_ready(document), indent=2) + "\n")


def start_run(experiment: Experiment, config, runs_dir="runs", checkpoint_every_epochs: int = 1) -> Path:
    """Make the run folder ``runs_dir/NAME/<time>/`` and write its ``config.json``; return it.

    ``config.json`` holds ``{"experiment", "config", "started", "checkpoint_every_epochs"}``:
    everything :func:`continue_run` needs to run (or resume) the experiment.
    """
    if not isinstance(config, experiment.config_class):
        raise TypeError(f"config must be a {experiment.config_class.__name__}, got {type(config).__name__}")
    _check_checkpoint_every_epochs(checkpoint_every_epochs)
    folder = new_run_folder(runs_dir, experiment.name)
    document = {
        "experiment": experiment.name,
        "config": dataclasses.asdict(config),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "checkpoint_every_epochs": checkpoint_every_epochs,
    }
    io.atomic_write_text(folder / CONFIG_FILE, json.dumps(document, indent=2) + "\n")
    return folder


def read_run_config(folder) -> dict:
    """The ``config.json`` of a run folder, as a dict.

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not a folder, or holds no ``config.json`` (not a run folder, or
        one written by a minireg that did not record its config).
    ValueError
        If ``config.json`` is not what :func:`start_run` writes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; give a run folder such as runs/NAME/<time>")
    if not (folder / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{folder} holds no {CONFIG_FILE}, so it is not a run folder that can be resumed "
                                f"(give runs/NAME/<time> as printed when the run was interrupted)")
    try:
        document = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{folder / CONFIG_FILE} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not {"experiment", "config", "started", "checkpoint_every_epochs"} <= set(document):
        raise ValueError(f"{folder / CONFIG_FILE} lacks the keys experiment, config, started, checkpoint_every_epochs")
    return document


def is_finished(folder) -> bool:
    """Whether the run in ``folder`` has written its ``results.json``."""
    return (Path(folder) / RESULTS_FILE).is_file()


def continue_run(experiment: Experiment, folder) -> Path:
    """Run (or resume) the experiment of the run folder ``folder`` and write its results.

    The config comes from ``folder/config.json``; phases recorded as finished are not
    trained again, the phase in progress continues from its checkpoint (see
    :class:`RunProgress`). Files written (atomically) into ``folder``:

    * ``results.json`` -- ``{"experiment", "config", "started", "seconds", "results"}``;
    * ``report.md`` -- the experiment's report;
    * the report's PNG plots (when matplotlib is installed).

    Then the checkpoints and ``progress.json`` are removed. If the run was already
    finished, only the report is written again from ``results.json``.

    On ``KeyboardInterrupt`` (Ctrl-C), ``progress.json`` gets the time spent so far and
    the interruption goes on up to the caller; the checkpoints stay, for a later resume.
    """
    folder = Path(folder)
    saved = read_run_config(folder)
    if saved["experiment"] != experiment.name:
        raise ValueError(f"{folder} is a run of {saved['experiment']!r}, not of {experiment.name!r}")
    if is_finished(folder):
        document = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
        _write_report(experiment, document, folder)
        return folder
    try:
        config = experiment.config_class(**saved["config"])
    except TypeError as error:
        raise ValueError(f"the config in {folder / CONFIG_FILE} does not fit {experiment.config_class.__name__}: "
                         f"{error}") from None
    progress = RunProgress(folder, saved["checkpoint_every_epochs"])
    start = time.perf_counter()
    try:
        results = experiment.run(config, progress)
    except KeyboardInterrupt:
        progress.save(seconds_of_this_session=time.perf_counter() - start)
        raise
    document = {
        "experiment": experiment.name,
        "config": dataclasses.asdict(config),
        "started": saved["started"],
        "seconds": round(progress.seconds + time.perf_counter() - start, 3),
        "results": results,
    }
    io.atomic_write_text(folder / RESULTS_FILE, json.dumps(_json_ready(document), indent=2) + "\n")
    _write_report(experiment, document, folder)
    return folder


def _write_report(experiment: Experiment, document: dict, folder: Path) -> None:
    """Write report.md (and its plots), then remove what only a resume would need."""
    markdown = experiment.report(document, folder)
    io.atomic_write_text(folder / REPORT_FILE, markdown)
    for path in folder.glob(CHECKPOINT_PREFIX + "*.npz"):
        path.unlink()
    (folder / PROGRESS_FILE).unlink(missing_ok=True)


def run_experiment(experiment: Experiment, config, runs_dir="runs", checkpoint_every_epochs: int = 1) -> Path:
    """Run ``experiment`` with ``config`` in a new folder ``runs_dir/NAME/<time>/``.

    :func:`start_run` then :func:`continue_run`; returns the run folder. If the run is
    interrupted, ``continue_run(experiment, folder)`` resumes it (``minireg resume FOLDER``).
    """
    folder = start_run(experiment, config, runs_dir, checkpoint_every_epochs)
    return continue_run(experiment, folder)


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
