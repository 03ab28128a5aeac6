"""The ``minireg`` command.

::

    minireg list                                  the experiments, one line each
    minireg run NAME [--option value ...]         run one; writes runs/NAME/<time>/
    minireg run NAME --help                       its options, with defaults

The options of ``run`` are the fields of the experiment's config dataclass
(:mod:`minireg.experiments`): ``n_subtrain`` becomes ``--n-subtrain``, typed as the
field is; a bool field becomes ``--name`` / ``--no-name``. ``--runs-dir`` chooses where
the run folder goes (default ``runs``). ``python -m minireg`` is the same command.
"""
from __future__ import annotations

import argparse
import sys

from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import config_fields, run_experiment


def _option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def experiment_parser(experiment) -> argparse.ArgumentParser:
    """The parser of ``minireg run NAME``: one option per config field, plus --runs-dir."""
    parser = argparse.ArgumentParser(
        prog=f"minireg run {experiment.name}",
        description=experiment.description,
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
    try:
        config = experiment.config_class(**values)
    except ValueError as error:
        parser.error(str(error))
    folder = run_experiment(experiment, config, runs_dir)
    out.write(f"wrote {folder}/results.json and {folder}/report.md\n")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``minireg`` command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="minireg",
        description="minireg: regularization made transparent. Run the reproductions and demos.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("list", help="show the experiments")
    run_parser = commands.add_parser("run", help="run an experiment: minireg run NAME [--option value ...]",
                                     add_help=False)
    run_parser.add_argument("name", nargs="?", help="an experiment from `minireg list`")
    run_parser.add_argument("options", nargs=argparse.REMAINDER,
                            help="the experiment's options; see `minireg run NAME --help`")
    arguments, unknown = parser.parse_known_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 2
    if arguments.command == "list":
        if unknown:
            parser.error(f"`minireg list` takes no arguments, got {' '.join(unknown)}")
        return _list(sys.stdout)
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
