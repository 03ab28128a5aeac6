"""The README's code runs as written and does what its comments say.

The Python blocks of README.md are executed in order (with one epoch instead of five,
and MNIST read from the shared data folder through MINIREG_DATA), and their results are
checked against closed forms.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import shared_mnist

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_the_readme_tour_runs_and_its_claims_hold(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2, "the README's tour has two Python blocks"
    code = "\n".join(blocks)
    assert "epochs=5" in code
    monkeypatch.setenv("MINIREG_DATA", str(shared_mnist()))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code.replace("epochs=5", "epochs=1"), str(README), "exec"), namespace)

    # H·1 of sum(tanh(w)^2) is diagonal: d²/dw² tanh²(w) = 2 sech⁴(w) - 4 tanh²(w) sech²(w)
    w = namespace["w"].data
    t, s2 = np.tanh(w), 1 / np.cosh(w) ** 2
    np.testing.assert_allclose(namespace["hv"].data, 2 * s2 ** 2 - 4 * t ** 2 * s2, rtol=1e-6)
    # weights() leaves out the biases; the saved file holds every parameter
    model = namespace["model"]
    assert [tuple(p.shape) for p in model.weights()] == [(784, 300), (300, 10)]
    assert (tmp_path / "model.npz").is_file()
    # one epoch with L2 and the GrOWL prox still learns MNIST
    trainer = namespace["trainer"]
    assert trainer.history.values("val_error")[-1] < 0.1


def test_the_quick_start_installs_what_the_main_jobs_plots_need():
    quick_start = re.search(r"## Quick start\n.*?```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    first_command = quick_start.group(1).splitlines()[0].split("#")[0].strip()
    assert first_command == 'pip install ".[plot]" && minireg run early-stopping-synthetic'
    pyproject = (README.parent / "pyproject.toml").read_text(encoding="utf-8")  # (tomllib needs Python 3.11)
    assert re.search(r'^plot = \[[^]]*"matplotlib', pyproject, re.M), "the plot extra installs matplotlib"


def test_the_readme_says_where_the_tests_find_mnist():
    text = " ".join(README.read_text(encoding="utf-8").split())
    for place in ("MINIREG_DATA", "~/.cache/minireg/mnist", "`shared/data/mnist` beside the checkout",
                  "load_mnist('train'); load_mnist('test')"):
        assert place in text
