"""Pretraining and transfer (T6): Autoencoder, with_new_head, `minireg run pretraining`."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import losses, nn
from minireg.experiments import EXPERIMENTS
from minireg.experiments.base import run_experiment
from minireg.experiments.pretraining import STARTS, PretrainingConfig
from minireg.optim import SGD
from minireg.tensor import Tensor
from minireg.training import Trainer
from minireg.training.pretraining import Autoencoder, with_new_head


def _encoder():
    return nn.Sequential(nn.Linear(6, 4, rng=0), nn.ReLU())


def _batch():
    rng = np.random.default_rng(1)
    return rng.normal(size=(16, 6)).astype(np.float32), rng.integers(0, 3, size=16)


def _values(module):
    return [p.data.copy() for p in module.parameters()]


def test_the_autoencoder_decodes_the_encoder_s_code_and_trains_without_labels():
    encoder, decoder = _encoder(), nn.Linear(4, 6, rng=1)
    model = Autoencoder(encoder, decoder)
    x, _ = _batch()
    assert np.array_equal(model(Tensor(x)).data, decoder(encoder(Tensor(x))).data)
    trainer = Trainer(model, losses.mse_loss, SGD(model.parameters(), lr=0.1, momentum=0.9))
    before = trainer.evaluate(x, x)["loss"]
    for _ in range(100):
        trainer.train_step(x, x)
    assert trainer.evaluate(x, x)["loss"] < before / 2


def test_the_new_model_starts_from_a_copy_of_the_pretrained_encoder():
    pretrained = _encoder()
    built = with_new_head(pretrained, nn.Linear(4, 3, rng=2))
    assert built.model.layers[0] is built.encoder and built.encoder is not pretrained
    for copied, original in zip(built.encoder.parameters(), pretrained.parameters()):
        assert copied is not original and np.array_equal(copied.data, original.data)


@pytest.mark.parametrize("freeze", [True, False])
def test_a_frozen_encoder_keeps_its_values_and_a_fine_tuned_one_trains_while_the_original_stays(freeze):
    pretrained = _encoder()
    original = _values(pretrained)
    head = nn.Linear(4, 3, rng=2)
    built = with_new_head(pretrained, head, freeze_encoder=freeze)
    assert built.frozen is freeze
    expected = head.parameters() if freeze else built.model.parameters()
    assert [id(p) for p in built.trainable] == [id(p) for p in expected]
    head_before = _values(head)
    trainer = Trainer(built.model, losses.cross_entropy, SGD(built.trainable, lr=0.5))
    x, y = _batch()
    for _ in range(5):
        trainer.train_step(x, y)
    encoder_moved = any(not np.array_equal(a, b) for a, b in zip(_values(built.encoder), original))
    assert encoder_moved is not freeze
    assert any(not np.array_equal(a, b) for a, b in zip(_values(head), head_before))
    assert all(np.array_equal(a, b) for a, b in zip(_values(pretrained), original))   # the pretrained model


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(TypeError, match="freeze_encoder"):
        with_new_head(_encoder(), nn.Linear(4, 3), freeze_encoder="yes")
    with pytest.raises(TypeError, match="head must be a minireg Module"):
        with_new_head(_encoder(), lambda h: h)
    with pytest.raises(TypeError, match="decoder"):
        Autoencoder(_encoder(), None)


@pytest.mark.slow
def test_a_small_run_compares_each_start_in_both_studies(tmp_path):
    config = PretrainingConfig(data_root=str(shared_mnist()), unlabelled=300, source=300, labels=50, hidden=32,
                               pretrain_epochs=2, finetune_steps=30, progress=False)
    folder = run_experiment(EXPERIMENTS["pretraining"], config, runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    assert 0 < results["reconstruction_mse"] < 1        # pixels in [0, 1]
    for study, classes in (("unsupervised", 10), ("transfer", 5)):
        errors = results[study]["errors"]
        assert results[study]["classes"] == classes and list(errors) == list(STARTS)
        assert all(0 <= e < 1 - 1 / classes + 0.1 for e in errors.values()) and len(set(errors.values())) > 1
    assert results["transfer"]["test_images"] == 4861      # MNIST's test images of the digits 5-9
    report = (folder / "report.md").read_text()
    assert "Transfer from the digits 0-4" in report and (folder / "pretraining.png").stat().st_size > 1000
