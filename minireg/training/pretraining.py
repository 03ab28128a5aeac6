"""Pretraining and transfer: reuse a trained encoder under a new head.

The lecture slides ("pretraining, transfer"): when labels are few, first train a part
of the network on a task that needs no labels or has many, then train the whole for the
task at hand starting from it.

* **Unsupervised pretraining**: an :class:`Autoencoder` -- an encoder h = f(x) and a
  decoder r = g(h) -- trained to reconstruct its inputs, min ‖g(f(x)) − x‖² (no labels;
  the targets are the inputs), then its encoder f kept and a classifier head put on it,
  trained with the few labels.
* **Transfer**: the encoder of a network trained on a *source* task with many labels
  (digits 0-4) kept, under a new head, for a *target* task with few (digits 5-9).

:func:`with_new_head` builds the network of the second stage: a **copy** of the encoder
(the pretrained model is left as it was) followed by the head, and the list of the
parameters to train. With ``freeze_encoder=True`` that list holds the head's parameters
only: give it to the optimizer, and the encoder keeps its pretrained values (its
gradients are still computed, and not used); with ``freeze_encoder=False`` (fine-tuning)
every parameter trains, the encoder starting from its pretrained values. Starting the
same network from random weights instead is training *from scratch*, the comparison.

Between freezing and free fine-tuning lies a penalty that pulls the encoder towards its
pretrained values, the fixed point w^(o) of Deep Learning 7.2.1's footnote (published
7.1.1): :class:`~minireg.regularizers.L2` with ``reference={parameter name: array}``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from minireg.nn import Module, Sequential


class Autoencoder(Module):
    """x -> decoder(encoder(x)): trained on ``(X, X)`` with a reconstruction loss such as
    :func:`minireg.losses.mse_loss`, it needs no labels.

    Parameters
    ----------
    encoder, decoder : Module
    """

    def __init__(self, encoder, decoder):
        super().__init__()
        for name, part in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(part, Module):
                raise TypeError(f"{name} must be a minireg Module, got {type(part).__name__}")
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x):
        return self.decoder(self.encoder(x))


@dataclass
class NewHead:
    """What :func:`with_new_head` builds.

    Attributes
    ----------
    model : Sequential
        ``Sequential(encoder, head)``.
    encoder : Module
        The copy of the pretrained encoder inside ``model``.
    trainable : list of Parameter
        What the optimizer should update: the head's parameters when the encoder is
        frozen, all of ``model``'s otherwise.
    frozen : bool
    """

    model: Sequential
    encoder: Module
    trainable: list
    frozen: bool


def with_new_head(encoder, head, freeze_encoder: bool = False) -> NewHead:
    """A copy of the pretrained ``encoder`` under ``head``, and the parameters to train.

    Parameters
    ----------
    encoder : Module
        Pretrained (an :class:`Autoencoder`'s ``encoder``, or the lower layers of a
        network trained on a source task). It is copied, not shared: training the new
        model leaves it unchanged.
    head : Module
        The new layers for the target task, freshly initialized.
    freeze_encoder : bool
        True: only the head trains (``trainable`` is its parameters); False: fine-tune
        everything.
    """
    for name, part in (("encoder", encoder), ("head", head)):
        if not isinstance(part, Module):
            raise TypeError(f"{name} must be a minireg Module, got {type(part).__name__}")
    if not isinstance(freeze_encoder, bool):
        raise TypeError(f"freeze_encoder must be True or False, got {freeze_encoder!r}")
    encoder = copy.deepcopy(encoder)
    model = Sequential(encoder, head)
    trainable = head.parameters() if freeze_encoder else model.parameters()
    return NewHead(model=model, encoder=encoder, trainable=trainable, frozen=freeze_encoder)
