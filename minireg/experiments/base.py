"""What every experiment is made of, and how a run is written to disk.

An experiment is four things (:class:`Experiment`):

1. a **config**: a :class:`CheckedConfig` dataclass whose fields, made with
   :func:`option` (default, help text, accepted values), become the options of
   ``minireg run NAME --option value``, checked before any work;
2. ``run(config, progress) -> results``: does the work and returns plain data (numbers,
   lists, strings) that ``json`` can write. Each training phase is one call,
   ``phases.run(name, title, trainer.fit, ...)`` of a :class:`Phases` made from
   ``progress`` (a :class:`RunProgress`, or None): it announces the phase, shows a
   progress bar, and checkpoints it so that an interrupted run can resume;
3. ``report(results, folder) -> markdown``: turns the results into a report that sets
   our numbers beside the published ones, and writes its plots (PNG) into ``folder``;
4. a name and a description for ``minireg list``: what it shows (which figure or
   algorithm of which source), what it needs, and how long it takes, in sentences.

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

import contextlib
import dataclasses
import json
import math
import shlex
import sys
import time
import typing
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from threadpoolctl import threadpool_limits

from minireg import checks, io, threads
from minireg.training import Checkpoint, ProgressBar

SUPPORTED_OPTION_TYPES = (int, float, str, bool)


@dataclass(frozen=True)
class Experiment:
    """An experiment as the ``minireg`` command sees it.

    Attributes
    ----------
    name : str
        What ``minireg run`` takes, e.g. ``"early-stopping"``.
    description : str
        Sentences for ``minireg list`` (what it shows, the figure or algorithm, how long it takes).
    config_class : type
        A dataclass (a :class:`CheckedConfig`); every field has a default and a type
        among int, float, str, bool, and is made with :func:`option`.
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


def option(default, help: str, *, minimum=None, maximum=None, include_minimum: bool = True,
           include_maximum: bool = True, choices=None):
    """A config field with a default, a help text (shown by ``minireg run NAME --help``) and
    the values it accepts: an int or float field within ``[minimum, maximum]`` (either
    bound open with ``include_minimum=False`` / ``include_maximum=False``; a float must
    also be finite), a str field among ``choices``. :func:`check_values` applies them."""
    accepts = {"minimum": minimum, "maximum": maximum, "include_minimum": include_minimum,
               "include_maximum": include_maximum, "choices": None if choices is None else tuple(choices)}
    return dataclasses.field(default=default, metadata={"help": help, "accepts": accepts})


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


# what a field made without option() accepts: any value of its type
_ANY = {"minimum": None, "maximum": None, "include_minimum": True, "include_maximum": True, "choices": None}


def _check_value(kind, value, label: str, accepts: dict):
    """One option's value, checked against its type and :func:`option`'s bounds."""
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{label} must be true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"{label} must be a string, got {value!r}")
        if accepts["choices"] is not None:
            checks.check_choice(value, label, accepts["choices"])
        return value
    bounds = {key: accepts[key] for key in ("minimum", "maximum")}
    if kind is int:
        return checks.check_int(value, label, **bounds)
    return checks.check_number(value, label, include_minimum=accepts["include_minimum"],
                               include_maximum=accepts["include_maximum"], **bounds)


def check_values(config_class, values: dict, label=lambda name: name) -> dict:
    """The values of a config, checked, before any work: ``{field: value}`` with ints as
    ``int`` and floats as finite ``float``.

    Every field must be given, each of the type of its field and within the bounds its
    :func:`option` states; then ``config_class.check_together(values, label)`` checks
    what concerns several fields at once (when the class defines it). Error messages
    name each field as ``label(field name)``: the command line passes its option names
    (``--lr``), Python code the field names (``lr``).

    Raises
    ------
    ValueError, TypeError
        For the first value that is not accepted, or a missing or unknown field.
    """
    fields = {name: (kind, accepts) for name, kind, accepts in _field_checks(config_class)}
    unknown = sorted(set(values) - set(fields))
    missing = [name for name in fields if name not in values]
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(label(name) for name in unknown)}; "
                         f"accepted: {', '.join(label(name) for name in fields)}")
    if missing:
        raise ValueError(f"missing option(s) {', '.join(label(name) for name in missing)}")
    checked = {name: _check_value(kind, values[name], label(name), accepts)
               for name, (kind, accepts) in fields.items()}
    together = getattr(config_class, "check_together", None)
    if together is not None:
        together(checked, label)
    return checked


def _field_checks(config_class):
    hints = typing.get_type_hints(config_class)
    return [(field.name, hints[field.name], field.metadata.get("accepts", _ANY))
            for field in dataclasses.fields(config_class)]


MNIST_TRAINING_EXAMPLES = 60000


def check_data_root(values: dict, label) -> None:
    """For a config's ``check_together``: its ``data_root`` option, when given, must be a
    folder (it is never created)."""
    root = values["data_root"]
    if root and not Path(root).expanduser().is_dir():
        raise FileNotFoundError(f"{label('data_root')} {root} does not exist; give the folder that holds the "
                                f"MNIST files, or leave {label('data_root')} out to use $MINIREG_DATA or the "
                                "cache (where MNIST is downloaded)")


def check_mnist_split(values: dict, label, train: str = "n_train", val: str = "n_val") -> None:
    """For a config's ``check_together``: the training and validation subsets come out of
    MNIST's 60,000 training images."""
    total = values[train] + values[val]
    if total > MNIST_TRAINING_EXAMPLES:
        raise ValueError(f"{label(train)} + {label(val)} must be at most {MNIST_TRAINING_EXAMPLES} "
                         f"(MNIST's training images), got {total}")


class CheckedConfig:
    """Base of the config dataclasses: every field is checked when the config is made
    (:func:`check_values`), so a bad value fails at once, not minutes into a run."""

    def __post_init__(self):
        for name, value in check_values(type(self), dataclasses.asdict(self)).items():
            setattr(self, name, value)



class MnistConfig(CheckedConfig):
    """A config with a ``data_root`` option for the MNIST files: when given, it must be a
    folder (:func:`check_data_root`)."""

    @staticmethod
    def check_together(values, label):
        check_data_root(values, label)

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
    return checks.check_int(value, "checkpoint_every_epochs", minimum=1)


class RunProgress:
    """What a run folder remembers so that an interrupted run can go on where it was.

    A run is made of *phases* (for early stopping: Algorithm 7.1, then 7.2, then 7.3),
    each one :meth:`Trainer.fit <minireg.training.Trainer.fit>`, run by :class:`Phases`.
    While a phase trains, its :meth:`checkpoint` callback saves the whole training state
    every ``checkpoint_every_epochs`` epochs, and at the end of the fit, into
    ``checkpoint-PHASE.npz``; when the phase is over, :meth:`finish` records it in
    ``progress.json``. Every file is written atomically (:mod:`minireg.io`), so an
    interruption leaves the previous version of each one intact.

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
        ``{phase: {"checkpoint_step": step or None}}`` of the phases done, in order (read
        from ``progress.json``); None when the phase ended without training (no checkpoint).
    seconds : float
        Running time of the earlier sessions of this run (an interrupted session counts
        up to its interruption).

    Raises
    ------
    ValueError
        If ``progress.json`` is there but damaged.
    """

    def __init__(self, folder, checkpoint_every_epochs: int = 1):
        self.folder = Path(folder)
        self.checkpoint_every_epochs = _check_checkpoint_every_epochs(checkpoint_every_epochs)
        self.finished = {}
        self.seconds = 0.0
        path = self.folder / PROGRESS_FILE
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                self.finished = {str(phase): dict(record) for phase, record in saved["finished"].items()}
                self.seconds = checks.check_number(saved["seconds"], "seconds", minimum=0.0)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise ValueError(f"{path} is damaged ({type(error).__name__}: {error}); delete it, and the phases "
                                 "that have a checkpoint resume from it, the others train again") from None

    def checkpoint_path(self, phase: str) -> Path:
        """``FOLDER/checkpoint-PHASE.npz``."""
        if not isinstance(phase, str) or not phase.replace("_", "").isalnum():
            raise ValueError(f"phase must be a name of letters, digits and '_', got {phase!r}")
        return self.folder / f"{CHECKPOINT_PREFIX}{phase}.npz"

    def checkpoint(self, phase: str):
        """The checkpoint callback of ``phase``: every ``checkpoint_every_epochs`` epochs,
        and the state the fit ends in (so that on resume a finished phase trains no further)."""
        return _PhaseCheckpoint(self.checkpoint_path(phase), every_epochs=self.checkpoint_every_epochs)

    def resume_from(self, phase: str):
        """The checkpoint to resume ``phase`` from, or None when it has none (not started,
        or finished without training).

        Raises
        ------
        FileNotFoundError
            If ``phase`` is recorded as finished with a checkpoint that is gone.
        """
        path = self.checkpoint_path(phase)
        if path.is_file():
            return path
        if phase in self.finished and self.finished[phase].get("checkpoint_step", 0) is not None:
            raise FileNotFoundError(f"{PROGRESS_FILE} records phase {phase!r} as finished, but its checkpoint "
                                    f"{path} is missing; the run cannot be resumed")
        return None

    def finish(self, phase: str, checkpoint_step) -> None:
        """Record in progress.json that ``phase`` is done, and the step of its end-state
        checkpoint (None if it trained no step, so wrote none)."""
        self.finished[phase] = {"checkpoint_step": checkpoint_step}
        self.save()

    def save(self, seconds_of_this_session: float = 0.0) -> None:
        """Write ``progress.json`` atomically (with the running time so far)."""
        document = {"finished": self.finished, "seconds": self.seconds + seconds_of_this_session}
        io.atomic_write_text(self.folder / PROGRESS_FILE, json.dumps(_json_ready(document), indent=2) + "\n")

    def check_checkpoints(self) -> None:
        """Read every checkpoint of the folder through, so that a damaged or missing one
        is found before any work (not when its phase is reached, maybe minutes later).

        Raises
        ------
        ValueError
            A damaged checkpoint, naming the file, what is wrong with it, and what to do.
        FileNotFoundError
            The checkpoint of a phase recorded as finished is gone.
        """
        for path in sorted(self.folder.glob(CHECKPOINT_PREFIX + "*.npz")):
            phase = path.stem[len(CHECKPOINT_PREFIX):]
            try:
                arrays = io.load_npz(path)
                state = json.loads(str(arrays["trainer"]))
                checks.check_int(state["step"], "step", minimum=0)
            except (OSError, EOFError, ValueError, TypeError, KeyError, zipfile.BadZipFile, zlib.error) as error:
                also = f" and {PROGRESS_FILE}" if phase in self.finished else ""
                raise ValueError(f"the checkpoint {path} is damaged ({type(error).__name__}: {error}); delete "
                                 f"it{also} to train phase {phase} again from its start") from None
        for phase in self.finished:
            self.resume_from(phase)        # a finished phase's checkpoint must be there


class _PhaseCheckpoint(Checkpoint):
    """A :class:`~minireg.training.Checkpoint` that also saves the state its fit ends in."""

    def on_fit_end(self, trainer):
        self.save(trainer)


class Phases:
    """The training phases of a run, each one call: :meth:`run`.

    ``run(config, progress)`` of an experiment makes one, ``Phases(progress, total=3,
    show=config.progress)``, and runs each phase through it. A phase is announced by
    name (``phase 2/3: Algorithm 7.2 ...``), shows a :class:`~minireg.training.ProgressBar`,
    and, with a :class:`RunProgress` (a run folder), is checkpointed there, resumed from
    its checkpoint, and recorded as finished. Without one (``progress=None``) it is a
    plain fit that writes nothing.

    Parameters
    ----------
    progress : RunProgress or None
    total : int
        How many phases the run has (the N of "phase k/N").
    show : bool
        Announce the phases and show progress bars.
    stream : file, optional
        Where; ``sys.stderr`` by default.
    """

    def __init__(self, progress, total: int, show: bool = True, stream=None):
        if progress is not None and not isinstance(progress, RunProgress):
            raise TypeError(f"progress must be a RunProgress or None, got {type(progress).__name__}")
        self.progress = progress
        self.total = checks.check_int(total, "total", minimum=1)
        self.show = bool(show)
        self.stream = stream
        self.started = 0

    def run(self, name: str, title: str, train, *args, total_steps=None, **kwargs):
        """``train(*args, **kwargs, callbacks=[...], resume_from=...)`` as phase ``name``.

        ``train`` is :meth:`Trainer.fit` or a function that passes ``callbacks`` and
        ``resume_from`` on to it (:func:`~minireg.training.retrain_on_all_data`,
        :func:`~minireg.training.continue_on_all_data`); the checkpoint and progress
        callbacks are added after those in ``kwargs["callbacks"]``. ``title`` says what
        the phase does; ``total_steps``, the trainer's step count at which it ends at the
        latest, gives the progress bar its total. Returns what ``train`` returns.
        """
        self.started += 1
        bar = checkpoint = None
        if self.show:
            finished_before = self.progress is not None and name in self.progress.finished
            note = " (finished before: its end state is restored)" if finished_before else ""
            out = self.stream if self.stream is not None else sys.stderr
            out.write(f"phase {self.started}/{self.total}: {title}{note}\n")
            out.flush()
            bar = ProgressBar(max_steps=total_steps, stream=self.stream)
        if self.progress is not None:
            checkpoint = self.progress.checkpoint(name)
            kwargs["resume_from"] = self.progress.resume_from(name)
        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), *(c for c in (bar, checkpoint) if c is not None)]
        try:
            result = train(*args, **kwargs)
        finally:
            if bar is not None:            # after Ctrl-C too: the next line starts clean
                bar.close()
        if checkpoint is not None:
            self.progress.finish(name, checkpoint.last_saved_step)
        return result


def start_run(experiment: Experiment, config, runs_dir="runs", checkpoint_every_epochs: int = 1) -> Path:
    """Make the run folder ``runs_dir/NAME/<time>/`` and write its ``config.json``; return it.

    ``config.json`` holds ``{"experiment", "config", "started", "checkpoint_every_epochs",
    "blas_threads"}``: everything :func:`continue_run` needs to run (or resume) the
    experiment, the BLAS thread count of now included (a resumed run uses it again, so
    that it stays bit-identical).
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
        "blas_threads": threads.blas_threads(),
    }
    io.atomic_write_text(folder / CONFIG_FILE, json.dumps(document, indent=2) + "\n")
    return folder


def read_run_config(folder) -> dict:
    """The ``config.json`` of a run folder, as a dict (``blas_threads`` is None in the
    folders of a minireg that did not record it).

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
    path = folder / CONFIG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not {"experiment", "config", "started", "checkpoint_every_epochs"} <= set(document):
        raise ValueError(f"{path} lacks the keys experiment, config, started, checkpoint_every_epochs")
    if not isinstance(document["experiment"], str) or not isinstance(document["config"], dict) \
            or not isinstance(document["started"], str):
        raise ValueError(f"{path}: experiment and started must be strings and config an object")
    try:
        _check_checkpoint_every_epochs(document["checkpoint_every_epochs"])
        document.setdefault("blas_threads", None)
        if document["blas_threads"] is not None:
            checks.check_int(document["blas_threads"], "blas_threads", minimum=1)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    return document


def is_finished(folder) -> bool:
    """Whether the run in ``folder`` has written its ``results.json``."""
    return (Path(folder) / RESULTS_FILE).is_file()


def check_run_folder(experiment: Experiment, folder):
    """Everything a run folder holds, checked before any work: ``(saved, config, progress)``
    with ``saved`` its ``config.json``, ``config`` the experiment's config made from it
    (every value checked) and ``progress`` its :class:`RunProgress` (progress.json read,
    every checkpoint read through).

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the file and what is wrong with it.
    """
    folder = Path(folder)
    saved = read_run_config(folder)
    if saved["experiment"] != experiment.name:
        raise ValueError(f"{folder} is a run of {saved['experiment']!r}, not of {experiment.name!r}")
    try:
        config = experiment.config_class(**check_values(experiment.config_class, saved["config"]))
    except (TypeError, ValueError) as error:
        raise ValueError(f"the config in {folder / CONFIG_FILE} is not one of {experiment.name}: {error}") from None
    progress = RunProgress(folder, saved["checkpoint_every_epochs"])
    progress.check_checkpoints()
    return saved, config, progress


@contextlib.contextmanager
def blas_threads_limited(count):
    """Run the block with the BLAS on ``count`` threads (threadpoolctl); None: as it is."""
    if count is None:
        yield
        return
    with threadpool_limits(limits=checks.check_int(count, "blas_threads", minimum=1), user_api="blas"):
        yield


def continue_run(experiment: Experiment, folder) -> Path:
    """Run (or resume) the experiment of the run folder ``folder`` and write its results.

    The config comes from ``folder/config.json`` (checked first, with the checkpoints,
    by :func:`check_run_folder`); phases recorded as finished are not trained again, the
    phase in progress continues from its checkpoint (see :class:`RunProgress`), and the
    BLAS runs on the thread count the run started with. Files written (atomically) into
    ``folder``:

    * ``results.json`` -- ``{"experiment", "config", "started", "seconds", "blas_threads",
      "results"}``;
    * ``report.md`` -- the experiment's report;
    * the report's PNG plots (when matplotlib is installed).

    Then the checkpoints and ``progress.json`` are removed. If the run was already
    finished, only the report is written again from ``results.json``.

    On ``KeyboardInterrupt`` (Ctrl-C), ``progress.json`` gets the time spent so far and
    the interruption goes on up to the caller; the checkpoints stay, for a later resume.
    """
    folder = Path(folder)
    if is_finished(folder):
        if read_run_config(folder)["experiment"] != experiment.name:
            raise ValueError(f"{folder} is a run of another experiment than {experiment.name!r}")
        document = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
        _write_report(experiment, document, folder)
        return folder
    saved, config, progress = check_run_folder(experiment, folder)
    start = time.perf_counter()
    with blas_threads_limited(saved["blas_threads"]):
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
        "blas_threads": saved["blas_threads"],
        "results": results,
    }
    io.atomic_write_text(folder / RESULTS_FILE, json.dumps(_json_ready(document), indent=2) + "\n")
    _write_report(experiment, document, folder)
    return folder


def reproduction_note(experiment: Experiment, document: dict) -> str:
    """The closing section of every report: the command that makes the run again, and
    that its numbers repeat bit for bit only on the same BLAS thread count."""
    defaults = {name: default for name, _, default, _ in config_fields(experiment.config_class)}
    words = ["minireg", "run", experiment.name]
    for name, value in document["config"].items():
        if name in defaults and value != defaults[name]:
            option_name = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                words.append(option_name if value else "--no-" + name.replace("_", "-"))
            else:
                words += [option_name, shlex.quote(str(value))]
    threads_used = document.get("blas_threads")
    if threads_used is not None:
        words += ["--threads", str(threads_used)]
    lines = ["## Reproducing this run", "", "    " + " ".join(words), ""]
    if threads_used is not None:
        lines += [f"The numbers repeat bit for bit with the same seed only on the same BLAS thread count: this "
                  f"run used {threads_used} (recorded in results.json as `blas_threads`). Another count sums the "
                  "matrix products in another order and changes the last digits, and through training all of "
                  "them a little.", ""]
    return "\n".join(lines)


def _write_report(experiment: Experiment, document: dict, folder: Path) -> None:
    """Write report.md (and its plots), then remove what only a resume would need."""
    markdown = experiment.report(document, folder).rstrip("\n") + "\n\n" + reproduction_note(experiment, document)
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



def percent(fraction, digits: int = 4) -> str:
    """A fraction (an error rate, a share) as a percentage for a table; None as a dash."""
    return format_number(None if fraction is None else 100 * fraction, digits)

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


def figure_png(path, title: str, xlabel: str, ylabel: str, draw) -> bool:
    """A PNG of one set of axes drawn by ``draw(axes)``, titled and labelled, written
    atomically into ``path``; False (and nothing written) when matplotlib is missing."""
    if not plotting_available():
        return False
    with io.png_figure(path, figsize=(7.5, 4.6), dpi=110) as (figure, axes):
        draw(axes)
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        figure.tight_layout()
    return True


def line_plot(path, curves, title: str, xlabel: str, ylabel: str, vertical_lines=(), points=None,
              log_y: bool = False) -> bool:
    """Draw curves into a PNG file, atomically; return False if matplotlib is missing.

    Parameters
    ----------
    path : path
        The PNG file to write.
    curves : dict
        ``{label: (x values, y values)}``.
    vertical_lines : sequence of (x, label) or (x, label, style)
        Marked moments, e.g. the epoch early stopping picks; ``style`` is a dict of
        matplotlib line properties (``color``, ``linestyle``, ``linewidth``); by default grey, and
        dashed, dotted, dash-dotted in turn.
    points : dict, optional
        ``{label: (x, y)}``: single points drawn as large dots, e.g. where a phase starts.
    log_y : bool
        Logarithmic y axis.
    """
    def draw(axes):
        for label, (x, y) in curves.items():
            axes.plot(x, y, label=label, linewidth=1.6)
        styles = ("--", ":", "-.")
        for index, (x, label, *style) in enumerate(vertical_lines):
            properties = {"color": "0.35", "linestyle": styles[index % len(styles)], "linewidth": 1.2,
                          **(style[0] if style else {})}
            axes.axvline(x, label=label, **properties)
        for label, (x, y) in (points or {}).items():
            axes.plot([x], [y], "o", markersize=7, color="black", label=label, zorder=3)
        if log_y:
            axes.set_yscale("log")

    return figure_png(path, title, xlabel, ylabel, draw)
