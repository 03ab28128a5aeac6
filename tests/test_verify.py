"""``minireg verify``: every check of minireg.analysis passes, and fails when the code it
exercises is wrong; the tools under the checks (the explicit Hessian, Lanczos) agree
with references; the command prints the checks and sets its exit status."""
import numpy as np
import pytest

from minireg import cli, kernels
from minireg.analysis import CHECKS, as_text, select
from minireg.analysis.curvature import (gradient, hessian_matrix, hessian_vector_product, lanczos,
                                        penalized_objective, set_theta)
from minireg.analysis.problems import half_mse, small_mlp
from minireg.optim import SGD
from minireg.regularizers import L2, InputGradientPenalty, WeightGradientPenalty, proximal
from minireg.training import ensembles


@pytest.mark.parametrize("check", CHECKS.values(), ids=list(CHECKS))
def test_every_check_passes(check):
    result = check.run()
    assert result.passed, as_text(result)
    comparison = result.comparison
    assert np.shape(comparison.left) == np.shape(comparison.right) and np.isfinite(comparison.error)
    assert 0 <= comparison.error <= comparison.tolerance


# ---- each check fails when what it checks is broken ---------------------------------------------

def _doubled(monkeypatch, regularizer):
    """The regularizer's penalty, and so its gradient, twice what it should be."""
    original = regularizer.penalty
    monkeypatch.setattr(regularizer, "penalty", lambda self, step: 2.0 * original(self, step))


def l2_doubled(monkeypatch):
    _doubled(monkeypatch, L2)


def l2_towards_the_wrong_point(monkeypatch):
    """Weight decay towards 0.1 instead of the origin."""
    monkeypatch.setattr(L2, "penalty", lambda self, step: sum((0.5 * self.alpha * c) * ((w - 0.1) ** 2).sum()
                                                              for _, w, c in self.selected))


def soft_threshold_offset(monkeypatch):
    original = proximal._soft_threshold
    monkeypatch.setattr(proximal, "_soft_threshold", lambda x, threshold, out: original(x, threshold + 0.05, out))


def sgd_with_hidden_decay(monkeypatch):
    """SGD that shrinks the weights although no penalty was asked for."""
    original = SGD._update
    monkeypatch.setattr(SGD, "_update", lambda self, index, param, grad: original(self, index, param,
                                                                                  grad + 0.01 * param))


def input_gradient_penalty_doubled(monkeypatch):
    _doubled(monkeypatch, InputGradientPenalty)


def weight_gradient_penalty_doubled(monkeypatch):
    _doubled(monkeypatch, WeightGradientPenalty)


def covariance_over_all_pairs(monkeypatch):
    """c averaged over every pair (i, j), i = j included: a wrong decomposition."""
    original = ensembles.error_decomposition

    def wrong(predictions, targets):
        parts = original(predictions, targets)
        k = parts["k"]
        return {**parts, "c": (parts["c"] * (k - 1) + parts["v"]) / k}

    monkeypatch.setattr(ensembles, "error_decomposition", wrong)


def resampling_without_replacement(monkeypatch):
    monkeypatch.setattr(ensembles, "bootstrap_indices", lambda n, rng: np.random.default_rng(rng).permutation(n))


def dropout_without_rescaling(monkeypatch):
    """Training-mode dropout that forgets to divide the kept units by keep."""
    original = kernels.dropout

    def wrong(x, keep, rng, out=None):
        y, mask = original(x, keep, rng, out)
        return y * keep, mask

    monkeypatch.setattr(kernels, "dropout", wrong)


BROKEN = {
    "7.2.1": l2_doubled, "7.6-7.7": l2_doubled, "7.6-7.7-mlp": l2_doubled, "7.8": l2_doubled,
    "7.2.2": soft_threshold_offset, "7.2.3-l2": l2_doubled, "7.2.3-l1": soft_threshold_offset,
    "7.4": l2_towards_the_wrong_point, "7.4-separable": sgd_with_hidden_decay, "7.4-decay": l2_doubled,
    "7.26": sgd_with_hidden_decay, "7.28": l2_doubled, "7.17-linear": l2_doubled,
    "7.17": input_gradient_penalty_doubled, "7.22": weight_gradient_penalty_doubled,
    "7.10": covariance_over_all_pairs, "7.10-bootstrap": resampling_without_replacement,
    "7.30": dropout_without_rescaling, "bias-variance": l2_doubled,
}


def test_every_check_has_a_broken_implementation_to_catch():
    assert set(BROKEN) == set(CHECKS)


@pytest.mark.parametrize("check_id", list(BROKEN))
def test_a_check_fails_against_a_wrong_implementation(check_id, monkeypatch):
    BROKEN[check_id](monkeypatch)
    result = CHECKS[check_id].run()
    assert not result.passed, f"{check_id} passed with {BROKEN[check_id].__name__}:\n{as_text(result)}"


# ---- the tools under the checks ------------------------------------------------------------------

def mlp_objective():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    model = small_mlp(2, 8, seed=2)
    return model.parameters(), penalized_objective(model, half_mse, X, y, [L2(0.01)])


def test_the_explicit_hessian_is_the_jacobian_of_the_gradient():
    params, objective = mlp_objective()
    theta = np.concatenate([p.data.ravel() for p in params])
    hessian, eps = hessian_matrix(objective, params), 1e-6
    columns = []
    for j in range(theta.size):
        step = np.eye(theta.size)[j] * eps
        set_theta(params, theta + step)
        plus = gradient(objective, params)
        set_theta(params, theta - step)
        columns.append((plus - gradient(objective, params)) / (2 * eps))
    set_theta(params, theta)
    np.testing.assert_allclose(hessian, np.array(columns).T, atol=1e-7)


def test_lanczos_finds_the_top_of_the_spectrum_that_eigh_finds():
    params, objective = mlp_objective()
    hessian = hessian_matrix(objective, params)
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    size = len(eigenvalues)
    hvp = lambda v: hessian_vector_product(objective, params, v)       # noqa: E731
    values, vectors = lanczos(hvp, size, 4, steps=24, rng=1)
    np.testing.assert_allclose(values, eigenvalues[::-1][:4], rtol=1e-8)
    cosines = np.abs(np.sum(vectors * eigenvectors[:, ::-1][:, :4], axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)
    every, _ = lanczos(hvp, size, size, steps=size, rng=2)             # size steps: the whole spectrum
    np.testing.assert_allclose(every, eigenvalues[::-1], atol=1e-10)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 33\], got 34"):
        lanczos(hvp, size, size + 1)
    with pytest.raises(ValueError, match="steps must be"):
        lanczos(hvp, size, 4, steps=2)


# ---- the command ---------------------------------------------------------------------------------

def test_minireg_verify_runs_the_checks_of_a_section_and_prints_both_sides(capsys):
    assert cli.main(["verify", "7.2.3"]) == 0
    out = capsys.readouterr().out
    for text in ("[PASS] 7.2.3-l2", "[PASS] 7.2.3-l1", "Deep Learning 7.2.3 (published 7.1.2)", "left:",
                 "right:", "tolerance", "2 of 2 checks passed"):
        assert text in out


def test_minireg_verify_exits_with_1_when_a_check_fails(capsys, monkeypatch):
    l2_doubled(monkeypatch)
    assert cli.main(["verify", "7.2.1"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] 7.2.1" in out and "0 of 1 checks passed; failed: 7.2.1" in out


def test_minireg_verify_list_names_every_check_without_running_one(capsys, monkeypatch):
    monkeypatch.setattr(L2, "penalty", None)                # a check that ran would crash
    assert cli.main(["verify", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    assert listed == list(CHECKS)


def test_an_unknown_check_is_refused_with_the_ids_there_are(capsys):
    assert cli.main(["verify", "7.99"]) == 2
    err = capsys.readouterr().err
    assert "no check '7.99'" in err and "7.6-7.7-mlp" in err and "minireg verify --list" in err
    with pytest.raises(ValueError, match="no check '7.2.3-l'"):
        select("7.2.3-l")
    assert [check.id for check in select("7.4")] == ["7.4"]
    assert [check.id for check in select("7.6-7.7")] == ["7.6-7.7"]
