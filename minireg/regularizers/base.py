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
hook of each regularizer, in the order the regularizers were given, at its place, and
hands it a :class:`StepContext`: what is known of the step at that moment.

===  =====================================  ==================================================
 #   hook                                   examples (Deep Learning ch. 7; slides)
===  =====================================  ==================================================
 1   ``transform_batch(x, y, step)``        augmentation, input noise, label smoothing,
     ``-> (x, y)``                          mixup, CutMix
 3   ``penalty(step) -> Tensor or None``    L2 (eqs. 7.2-7.3), L1 (eq. 7.9), parameter
                                            tying (sec. 7.8; published 7.9), activation
                                            (eq. 7.29) and
                                            input-gradient (eq. 7.17) penalties,
                                            adversarial training (sec. 7.13; published 7.13)
 4   ``transform_gradients(step)``          gradient clipping, decoupled weight decay
 5   ``after_step(step)``                   max-norm (sec. 7.3; published 7.2), prox of L1 / GrOWL
 5   ``after_epoch(step)``                  a prox once per epoch (GrOWL's authors' code)
===  =====================================  ==================================================

Besides the hooks, a regularizer can declare

* ``needs_input_grad = True`` -- the batch's inputs are then a Tensor that requires
  gradients, so that a penalty can differentiate through them (the input-gradient
  penalty of eq. 7.17, the fast gradient sign method of sec. 7.13, published 7.13). Otherwise they do
  not, and no time is spent on their gradient;
* a *state* -- a step counter, a schedule, a cluster map, an annealed noise level --
  returned by :meth:`Regularizer.state_dict` and restored by
  :meth:`Regularizer.load_state_dict`, which checkpoints store, so that a resumed run
  equals an uninterrupted one;
* the *parameters it touches*, with ``params=`` (see :func:`select_parameters`): the
  weights by default (``model.weights()``, which leaves biases and batch norm's scale
  and shift alone as Deep Learning 7.2 (published 7.1) recommends), a list of
  parameters, or a coefficient per layer.

Section numbers are those of the draft chapter in ``shared/references``; the published
book's number is given beside them where it differs (see ``docs/sections.md``).

Why adversarial training is a penalty, not a data-side transform
-----------------------------------------------------------------
The fast gradient sign method needs :math:`\\nabla_x J(\\theta; x, y)` at the current
parameters on the very batch being trained on. At place 3 the forward pass on ``x`` has
been made, the inputs require gradients (``needs_input_grad``), and the trainer's loss
function is at hand, so one extra backward gives ``x'``; and the objective of
Goodfellow et al. (2015), :math:`\\alpha J(x) + (1-\\alpha) J(x')`, is exactly
:math:`J(x) + (1-\\alpha)\\,[J(x') - J(x)]`: the data loss plus a penalty. At place 1 the
same would need a second forward pass on ``x`` and a way to weight the two halves of
the batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minireg.checks import check_number


@dataclass
class StepContext:
    """What a regularizer's hook sees of the training step in progress.

    The trainer makes one per step and fills the fields as the step proceeds: at place 1
    only the first six are set; from place 3 on, the batch's Tensors and the data loss too.

    Attributes
    ----------
    model : Module
        The model being trained.
    loss_fn : callable
        The trainer's ``loss_fn(outputs, targets) -> scalar Tensor``.
    rng : numpy.random.Generator
        The trainer's generator, for any random choice of a regularizer (data-side
        randomness, noise). Its state is saved in checkpoints.
    step : int
        The number of updates made before this one (0 on the first step).
    epoch : int
        Complete passes over the training data before this step.
    lr : float
        The learning rate :math:`\\eta` of this step's update (what a proximal step needs).
    inputs : Tensor or None
        The batch's inputs after place 1. They require gradients when a regularizer has
        ``needs_input_grad = True``.
    targets : numpy.ndarray or None
        The batch's targets after place 1 (class indices, or soft targets).
    outputs : Tensor or None
        The model's outputs on ``inputs``, still attached to the graph.
    data_loss : Tensor or None
        :math:`J(\\theta; x, y)` on this batch, before any penalty.
    """

    model: object
    loss_fn: object
    rng: np.random.Generator
    step: int
    epoch: int
    lr: float
    inputs: object = None
    targets: object = None
    outputs: object = None
    data_loss: object = None


def select_parameters(model, params=None, name: str = "params") -> list:
    """Resolve which parameters of ``model`` a regularizer touches, with a coefficient each.

    Parameters
    ----------
    model : Module
    params : None, "all", sequence of Parameters, or dict
        * ``None`` (the default): the weights, ``model.named_weights()``, each with
          coefficient 1. Biases and batch norm's scale and shift are left alone.
        * ``"all"``: every parameter of the model (what gradient clipping acts on).
        * a sequence of Parameters of ``model`` (each with coefficient 1).
        * a dict ``{name: coefficient}`` -- a separate coefficient per layer, as Deep
          Learning 7.2 (published 7.1) suggests. A name is a module's name as in
          ``model.named_modules()`` (``"0"``, ``"encoder.1"``), which selects that
          module's weights, or a parameter's name as in ``model.named_parameters()``
          (``"0.weight"``, ``"0.bias"``), which selects that parameter. Coefficients are
          finite numbers >= 0.
    name : str
        How the argument is called in the error messages.

    Returns
    -------
    list of (str, Parameter, float)
        ``(parameter name, parameter, coefficient)`` in the model's order of parameters.
    """
    named = model.named_parameters()
    name_of = {id(p): key for key, p in named}
    if params is None:
        return [(key, p, 1.0) for key, p in model.named_weights()]
    if isinstance(params, str) and params == "all":
        return [(key, p, 1.0) for key, p in named]
    if isinstance(params, dict):
        modules = dict(model.named_modules())
        parameters = dict(named)
        coefficient_of = {}
        for key, value in params.items():
            coefficient = check_number(value, f"{name}[{key!r}]", minimum=0.0)
            if key in parameters:
                chosen = [parameters[key]]
            elif key in modules and key != "":
                chosen = modules[key].weights()
                if not chosen:
                    raise ValueError(f"{name}[{key!r}]: the module {key!r} has no weights")
            else:
                layers = [k for k in modules if k]
                raise ValueError(f"{name}: {key!r} is neither a module nor a parameter of the model; "
                                 f"modules: {layers}; parameters: {list(parameters)}")
            for p in chosen:
                if id(p) in coefficient_of:
                    raise ValueError(f"{name}: the parameter {name_of[id(p)]!r} is named twice")
                coefficient_of[id(p)] = coefficient
        return [(key, p, coefficient_of[id(p)]) for key, p in named if id(p) in coefficient_of]
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{name} must be None (the weights), 'all', a list of the model's parameters, or a dict "
                        f"{{layer name: coefficient}}; got {type(params).__name__}")
    chosen = list(params)
    seen = set()
    for index, p in enumerate(chosen):
        if id(p) not in name_of:
            raise ValueError(f"{name}[{index}] is not a parameter of this model; pass parameters from "
                             "model.parameters() or model.weights()")
        if id(p) in seen:
            raise ValueError(f"{name}: the parameter {name_of[id(p)]!r} is given twice")
        seen.add(id(p))
    return [(key, p, 1.0) for key, p in named if id(p) in seen]


class Regularizer:
    """Base class of all regularizers: hooks that do nothing by default.

    Subclass it and override the hooks for the places where your regularizer acts.
    Randomness comes from the generator in the :class:`StepContext` (or one the
    regularizer owns and saves in its state), never from global state, so that a seed
    reproduces a run.

    Attributes
    ----------
    needs_input_grad : bool
        Set it to True (on the class or the instance) when a penalty differentiates
        through the inputs; the trainer then makes ``step.inputs`` require gradients.
    params : None, sequence of Parameters, or dict
        Which parameters the regularizer touches (see :func:`select_parameters`). A
        subclass sets it in its constructor; :meth:`attach` checks it against the model.
    """

    needs_input_grad = False
    params = None

    # ---- before training --------------------------------------------------------------

    def attach(self, model) -> None:
        """Called once by the trainer when it is built: check what can be checked against
        ``model`` (the parameters named, the layers named) and resolve it.

        The base class resolves :attr:`params` into :attr:`selected`, a list of
        ``(name, parameter, coefficient)``. A subclass that needs more (a forward hook
        on a named layer, say) overrides this and calls ``super().attach(model)``.
        """
        self.selected = select_parameters(model, self.params)

    # ---- the five places ----------------------------------------------------------------

    def transform_batch(self, x, y, step):
        """Place 1, the data side: change a batch before the forward pass.

        Parameters
        ----------
        x : numpy.ndarray
            The inputs of the batch.
        y : numpy.ndarray
            The targets: class indices of shape (N,), or class probabilities of shape
            (N, K) (soft targets, as made by label smoothing or mixup).
        step : StepContext
            ``step.rng`` for any random choice; ``step.model``, ``step.step``,
            ``step.epoch``.

        Returns
        -------
        (x, y) : tuple of numpy.ndarray
            The batch to train on. The default returns it unchanged.
        """
        return x, y

    def penalty(self, step):
        r"""Place 3: a term :math:`\alpha\,\Omega(\theta)` added to the loss.

        The regularized objective is :math:`\tilde J(\theta) = J(\theta) + \alpha\,\Omega(\theta)`
        (Deep Learning, eq. 7.2; published eq. 7.1); ``backward`` then differentiates both
        terms.

        Parameters
        ----------
        step : StepContext
            ``step.model``; the batch's ``step.inputs`` (after place 1), ``step.targets``
            and ``step.outputs`` (still in the graph); ``step.data_loss`` and
            ``step.loss_fn``.

        Returns
        -------
        Tensor or None
            A scalar Tensor built from the model's parameters (so that gradients flow
            into them), or None when this regularizer adds nothing (the default).
        """
        return None

    def transform_gradients(self, step):
        """Place 4, the gradient side: change ``p.grad`` in place after ``backward``.

        Called after the gradients of the (penalized) loss are known and before the
        optimizer reads them. The default changes nothing.
        """
        return None

    def after_step(self, step):
        """Place 5: change the parameters after the optimizer's update.

        Projections onto a constraint set (Deep Learning 7.3; published 7.2) and proximal
        steps :math:`\\theta \\leftarrow \\mathrm{prox}_{\\eta R}(\\theta)` (GrOWL, eq. 7) go
        here. ``step.lr`` is the learning rate :math:`\\eta` of the update just made,
        which a proximal step needs. The default changes nothing.
        """
        return None

    def after_epoch(self, step):
        """Place 5, once per pass over the training data, after its last step.

        For actions taken once per epoch, such as the GrOWL prox as its authors' code
        applied it. ``step.epoch`` counts the epochs completed, this one included;
        ``step.lr`` is the learning rate in force. Called before the end-of-epoch
        evaluation and checkpoint, which therefore see its effect. The default changes
        nothing.
        """
        return None

    # ---- state kept across an interruption ------------------------------------------

    def state_dict(self) -> dict:
        """What this regularizer must remember across an interruption: ``{name: array or
        number}``. Stateless regularizers return an empty dict (the default)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (numbers may come back as 0-d arrays)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but was given keys {sorted(state)}")

    def __repr__(self):
        return f"{type(self).__name__}()"
