"""The ``minireg`` command.

::

    minireg list                                  the experiments, one line each
    minireg run NAME [--option value ...]         run one; writes runs/NAME/<time>/
    minireg run NAME --help                       its options, with defaults
    minireg resume runs/NAME/<time>               continue an interrupted run

The options of ``run`` are the fields of the experiment's config dataclass
(:mod:`minireg.experiments`): ``n_subtrain`` becomes ``--n-subtrain``, typed as the
field is; a bool field becomes ``--name`` / ``--no-name``. ``--runs-dir`` chooses where
the run folder goes (default ``runs``), ``--checkpoint-every-epochs`` how often the
training state is saved there. ``python -m minireg`` is the same command.

Ctrl-C stops a run with exit status 130 and one line on stderr that names the run
folder and the command that resumes it. ``resume`` takes the folder only: the config is
the one saved in its ``config.json`` when the run started (any other argument is an
error), and the result is that of a run that was never interrupted.
"""
from __future__ import annotations

import argparse
import shlex
import sys

from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import config_fields, continue_run, is_finished, read_run_config, start_run

USAGE = """\
  minireg list                           the experiments, one line each
  minireg run NAME [--option value ...]  run one; writes runs/NAME/<time>/
  minireg run NAME --help                its options, with defaults
  minireg resume runs/NAME/<time>        continue a run that was interrupted (Ctrl-C)
"""


def _option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def experiment_parser(experiment) -> argparse.ArgumentParser:
    """The parser of ``minireg run NAME``: one option per config field, plus --runs-dir and
    --checkpoint-every-epochs."""
    parser = argparse.ArgumentParser(
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
    return parser


def _list(out) -> int:
    width = max(len(name) for name in EXPERIMENTS)
    for name, experiment in EXPERIMENTS.items():
        out.write(f"{name:<{width}}  {experiment.description}\n")
    return 0


def _run(name: str, options: list, out) -> int:
    if name not in EXPERIMENTS:
        sys.stderr.write(f"minireg run: unknown experiment {name!r}; choose one of: "
                         f"{', '.join(EXPERIMENTS)} (see `minireg list`)\n")
        return 2
    experiment = EXPERIMENTS[name]
    parser = experiment_parser(experiment)
    values = vars(parser.parse_args(options))
    runs_dir = values.pop("runs_dir")
    checkpoint_every_epochs = values.pop("checkpoint_every_epochs")
    if checkpoint_every_epochs < 1:
        parser.error(f"--checkpoint-every-epochs must be >= 1, got {checkpoint_every_epochs}")
    try:
        config = experiment.config_class(**values)
    except ValueError as error:
        parser.error(str(error))
    folder = start_run(experiment, config, runs_dir, checkpoint_every_epochs)
    return _continue(experiment, folder, out)


def _resume(folder: str, out) -> int:
    """``minireg resume FOLDER``: the run's saved config, its checkpoints, then its results."""
    try:
        saved = read_run_config(folder)
    except (FileNotFoundError, ValueError) as error:
        sys.stderr.write(f"minireg resume: {error}\n")
        return 2
    if saved["experiment"] not in EXPERIMENTS:
        sys.stderr.write(f"minireg resume: {folder} is a run of {saved['experiment']!r}, which is not an "
                         f"experiment of this minireg (see `minireg list`)\n")
        return 2
    experiment = EXPERIMENTS[saved["experiment"]]
    if is_finished(folder):
        continue_run(experiment, folder)
        out.write(f"{folder} is finished already: nothing to resume; wrote its report.md again from "
                  "results.json\n")
        return 0
    return _continue(experiment, folder, out)


def _continue(experiment, folder, out) -> int:
    """Run (or resume) the run in ``folder``; on Ctrl-C say how to resume, exit status 130."""
    try:
        continue_run(experiment, folder)
    except KeyboardInterrupt:
        sys.stderr.write(f"minireg: interrupted; the run folder {folder} keeps what was saved; "
                         f"resume with: minireg resume {shlex.quote(str(folder))}\n")
        return 130
    out.write(f"wrote {folder}/results.json and {folder}/report.md\n")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``minireg`` command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="minireg",
        description="minireg: regularization made transparent. Run the reproductions and demos.",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("list", help="show the experiments")
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
    arguments, unknown = parser.parse_known_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 2
    if arguments.command == "list":
        if unknown:
            parser.error(f"`minireg list` takes no arguments, got {' '.join(unknown)}")
        return _list(sys.stdout)
    if arguments.command == "resume":
        if unknown:
            parser.error(f"`minireg resume` takes only the run folder (the options are the saved ones, in its "
                         f"config.json); got also {' '.join(unknown)}")
        try:
            return _resume(arguments.folder, sys.stdout)
        except KeyboardInterrupt:
            sys.stderr.write("minireg: interrupted\n")
            return 130
    options = list(arguments.options) + list(unknown)
    asked_for_help = arguments.name in ("-h", "--help") or (arguments.name is None and bool({"-h", "--help"} & set(options)))
    if arguments.name is None or asked_for_help:
        sys.stdout.write("usage: minireg run NAME [--option value ...]   (minireg run NAME --help for its "
                         "options)\n\nexperiments:\n")
        _list(sys.stdout)
        return 0 if asked_for_help else 2
    try:
        return _run(arguments.name, options, sys.stdout)
    except KeyboardInterrupt:
        sys.stderr.write("minireg: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
