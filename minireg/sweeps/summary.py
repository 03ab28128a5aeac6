"""The summary of a sweep: every metric as mean ± std over seeds, at every point of the grid.

Read from the sweep folder alone (``sweep.json`` and the run folders), so that it can
be written again at any time, and says which runs failed (with their error) and which
are missing. Written into the sweep folder, each file atomically:

* ``summary.md`` -- a table with one row per metric and one column per point of the
  grid, ``mean ± std`` (and ``n=`` when fewer seeds than asked finished), then the
  failed and missing runs and the plots;
* ``summary.csv`` -- one line per point and metric: the swept values, ``mean``,
  ``std``, ``n``;
* ``summary.json`` -- all of it, with each seed's value;
* ``plots/METRIC-vs-OPTION.png`` -- each metric against each swept option, one line
  per combination of the other swept options, error bars of one std (matplotlib is
  optional; without it the plots are skipped and the summary says so). Metrics that are
  the same at every point are listed, not drawn.

A *metric* is any number in the ``results`` of ``results.json``, named by its path
(``test.early_stopping.error``); a yes/no counts as 1/0, so its mean is a fraction.
Lists (learning curves) are left out. ``std`` is the sample standard deviation (with
``n - 1``); it is empty when only one seed finished.
"""
from __future__ import annotations

import csv
import fnmatch
import io as text_io
import json
import math
import statistics
from pathlib import Path

from minireg import io
from minireg.experiments.base import PLOTS_SKIPPED, RESULTS_FILE, format_number, markdown_table, plotting_available
from minireg.sweeps.grid import SweepSpec
from minireg.sweeps.worker import ERROR_FILE

SUMMARY_MARKDOWN, SUMMARY_CSV, SUMMARY_JSON, PLOTS_FOLDER = "summary.md", "summary.csv", "summary.json", "plots"


def flat_metrics(results, prefix: str = "") -> dict:
    """``{"a.b": number}`` for every number (or yes/no, as 1/0) in nested dicts; None stays None."""
    metrics = {}
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            metrics.update(flat_metrics(value, name + "."))
        elif isinstance(value, bool):
            metrics[name] = float(value)
        elif isinstance(value, (int, float)) or value is None:
            metrics[name] = None if value is None else float(value)
    return metrics


def _error_line(path: Path) -> str:
    """The last line of a traceback (the exception and its message)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[-1] if lines else "failed"


def _statistics(values) -> dict:
    present = [value for value in values if value is not None and math.isfinite(value)]
    return {"mean": statistics.fmean(present) if present else None,
            "std": statistics.stdev(present) if len(present) > 1 else None,
            "n": len(present), "values": list(values)}


def collect(folder, spec: SweepSpec, metrics=None) -> dict:
    """What the sweep folder holds, as one JSON-ready dict (what ``summary.json`` holds).

    Parameters
    ----------
    metrics : sequence of str, optional
        Glob patterns (``"test.*"``) of the metrics to keep; all by default.
    """
    folder = Path(folder)
    points = {point: {"point": point, "values": values, "finished": [], "failed": [], "missing": []}
              for point, values in spec.points()}
    by_seed = {point: {} for point in points}  # {point: {seed: {metric: value}}}
    failed, missing, names = [], [], {}
    runs = spec.runs()
    for run in runs:
        entry, path = points[run.point], folder / run.folder
        if (path / RESULTS_FILE).is_file():
            metrics_of_run = flat_metrics(json.loads((path / RESULTS_FILE).read_text(encoding="utf-8"))["results"])
            by_seed[run.point][run.seed] = metrics_of_run
            names.update(dict.fromkeys(metrics_of_run))
            entry["finished"].append(run.seed)
        elif (path / ERROR_FILE).is_file():
            entry["failed"].append(run.seed)
            failed.append({"run": run.folder, "error": _error_line(path / ERROR_FILE)})
        else:
            entry["missing"].append(run.seed)
            missing.append(run.folder)
    chosen = [name for name in names if metrics is None or any(fnmatch.fnmatchcase(name, p) for p in metrics)]
    for point, entry in points.items():
        entry["metrics"] = {name: _statistics([by_seed[point][seed].get(name) for seed in entry["finished"]])
                            for name in chosen}
    return {**spec.to_json(), "metric_names": chosen, "points": list(points.values()), "failed": failed,
            "missing": missing, "counts": {"runs": len(runs), "finished": len(runs) - len(failed) - len(missing),
                                           "failed": len(failed), "missing": len(missing)}}


def _point_label(values: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in values.items()) or "(defaults)"


def _cell(statistic: dict, n_seeds: int) -> str:
    if statistic["mean"] is None:
        return "–"
    text = format_number(statistic["mean"])
    if statistic["std"] is not None:
        text += f" ± {format_number(statistic['std'], 2)}"
    if statistic["n"] < n_seeds:
        text += f" (n={statistic['n']})"
    return text


def _varies(summary: dict, name: str) -> bool:
    means = {entry["metrics"][name]["mean"] for entry in summary["points"] if entry["metrics"][name]["mean"] is not None}
    return len(means) > 1


def _markdown(summary: dict, plots: list, plots_drawn: bool) -> str:
    counts, n_seeds = summary["counts"], max(1, len(summary["seeds"]))
    lines = [f"# Sweep of `{summary['experiment']}`", ""]
    lines += [f"- grid: {'; '.join(f'{n} = ' + ', '.join(map(str, v)) for n, v in summary['grid'].items()) or 'none'}",
              f"- seeds: {', '.join(map(str, summary['seeds'])) or 'the default'}",
              f"- fixed options: {', '.join(f'{n}={v}' for n, v in summary['options'].items()) or 'none'}",
              f"- BLAS threads per run: {summary['threads_per_run']}",
              f"- runs: {counts['finished']} finished, {counts['failed']} failed, {counts['missing']} missing, "
              f"of {counts['runs']}", ""]
    if summary["failed"]:
        lines += ["## Failed runs", "", markdown_table(["run", "error"],
                                                      [[f"`{f['run']}`", f["error"]] for f in summary["failed"]])]
    if summary["missing"]:
        lines += ["## Missing runs", "", "Not run yet (or interrupted): run the sweep again on this folder to do them.",
                  "", *[f"- `{run}`" for run in summary["missing"]], ""]
    lines += ["## Metrics: mean ± std over seeds", ""]
    header = ["metric"] + [_point_label(entry["values"]) for entry in summary["points"]]
    rows = [[f"`{name}`"] + [_cell(entry["metrics"][name], n_seeds) for entry in summary["points"]]
            for name in summary["metric_names"]]
    lines += [markdown_table(header, rows) if rows else "No run has finished yet.\n"]
    if summary["grid"] and rows:
        lines += ["## Plots", ""]
        if not plots_drawn:
            lines += [PLOTS_SKIPPED]
        lines += [f"- [{name} against {option}]({path})" for name, option, path in plots]
        constant = [name for name in summary["metric_names"] if not _varies(summary, name)]
        if constant:
            lines += ["", "The same at every point (not drawn): " + ", ".join(f"`{name}`" for name in constant) + "."]
        lines.append("")
    return "\n".join(lines)


def _csv(summary: dict) -> str:
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    options = list(summary["grid"])
    writer.writerow(["point", *options, "metric", "mean", "std", "n"])
    for entry in summary["points"]:
        for name, statistic in entry["metrics"].items():
            writer.writerow([entry["point"], *(entry["values"][option] for option in options), name,
                             "" if statistic["mean"] is None else repr(statistic["mean"]),
                             "" if statistic["std"] is None else repr(statistic["std"]), statistic["n"]])
    return buffer.getvalue()


def _plot(path: Path, summary: dict, name: str, option: str) -> None:
    """``name`` against ``option``: one line per combination of the other swept options."""
    xs = summary["grid"][option]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    positions = xs if numeric else list(range(len(xs)))
    lines = {}
    for entry in summary["points"]:
        others = {key: value for key, value in entry["values"].items() if key != option}
        lines.setdefault(_point_label(others) if others else name, {})[entry["values"][option]] = entry["metrics"][name]
    with io.png_figure(path, figsize=(6, 3.8), dpi=100) as (figure, axes):
        for label, by_x in lines.items():
            drawn = [(position, by_x[x]) for position, x in zip(positions, xs)
                     if x in by_x and by_x[x]["mean"] is not None]
            axes.errorbar([p for p, _ in drawn], [s["mean"] for _, s in drawn],
                          yerr=[s["std"] or 0.0 for _, s in drawn], marker="o", capsize=3, label=label)
        if numeric and min(xs) > 0 and max(xs) >= 100 * min(xs):
            axes.set_xscale("log")
        if not numeric:
            axes.set_xticks(positions, [str(x) for x in xs])
        axes.set_title(f"{name} against {option} (mean ± std over seeds)", fontsize=10)
        axes.set_xlabel(option)
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        if len(lines) > 1:
            axes.legend(fontsize=8)
        figure.tight_layout()


def write_summary(folder, spec: SweepSpec, metrics=None) -> dict:
    """Write summary.md, summary.csv, summary.json and the plots into ``folder``; return the summary."""
    folder = Path(folder)
    summary = collect(folder, spec, metrics)
    plots = [(name, option, f"{PLOTS_FOLDER}/{name}-vs-{option}.png")
             for option in summary["grid"] for name in summary["metric_names"] if _varies(summary, name)]
    drawn = plotting_available()
    if drawn and plots:
        (folder / PLOTS_FOLDER).mkdir(exist_ok=True)
        for name, option, path in plots:
            _plot(folder / path, summary, name, option)
    io.atomic_write_text(folder / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    io.atomic_write_text(folder / SUMMARY_CSV, _csv(summary))
    io.atomic_write_text(folder / SUMMARY_MARKDOWN, _markdown(summary, plots if drawn else [], drawn))
    return summary
