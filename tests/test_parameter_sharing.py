"""Parameter sharing (Deep Learning 7.8, published 7.9): one Parameter used in two places
receives the sum of the gradients of both uses, and is updated once."""
import numpy as np
import pytest
import torch

from minireg import functional as F
from minireg import losses, nn
from minireg.optim import SGD
from minireg.training import Trainer


class TiedAutoencoder(nn.Module):
    """x -> tanh(x W + b) -> h Wᵀ + c: the decoder reuses the encoder's weight, transposed."""

    def __init__(self, d, hidden, seed=0):
        super().__init__()
        self.encoder = nn.Linear(d, hidden, rng=seed)
        self.decoder_bias = nn.Parameter(np.zeros(d), kind="bias")

    def forward(self, x):
        h = F.tanh(self.encoder(x))
        return F.matmul(h, F.transpose(self.encoder.weight)) + self.decoder_bias


def test_a_weight_used_as_w_and_its_transpose_gets_the_sum_of_both_gradients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 5))
    model = TiedAutoencoder(5, 3).to(np.float64)
    assert [name for name, _ in model.named_parameters()] == ["encoder.weight", "encoder.bias", "decoder_bias"]
    W0, b0 = model.encoder.weight.data.copy(), model.encoder.bias.data.copy()

    def mse(outputs, targets):
        return ((outputs - targets) ** 2).mean()

    trainer = Trainer(model, mse, SGD(model.parameters(), lr=0.1))
    trainer.train_step(X, X)

    W = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    c = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(X)
    loss = ((torch.tanh(x @ W + b) @ W.T + c - x) ** 2).mean()
    loss.backward()
    np.testing.assert_allclose(model.encoder.weight.data, W0 - 0.1 * W.grad.numpy(), rtol=1e-12)

    # the sum of both uses: the encoder's gradient alone plus the decoder's alone
    We = torch.tensor(W0, requires_grad=True)
    Wd = torch.tensor(W0, requires_grad=True)
    ((torch.tanh(x @ We + b) @ Wd.T + c - x) ** 2).mean().backward()
    np.testing.assert_allclose(W.grad.numpy(), We.grad.numpy() + Wd.grad.numpy(), rtol=1e-12)


class TwoBranches(nn.Module):
    """One Linear layer applied to two inputs; the branches' outputs are concatenated."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(3, 2, rng=0)
        self.head = nn.Linear(4, 2, rng=1)

    def forward(self, x):
        left, right = x[:, :3], x[:, 3:]
        return self.head(F.concatenate([F.relu(self.shared(left)), F.relu(self.shared(right))], axis=1))


def test_a_layer_shared_by_two_branches_is_one_parameter_updated_once():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 6))
    y = rng.integers(0, 2, size=8)
    model = TwoBranches().to(np.float64)
    assert len(model.parameters()) == 4
    before = [p.data.copy() for p in model.parameters()]
    Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.5)).train_step(X, y)

    Ws, bs, Wh, bh = (torch.tensor(a, requires_grad=True) for a in before)
    x = torch.tensor(X)
    hidden = torch.cat([torch.relu(x[:, :3] @ Ws + bs), torch.relu(x[:, 3:] @ Ws + bs)], dim=1)
    torch.nn.functional.cross_entropy(hidden @ Wh + bh, torch.tensor(y)).backward()
    for p, old, leaf in zip(model.parameters(), before, (Ws, bs, Wh, bh)):
        np.testing.assert_allclose(p.data, old - 0.5 * leaf.grad.numpy(), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="appears more than once"):   # one update per parameter
        SGD([model.shared.weight, model.shared.weight], lr=0.1)
