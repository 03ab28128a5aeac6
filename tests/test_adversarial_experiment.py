"""`minireg run adversarial` on a tiny MNIST budget, and its attack against fgsm() example by example."""
import json

import numpy as np
import pytest

from helpers import shared_mnist
from minireg import cli, losses, nn
from minireg.experiments import EXPERIMENTS
from minireg.experiments.adversarial import AdversarialConfig, attack
from minireg.experiments.base import run_experiment
from minireg.regularizers import fgsm
from minireg.tensor import Tensor


@pytest.mark.slow
def test_a_tiny_run_attacks_both_networks_and_draws_the_figure(tmp_path):
    config = AdversarialConfig(data_root=str(shared_mnist()), n_train=300, n_test=150, hidden=16, epochs=1,
                               epsilon=0.2, epsilon_max=0.3, epsilon_points=4, progress=False)
    folder = run_experiment(EXPERIMENTS["adversarial"], config, runs_dir=tmp_path)
    results = json.loads((folder / "results.json").read_text())["results"]
    epsilons, at = results["epsilons"], results["epsilon_index"]
    assert epsilons == [0.0, 0.1, 0.2, 0.3] and epsilons[at] == 0.2
    plain, adversarial = results["models"]["plain"], results["models"]["adversarial"]
    for model in (plain, adversarial):
        assert len(model["errors"]) == len(model["wrong_confidences"]) == 4
        assert all(0 <= e <= 1 for e in model["errors"]) and 0 <= model["zero_gradient_fraction"] < 1
        assert all(0.1 <= c <= 1 for c in model["wrong_confidences"])
    assert plain["errors"][-1] > plain["errors"][0]            # the attack works on the plain network
    assert plain["errors"] != adversarial["errors"]           # and the two networks differ
    example = results["example"]
    image = np.array(example["image"])
    for name in ("plain", "adversarial"):
        shown = example[name]
        np.testing.assert_allclose(shown["adversarial"], np.clip(image + 0.2 * np.array(shown["sign"]), 0, 1))
        assert set(shown["sign"]) <= {-1, 0, 1}
    report = (folder / "report.md").read_text()
    for text in ("Beside Goodfellow et al. (2015)", "| error on FGSM examples % | 89.4 |", "## Transfer",
                 "Fig. 7.7", "Reproducing this run"):
        assert text in report
    for plot in ("fgsm_error.png", "fgsm_example.png"):
        assert (folder / plot).stat().st_size > 1000 and f"({plot})" in report


def test_the_attack_batch_by_batch_is_fgsm_on_each_example():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 1, size=(7, 5)), rng.integers(0, 3, size=7)
    model = nn.Sequential(nn.Linear(5, 6, rng=1), nn.ReLU(), nn.Linear(6, 3, rng=2)).to(np.float64)
    epsilons = [0.0, 0.3, 1.0]
    measured = attack(model, X, y, epsilons, batch_size=3)
    for i, epsilon in enumerate(epsilons):
        wrong, confidences = 0, []
        for n in range(len(X)):
            logits = model(Tensor(fgsm(model, losses.cross_entropy, X[n:n + 1], y[n:n + 1], epsilon))).data[0]
            p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            if p.argmax() != y[n]:
                wrong += 1
                confidences.append(p.max())
        assert measured["errors"][i] == wrong / len(X)
        if confidences:
            assert measured["wrong_confidences"][i] == pytest.approx(np.mean(confidences), rel=1e-12)
        else:
            assert np.isnan(measured["wrong_confidences"][i])


@pytest.mark.parametrize("option, value, message", [
    ("--alpha", "1.5", "--alpha must be"),
    ("--epsilon", "-0.1", "--epsilon must be"),
    ("--epsilon-points", "1", "--epsilon-points must be"),
    ("--n-test", "10001", "--n-test must be"),
])
def test_bad_options_are_one_line_before_any_work(option, value, message, capsys, tmp_path):
    status = cli.main(["run", "adversarial", option, value, "--runs-dir", str(tmp_path),
                       "--data-root", str(shared_mnist())])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())
