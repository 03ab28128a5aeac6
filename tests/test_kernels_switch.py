"""The switch between compiled kernels and NumPy twins, and life without the extensions.

The package must import and work when the Cython extensions are missing (a source
checkout that was never built), saying so once; MINIREG_PURE_NUMPY=1 chooses the twins
on purpose and says nothing. Each case runs in a fresh interpreter so that the import
itself is what is tested.
"""
import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from minireg import kernels

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run inside a fresh interpreter: import minireg with every warning recorded, use one
# function of each kernel family, and print what happened as JSON.
PROBE = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("always")
    BLOCK = sys.argv[1] == "block"
    if BLOCK:
        class NoExtensions:  # makes 'import minireg._ext.<name>' fail as if never built
            def find_spec(self, name, path=None, target=None):
                if name.startswith("minireg._ext."):
                    raise ImportError(f"{name} is hidden by the test")
                return None
        sys.meta_path.insert(0, NoExtensions())
    with warnings.catch_warnings(record=True) as caught:
        import numpy as np
        import minireg
        from minireg import F, kernels
        from minireg.regularizers.proximal import prox_owl
        x = minireg.Tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
        w = minireg.Tensor(np.ones((1, 1, 3, 3)))
        F.conv2d(x, w, padding=1).sum().backward()
        owl = prox_owl(np.array([3.0, -1.0, 2.0]), np.array([1.0, 0.5, 0.0]), 1.0)
        y, mask = kernels.dropout(np.ones(64), 0.5, np.random.default_rng(0))
        quarter_turn = kernels.warp_affine(np.arange(6.0).reshape(1, 1, 2, 3),
                                           np.array([[[0.0, 1.0], [-1.0, 0.0]]]), np.array([[0.0, 2.0]]))
    print(json.dumps({
        "status": kernels.compiled_status(),
        "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
        "conv_grad_sum": float(x.grad.data.sum()),
        "owl": owl.tolist(),
        "kept": int(mask.sum()),
        "quarter_turn": quarter_turn.tolist(),
    }))
""")


def probe(block_extensions, pure_numpy=False):
    env = dict(os.environ)
    env.pop("MINIREG_PURE_NUMPY", None)
    if pure_numpy:
        env["MINIREG_PURE_NUMPY"] = "1"
    done = subprocess.run([sys.executable, "-c", PROBE, "block" if block_extensions else "keep"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_the_extensions_minireg_works_through_the_twins_and_warns_once():
    result = probe(block_extensions=True)
    assert set(result["status"].values()) == {"numpy twin"}
    assert len(result["warnings"]) == 1
    assert "not built" in result["warnings"][0] and "pip install" in result["warnings"][0]
    # the answers are those of the compiled build (run in the same way below)
    assert result == {**probe(block_extensions=False), "status": result["status"],
                      "warnings": result["warnings"]}


def test_the_environment_variable_chooses_the_twins_without_a_warning():
    result = probe(block_extensions=False, pure_numpy=True)
    assert set(result["status"].values()) == {"numpy twin"}
    assert result["warnings"] == []


def test_built_package_uses_the_compiled_kernels_silently():
    result = probe(block_extensions=False)
    assert set(result["status"].values()) == {"compiled"}
    assert result["warnings"] == []
    # 3x3 all-ones kernel, padding 1, on a 4x4 image: each input pixel reaches 4, 6 or 9 outputs
    assert result["conv_grad_sum"] == 4 * 4 + 8 * 6 + 4 * 9
    # OWL prox: sorted magnitudes (3, 2, 1) minus lambda (1, 0.5, 0) = (2, 1.5, 1), already
    # non-increasing, so no pooling; back in place with the signs
    assert result["owl"] == [2.0, -1.0, 1.5]
    # q = (column, 2 - row): output pixel (r, c) shows input (c, 2 - r); inputs past row 1 are zero fill
    assert result["quarter_turn"] == [[[[2.0, 5.0, 0.0], [1.0, 4.0, 0.0]]]]


def test_use_compiled_switches_and_returns_the_previous_setting():
    previous = kernels.use_compiled(False)
    try:
        assert set(kernels.compiled_status().values()) == {"numpy twin"}
        assert kernels.use_compiled(True) is False
        assert set(kernels.compiled_status().values()) == {"compiled"}
    finally:
        kernels.use_compiled(previous)
    with pytest.raises(TypeError, match="enabled"):
        kernels.use_compiled("no")


SETTING_PROBE = textwrap.dedent("""
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from minireg import kernels
    print(json.dumps({"status": kernels.compiled_status(),
                      "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]}))
""")


def probe_setting(value):
    """compiled_status() and the RuntimeWarnings of a fresh import with MINIREG_PURE_NUMPY=value."""
    env = {**os.environ, "MINIREG_PURE_NUMPY": value}
    done = subprocess.run([sys.executable, "-c", SETTING_PROBE], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("value, paths", [("false", {"compiled"}), ("Off", {"compiled"}), ("YES", {"numpy twin"})])
def test_the_environment_variable_is_read_as_a_yes_or_a_no(value, paths):
    """MINIREG_PURE_NUMPY=false used to switch the compiled kernels off."""
    result = probe_setting(value)
    assert set(result["status"].values()) == paths
    assert result["warnings"] == []


def test_an_unknown_setting_warns_with_the_accepted_values_and_keeps_the_compiled_kernels():
    result = probe_setting("maybe")
    assert set(result["status"].values()) == {"compiled"}
    [warning] = result["warnings"]
    assert "MINIREG_PURE_NUMPY='maybe'" in warning
    for accepted in ("1", "true", "yes", "on", "'0'", "'false'", "'no'", "'off'", "unset"):
        assert accepted in warning


@pytest.mark.parametrize("value", [None, "", "0", "false", "FALSE", "no", "No", "off", " off "])
def test_settings_that_mean_no_choose_the_compiled_kernels(value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels._twins_requested(value) is False


@pytest.mark.parametrize("value", ["1", "true", "True", "yes", "YES", "on", "On", " 1 "])
def test_settings_that_mean_yes_choose_the_twins(value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels._twins_requested(value) is True


@pytest.mark.parametrize("value", ["2", "-1", "y", "enable", "numpy", "1.0"])
def test_other_settings_warn_and_choose_the_compiled_kernels(value):
    with pytest.warns(RuntimeWarning, match="MINIREG_PURE_NUMPY=.* is not understood"):
        assert kernels._twins_requested(value) is False
