"""The ``minireg`` command.

::

    minireg list                                  the experiments, in words
    minireg run NAME [--option value ...]         run one; writes runs/NAME/<time>/
    minireg run NAME --help                       its options, with defaults
    minireg resume runs/NAME/<time>               continue an interrupted run
    minireg catalog [WORD]                        the map of the chapter: where each technique lives
    minireg sweep NAME --grid OPTION=V1,V2 ...    many runs over a grid and seeds (minireg.sweeps)
    minireg verify [ID] [--list]                  the chapter's equations as checks (minireg.analysis)
    minireg assignment build|check NAME           coursework from the reference (minireg.coursework)
    minireg --version

The options of ``run`` are the fields of the experiment's config dataclass
(:mod:`minireg.experiments`): ``n_subtrain`` becomes ``--n-subtrain``, typed as the
field is; a bool field becomes ``--name`` / ``--no-name``. ``--runs-dir`` chooses where
the run folder goes (default ``runs``), ``--checkpoint-every-epochs`` how often the
training state is saved there, ``--threads`` how many threads the BLAS uses (a run
repeats bit for bit only on the same count; it is recorded, and a resume uses it again).
``python -m minireg`` is the same command.

Every option is checked before any work starts, and option names are matched exactly
(``--epoch`` is not ``--epochs``). Every expected failure -- a bad option, missing or
corrupt data, an unreachable download, a damaged run folder, a file that cannot be
written -- ends the command with one line on stderr, ``minireg: error: ...``, in the
command's own words, and exit status 2 (bad usage) or 1 (a failure while running).
Anything else is a bug, and shows its traceback.

Ctrl-C stops a run with exit status 130 and one line on stderr that names the run
folder and the command that resumes it. ``resume`` takes the folder only: the config is
the one saved in its ``config.json`` when the run started (any other argument is an
error), and the result is that of a run that was never interrupted.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import textwrap
from pathlib import Path

from minireg import __version__, analysis, catalog
from minireg.coursework import commands as coursework_commands
from minireg.sweeps import cli as sweeps_cli
from minireg.datasets.download import DownloadError
from minireg.datasets.files import CorruptDataError
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import (CHECKPOINT_PREFIX, CONFIG_FILE, blas_threads_limited, check_run_folder,
                                      check_values, config_fields, continue_run, is_finished, read_run_config,
                                      start_run)

USAGE = """\
  minireg list                           the experiments, in words
  minireg run NAME [--option value ...]  run one; writes runs/NAME/<time>/
  minireg run NAME --help                its options, with defaults
  minireg resume runs/NAME/<time>        continue a run that was interrupted (Ctrl-C)
  minireg catalog [WORD]                 every technique of the sources that mentions WORD: its
                                         sections, code, test, docs and example
  minireg sweep NAME --grid OPTION=V1,V2 [--seeds 0-4] [--workers N | --scheduler ADDRESS]
                                         a run at every point of a grid, for every seed; see
                                         `minireg sweep --help`
  minireg verify [ID] [--list]           compute both sides of the chapter's equations and compare
                                         them: all checks, one by id (e.g. 7.8), or the list
  minireg assignment build|check|list    coursework: a starter and an autograder per
                                         assignments/NAME.toml; see `minireg assignment --help`
"""

USAGE_ERROR, RUN_FAILED, INTERRUPTED = 2, 1, 130


class CLIError(Exception):
    """An expected failure of the command: its message is the one line the user sees;
    ``status`` the exit status (2 for bad usage, 1 for a failure while running)."""

    def __init__(self, message: str, status: int = USAGE_ERROR):
        super().__init__(" ".join(str(message).split()))      # one line, whatever it was built from
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse with exact option names and errors raised as :class:`CLIError` (one line,
    not argparse's usage block and ``SystemExit``)."""

    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message):
        raise CLIError(f"{message} (see {self.prog} --help)")


def _option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def experiment_parser(experiment) -> argparse.ArgumentParser:
    """The parser of ``minireg run NAME``: one option per config field, plus --runs-dir,
    --checkpoint-every-epochs and --threads."""
    parser = _Parser(
        prog=f"minireg run {experiment.name}",
        description=experiment.description,
        epilog="Ctrl-C stops the run and prints the command that resumes it: "
               "minireg resume runs/NAME/<time> (with the saved options; no others may be given).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for name, kind, default, help_text in config_fields(experiment.config_class):
        if kind is bool:
            parser.add_argument(_option_name(name), dest=name, action=argparse.BooleanOptionalAction,
                                default=default, help=help_text)
        else:
            parser.add_argument(_option_name(name), dest=name, type=kind, default=default,
                                metavar=kind.__name__.upper(), help=help_text)
    parser.add_argument("--runs-dir", dest="runs_dir", default="runs",
                        help="folder under which runs/NAME/<timestamp>/ is created")
    parser.add_argument("--checkpoint-every-epochs", dest="checkpoint_every_epochs", type=int, default=1,
                        metavar="INT", help="save the training state into the run folder every this many "
                                            "epochs (and at the end of each phase), for `minireg resume`")
    parser.add_argument("--threads", dest="threads", type=int, default=None, metavar="INT",
                        help="threads of the BLAS (matrix products); default: as the BLAS is set up. Results "
                             "repeat bit for bit only on the same count, which the run records")
    return parser


def _check_runs_dir(runs_dir: str) -> None:
    """The folder runs go into must be one, or be creatable: every part of the path that
    exists is a folder, and the deepest one that exists can be written to."""
    path = Path(runs_dir).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise CLIError(f"--runs-dir {runs_dir} {where}; give a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"--runs-dir {runs_dir}: cannot create or write in {existing} (permission denied)")


# --------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------


def _list(out) -> int:
    for name, experiment in EXPERIMENTS.items():
        out.write(name + "\n")
        out.write(textwrap.fill(experiment.description, width=88, initial_indent="    ",
                                subsequent_indent="    ", break_on_hyphens=False) + "\n\n")
    out.write("Run one with `minireg run NAME`; `minireg run NAME --help` lists its options.\n")
    return 0


def _catalog(word, out) -> int:
    found = catalog.find(word)
    if not found:
        raise CLIError(f"minireg catalog: no technique mentions {word!r}; try a word such as dropout, L2, prox or "
                       f"7.7, or `minireg catalog` for all {len(catalog.TECHNIQUES)}", RUN_FAILED)
    out.write("\n\n".join(map(catalog.as_text, found)) + "\n")
    return 0


def _verify(check_id, list_only: bool, out) -> int:
    """``minireg verify [ID] [--list]``: run the checks of :mod:`minireg.analysis` and print
    each with its equation, both sides, the tolerance and the verdict; exit status 1 when
    one fails."""
    try:
        checks = analysis.select(check_id)
    except ValueError as error:
        raise CLIError(f"minireg verify: {error} (see `minireg verify --list`)") from None
    if list_only:
        for check in checks:
            out.write(f"{check.id:<15} {check.title}\n{'':<15} {check.source}\n")
        return 0
    failed = []
    for check in checks:
        result = check.run()
        out.write(analysis.as_text(result) + "\n\n")
        out.flush()
        if not result.passed:
            failed.append(check.id)
    out.write(f"{len(checks) - len(failed)} of {len(checks)} checks passed"
              + (f"; failed: {', '.join(failed)}\n" if failed else "\n"))
    return RUN_FAILED if failed else 0


def _run(name: str, options: list, out) -> int:
    if name not in EXPERIMENTS:
        raise CLIError(f"minireg run: unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)} "
                       "(see `minireg list`)")
    experiment = EXPERIMENTS[name]
    parser = experiment_parser(experiment)
    values = vars(parser.parse_args(options))
    runs_dir = values.pop("runs_dir")
    checkpoint_every_epochs = values.pop("checkpoint_every_epochs")
    threads = values.pop("threads")
    if checkpoint_every_epochs < 1:
        raise CLIError(f"--checkpoint-every-epochs must be an integer >= 1, got {checkpoint_every_epochs}")
    if threads is not None and threads < 1:
        raise CLIError(f"--threads must be an integer >= 1, got {threads}")
    try:
        config = experiment.config_class(**check_values(experiment.config_class, values, _option_name))
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise CLIError(error) from None
    _check_runs_dir(runs_dir)
    with blas_threads_limited(threads):
        try:
            folder = start_run(experiment, config, runs_dir, checkpoint_every_epochs)
        except OSError as error:
            raise CLIError(f"cannot create the run folder under --runs-dir {runs_dir}: {_os_reason(error)}",
                           RUN_FAILED) from None
        return _continue(experiment, folder, out, fresh=True)


def _resume(folder: str, out) -> int:
    """``minireg resume FOLDER``: the run's saved config, its checkpoints, then its results;
    everything checked before any work."""
    try:
        saved = read_run_config(folder)
        if saved["experiment"] not in EXPERIMENTS:
            raise CLIError(f"{folder} is a run of {saved['experiment']!r}, which is not an experiment of this "
                           "minireg (see `minireg list`)")
        experiment = EXPERIMENTS[saved["experiment"]]
        if is_finished(folder):
            continue_run(experiment, folder)
            out.write(f"{folder} is finished already: nothing to resume; wrote its report.md again from "
                      "results.json\n")
            return 0
        check_run_folder(experiment, folder)
    except (FileNotFoundError, ValueError) as error:
        raise CLIError(f"minireg resume: {error}") from None
    return _continue(experiment, Path(folder), out)


def _continue(experiment, folder, out, fresh: bool = False) -> int:
    """Run (or resume) the run in ``folder``. On Ctrl-C say how to resume (exit status
    130); on missing or corrupt data or a file that cannot be written, say what to do (exit
    status 1), and remove the folder of a fresh run that saved nothing but its config."""
    try:
        continue_run(experiment, folder)
    except KeyboardInterrupt:
        sys.stderr.write(_interrupted_line(folder) + "\n")
        return INTERRUPTED
    except (CorruptDataError, OSError) as error:
        if fresh and [path.name for path in folder.iterdir()] == [CONFIG_FILE]:
            (folder / CONFIG_FILE).unlink()
            folder.rmdir()
        raise CLIError(_data_or_file_problem(error), RUN_FAILED) from None
    out.write(f"wrote {folder}/results.json and {folder}/report.md\n")
    return 0


def _interrupted_line(folder) -> str:
    command = f"minireg resume {shlex.quote(str(folder))}"
    if any(Path(folder).glob(CHECKPOINT_PREFIX + "*.npz")):
        return f"minireg: interrupted; the run folder {folder} keeps what was saved; resume with: {command}"
    return (f"minireg: interrupted before the first checkpoint, so no training was saved; {command} "
            "starts the run again with the same options")


def _os_reason(error: OSError) -> str:
    if error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    return str(error)


def _data_or_file_problem(error) -> str:
    """One line, in the command's words, for a data or file error raised while running."""
    first_line = str(error).strip().splitlines()[0].rstrip(":")
    if isinstance(error, DownloadError):
        return (f"{first_line}; without network access, copy the files into a folder and give it as --data-root "
                "FOLDER (or set MINIREG_DATA)")
    if isinstance(error, CorruptDataError):
        problem = first_line.split(" Delete ")[0]           # the loaders' advice names Python arguments
        return (f"{problem} Delete that file to have it downloaded again, or give --data-root a folder that "
                "holds good copies")
    return _os_reason(error)


# --------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------


def _main_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="minireg",
        description="minireg: regularization made transparent. Run the reproductions and demos.",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"minireg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.add_parser("list", help="show the experiments, in words")
    run_parser = commands.add_parser("run", help="run an experiment: minireg run NAME [--option value ...]",
                                     add_help=False)
    run_parser.add_argument("name", nargs="?", help="an experiment from `minireg list`")
    run_parser.add_argument("options", nargs=argparse.REMAINDER,
                            help="the experiment's options; see `minireg run NAME --help`")
    resume_parser = commands.add_parser(
        "resume", help="continue an interrupted run: minireg resume runs/NAME/<time>",
        description="Continue a run that was interrupted (Ctrl-C), in its folder, with the config saved in "
                    "its config.json; the result is that of a run that was never interrupted. Other "
                    "arguments are an error. On a finished run, only its report.md is written again.")
    resume_parser.add_argument("folder", help="the run folder, runs/NAME/<time>")
    catalog_parser = commands.add_parser(
        "catalog", help="the map of the chapter: minireg catalog [WORD]",
        description="Every technique of the source documents that mentions WORD (any case; all without "
                    "WORD): its sections of Deep Learning ch. 7 (draft and published), the file and name "
                    "where it lives, its test, its docs section and the example or experiment that shows it.")
    catalog_parser.add_argument("word", nargs="?", help="a word to look for, e.g. dropout, L2, prox, 7.7, P3")
    verify_parser = commands.add_parser(
        "verify", help="the chapter's equations as checks: minireg verify [ID] [--list]",
        description="Compute both sides of each equation of Deep Learning ch. 7 (and the slides) that "
                    "minireg turns into a check, with minireg's own regularizers, and compare them within "
                    "a stated tolerance. Exit status 1 when a check fails.")
    verify_parser.add_argument("id", nargs="?", help="a check's id (the draft's equation or section number, "
                                                     "e.g. 7.8 or 7.2.3); all checks without it")
    verify_parser.add_argument("--list", action="store_true", help="list the checks instead of running them")
    sweep_parser = commands.add_parser("sweep", help="many runs: minireg sweep NAME --grid OPTION=V1,V2 ...",
                                       add_help=False)
    sweep_parser.add_argument("arguments", nargs=argparse.REMAINDER,
                              help="see `minireg sweep --help` (minireg.sweeps.cli)")
    coursework_commands.add_parser(commands, _Parser)
    return parser


def _dispatch(argv) -> int:
    parser = _main_parser()
    arguments, unknown = parser.parse_known_args(argv)
    if arguments.command is None:
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        parser.print_help()
        return USAGE_ERROR
    if arguments.command == "list":
        if unknown:
            parser.error(f"`minireg list` takes no arguments, got {' '.join(unknown)}")
        return _list(sys.stdout)
    if arguments.command == "catalog":
        if unknown:
            parser.error(f"`minireg catalog` takes one word at most, got also {' '.join(unknown)}")
        return _catalog(arguments.word, sys.stdout)
    if arguments.command == "verify":
        if unknown:
            parser.error(f"`minireg verify` takes one check id at most, got also {' '.join(unknown)}")
        return _verify(arguments.id, arguments.list, sys.stdout)
    if arguments.command == "sweep":
        try:
            return sweeps_cli.main(list(arguments.arguments) + list(unknown))
        except SystemExit as done:           # its parser's --help and one-line errors end this way
            return done.code if isinstance(done.code, int) else USAGE_ERROR
    if arguments.command == "assignment":
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        try:
            return coursework_commands.run(arguments, sys.stdout)
        except coursework_commands.CommandError as error:
            raise CLIError(error, RUN_FAILED) from None
    if arguments.command == "resume":
        if unknown:
            parser.error(f"`minireg resume` takes only the run folder (the options are the saved ones, in its "
                         f"config.json); got also {' '.join(unknown)}")
        return _resume(arguments.folder, sys.stdout)
    options = list(arguments.options) + list(unknown)
    asked_for_help = arguments.name in ("-h", "--help") or (arguments.name is None and bool({"-h", "--help"} & set(options)))
    if arguments.name is None or asked_for_help:
        sys.stdout.write("usage: minireg run NAME [--option value ...]   (minireg run NAME --help for its "
                         "options)\n\nexperiments:\n")
        _list(sys.stdout)
        return 0 if asked_for_help else USAGE_ERROR
    return _run(arguments.name, options, sys.stdout)


def main(argv=None) -> int:
    """Entry point of the ``minireg`` command; returns the exit status."""
    try:
        return _dispatch(argv)
    except CLIError as error:
        sys.stderr.write(f"minireg: error: {error}\n")
        return error.status
    except KeyboardInterrupt:
        sys.stderr.write("minireg: interrupted\n")
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
