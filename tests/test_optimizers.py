"""Optimizers: trajectories against PyTorch CPU, dtype, in-place updates, state dicts, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minireg import losses, nn
from minireg.optim import SGD, Adam, StepDecay
from minireg.tensor import Tensor

SHAPES = [(4, 3), (3,), (2, 2, 2)]
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


# ----------------------------------------------------------------------------
# Problems: a gradient for each parameter, given the step and the parameters
# ----------------------------------------------------------------------------

def initial_arrays(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def random_gradients(step, arrays):
    """Gradients that ignore the parameters: a fixed random sequence."""
    rng = np.random.default_rng(1000 + step)
    return [rng.standard_normal(a.shape).astype(a.dtype) for a in arrays]


def quadratic_gradients(step, arrays):
    """Gradient of sum_k 0.5 x_k^T H_k x_k - b_k^T x_k (H_k symmetric positive definite)."""
    gradients = []
    for k, a in enumerate(arrays):
        rng = np.random.default_rng(50 + k)
        n = a.size
        m = rng.standard_normal((n, n))
        hessian = (m @ m.T / n + np.eye(n)).astype(a.dtype)
        b = rng.standard_normal(n).astype(a.dtype)
        gradients.append((hessian @ a.reshape(-1) - b).reshape(a.shape))
    return gradients


PROBLEMS = {"random": random_gradients, "quadratic": quadratic_gradients}


# ----------------------------------------------------------------------------
# Running both frameworks
# ----------------------------------------------------------------------------

def minireg_trajectory(make_optimizer, arrays, gradient_fn, steps, lrs=None, skip=None):
    params = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    optimizer = make_optimizer(params)
    trajectory = []
    for t in range(steps):
        if lrs is not None:
            optimizer.lr = lrs[t]
        gradients = gradient_fn(t, [p.data for p in params])
        for k, (p, g) in enumerate(zip(params, gradients)):
            p.grad = None if skip is not None and skip(t, k) else Tensor(g)
        optimizer.step()
        trajectory.append([p.data.copy() for p in params])
    return trajectory


def torch_trajectory(make_optimizer, arrays, gradient_fn, steps, lrs=None, skip=None):
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    optimizer = make_optimizer(params)
    trajectory = []
    for t in range(steps):
        if lrs is not None:
            optimizer.param_groups[0]["lr"] = lrs[t]
        gradients = gradient_fn(t, [p.detach().numpy() for p in params])
        for k, (p, g) in enumerate(zip(params, gradients)):
            p.grad = None if skip is not None and skip(t, k) else torch.from_numpy(g.copy())
        optimizer.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory


def assert_trajectories_close(ours, theirs, dtype):
    assert len(ours) == len(theirs)
    for step, (our_params, their_params) in enumerate(zip(ours, theirs)):
        for our, their in zip(our_params, their_params):
            assert our.dtype == dtype
            np.testing.assert_allclose(our, their, err_msg=f"step {step}", **TOLERANCE[dtype])


OPTIMIZERS = {
    "sgd": (lambda p: SGD(p, lr=0.1),
            lambda p: torch.optim.SGD(p, lr=0.1)),
    "momentum": (lambda p: SGD(p, lr=0.05, momentum=0.9),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "nesterov": (lambda p: SGD(p, lr=0.05, momentum=0.8, nesterov=True),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda p: Adam(p, lr=0.01),
             lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam-custom": (lambda p: Adam(p, lr=0.03, betas=(0.8, 0.95), eps=1e-4),
                    lambda p: torch.optim.Adam(p, lr=0.03, betas=(0.8, 0.95), eps=1e-4)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory_matches_pytorch(name, problem, dtype):
    ours, theirs = OPTIMIZERS[name]
    arrays = initial_arrays(dtype)
    gradient_fn = PROBLEMS[problem]
    expected = torch_trajectory(theirs, arrays, gradient_fn, steps=20)
    got = minireg_trajectory(ours, arrays, gradient_fn, steps=20)
    # The parameters really moved, so the comparison is not trivial.
    assert not np.allclose(got[-1][0], arrays[0])
    assert_trajectories_close(got, expected, dtype)


@given(lr=st.floats(1e-4, 0.5), momentum=st.floats(0.0, 0.99), nesterov=st.booleans(),
       seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_sgd_matches_pytorch_for_any_hyperparameters(lr, momentum, nesterov, seed):
    nesterov = nesterov and momentum > 0.0
    arrays = initial_arrays(np.float64, seed)
    expected = torch_trajectory(
        lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum, nesterov=nesterov),
        arrays, random_gradients, steps=10)
    got = minireg_trajectory(lambda p: SGD(p, lr=lr, momentum=momentum, nesterov=nesterov),
                             arrays, random_gradients, steps=10)
    assert_trajectories_close(got, expected, np.float64)


@given(lr=st.floats(1e-4, 0.5), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999),
       eps=st.floats(1e-10, 1e-2), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_adam_matches_pytorch_for_any_hyperparameters(lr, beta1, beta2, eps, seed):
    arrays = initial_arrays(np.float64, seed)
    expected = torch_trajectory(
        lambda p: torch.optim.Adam(p, lr=lr, betas=(beta1, beta2), eps=eps),
        arrays, random_gradients, steps=10)
    got = minireg_trajectory(lambda p: Adam(p, lr=lr, betas=(beta1, beta2), eps=eps),
                             arrays, random_gradients, steps=10)
    assert_trajectories_close(got, expected, np.float64)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_parameters_without_gradient_are_skipped_like_pytorch(name):
    # Parameter 1 gets no gradient on every third step; Adam then does not
    # advance its step count for it, exactly as PyTorch does.
    ours, theirs = OPTIMIZERS[name]
    arrays = initial_arrays(np.float64)

    def skip(t, k):
        return k == 1 and t % 3 == 0

    expected = torch_trajectory(theirs, arrays, random_gradients, steps=15, skip=skip)
    got = minireg_trajectory(ours, arrays, random_gradients, steps=15, skip=skip)
    assert_trajectories_close(got, expected, np.float64)
    np.testing.assert_array_equal(got[0][1], arrays[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_learning_rate_set_by_a_schedule_matches_pytorch_scheduler(dtype):
    schedule = StepDecay(0.1, step_size=4, gamma=0.5)
    # np.float64 learning rates, as a careless caller might pass, must not promote float32.
    lrs = [np.float64(schedule(t)) for t in range(20)]
    arrays = initial_arrays(dtype)

    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    expected = []
    for t in range(20):
        for p, g in zip(params, quadratic_gradients(t, [p.detach().numpy() for p in params])):
            p.grad = torch.from_numpy(g)
        optimizer.step()
        scheduler.step()
        expected.append([p.detach().numpy().copy() for p in params])

    got = minireg_trajectory(lambda p: SGD(p, lr=0.1, momentum=0.9), arrays,
                             quadratic_gradients, steps=20, lrs=lrs)
    assert_trajectories_close(got, expected, dtype)


# ----------------------------------------------------------------------------
# dtype and in-place behaviour
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_parameters_and_state_stay_float32(name):
    ours, _ = OPTIMIZERS[name]
    params = [Tensor(a, requires_grad=True) for a in initial_arrays(np.float32)]
    optimizer = ours(params)
    for t in range(3):
        optimizer.lr = np.float64(optimizer.lr)  # a float64 scalar must not leak in
        for p, g in zip(params, random_gradients(t, [p.data for p in params])):
            p.grad = Tensor(g)
        optimizer.step()
    for p in params:
        assert p.data.dtype == np.float32
    for key, value in optimizer.state_dict().items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_update_is_in_place(name):
    ours, _ = OPTIMIZERS[name]
    param = Tensor(np.ones((3, 2)), requires_grad=True)
    array_before = param.data
    view = param.data[1]
    optimizer = ours([param])
    param.grad = Tensor(np.full((3, 2), 0.5))
    optimizer.step()
    assert param.data is array_before
    np.testing.assert_array_equal(view, param.data[1])
    assert not np.allclose(view, 1.0)


def test_zero_grad_sets_gradients_to_none_and_step_then_refuses_to_do_nothing():
    params = [Tensor(a, requires_grad=True) for a in initial_arrays(np.float64)]
    optimizer = SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = Tensor(np.ones_like(p.data))
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)
    before = [p.data.copy() for p in params]
    with pytest.raises(RuntimeError, match="none of the 3 parameters of this SGD has a gradient"):
        optimizer.step()
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_built_on_another_models_parameters_says_so(name):
    ours, _ = OPTIMIZERS[name]
    trained, other = nn.Linear(3, 2, rng=0), nn.Linear(3, 2, rng=1)
    optimizer = ours(other.parameters())
    loss = losses.cross_entropy(trained(np.ones((4, 3), dtype=np.float32)), np.array([0, 1, 0, 1]))
    loss.backward()
    with pytest.raises(RuntimeError, match="was the optimizer built on this model's parameters"):
        optimizer.step()


def test_a_bad_gradient_is_found_before_any_parameter_changes():
    params = [Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(2), requires_grad=True)]
    optimizer = SGD(params, lr=0.1)
    params[0].grad = Tensor(np.ones(3))
    params[1].grad = Tensor(np.ones(5))
    with pytest.raises(ValueError, match=r"params\[1\].grad has shape \(5,\)"):
        optimizer.step()
    np.testing.assert_array_equal(params[0].data, np.ones(3))


def test_zero_learning_rate_leaves_parameters_unchanged():
    param = Tensor(np.arange(4.0), requires_grad=True)
    optimizer = Adam([param], lr=0.0)
    param.grad = Tensor(np.ones(4))
    optimizer.step()
    np.testing.assert_array_equal(param.data, np.arange(4.0))


def test_optimizer_reads_gradients_from_autograd():
    # The end-to-end path: loss.backward() fills p.grad, step() uses it.
    # Gradient of 0.5 * ||x||^2 is x, so one SGD step scales x by (1 - lr).
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    optimizer = SGD([x], lr=0.25)
    loss = (x * x).sum() * 0.5
    loss.backward()
    optimizer.step()
    np.testing.assert_allclose(x.data, 0.75 * np.array([1.0, -2.0, 3.0]))


# ----------------------------------------------------------------------------
# state_dict / load_state_dict
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_through_npz_continues_the_trajectory(name, dtype, tmp_path):
    ours, _ = OPTIMIZERS[name]
    arrays = initial_arrays(dtype)
    uninterrupted = minireg_trajectory(ours, arrays, quadratic_gradients, steps=20)

    # First half, save parameters and optimizer state to disk.
    params = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    optimizer = ours(params)
    for t in range(10):
        for p, g in zip(params, quadratic_gradients(t, [p.data for p in params])):
            p.grad = Tensor(g)
        optimizer.step()
    path = tmp_path / "optimizer.npz"
    np.savez(path, **optimizer.state_dict())
    saved_params = [p.data.copy() for p in params]

    # Second half in a fresh optimizer built with other hyperparameters: the
    # loaded state must restore them too.
    resumed = [Tensor(a, requires_grad=True) for a in saved_params]
    if isinstance(optimizer, Adam):
        fresh = Adam(resumed, lr=0.5, betas=(0.5, 0.5), eps=1.0)
    else:
        fresh = SGD(resumed, lr=0.5, momentum=0.3 if optimizer.momentum else 0.0)
    with np.load(path) as loaded:
        fresh.load_state_dict(dict(loaded))
    assert fresh.hyperparameters() == optimizer.hyperparameters()
    for t in range(10, 20):
        for p, g in zip(resumed, quadratic_gradients(t, [p.data for p in resumed])):
            p.grad = Tensor(g)
        fresh.step()
        for p, expected in zip(resumed, uninterrupted[t]):
            assert p.data.dtype == dtype
            np.testing.assert_array_equal(p.data, expected)


def test_state_dict_holds_copies():
    param = Tensor(np.ones(3), requires_grad=True)
    optimizer = SGD([param], lr=0.1, momentum=0.9)
    param.grad = Tensor(np.ones(3))
    optimizer.step()
    state = optimizer.state_dict()
    state["state.0.velocity"][:] = 100.0
    np.testing.assert_array_equal(optimizer.state_dict()["state.0.velocity"], np.ones(3))


def test_load_state_dict_rejects_another_optimizer():
    param = Tensor(np.ones(3), requires_grad=True)
    adam_state = Adam([param]).state_dict()
    with pytest.raises(ValueError, match="state_dict"):
        SGD([param], lr=0.1).load_state_dict(adam_state)
    sgd_state = SGD([param], lr=0.1, momentum=0.9).state_dict()
    sgd_state["optimizer"] = "Adam"
    with pytest.raises(ValueError, match="saved by a Adam"):
        SGD([param], lr=0.1, momentum=0.9).load_state_dict(sgd_state)


def test_load_state_dict_rejects_missing_keys_and_wrong_shapes():
    params = [Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(2), requires_grad=True)]
    optimizer = Adam(params, lr=0.1)
    state = optimizer.state_dict()
    del state["state.1.first_moment"]
    with pytest.raises(ValueError, match=r"missing keys \['state.1.first_moment'\]"):
        optimizer.load_state_dict(state)

    state = optimizer.state_dict()
    state["lr"] = 0.7
    state["state.1.second_moment"] = np.ones(5)
    with pytest.raises(ValueError, match=r"state.1.second_moment.*shape \(5,\)"):
        optimizer.load_state_dict(state)
    assert optimizer.lr == 0.1  # a failed load changes nothing


def test_load_state_dict_validates_hyperparameters():
    param = Tensor(np.ones(3), requires_grad=True)
    optimizer = SGD([param], lr=0.1, momentum=0.5)
    state = optimizer.state_dict()
    state["momentum"] = 1.5
    with pytest.raises(ValueError, match="momentum"):
        optimizer.load_state_dict(state)


def adam_with_state(shapes=((3,), (2,)), dtype=np.float32):
    params = [Tensor(np.ones(shape, dtype=dtype), requires_grad=True) for shape in shapes]
    optimizer = Adam(params, lr=0.1)
    for p in params:
        p.grad = Tensor(np.full(p.shape, 0.5, dtype=dtype))
    optimizer.step()
    return optimizer


def assert_load_refused(optimizer, state, error, message):
    """The load raises ``error`` matching ``message`` and changes nothing."""
    before = optimizer.state_dict()
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(state)
    after = optimizer.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def test_load_state_dict_refuses_the_state_of_another_number_of_parameters():
    saved = adam_with_state(shapes=((3,), (2,), (4,))).state_dict()
    optimizer = adam_with_state()
    assert_load_refused(optimizer, saved, ValueError,
                        "holds the state of 3 parameters, but this Adam has 2; was it saved from another model")


def test_load_state_dict_refuses_state_arrays_of_another_dtype():
    state = adam_with_state(dtype=np.float64).state_dict()
    optimizer = adam_with_state(dtype=np.float32)
    assert_load_refused(optimizer, state, ValueError,
                        r"state.0.first_moment'\] has dtype float64, but params\[0\] has dtype float32")
    state = optimizer.state_dict()
    state["state.1.second_moment"] = np.ones(2, dtype=np.int64)
    assert_load_refused(optimizer, state, ValueError, r"state.1.second_moment'\] has dtype int64")


@pytest.mark.parametrize("value, error, message", [
    (-1, ValueError, r"state.0.step'\] must be an integer >= 0, got -1"),
    (2.5, TypeError, r"state.0.step'\] must be an integer >= 0, got 2.5"),
    (np.array([1, 2]), ValueError, r"state.0.step'\] must be a single number, got int64 data of shape \(2,\)"),
])
def test_load_state_dict_refuses_a_bad_step_counter(value, error, message):
    optimizer = adam_with_state()
    state = optimizer.state_dict()
    state["state.0.step"] = value
    assert_load_refused(optimizer, state, error, message)


@pytest.mark.parametrize("key, value, error, message", [
    ("lr", float("nan"), ValueError, "lr must be a finite number"),
    ("lr", np.array([0.1, 0.2]), ValueError, r"state_dict\['lr'\] must be a single number"),
    ("lr", "0.1", ValueError, r"state_dict\['lr'\] must be a single number"),
    ("eps", 0.0, ValueError, r"eps must be a finite number in \(0.0, inf\)"),
    ("beta2", True, TypeError, r"betas\[1\] must be a finite number"),
])
def test_load_state_dict_refuses_bad_hyperparameters(key, value, error, message):
    optimizer = adam_with_state()
    state = optimizer.state_dict()
    state[key] = value
    assert_load_refused(optimizer, state, error, message)


def test_load_state_dict_refuses_a_non_boolean_nesterov_and_a_non_dict():
    param = Tensor(np.ones(3), requires_grad=True)
    optimizer = SGD([param], lr=0.1, momentum=0.5)
    state = optimizer.state_dict()
    state["nesterov"] = 2
    assert_load_refused(optimizer, state, TypeError, "nesterov must be True or False, got 2")
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        optimizer.load_state_dict([("lr", 0.1)])


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------

def trainable():
    return [Tensor(np.ones(3, dtype=np.float32), requires_grad=True)]


def half_precision_parameter():
    """A float16 parameter, made by changing the data of a float32 one (Adam's moments
    underflow in float16 and the weights become NaN)."""
    param = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    param.data = param.data.astype(np.float16)
    return param


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(trainable(), lr=-0.1), r"lr must be a finite number in \[0.0, inf\)"),
    (lambda: SGD(trainable(), lr=float("nan")), r"lr must be a finite number in \[0.0, inf\)"),
    (lambda: Adam(trainable(), lr=float("inf")), r"lr must be a finite number in \[0.0, inf\)"),
    (lambda: SGD(trainable(), lr=0.1, momentum=1.0), r"momentum must be a finite number in \[0.0, 1.0\)"),
    (lambda: SGD(trainable(), lr=0.1, momentum=-0.1), r"momentum must be a finite number in \[0.0, 1.0\)"),
    (lambda: SGD(trainable(), lr=0.1, nesterov=True), r"nesterov=True needs momentum"),
    (lambda: Adam(trainable(), betas=(1.0, 0.999)), r"betas\[0\] must be a finite number in \[0.0, 1.0\)"),
    (lambda: Adam(trainable(), betas=(0.9, -0.5)), r"betas\[1\] must be a finite number in \[0.0, 1.0\)"),
    (lambda: Adam(trainable(), eps=0.0), r"eps must be a finite number in \(0.0, inf\)"),
    (lambda: Adam(trainable(), eps=-1e-8), r"eps must be a finite number in \(0.0, inf\)"),
    (lambda: SGD([], lr=0.1), r"params must contain at least one parameter"),
    (lambda: Adam(iter([])), r"params must contain at least one parameter"),
    (lambda: SGD([Tensor(np.ones(3))], lr=0.1), r"params\[0\] does not require grad"),
    (lambda: SGD(trainable() * 2, lr=0.1), r"params\[1\] appears more than once"),
    (lambda: SGD(trainable(), lr=0.1, momentum=float("nan")), r"momentum must be a finite number"),
    (lambda: SGD(trainable(), lr=0.1, momentum=float("inf")), r"momentum must be a finite number"),
    (lambda: Adam(trainable(), betas=(float("nan"), 0.9)), r"betas\[0\] must be a finite number"),
    (lambda: Adam(trainable(), betas=(0.9, float("-inf"))), r"betas\[1\] must be a finite number"),
    (lambda: Adam(trainable(), eps=float("nan")), r"eps must be a finite number"),
    (lambda: Adam(trainable(), eps=float("inf")), r"eps must be a finite number"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(trainable()[0], lr=0.1), r"params must be an iterable of Tensors"),
    (lambda: SGD([np.ones(3)], lr=0.1), r"params\[0\] must be a Tensor"),
    (lambda: SGD(trainable(), lr="0.1"), r"lr must be a finite number"),
    (lambda: SGD(trainable(), lr=0.1, momentum=0.5, nesterov="yes"), r"nesterov must be"),
    (lambda: Adam(trainable(), betas=0.9), r"betas must be a pair"),
    (lambda: SGD(nn.Linear(2, 2).parameters, lr=0.1),
     r"params must be an iterable of Tensors such as model.parameters\(\) \(call the method\)"),
    (lambda: SGD(3, lr=0.1), r"params must be an iterable of Tensors such as model.parameters\(\), got int"),
    (lambda: SGD([half_precision_parameter()], lr=0.1), r"params\[0\] must have dtype float32 or float64, got float16"),
    # bools are not numbers here, even though True == 1
    (lambda: SGD(trainable(), lr=True), r"lr must be a finite number"),
    (lambda: SGD(trainable(), lr=0.1, momentum=False), r"momentum must be a finite number"),
    (lambda: Adam(trainable(), betas=(True, 0.9)), r"betas\[0\] must be a finite number"),
    (lambda: Adam(trainable(), eps=True), r"eps must be a finite number"),
])
def test_wrong_types_raise_type_error_naming_the_argument(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_learning_rate_set_negative_between_steps_is_caught_at_step():
    params = trainable()
    optimizer = SGD(params, lr=0.1)
    params[0].grad = Tensor(np.ones(3, dtype=np.float32))
    optimizer.lr = -1.0
    with pytest.raises(ValueError, match=r"lr must be a finite number in \[0.0, inf\)"):
        optimizer.step()
    np.testing.assert_array_equal(params[0].data, np.ones(3))


def test_gradient_with_wrong_shape_or_dtype_is_rejected():
    params = trainable()
    optimizer = Adam(params)
    params[0].grad = Tensor(np.ones(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"params\[0\].grad has shape \(4,\)"):
        optimizer.step()
    params[0].grad = Tensor(np.ones(3, dtype=np.float64))
    with pytest.raises(TypeError, match=r"params\[0\].grad has dtype float64"):
        optimizer.step()


def test_a_graph_kept_across_an_update_refuses_to_backpropagate_stale_values():
    import numpy as np
    import pytest as _pytest
    from minireg.tensor import Tensor
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    SGD([w], lr=0.1).step()                       # changes w in place
    with _pytest.raises(RuntimeError, match="changed in place after the graph was built"):
        loss.backward()
