"""The protocol every regularizer follows: a small object with optional hooks.

A training step (see :meth:`minireg.training.Trainer.train_step`) has five places
where a regularizer can act::

    batch -> (1) data side -> model.forward -> loss -> (3) + penalties -> backward
          -> (4) gradient side -> optimizer.step -> (5) constraints / prox

    (2) stochastic layers (dropout, noise, stochastic depth) live *inside* the model
        and are switched on by ``model.train()`` and off by ``model.eval()``.

A regularizer is an object of a subclass of :class:`Regularizer` that overrides the
hooks for the places where it acts, and only those. Every hook of the base class does
nothing, so a subclass that overrides one hook is complete. The trainer calls each
hook of each regularizer, in the order the regularizers were given, at its place:

===  ===============================================  =====================================
 #   hook                                             examples (Deep Learning ch. 7; slides)
===  ===============================================  =====================================
 1   ``transform_batch(x, y, rng) -> (x, y)``         augmentation, input noise, label
                                                      smoothing, mixup, CutMix
 3   ``penalty(model, inputs, outputs)``              L2 (eqs. 7.2-7.3), L1 (eq. 7.9),
     ``-> Tensor or None``                            parameter tying (sec. 7.8), activation
                                                      (eq. 7.29) and input-gradient (eq. 7.17)
                                                      penalties
 4   ``transform_gradients(model)``                   gradient clipping, decoupled decay
 5   ``after_step(model, lr)``                        max-norm (7.3), prox of L1 / GrOWL
===  ===============================================  =====================================

Which parameters a regularizer touches is chosen explicitly when it is built (for
example ``model.weights()``, which leaves biases alone as Deep Learning 7.2
recommends); the hooks receive the whole model so that they can find them.
"""
from __future__ import annotations


class Regularizer:
    """Base class of all regularizers: four hooks, each doing nothing by default.

    Subclass it and override the hooks for the places where your regularizer acts.
    Randomness comes from the ``numpy.random.Generator`` the trainer passes in, never
    from global state, so that a seed reproduces a run.
    """

    def transform_batch(self, x, y, rng):
        """Place 1, the data side: change a batch before the forward pass.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs of the batch.
        y : numpy.ndarray
            The targets: class indices of shape (N,), or class probabilities of shape
            (N, K) (soft targets, as made by label smoothing or mixup).
        rng : numpy.random.Generator
            The trainer's generator, for any random choice.

        Returns
        -------
        (x, y) : tuple of numpy.ndarray
            The batch to train on. The default returns it unchanged.
        """
        return x, y

    def penalty(self, model, inputs=None, outputs=None):
        r"""Place 3: a term :math:`\alpha\,\Omega(\theta)` added to the loss.

        The regularized objective is :math:`\tilde J(\theta) = J(\theta) + \alpha\,\Omega(\theta)`
        (Deep Learning, eq. 7.2); ``backward`` then differentiates both terms.

        Parameters
        ----------
        model : Module
            The model being trained (penalties on weights find them here).
        inputs : Tensor
            The batch's inputs after place 1 (penalties on what the network does
            with its inputs, such as the input-gradient penalty of eq. 7.17, need them).
        outputs : Tensor
            The model's outputs on ``inputs``, still attached to the graph.

        Returns
        -------
        Tensor or None
            A scalar Tensor built from the model's parameters (so that gradients flow
            into them), or None when this regularizer adds nothing (the default).
        """
        return None

    def transform_gradients(self, model):
        """Place 4, the gradient side: change ``p.grad`` in place after ``backward``.

        Called after the gradients of the (penalized) loss are known and before the
        optimizer reads them. The default changes nothing.
        """
        return None

    def after_step(self, model, lr):
        """Place 5: change the parameters after the optimizer's update.

        Projections onto a constraint set (Deep Learning 7.3) and proximal steps
        :math:`\\theta \\leftarrow \\mathrm{prox}_{\\eta R}(\\theta)` (GrOWL, eq. 7) go
        here. ``lr`` is the learning rate :math:`\\eta` of the update just made, which
        a proximal step needs. The default changes nothing.
        """
        return None

    def __repr__(self):
        return f"{type(self).__name__}()"
