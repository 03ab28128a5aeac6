"""Training checkpoints: everything a run needs to continue exactly, in one ``.npz`` file.

A checkpoint holds the model's parameters and buffers, the optimizer's state (momentum
buffers, Adam's moments and step count), the trainer's counters and history, the
states of the random generators -- the trainer's, the data loader's, and those of the
stochastic layers -- and the states of the callbacks and regularizers that keep one
(early stopping's θ*, a regularizer's step counter or cluster map). A run resumed from
it gives, bit for bit, the result of the run that was never interrupted.

Writing is atomic (:func:`minireg.io.save_npz_atomic`): an interruption leaves the
previous checkpoint intact. Reading is all or nothing: :func:`load_checkpoint` checks
the whole file against the trainer first, and if anything still fails while it is
restoring, puts the trainer back as it was.
"""
from __future__ import annotations

import json
import os

import numpy as np

from minireg import io
from minireg.training.callbacks import History

CHECKPOINT_FORMAT = 2
"""Version 2 added the regularizers' states (``regularizer.<key>.<name>`` entries); files
of version 1, which have none, are read as well."""
READABLE_FORMATS = (1, 2)


# --------------------------------------------------------------------------------------
# Random generators: their states are stored as JSON
# --------------------------------------------------------------------------------------


def generator_state(rng: np.random.Generator) -> dict:
    """The state of a Generator's bit generator, JSON-ready (arrays become lists)."""
    def plain(value):
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, np.ndarray):
            return {"__array__": value.tolist(), "dtype": str(value.dtype)}
        if isinstance(value, np.integer):
            return int(value)
        return value

    return plain(rng.bit_generator.state)


def set_generator_state(rng: np.random.Generator, state: dict) -> None:
    """Put back a state that :func:`generator_state` returned."""
    def restore(value):
        if isinstance(value, dict) and "__array__" in value:
            return np.array(value["__array__"], dtype=value["dtype"])
        if isinstance(value, dict):
            return {key: restore(item) for key, item in value.items()}
        return value

    rng.bit_generator.state = restore(state)


def module_generators(model) -> dict:
    """``{module name: Generator}`` for the layers that draw random numbers while training
    (dropout, noise, stochastic depth keep theirs in an attribute named ``rng``)."""
    found = {}
    for name, module in model.named_modules():
        rng = getattr(module, "rng", None)
        if isinstance(rng, np.random.Generator):
            found[name] = rng
    return found


def keyed(objects) -> list:
    """``[(key, object)]`` with keys such as ``"EarlyStopping#0"`` (class name and
    occurrence), which name each callback's or regularizer's state in a checkpoint."""
    counts, result = {}, []
    for obj in objects:
        name = type(obj).__name__
        result.append((f"{name}#{counts.get(name, 0)}", obj))
        counts[name] = counts.get(name, 0) + 1
    return result


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------


def _counters(trainer) -> dict:
    """The trainer's own state, JSON-ready."""
    loader_rng = getattr(trainer.train_loader, "rng", None)
    return {
        "format": CHECKPOINT_FORMAT,
        "step": trainer.step,
        "epoch": trainer.epoch,
        "batch_in_epoch": trainer.batch_in_epoch,
        "stop_training": trainer.stop_training,
        "eval_origin": trainer.eval_origin,
        "loss_sum": trainer._loss_sum,
        "loss_count": trainer._loss_count,
        "rng": generator_state(trainer.rng),
        "loader_rng_at_epoch_start": trainer._loader_state_at_epoch_start,
        "loader_rng_now": generator_state(loader_rng) if isinstance(loader_rng, np.random.Generator) else None,
        "module_rngs": {name: generator_state(rng) for name, rng in module_generators(trainer.model).items()},
        "history": trainer.history.to_dict(),
    }


def save_checkpoint(trainer, path) -> None:
    """Write model, optimizer, trainer, random generators and the states of the
    regularizers and of the callbacks of the current ``fit`` to ``path``, atomically."""
    arrays = {"trainer": np.array(json.dumps(_counters(trainer)))}
    for name, array in trainer.model.state_dict().items():
        arrays["model." + name] = array
    for name, value in trainer.optimizer.state_dict().items():
        arrays["optimizer." + name] = np.asarray(value)
    for group, objects in (("regularizer", trainer.regularizers), ("callback", trainer.callbacks)):
        for key, obj in keyed(objects):
            for name, value in obj.state_dict().items():
                arrays[f"{group}.{key}.{name}"] = np.asarray(value)
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    io.save_npz_atomic(path, **arrays)


# --------------------------------------------------------------------------------------
# Loading: check everything, then restore everything (or nothing)
# --------------------------------------------------------------------------------------


def _read(path) -> tuple:
    """``(counters, arrays)`` of a checkpoint file, with its counters checked."""
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise FileNotFoundError(f"resume_from={where!r}: no such checkpoint file")
    arrays = io.load_npz(path)
    if "trainer" not in arrays:
        raise ValueError(f"{where!r} is not a minireg training checkpoint (no 'trainer' entry)")
    try:
        counters = json.loads(str(arrays["trainer"]))
    except json.JSONDecodeError as error:
        raise ValueError(f"the checkpoint {where!r} is damaged: its 'trainer' entry is not valid JSON "
                         f"({error}); delete it to start the run over") from None
    if not isinstance(counters, dict) or counters.get("format") not in READABLE_FORMATS:
        found = counters.get("format") if isinstance(counters, dict) else None
        raise ValueError(f"{where!r}: checkpoint format {found!r} is not supported by this version of "
                         f"minireg (it reads formats {READABLE_FORMATS}); start the run over")
    for name in ("step", "epoch", "batch_in_epoch", "eval_origin", "loss_count"):
        value = counters.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"the checkpoint {where!r} is damaged: its {name} is {value!r}, "
                             "not an integer >= 0; delete it to start the run over")
    return counters, arrays


def _states_by_owner(arrays: dict, group: str, objects, where: str) -> dict:
    """``{key: state dict}`` for the ``group.<key>.<name>`` entries, refusing states of
    objects that were not passed in."""
    states = {}
    prefix = group + "."
    for entry, value in arrays.items():
        if entry.startswith(prefix):
            owner, name = entry[len(prefix):].split(".", 1)
            states.setdefault(owner, {})[name] = value
    unknown = sorted(set(states) - {key for key, _ in keyed(objects)})
    if unknown:
        raise ValueError(f"the checkpoint {where!r} holds the state of {group}s {unknown} that this "
                         f"trainer does not have; pass the same {group}s as the interrupted run")
    return states


def _snapshot(trainer, callbacks, loader_rng) -> dict:
    """A copy of everything :func:`load_checkpoint` changes, to put back on failure."""
    return {
        "model": {name: np.array(value, copy=True) for name, value in trainer.model.state_dict().items()},
        "optimizer": {name: np.array(value, copy=True) for name, value in trainer.optimizer.state_dict().items()},
        "regularizers": [r.state_dict() for r in trainer.regularizers],
        "callbacks": [c.state_dict() for c in callbacks],
        "counters": _counters(trainer),
        "loader_rng": generator_state(loader_rng) if isinstance(loader_rng, np.random.Generator) else None,
    }


def _restore_counters(trainer, counters: dict) -> None:
    trainer.step = int(counters["step"])
    trainer.epoch = int(counters["epoch"])
    trainer.batch_in_epoch = int(counters["batch_in_epoch"])
    trainer.stop_training = bool(counters["stop_training"])
    trainer.eval_origin = int(counters["eval_origin"])
    trainer._loss_sum = float(counters["loss_sum"])
    trainer._loss_count = int(counters["loss_count"])
    set_generator_state(trainer.rng, counters["rng"])
    trainer._loader_state_at_epoch_start = counters["loader_rng_at_epoch_start"]
    generators = module_generators(trainer.model)
    for name, state in counters["module_rngs"].items():
        set_generator_state(generators[name], state)
    trainer.history = History.from_dict(counters["history"])


def load_checkpoint(trainer, path, train_loader=None, callbacks=()) -> None:
    """Restore everything :func:`save_checkpoint` wrote into ``trainer``.

    The file is checked against the trainer first -- its counters, the loader's length,
    the generators of the stochastic layers, the states of regularizers and callbacks
    that the trainer lacks -- and then restored. If restoring still fails (a parameter
    of another shape, say), the trainer, its optimizer, regularizers, callbacks and the
    loader's generator are put back as they were, and the error is raised.
    """
    where = os.fspath(path)
    callbacks = list(callbacks)
    counters, arrays = _read(path)
    if train_loader is not None and counters["batch_in_epoch"] > len(train_loader):
        raise ValueError(f"the checkpoint {where!r} is {counters['batch_in_epoch']} batches into an epoch, "
                         f"but the loader has only {len(train_loader)} batches: pass the same loader as "
                         "the interrupted run")
    generators = module_generators(trainer.model)
    for name in counters["module_rngs"]:
        if name not in generators:
            raise ValueError(f"the checkpoint {where!r} has a random generator for layer {name!r}, "
                             "which this model lacks")
    regularizer_states = _states_by_owner(arrays, "regularizer", trainer.regularizers, where)
    callback_states = _states_by_owner(arrays, "callback", callbacks, where)

    def part(prefix):
        return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}

    loader_rng = getattr(train_loader, "rng", None)
    before = _snapshot(trainer, callbacks, loader_rng)
    try:
        trainer.model.load_state_dict(part("model."))
        trainer.optimizer.load_state_dict(part("optimizer."))
        for group, objects, states in (("regularizer", trainer.regularizers, regularizer_states),
                                       ("callback", callbacks, callback_states)):
            for key, obj in keyed(objects):
                if key in states:        # stateless ones have nothing saved
                    obj.load_state_dict(states[key])
        _restore_counters(trainer, counters)
        if (counters["batch_in_epoch"] == 0 and counters["loader_rng_now"]
                and isinstance(loader_rng, np.random.Generator)):
            # between two epochs: the loader continues from where it was
            # (inside an epoch, the trainer replays the epoch from its start instead)
            set_generator_state(loader_rng, counters["loader_rng_now"])
    except Exception:
        trainer.model.load_state_dict(before["model"])
        trainer.optimizer.load_state_dict(before["optimizer"])
        for obj, state in zip(trainer.regularizers, before["regularizers"]):
            obj.load_state_dict(state)
        for obj, state in zip(callbacks, before["callbacks"]):
            obj.load_state_dict(state)
        _restore_counters(trainer, before["counters"])
        if before["loader_rng"] is not None and isinstance(loader_rng, np.random.Generator):
            set_generator_state(loader_rng, before["loader_rng"])
        raise
