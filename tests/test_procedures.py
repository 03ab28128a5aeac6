"""Algorithms 7.2 and 7.3 of Deep Learning (retrain on all data; continue on all data),
including the bound that makes 7.3 end."""
import numpy as np
import pytest

from minireg import losses, nn
from minireg.datasets import DataLoader
from minireg.optim import SGD
from minireg.training import (EarlyStopping, Trainer, continue_on_all_data, retrain_on_all_data,
                              retrain_steps)


def split_problem(seed=0, n_sub=40, n_val=20, noise=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_sub + n_val, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    flip = rng.random(len(y)) < noise
    y = np.where(flip, 1 - y, y)
    return (X[:n_sub], y[:n_sub]), (X[n_sub:], y[n_sub:]), (X, y)


def new_trainer(seed=0, lr=0.2):
    model = nn.Sequential(nn.Linear(4, 16, rng=seed), nn.ReLU(), nn.Linear(16, 2, rng=seed + 1))
    return Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=lr, momentum=0.5), rng=seed)


def test_retrain_steps_counts_updates_or_epochs():
    assert retrain_steps(30, 10, 12, "updates") == 30
    assert retrain_steps(30, 10, 12, "epochs") == 36          # 3 epochs of 12 batches
    assert retrain_steps(25, 10, 13, "epochs") == 32          # 2.5 epochs -> 32.5 -> rounded
    assert retrain_steps(0, 10, 12, "epochs") == 0
    with pytest.raises(ValueError, match="count"):
        retrain_steps(3, 1, 1, "passes")
    with pytest.raises(ValueError, match="best_step"):
        retrain_steps(-1, 1, 1, "updates")


@pytest.mark.parametrize("count", ["updates", "epochs"])
def test_algorithm_7_2_starts_again_and_trains_i_star_steps_on_all_data(count):
    sub, val, (X, y) = split_problem()
    first = new_trainer()
    sub_loader = DataLoader(*sub, batch_size=8, rng=0)             # 5 batches per epoch
    stopper = EarlyStopping("val_loss", patience=3)
    first.fit(sub_loader, epochs=40, eval_sets={"val": val}, eval_every=5, callbacks=[stopper])
    i_star = stopper.best_step
    assert i_star > 0

    all_loader = DataLoader(X, y, batch_size=8, rng=1)               # 8 batches per epoch
    result = retrain_on_all_data(lambda: new_trainer(seed=7), all_loader, i_star,
                                 subtrain_steps_per_epoch=len(sub_loader), count=count)
    expected_steps = i_star if count == "updates" else round(i_star / 5 * 8)
    assert result.steps == result.trainer.step == expected_steps
    assert result.epochs == pytest.approx(expected_steps / 8)

    # the same as training a fresh model by hand for that many steps on all the data
    by_hand = new_trainer(seed=7)
    by_hand.fit(DataLoader(X, y, batch_size=8, rng=1), max_steps=expected_steps)
    for key, value in by_hand.model.state_dict().items():
        np.testing.assert_array_equal(result.trainer.model.state_dict()[key], value)


def test_algorithm_7_2_needs_a_fresh_trainer():
    sub, val, (X, y) = split_problem()
    used = new_trainer()
    used.fit(DataLoader(X, y, 8, rng=0), max_steps=2)
    with pytest.raises(ValueError, match="new trainer"):
        retrain_on_all_data(lambda: used, DataLoader(X, y, 8, rng=0), 3, count="updates")
    with pytest.raises(ValueError, match="subtrain_steps_per_epoch"):
        retrain_on_all_data(new_trainer, DataLoader(X, y, 8, rng=0), 3, count="epochs")


def test_algorithm_7_3_continues_until_the_validation_loss_reaches_the_subtrain_loss():
    sub, val, (X, y) = split_problem(noise=0.2)
    trainer = new_trainer()
    stopper = EarlyStopping("val_loss", patience=4)
    trainer.fit(DataLoader(*sub, 8, rng=0), epochs=100, eval_sets={"val": val}, eval_every=5, callbacks=[stopper])
    epsilon = trainer.evaluate(*sub)["loss"]                         # J(θ*, subtrain)
    before = trainer.evaluate(*val)["loss"]
    assert before > epsilon
    start = trainer.step

    result = continue_on_all_data(trainer, DataLoader(X, y, 8, rng=1), sub, val, every=3, max_steps=3000)
    assert result.target == epsilon and result.initial_validation_loss == before
    assert result.reached
    assert result.final_validation_loss <= epsilon
    assert result.final_validation_loss == trainer.evaluate(*val)["loss"]
    assert result.steps == trainer.step - start and result.steps % 3 == 0
    # it stopped at the first check that met the target, not later
    checks = [v for s, v in zip(trainer.history.steps("val_loss"), trainer.history.values("val_loss")) if s > start]
    assert checks[-1] <= epsilon and all(v > epsilon for v in checks[:-1])


def test_algorithm_7_3_ends_at_its_bound_and_says_the_target_was_not_reached():
    sub, val, (X, y) = split_problem(noise=0.2)
    trainer = new_trainer()
    trainer.fit(DataLoader(*sub, 8, rng=0), epochs=30)
    trainer.optimizer.lr = 0.0                                       # nothing can change any more
    result = continue_on_all_data(trainer, DataLoader(X, y, 8, rng=1), sub, val, every=4, max_steps=10)
    assert not result.reached
    assert result.steps == 10                                        # exactly the bound
    assert result.final_validation_loss == result.initial_validation_loss > result.target


def test_algorithm_7_3_does_nothing_when_the_target_already_holds():
    sub, val, (X, y) = split_problem()
    trainer = new_trainer()
    result = continue_on_all_data(trainer, DataLoader(X, y, 8, rng=1), sub, sub, every=4, max_steps=10)
    assert result.reached and result.steps == 0 and trainer.step == 0
    with pytest.raises(ValueError, match="every"):
        continue_on_all_data(trainer, DataLoader(X, y, 8, rng=1), sub, val, every=0, max_steps=10)
