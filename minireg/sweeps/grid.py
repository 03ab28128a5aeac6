"""What a sweep is: an experiment, a grid of option values, seeds, and the fixed options.

A :class:`SweepSpec` is plain data. It expands into *runs*: one for every point of the
grid (the Cartesian product of the swept options' values, in the order the options
were given) and every seed, each with its own run folder
``FOLDER/<point>/seed=<seed>/``. The spec is saved as ``FOLDER/sweep.json``; a sweep
started again on the same folder must have the same spec, and then skips the runs that
are finished.

The option names and types come from the experiment's config dataclass
(:func:`minireg.experiments.base.config_fields`): ``--grid lr=0.1,0.05`` is valid for
an experiment whose config has a float field ``lr``, and every value is converted to
the field's type here, before anything runs. Whether the experiment *accepts* a value
(``lr=-1``) is the experiment's own check, made when the run starts: a refused value
fails that run only, and the others go on.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass

from minireg.checks import check_int
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import config_fields


class SweepError(ValueError):
    """Bad input for a sweep: the message names the argument and the accepted values."""


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def parse_value(text: str, kind: type, name: str):
    """``text`` converted to ``kind`` (int, float, str or bool) for the option ``name``.

    Floats must be finite; booleans are one of true/yes/1/on or false/no/0/off.
    """
    text = text.strip()
    if kind is str:
        return text
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise SweepError(f"{name} takes true or false (also yes/no, 1/0, on/off), got {text!r}")
    try:
        value = kind(text)
    except ValueError:
        accepted = "an integer" if kind is int else "a number"
        raise SweepError(f"{name} takes {accepted}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise SweepError(f"{name} takes a finite number, got {text!r}")
    return value


def _field_types(experiment_name: str) -> dict:
    """``{field name: type}`` of the experiment's config (an error naming the choices if unknown)."""
    if experiment_name not in EXPERIMENTS:
        raise SweepError(f"unknown experiment {experiment_name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return {name: kind for name, kind, _, _ in config_fields(EXPERIMENTS[experiment_name].config_class)}


def _field_name(written: str, types: dict, where: str) -> str:
    """The config field that ``written`` names (``n-subtrain`` or ``n_subtrain``)."""
    name = written.strip().replace("-", "_")
    if name not in types:
        raise SweepError(f"{where}: unknown option {written.strip()!r}; the options of this experiment are "
                         f"{', '.join(sorted(types))}")
    if name == "seed":
        raise SweepError(f"{where}: sweep seeds with --seeds (e.g. --seeds 0-4), not as an option")
    return name


def parse_grid(experiment_name: str, entries) -> dict:
    """``["lr=0.1,0.05", "depth=1,2"]`` -> ``{"lr": [0.1, 0.05], "depth": [1, 2]}``, typed.

    Raises
    ------
    SweepError
        An entry without ``=``, an unknown option, an option given twice, no value, a
        value repeated, or a value of the wrong type.
    """
    types = _field_types(experiment_name)
    grid = {}
    for entry in entries:
        written, equals, values = entry.partition("=")
        if not equals:
            raise SweepError(f"--grid takes NAME=VALUE,VALUE,..., got {entry!r}")
        name = _field_name(written, types, "--grid")
        if name in grid:
            raise SweepError(f"--grid: option {written.strip()!r} is given twice; list all its values in one --grid")
        texts = [text for text in values.split(",") if text.strip()]
        if not texts:
            raise SweepError(f"--grid {entry!r}: no values; give NAME=VALUE,VALUE,...")
        grid[name] = _distinct([parse_value(text, types[name], f"--grid {written.strip()}") for text in texts],
                               f"--grid {written.strip()}")
    return grid


def parse_seeds(text: str) -> list:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; also ``"0,3,7"`` and mixtures (``"0-2,10"``)."""
    seeds = []
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise SweepError(f"--seeds takes integers >= 0 and ranges, such as 0-4 or 0,3,7 or 0-2,10; "
                             f"got {text!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise SweepError(f"--seeds: the range {part.strip()!r} is empty (write FIRST-LAST with FIRST <= LAST)")
        seeds.extend(range(first, last + 1))
    return _distinct(seeds, "--seeds")


def _folder_text(value) -> str:
    """A value as it appears in a folder name: only letters, digits and ``.+-``."""
    return re.sub(r"[^A-Za-z0-9.+-]", "_", str(value))


@dataclass(frozen=True)
class Run:
    """One run of a sweep: a point of the grid, with one seed.

    Attributes
    ----------
    point : str
        The point's folder name, e.g. ``"03_lr=0.1_depth=2"`` (its number in the grid,
        then the swept values); ``"00_default"`` when only seeds are swept.
    values : dict
        The swept options' values at this point.
    seed : int or None
        None when the experiment has no ``seed`` option and the sweep has no seeds.
    config : dict
        Every option the run is given: the fixed ones, the point's values, the seed.
    """

    point: str
    values: dict
    seed: int | None
    config: dict

    @property
    def folder(self) -> str:
        """``<point>/seed=<seed>`` (or just ``<point>`` without a seed), relative to the sweep folder."""
        return self.point if self.seed is None else f"{self.point}/seed={self.seed}"


@dataclass(frozen=True)
class SweepSpec:
    """A sweep, as saved in ``sweep.json``.

    Attributes
    ----------
    experiment : str
        A name from :data:`minireg.experiments.EXPERIMENTS`.
    grid : dict
        ``{option: [values]}``, typed as the config's fields; may be empty when seeds
        are swept.
    seeds : list of int
        Empty to run every point once with the config's default seed.
    options : dict
        Fixed options for every run (``{"epochs": 10}``).
    threads_per_run : int
        BLAS threads of every run (the numbers depend on it: see ``docs/sweeps.md``).
    """

    experiment: str
    grid: dict
    seeds: list
    options: dict
    threads_per_run: int = 1

    def __post_init__(self):
        types = _field_types(self.experiment)
        grid = {}
        for written, values in dict(self.grid).items():
            name = _field_name(written, types, "grid")
            if not isinstance(values, (list, tuple, range)) or len(values) == 0:
                raise SweepError(f"grid: option {written!r} needs a non-empty list of values, got {values!r}")
            grid[name] = _distinct([_typed(value, types[name], f"grid {written}") for value in values],
                                   f"grid {written}")
        options = {}
        for written, value in dict(self.options).items():
            name = _field_name(written, types, "options")
            if name in grid:
                raise SweepError(f"option {written!r} is both swept (--grid) and fixed; give it once")
            options[name] = _typed(value, types[name], written)
        try:
            seeds = _distinct([check_int(seed, "seeds", minimum=0) for seed in self.seeds], "seeds")
            check_int(self.threads_per_run, "--threads-per-run", minimum=1)
        except (TypeError, ValueError) as error:
            raise SweepError(str(error)) from None
        if not grid and not seeds:
            raise SweepError("nothing to sweep: give at least one --grid NAME=VALUE,... or --seeds")
        if seeds and "seed" not in types:
            raise SweepError(f"--seeds: experiment {self.experiment!r} has no seed option")
        # plain copies in the config's types (so that 1 and 1.0 for a float option are one spec)
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "seeds", seeds)

    def points(self) -> list:
        """``[(folder name, {option: value})]`` for every point of the grid, in order."""
        names = list(self.grid)
        combinations = list(itertools.product(*(self.grid[name] for name in names)))
        width = max(2, len(str(len(combinations) - 1)))
        points = []
        for index, combination in enumerate(combinations):
            values = dict(zip(names, combination))
            label = "_".join(f"{name}={_folder_text(value)}" for name, value in values.items()) or "default"
            points.append((f"{index:0{width}d}_{label}", values))
        return points

    def runs(self) -> list:
        """Every :class:`Run`: each point of the grid with each seed, seeds varying fastest."""
        runs = []
        for point, values in self.points():
            for seed in self.seeds or [None]:
                config = {**self.options, **values}
                if seed is not None:
                    config["seed"] = seed
                runs.append(Run(point=point, values=values, seed=seed, config=config))
        return runs

    def to_json(self) -> dict:
        """The spec as ``sweep.json`` holds it."""
        return {"experiment": self.experiment, "grid": {name: list(values) for name, values in self.grid.items()},
                "seeds": list(self.seeds), "options": dict(self.options), "threads_per_run": self.threads_per_run}

    @classmethod
    def from_json(cls, document: dict) -> "SweepSpec":
        """The spec saved by :meth:`to_json`."""
        fields = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(document, dict) or set(document) != fields:
            raise SweepError(f"sweep.json must hold exactly the keys {', '.join(sorted(fields))}")
        return cls(**document)


def _typed(value, kind: type, name: str):
    """``value`` if it is of the option's type (an int for a float option becomes a float)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise SweepError(f"{name} takes a value of type {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise SweepError(f"{name} takes a finite number, got {value!r}")
    return value


def _distinct(values: list, name: str) -> list:
    """``values`` if none is given twice."""
    repeated = [value for value in values if values.count(value) > 1]
    if repeated:
        raise SweepError(f"{name}: the value {repeated[0]!r} is given twice")
    return values
