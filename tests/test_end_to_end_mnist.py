"""End to end: a small MLP trained with the Trainer on real MNIST (from the shared data
folder) reaches at least 95 % test accuracy in two epochs, within a short time budget."""
import time

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import losses, nn
from minireg.datasets import DataLoader, load_mnist, train_val_split
from minireg.optim import SGD
from minireg.training import EarlyStopping, Trainer

TIME_BUDGET_SECONDS = 120      # about 10-20 s on two idle cores; generous for a busy CI machine


@pytest.mark.slow
def test_mlp_reaches_95_percent_on_mnist_in_two_epochs():
    X, y = load_mnist("train", root=shared_mnist(), download=False, flatten=True)
    X_test, y_test = load_mnist("test", root=shared_mnist(), download=False, flatten=True)
    X_train, y_train, X_val, y_val = train_val_split(X, y, 5000, rng=0)

    model = nn.Sequential(nn.Linear(784, 128, rng=0), nn.ReLU(), nn.Linear(128, 10, rng=1))
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.9), rng=0)
    stopper = EarlyStopping("val_error", patience=2)
    start = time.perf_counter()
    trainer.fit(DataLoader(X_train, y_train, batch_size=128, rng=0), epochs=2,
                eval_sets={"val": (X_val, y_val)}, eval_every="epoch", callbacks=[stopper])
    seconds = time.perf_counter() - start

    test = trainer.evaluate(X_test, y_test)
    accuracy = 1.0 - test["error"]
    print(f"MNIST 784-128-10, 2 epochs: test accuracy {accuracy:.4f}, {seconds:.1f} s")
    assert accuracy >= 0.95
    assert seconds < TIME_BUDGET_SECONDS
    assert model[0].weight.data.dtype == np.float32
    # early stopping restored θ*, whose validation error is the best one recorded
    assert trainer.evaluate(X_val, y_val)["error"] == min(trainer.history.values("val_error"))
