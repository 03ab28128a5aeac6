"""Sweeps: the summary (mean ± std over seeds, failed and missing runs, CSV, JSON, plots)."""
import csv
import json

import numpy as np
import pytest

from minireg.experiments import base
from minireg.sweeps import SweepSpec, write_summary
from minireg.sweeps.summary import flat_metrics

SPEC = SweepSpec("early-stopping-synthetic", grid={"lr": [0.1, 0.01], "monitor": ["loss", "error"]},
                 seeds=[0, 1, 2], options={"epochs": 3})


def fake_results(lr, monitor, seed):
    """Made-up results whose numbers are known functions of the point and the seed."""
    return {"test": {"error": lr * 10 + seed / 8 + (monitor == "error"), "loss": None},
            "stopped": seed == 1, "epochs": 3, "curve": [1.0, 2.0], "name": "x"}


def fill(folder, skip=(), fail=()):
    """Write the run folders of SPEC as a sweep would, less the runs in skip (missing) and fail."""
    for run in SPEC.runs():
        path = folder / run.folder
        path.mkdir(parents=True)
        if run.folder in fail:
            (path / "error.txt").write_text("Traceback (most recent call last):\n  ...\nValueError: no good\n")
        elif run.folder not in skip:
            document = {"results": fake_results(run.values["lr"], run.values["monitor"], run.seed)}
            (path / "results.json").write_text(json.dumps(document))


def test_numbers_are_flattened_to_dotted_names_and_yes_no_counts_as_one_zero():
    assert flat_metrics(fake_results(0.1, "loss", 1)) == {"test.error": 1.125, "test.loss": None,
                                                          "stopped": 1.0, "epochs": 3.0}


def test_mean_and_sample_std_over_seeds_with_failed_and_missing_runs_named(tmp_path):
    missing, failed = "00_lr=0.1_monitor=loss/seed=2", "03_lr=0.01_monitor=error/seed=0"
    fill(tmp_path, skip={missing}, fail={failed})
    summary = write_summary(tmp_path, SPEC)

    assert summary["counts"] == {"runs": 12, "finished": 10, "failed": 1, "missing": 1}
    assert summary["missing"] == [missing]
    assert summary["failed"] == [{"run": failed, "error": "ValueError: no good"}]
    first, last = summary["points"][0], summary["points"][3]
    assert first["finished"] == [0, 1] and first["missing"] == [2]
    assert last["finished"] == [1, 2] and last["failed"] == [0]
    errors = [fake_results(0.01, "error", seed)["test"]["error"] for seed in (1, 2)]
    statistic = last["metrics"]["test.error"]
    assert statistic["values"] == errors and statistic["n"] == 2
    assert statistic["mean"] == pytest.approx(np.mean(errors), rel=1e-15)
    assert statistic["std"] == pytest.approx(np.std(errors, ddof=1), rel=1e-15)
    full = summary["points"][1]["metrics"]["stopped"]
    assert (full["mean"], full["n"]) == (pytest.approx(1 / 3), 3)
    assert summary["points"][0]["metrics"]["test.loss"] == {"mean": None, "std": None, "n": 0,
                                                             "values": [None, None]}
    assert json.loads((tmp_path / "summary.json").read_text()) == summary

    markdown = (tmp_path / "summary.md").read_text()
    assert "runs: 10 finished, 1 failed, 1 missing, of 12" in markdown
    assert f"| `{failed}` | ValueError: no good |" in markdown and f"- `{missing}`" in markdown
    assert "| metric | lr=0.1, monitor=loss | lr=0.1, monitor=error | lr=0.01, monitor=loss |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| `test.error`"))
    assert row.split(" | ")[1] == f"{np.mean([1.0, 1.125]):.4g} ± {np.std([1.0, 1.125], ddof=1):.2g} (n=2)"

    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert len(rows) == 4 * 4  # points x metrics
    row = next(r for r in rows if r["point"] == "03_lr=0.01_monitor=error" and r["metric"] == "test.error")
    assert (float(row["lr"]), row["monitor"], float(row["mean"]), int(row["n"])) == (0.01, "error", statistic["mean"], 2)
    assert float(row["std"]) == statistic["std"]


def test_a_plot_of_each_metric_that_varies_against_each_swept_option(tmp_path):
    fill(tmp_path)
    summary = write_summary(tmp_path, SPEC, metrics=["test.*", "epochs"])
    assert summary["metric_names"] == ["test.error", "test.loss"] + ["epochs"]
    plots = sorted(path.name for path in (tmp_path / "plots").iterdir())
    assert plots == ["test.error-vs-lr.png", "test.error-vs-monitor.png"]
    assert (tmp_path / "plots" / plots[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (tmp_path / "summary.md").read_text()
    assert "[test.error against lr](plots/test.error-vs-lr.png)" in markdown
    assert "The same at every point (not drawn): `test.loss`, `epochs`." in markdown


def test_without_matplotlib_the_summary_says_the_plots_were_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr("minireg.sweeps.summary.plotting_available", lambda: False)
    fill(tmp_path)
    write_summary(tmp_path, SPEC)
    assert not (tmp_path / "plots").exists()
    assert base.PLOTS_SKIPPED in (tmp_path / "summary.md").read_text()
