"""Sweeps: parsing the grid and the seeds, the spec and its runs, bad input on the command line."""
import json

import pytest

from minireg.sweeps import SweepError, SweepSpec, cli, parse_grid, parse_seeds
from minireg.sweeps.runner import SPEC_FILE, prepare_folder

NAME = "early-stopping-synthetic"


def test_grid_values_take_the_type_of_their_option():
    grid = parse_grid(NAME, ["lr=0.1, 1e-3", "n-subtrain=10,20", "run_to_end=yes,false", "monitor=loss,error"])
    assert grid == {"lr": [0.1, 0.001], "n_subtrain": [10, 20], "run_to_end": [True, False],
                    "monitor": ["loss", "error"]}
    assert [type(value) for value in grid["lr"] + grid["n_subtrain"]] == [float, float, int, int]


@pytest.mark.parametrize("entry, message", [
    ("alpha=1,2", "unknown option 'alpha'; the options of this experiment are"),
    ("lr=abc", "--grid lr takes a number, got 'abc'"),
    ("lr=nan", "--grid lr takes a finite number"),
    ("epochs=1.5", "--grid epochs takes an integer, got '1.5'"),
    ("run-to-end=maybe", "--grid run-to-end takes true or false"),
    ("lr=", "no values; give NAME=VALUE,VALUE,..."),
    ("lr= , ", "no values"),
    ("lr", "--grid takes NAME=VALUE,VALUE,..., got 'lr'"),
    ("lr=0.1,0.1", "the value 0.1 is given twice"),
    ("seed=0,1", "sweep seeds with --seeds"),
])
def test_bad_grid_entries_are_refused_with_the_option_named(entry, message):
    with pytest.raises(SweepError, match=None) as error:
        parse_grid(NAME, [entry])
    assert message in str(error.value)


def test_an_option_given_twice_in_the_grid_is_refused():
    with pytest.raises(SweepError, match="'lr' is given twice"):
        parse_grid(NAME, ["lr=0.1", "lr=0.2"])


def test_unknown_experiment_is_refused_with_the_choices():
    with pytest.raises(SweepError, match="unknown experiment 'nope'; choose one of: early-stopping-synthetic"):
        parse_grid("nope", ["lr=0.1"])


@pytest.mark.parametrize("text, seeds", [("0-4", [0, 1, 2, 3, 4]), ("3", [3]), ("0,3,7", [0, 3, 7]),
                                         ("0-2,10", [0, 1, 2, 10]), (" 5 - 6 ", [5, 6])])
def test_seeds_are_ranges_and_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", [("", "--seeds takes integers"), ("a-b", "--seeds takes integers"),
                                           ("-1", "--seeds takes integers"), ("4-2", "the range '4-2' is empty"),
                                           ("0-2,1", "--seeds: the value 1 is given twice")])
def test_bad_seeds_are_refused(text, message):
    with pytest.raises(SweepError) as error:
        parse_seeds(text)
    assert message in str(error.value)


def test_runs_are_every_point_with_every_seed_in_order():
    spec = SweepSpec(NAME, grid={"lr": [0.1, 0.05], "monitor": ["loss", "error"]}, seeds=range(2),
                     options={"epochs": 3})
    runs = spec.runs()
    assert len(runs) == 8
    assert [run.folder for run in runs[:3]] == ["00_lr=0.1_monitor=loss/seed=0", "00_lr=0.1_monitor=loss/seed=1",
                                                "01_lr=0.1_monitor=error/seed=0"]
    assert runs[-1].folder == "03_lr=0.05_monitor=error/seed=1"
    assert runs[2].config == {"epochs": 3, "lr": 0.1, "monitor": "error", "seed": 0}
    assert len({run.folder for run in runs}) == 8


def test_a_sweep_of_seeds_only_has_one_point_and_folder_names_stay_plain():
    runs = SweepSpec(NAME, grid={}, seeds=[4], options={}).runs()
    assert [(run.folder, run.config) for run in runs] == [("00_default/seed=4", {"seed": 4})]
    spec = SweepSpec(NAME, grid={"monitor": ["a/b c"]}, seeds=[], options={})
    assert spec.runs()[0].folder == "00_monitor=a_b_c"


def test_the_spec_survives_json_and_treats_one_and_one_point_zero_alike():
    spec = SweepSpec(NAME, grid={"lr": (1, 0.5)}, seeds=range(1), options={"n-subtrain": 10, "momentum": 0},
                     threads_per_run=2)
    assert spec.grid == {"lr": [1.0, 0.5]} and type(spec.options["momentum"]) is float
    assert spec.options == {"n_subtrain": 10, "momentum": 0.0} and spec.seeds == [0]
    again = SweepSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec and again.runs() == spec.runs()


@pytest.mark.parametrize("arguments, message", [
    (dict(grid={}, seeds=[]), "nothing to sweep"),
    (dict(grid={"lr": [0.1]}, seeds=[], options={"lr": 0.2}), "both swept (--grid) and fixed"),
    (dict(grid={"lr": []}, seeds=[]), "needs a non-empty list of values"),
    (dict(grid={"lr": ["fast"]}, seeds=[]), "grid lr takes a value of type float, got 'fast'"),
    (dict(grid={"epochs": [True]}, seeds=[]), "grid epochs takes a value of type int, got True"),
    (dict(grid={}, seeds=[-1]), "seeds must be an integer >= 0, got -1"),
    (dict(grid={}, seeds=[0, 0]), "seeds: the value 0 is given twice"),
    (dict(grid={"lr": [0.1, 0.1]}, seeds=[]), "grid lr: the value 0.1 is given twice"),
    (dict(grid={"lr": [float("inf")]}, seeds=[]), "grid lr takes a finite number"),
    (dict(grid={}, seeds=[0], threads_per_run=0), "--threads-per-run must be an integer >= 1"),
    (dict(grid={}, seeds=[0], options={"colour": 1}), "unknown option 'colour'"),
])
def test_a_spec_from_python_is_checked_too(arguments, message):
    with pytest.raises(SweepError) as error:
        SweepSpec(NAME, **{"options": {}, **arguments})
    assert message in str(error.value)


@pytest.mark.parametrize("arguments, message", [
    ([NAME, "--grid", "alpha=1e-4,1e-3"], "unknown option 'alpha'"),
    ([NAME, "--grid", "lr=fast"], "--grid lr takes a number, got 'fast'"),
    ([NAME, "--grid", "lr="], "no values"),
    ([NAME, "--epochs", "3"], "nothing to sweep"),
    ([NAME, "--seeds", "0", "--seed", "1"], "unrecognized arguments: --seed 1"),
])
def test_bad_command_lines_stop_before_anything_runs(arguments, message, tmp_path, capsys):
    assert cli.main([*arguments, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err            # one line, no usage block
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("arguments, message", [
    (["--workers", "0"], "--workers must be an integer >= 1, got 0"),
    (["--connect-timeout", "0"], "--connect-timeout must be a finite number in (0.0, inf), got 0.0"),
    (["--scheduler", " "], "--scheduler takes tcp://HOST:PORT or local, got ' '"),
])
def test_where_the_runs_go_is_checked_before_the_folder_is_made(arguments, message, tmp_path, capsys):
    assert cli.main([NAME, "--seeds", "0", *arguments, "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"minireg sweep: {message}\n"
    assert not any(tmp_path.iterdir())


def test_unknown_experiment_and_help_on_the_command_line(capsys):
    assert cli.main(["nope", "--seeds", "0"]) == 2
    assert "unknown experiment 'nope'; choose one of:" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0
    assert "--scheduler tcp://HOST:PORT" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main([NAME, "--help"])
    assert "--threads-per-run" in capsys.readouterr().out


def test_a_folder_of_another_sweep_or_of_something_else_is_refused(tmp_path, capsys):
    spec = SweepSpec(NAME, grid={"lr": [0.1]}, seeds=[0], options={})
    folder = prepare_folder(spec, tmp_path / "sweep")
    assert json.loads((folder / SPEC_FILE).read_text())["grid"] == {"lr": [0.1]}
    assert prepare_folder(spec, folder) == folder
    with pytest.raises(SweepError, match="holds a sweep with another grid, seeds"):
        prepare_folder(SweepSpec(NAME, grid={"lr": [0.2]}, seeds=[1], options={}), folder)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="exists and is not a sweep folder"):
        prepare_folder(spec, tmp_path / "other")
    assert cli.main(["--resume", str(tmp_path / "other")]) == 2
    assert "holds no sweep.json, so it is not a sweep folder" in capsys.readouterr().err
    assert cli.main([NAME, "--grid", "lr=0.3", "--seeds", "0", "--folder", str(folder)]) == 2
    assert "holds a sweep with another grid" in capsys.readouterr().err


def test_ctrl_c_says_how_to_resume(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_sweep", interrupted)
    folder = tmp_path / "sweep"
    assert cli.main([NAME, "--seeds", "0", "--folder", str(folder)]) == 130
    assert f"Resume with: minireg sweep --resume {folder}" in capsys.readouterr().err
