"""Module and Parameter: discovery of parameters, weights() vs biases, modes, dtypes."""
import numpy as np
import pytest

from minireg import nn
from minireg.tensor import Tensor


class TwoBranch(nn.Module):
    """A small model with a nested module, a list of modules and a shared Parameter."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 4, rng=0)
        self.blocks = [nn.Linear(4, 4, rng=1), nn.BatchNorm1d(4)]
        self.tied = self.first.weight  # the same Parameter under a second name
        self.last = nn.Linear(4, 2, bias=False, rng=2)

    def forward(self, x):
        h = self.first(x)
        for block in self.blocks:
            h = block(h)
        return self.last(h)


def test_parameter_is_a_trainable_copy_that_knows_its_kind():
    data = np.arange(6, dtype=np.float64).reshape(2, 3)
    p = nn.Parameter(data, kind="bias")
    assert p.requires_grad and p.kind == "bias" and p.dtype == np.float64
    data[0, 0] = 99.0
    assert p.data[0, 0] == 0.0  # the Parameter owns its memory
    assert isinstance(p, Tensor)
    assert type(p * 2.0) is Tensor  # results of operations are plain Tensors


def test_parameter_from_python_numbers_is_float32_like_a_tensor():
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert nn.Parameter([1.0, 2.0], dtype=np.float64).dtype == np.float64


def test_parameter_rejects_unknown_kind_and_integer_data():
    with pytest.raises(ValueError, match="kind"):
        nn.Parameter(np.zeros(3), kind="weights")
    with pytest.raises(TypeError, match="floating point"):
        nn.Parameter(np.zeros(3, dtype=np.int64))


def test_named_parameters_follow_attribute_order_and_share_once():
    model = TwoBranch()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "first.weight", "first.bias",
        "blocks.0.weight", "blocks.0.bias",
        "blocks.1.scale", "blocks.1.shift",
        "last.weight",
    ]
    assert len(model.parameters()) == len({id(p) for p in model.parameters()})
    assert model.parameters()[0] is model.first.weight


def test_weights_exclude_biases_and_batchnorm_scale_shift():
    model = TwoBranch()
    assert [name for name, _ in model.named_weights()] == ["first.weight", "blocks.0.weight", "last.weight"]
    assert all(p.kind == "weight" and p.ndim == 2 for p in model.weights())
    kinds = {p.kind for p in model.parameters()}
    assert kinds == {"weight", "bias", "scale", "shift"}


def test_modules_and_buffers_are_found_recursively():
    model = TwoBranch()
    names = [name for name, _ in model.named_modules()]
    assert names == ["", "first", "blocks.0", "blocks.1", "last"]
    assert [name for name, _ in model.named_buffers()] == ["blocks.1.running_mean", "blocks.1.running_var"]


def test_train_and_eval_reach_every_submodule():
    model = TwoBranch()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(TypeError, match="mode"):
        model.train("no")


def test_zero_grad_clears_every_gradient():
    model = TwoBranch()
    model(np.ones((5, 3), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_gradients_accumulate_over_two_backward_calls():
    layer = nn.Linear(3, 2, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    layer(x).sum().backward()
    once = layer.weight.grad.data.copy()
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.data, 2 * once, rtol=1e-6)


def test_to_float64_converts_parameters_and_buffers():
    model = TwoBranch().to(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert all(a.dtype == np.float64 for _, a in model.named_buffers())
    out = model(np.ones((4, 3)))
    assert out.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point"):
        model.to(np.int32)


def test_float32_stays_float32_through_forward_and_backward():
    model = nn.Sequential(
        nn.Linear(6, 8, rng=0), nn.BatchNorm1d(8), nn.Tanh(),
        nn.Maxout(8, 4, pieces=3, rng=1), nn.Sigmoid(),
        nn.Residual(nn.Sequential(nn.Linear(4, 4, rng=2), nn.ReLU())),
        nn.Linear(4, 3, rng=3),
    )
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    out = model(x)
    assert out.dtype == np.float32
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad.dtype == np.float32, name
    assert all(a.dtype == np.float32 for _, a in model.named_buffers())


def test_sequential_indexing_and_type_check():
    a, b = nn.Linear(2, 3, rng=0), nn.ReLU()
    model = nn.Sequential(a, b)
    assert model[0] is a and len(model) == 2 and list(model) == [a, b]
    assert model[1:].layers == [b]
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(a, lambda x: x)


def test_forgetting_super_init_gives_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

        def forward(self, x):
            return self.layer(x)

    with pytest.raises(RuntimeError, match="super"):
        Broken()(np.ones((1, 2), dtype=np.float32))


def test_register_buffer_validates_its_arguments():
    module = nn.Module()
    module.register_buffer("count", np.zeros(1))
    assert [name for name, _ in module.named_buffers()] == ["count"]
    with pytest.raises(TypeError, match="NumPy array"):
        module.register_buffer("other", [1.0])
    with pytest.raises(ValueError, match="attribute name"):
        module.register_buffer("not a name", np.zeros(1))


def test_row_view_gives_input_features_as_rows():
    dense = nn.Parameter(np.arange(6.0).reshape(2, 3))
    assert nn.row_view(dense) is dense
    conv = Tensor(np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2), requires_grad=True)
    rows = nn.row_view(conv)
    assert rows.shape == (2, 12)
    np.testing.assert_array_equal(rows.data[1], conv.data[1].ravel())  # row c = everything channel c feeds
    (rows * rows).sum().backward()
    np.testing.assert_allclose(conv.grad.data, 2 * conv.data)
    with pytest.raises(ValueError, match="dense"):
        nn.row_view(Tensor(np.zeros(3)))
