"""The shared door checks: accepted values pass through in plain form, others are named."""
import numpy as np
import pytest

from minireg import checks


def test_check_int_returns_plain_ints_and_names_the_argument():
    assert checks.check_int(np.int64(3), "k", minimum=1) == 3
    assert type(checks.check_int(np.int64(3), "k")) is int
    with pytest.raises(ValueError, match=r"stride must be an integer >= 1, got 0"):
        checks.check_int(0, "stride", minimum=1)
    with pytest.raises(ValueError, match=r"p must be an integer in \[1, 5\], got 6"):
        checks.check_int(6, "p", 1, 5)
    for bad in (True, 2.0, "2", None):
        with pytest.raises(TypeError, match="k must be an integer"):
            checks.check_int(bad, "k")


def test_check_number_refuses_non_finite_values_and_respects_open_bounds():
    assert checks.check_number(np.float32(0.5), "lr", 0.0) == 0.5
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="lr must be a finite number"):
            checks.check_number(bad, "lr", 0.0)
    with pytest.raises(ValueError, match=r"c must be a finite number in \(0.0, inf\)"):
        checks.check_number(0.0, "c", 0.0, include_minimum=False)
    with pytest.raises(TypeError):
        checks.check_number(True, "alpha")
    assert checks.check_number(-3, "x") == -3.0


def test_check_probability_defaults_to_the_half_open_unit_interval():
    assert checks.check_probability(0.0, "p") == 0.0
    with pytest.raises(ValueError, match=r"p must be a finite number in \[0.0, 1.0\)"):
        checks.check_probability(1.0, "p")
    assert checks.check_probability(1.0, "keep", include_zero=False, include_one=True) == 1.0
    with pytest.raises(ValueError):
        checks.check_probability(0.0, "keep", include_zero=False, include_one=True)


def test_check_choice_and_pair():
    assert checks.check_choice("epoch", "every", ("step", "epoch")) == "epoch"
    with pytest.raises(ValueError, match="every must be one of 'step', 'epoch'; got 'batch'"):
        checks.check_choice("batch", "every", ("step", "epoch"))
    with pytest.raises(ValueError):
        checks.check_choice(True, "flag", (1, 0))       # True == 1, but it is not the int 1
    assert checks.check_pair(3, "stride") == (3, 3)
    assert checks.check_pair((1, 2), "stride") == (1, 2)
    assert checks.check_pair((0, 2), "padding", minimum=0) == (0, 2)
    with pytest.raises(ValueError, match=r"stride\[1\] must be an integer >= 1"):
        checks.check_pair((1, 0), "stride")
    with pytest.raises(ValueError, match="pair"):
        checks.check_pair((1, 2, 3), "stride")


def test_float_dtype_and_array_checks():
    assert checks.check_float_dtype("float32", "dtype") == np.float32
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got float16"):
        checks.check_float_dtype(np.float16, "dtype")
    with pytest.raises(TypeError, match="float32 or float64"):
        checks.check_float_array(np.zeros(3, np.int32), "x")
    with pytest.raises(ValueError, match="x must have 2 axes"):
        checks.check_float_array(np.zeros(3), "x", ndim=2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        checks.check_float_array(np.array([0.0, np.nan]), "x", finite=True)
