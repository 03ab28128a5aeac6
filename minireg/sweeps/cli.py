"""``minireg sweep``: the command line of :func:`minireg.sweeps.run_sweep`.

::

    minireg sweep NAME --grid OPTION=V1,V2,... [--grid ...] [--seeds 0-4] [--OPTION VALUE ...]
                  [--workers N | --scheduler tcp://HOST:PORT | --scheduler local]
                  [--threads-per-run N] [--folder DIR | --runs-dir DIR] [--metrics PATTERN ...]
    minireg sweep --resume FOLDER [--workers N | --scheduler ...]
    minireg sweep NAME --help

The fixed options are those of ``minireg run NAME`` (``--epochs 10``, ``--no-progress``)
except ``--seed``, which ``--seeds`` replaces. Exit status: 0 when every run finished,
1 when some failed (they are listed, and run again when the sweep is), 2 for bad input,
130 after Ctrl-C (the line printed says how to resume).
"""
from __future__ import annotations

import argparse
import shlex
import sys

from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import config_fields
from minireg.sweeps.grid import SweepError, SweepSpec, parse_grid, parse_seeds
from minireg.sweeps.runner import check_where, prepare_folder, read_spec, run_sweep

USAGE = """\
  minireg sweep NAME --grid OPTION=V1,V2,... [--seeds 0-4] [--OPTION VALUE ...] [--workers N]
  minireg sweep NAME ... --scheduler tcp://HOST:PORT    on a running Dask cluster
  minireg sweep NAME ... --scheduler local              on a Dask LocalCluster of --workers processes
  minireg sweep --resume FOLDER                         finish an interrupted sweep
  minireg sweep NAME --help                             the experiment's options
"""


class _Parser(argparse.ArgumentParser):
    """Exact option names; a bad argument is a :class:`SweepError`, printed as one line
    (not argparse's usage block)."""

    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message):
        raise SweepError(f"{message} (see {self.prog} --help)")


def _where_options(parser: argparse.ArgumentParser) -> None:
    """The options that say where and how the runs go (not part of the sweep's spec)."""
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="local worker processes, or the processes of --scheduler local")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="tcp://HOST:PORT of a running Dask scheduler, or 'local' for a Dask LocalCluster "
                             '(needs pip install "minireg[distributed]")')
    parser.add_argument("--connect-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="give up on a scheduler that does not answer within this time")
    parser.add_argument("--metrics", nargs="+", metavar="PATTERN",
                        help="glob patterns of the metrics the summary keeps, e.g. 'test.*' (default: all)")
    parser.add_argument("--bar", action=argparse.BooleanOptionalAction, default=True,
                        help="show the progress bar (runs done/total, running, failed, elapsed, time left)")


def sweep_parser(experiment) -> argparse.ArgumentParser:
    """The parser of ``minireg sweep NAME``: the sweep's options and the experiment's."""
    parser = _Parser(
        prog=f"minireg sweep {experiment.name}",
        description=f"Run {experiment.name} ({experiment.description}) at every point of a grid, for every "
                    "seed, and summarize each metric as mean ± std over the seeds.",
        epilog="Every run uses --threads-per-run BLAS threads wherever it runs, so that the numbers do not "
               "depend on where it ran; run on more cores with more --workers. See docs/sweeps.md.")
    parser.add_argument("--grid", action="append", default=[], metavar="OPTION=V1,V2,...",
                        help="an option and its values to sweep; repeat for a grid of several options")
    parser.add_argument("--seeds", metavar="SEEDS", help="seeds of every point: 0-4, 0,3,7 or 0-2,10")
    parser.add_argument("--threads-per-run", type=int, default=1, metavar="N",
                        help="BLAS threads of each run (the numbers depend on it)")
    parser.add_argument("--folder", help="the sweep folder; an earlier sweep's folder resumes it "
                                         "(default: a new RUNS_DIR/sweeps/NAME/<time>)")
    parser.add_argument("--runs-dir", default="runs", help="where the default sweep folder goes")
    _where_options(parser)
    fixed = parser.add_argument_group("fixed options of every run (as for `minireg run`)")
    for name, kind, default, help_text in config_fields(experiment.config_class):
        if name == "seed":
            continue
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            fixed.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=f"{help_text} (default: {default})")
        else:
            fixed.add_argument(flag, dest=name, type=kind, default=argparse.SUPPRESS, metavar=kind.__name__.upper(),
                               help=f"{help_text} (default: {default})")
    return parser


def resume_parser() -> argparse.ArgumentParser:
    """The parser of ``minireg sweep --resume FOLDER``."""
    parser = _Parser(prog="minireg sweep --resume",
                     description="Finish an interrupted sweep: the runs not finished (or failed) "
                                                 "run again, with the spec saved in FOLDER/sweep.json.")
    parser.add_argument("--resume", dest="folder", required=True, metavar="FOLDER", help="the sweep folder")
    _where_options(parser)
    return parser


def _spec_from(experiment, values: dict) -> SweepSpec:
    """The spec from the parsed arguments; what is left in ``values`` says where the runs go."""
    grid = parse_grid(experiment.name, values.pop("grid"))
    seeds = values.pop("seeds")
    threads_per_run = values.pop("threads_per_run")
    fields = {name for name, _, _, _ in config_fields(experiment.config_class)}
    options = {name: values.pop(name) for name in list(values) if name in fields}
    return SweepSpec(experiment=experiment.name, grid=grid, seeds=[] if seeds is None else parse_seeds(seeds),
                     options=options, threads_per_run=threads_per_run)


def main(argv=None) -> int:
    """``minireg sweep ARGS``: ``argv`` is what follows ``sweep``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write("usage:\n" + USAGE + "\nexperiments: " + ", ".join(EXPERIMENTS) + "\n")
        return 0 if argv else 2
    try:
        if argv[0] == "--resume" or argv[0].startswith("--resume="):
            values = vars(resume_parser().parse_args(argv))
            spec = read_spec(values["folder"])
            folder = values.pop("folder")
            values["runs_dir"] = None
        else:
            if argv[0] not in EXPERIMENTS:
                raise SweepError(f"unknown experiment {argv[0]!r}; choose one of: {', '.join(EXPERIMENTS)}")
            values = vars(sweep_parser(EXPERIMENTS[argv[0]]).parse_args(argv[1:]))
            spec = _spec_from(EXPERIMENTS[argv[0]], values)
            folder = values.pop("folder")
    except SweepError as error:
        sys.stderr.write(f"minireg sweep: error: {error}\n")
        return 2
    try:
        check_where(values["workers"], values["scheduler"], values["connect_timeout"])
        folder = prepare_folder(spec, folder, values["runs_dir"])
        sys.stderr.write(f"minireg sweep: {len(spec.runs())} runs of {spec.experiment} in {folder}\n")
        outcome = run_sweep(spec, folder=folder, workers=values["workers"], scheduler=values["scheduler"],
                            connect_timeout=values["connect_timeout"], progress=values["bar"],
                            metrics=values["metrics"])
    except SweepError as error:
        sys.stderr.write(f"minireg sweep: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"minireg sweep: interrupted; the finished runs are kept in {folder}. Resume with: "
                         f"minireg sweep --resume {shlex.quote(str(folder))}\n")
        return 130
    counts = outcome.summary["counts"]
    sys.stdout.write(f"{outcome.folder}: {counts['finished']} of {counts['runs']} runs finished "
                     f"({outcome.skipped} before this call), {counts['failed']} failed, {counts['missing']} missing; "
                     f"summary in {outcome.folder}/summary.md\n")
    if outcome.failed:
        sys.stdout.write(f"run the same command again (or minireg sweep --resume {shlex.quote(str(outcome.folder))}) "
                         "to retry the failed runs\n")
    return 1 if counts["failed"] or counts["missing"] else 0
