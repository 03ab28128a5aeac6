"""The map of the chapter: every technique of the source documents, and where it is in minireg.

One record per technique of the project's catalog (its id, such as ``P1`` or ``S3``):
its name, the section of the draft chapter 7 of *Deep Learning* that minireg cites and
the published book's section (see ``docs/section-numbers.md``), the file and name where
it lives, the test that proves it, the section of the docs that explains it, and the
example or experiment that shows it. A technique that is not built yet says so.

:data:`TECHNIQUES` is the one table. ``docs/catalog.md`` is generated from it
(``python -m minireg.catalog > docs/catalog.md``) and ``minireg catalog [WORD]`` prints
the records that mention WORD; ``tests/test_catalog.py`` checks that every file, name,
test, docs section and example named here exists, and that the docs page is current.

Sources: DL = *Deep Learning* ch. 7 (draft), SL = the lecture slides, GR = the GrOWL
paper (Zhang et al., *Learning to Share*, ICLR 2018), TA = the tutorial article.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

BUILT, PARTLY, NOT_YET = "built", "partly", "not yet"


@dataclass(frozen=True)
class Technique:
    """One technique of the sources and where minireg has it.

    ``code`` entries are ``"path/file.py:Name"``; ``tests`` entries ``"tests/file.py::test_name"``;
    ``docs`` is ``(page, heading)`` in ``docs/``; ``shown_by`` holds example scripts
    (``examples/plot_*.py``) and experiments (``minireg run NAME``). ``draft`` and
    ``published`` are section numbers of *Deep Learning* ch. 7 (or ``None``: not a
    section of the book)."""

    id: str
    name: str
    source: str
    status: str
    draft: str | None = None
    published: str | None = None
    code: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    docs: tuple[str, str] | None = None
    shown_by: tuple[str, ...] = ()
    note: str = ""

    def text(self) -> str:
        """Every field in one string, for ``minireg catalog WORD``."""
        return " ".join([self.id, self.name, self.source, self.status, self.draft or "", self.published or "",
                         *self.code, *self.tests, *(self.docs or ()), *self.shown_by, self.note])


T = Technique
PEN, PROX, CON = "minireg/regularizers/penalties.py", "minireg/regularizers/proximal.py", "minireg/regularizers/constraints.py"
TPC, TPX, TPT = "tests/test_penalties_constraints.py", "tests/test_proximal.py", "tests/test_prox_training.py"
ANA = "minireg/analysis"
VERIFIED = "tests/test_verify.py::test_every_check_passes"
VERIFIED_FAILS = "tests/test_verify.py::test_a_check_fails_against_a_wrong_implementation"
DATA, TDS = "minireg/regularizers/data.py", "tests/test_data_side.py"
SHOWN_DATA = ("examples/plot_augmentation.py", "minireg run augmentation")

GROUPS = {
    "P": "Penalties added to the objective",
    "C": "Constraints and proximal steps after each update",
    "S": "Stochastic regularizers inside the network",
    "D": "Data-side regularizers",
    "T": "Training procedures",
    "E": "Ensembles",
    "G": "Learning to share: the GrOWL pipeline",
    "A": "Analyses the chapter derives, as executable checks",
    "R": "Reproductions",
}

TECHNIQUES = (
    # ---- P: penalties ------------------------------------------------------------------
    T("P1", "L2 weight decay ½α‖w‖², biases unregularized by default, per-layer α", "DL eq. 7.2-7.3", BUILT,
      "7.2.1", "7.1.1", (f"{PEN}:L2",), (f"{TPC}::test_l2_with_sgd_follows_torch_sgd_weight_decay",),
      ("penalties.md", "L2: weight decay, also towards a reference point"),
      ("examples/plot_ridge_shrinkage.py", "minireg run weight-penalties")),
    T("P2", "L2 towards a reference point w⁽ᵒ⁾", "DL 7.2 footnotes", BUILT, "7.2", "7.1", (f"{PEN}:L2",),
      (f"{TPC}::test_l2_towards_a_reference_point_has_the_closed_form_gradient_and_skips_biases",),
      ("penalties.md", "L2: weight decay, also towards a reference point")),
    T("P3", "L1 penalty α‖w‖₁ (subgradient form)", "DL eq. 7.9-7.10", BUILT, "7.2.2", "7.1.2", (f"{PEN}:L1",),
      (f"{TPC}::test_l1_gradient_is_alpha_sign_with_zero_at_zero_and_passes_finite_differences",),
      ("penalties.md", "L1"), ("minireg run weight-penalties",)),
    T("P4", "Parameter tying penalty ‖w⁽ᵃ⁾ − w⁽ᵇ⁾‖² between two models", "DL; TA", BUILT, "7.8", "7.9",
      (f"{PEN}:ParameterTying",), (f"{TPC}::test_parameter_tying_pulls_both_members_together",),
      ("penalties.md", "Parameter tying")),
    T("P5", "Activation penalties: L1, L2, Student-t, KL sparsity", "DL eq. 7.29; SL", BUILT, "7.9", "7.10",
      (f"{PEN}:ActivationL1", f"{PEN}:ActivationL2", f"{PEN}:StudentTPenalty", f"{PEN}:KLSparsity"),
      ("tests/test_activation_gradient_penalties.py::test_activation_penalties_match_their_closed_forms_in_torch",
       "tests/test_activation_gradient_penalties.py::test_kl_sparsity_drives_the_mean_activation_towards_rho"),
      ("penalties.md", "Penalties on activations (sparse representations)"), ("examples/plot_kl_sparsity.py",)),
    T("P6", "Input-gradient penalty ν E‖∇ₓŷ‖² and weight-gradient penalty η E‖∇_w ŷ‖²", "DL eqs. 7.17, 7.22",
      BUILT, "7.6", "7.5", (f"{PEN}:InputGradientPenalty", f"{PEN}:WeightGradientPenalty"),
      ("tests/test_activation_gradient_penalties.py::test_input_gradient_penalty_equals_torch_double_backprop",
       "tests/test_activation_gradient_penalties.py::test_exact_weight_gradient_penalty_equals_torch_double_backprop"),
      ("penalties.md", "Gradient penalties, by double backpropagation"),
      ("examples/plot_input_noise_vs_gradient_penalty.py",)),
    # ---- C: constraints and proximal steps ---------------------------------------------
    T("C1", "Norm-ball reprojection, and max-norm per unit (incoming weights ≤ c)", "DL; SL", BUILT, "7.3", "7.2",
      (f"{CON}:MaxNorm", f"{CON}:NormBall"),
      (f"{TPC}::test_max_norm_keeps_every_units_incoming_norm_at_most_c",
       f"{TPC}::test_norm_ball_projects_the_whole_parameter"),
      ("constraints.md", "Projections: max-norm and the norm ball"),
      ("examples/plot_max_norm.py", "minireg run weight-penalties")),
    T("C2", "Proximal gradient step θ ← prox_ηR(θ − η∇L), every step or once per epoch", "GR eqs. 5-7, Alg. 1",
      BUILT, None, None, (f"{PROX}:ProximalRegularizer",),
      (f"{TPT}::test_one_sgd_step_with_the_l1_prox_is_soft_thresholding_of_the_plain_step",
       f"{TPT}::test_once_per_epoch_the_prox_runs_after_the_last_step_with_the_learning_rate"),
      ("proximal.md", "In training: the proximal regularizers"), ("minireg run weight-penalties",)),
    T("C3", "Prox of L1 (soft threshold) and of group Lasso (row shrinkage)", "DL closed form; GR §2", BUILT,
      "7.2.2", "7.1.2", (f"{PROX}:prox_l1", f"{PROX}:prox_group_lasso", f"{PROX}:ProxL1", f"{PROX}:ProxGroupLasso"),
      (f"{TPX}::test_prox_l1_beats_scipy_and_is_soft_threshold_at_eta_alpha", f"{TPX}::test_group_lasso_beats_scipy",
       f"{TPT}::test_the_l1_prox_converges_to_sklearn_lasso"),
      ("proximal.md", "The operators"), ("minireg run weight-penalties",)),
    T("C4", "OWL / SLOPE prox by the pool-adjacent-violators algorithm", "GR App. A, Alg. 2", BUILT, None, None,
      (f"{PROX}:prox_owl", f"{PROX}:ProxOWL", "minireg/kernels/pava.py:isotonic_nonincreasing_numpy"),
      (f"{TPX}::test_owl_optimality_conditions", f"{TPX}::test_pava_agrees_with_scikit_learn",
       "tests/test_kernel_owl.py::test_owl_compiled_and_twin_agree"),
      ("proximal.md", "The operators")),
    T("C5", "GrOWL prox on rows (conv rows are input channels); weights by eq. 9; OSCAR and group Lasso as cases",
      "GR §3", BUILT, None, None,
      (f"{PROX}:prox_growl", f"{PROX}:growl_weights", f"{PROX}:oscar_weights", f"{PROX}:ProxGrOWL",
       f"{PROX}:ProxOSCAR"),
      (f"{TPX}::test_growl_optimality_conditions", f"{TPX}::test_growl_weights_follow_eq_9",
       f"{TPX}::test_growl_on_conv_weight_groups_input_channels_and_writes_through"),
      ("proximal.md", "The operators")),
    # ---- S: stochastic regularizers --------------------------------------------------------
    T("S1", "Dropout with per-layer keep probabilities, input dropout included", "DL; TA; SL", BUILT, "7.11",
      "7.12", ("minireg/nn/dropout.py:Dropout", "minireg/functional.py:dropout", "minireg/kernels/__init__.py:dropout"),
      ("tests/test_dropout.py::test_drop_rate_is_inside_the_binomial_interval",
       "tests/test_dropout.py::test_agrees_with_torch_dropout_with_p_equal_to_one_minus_keep",
       "tests/test_dropout.py::test_a_resumed_run_with_dropout_is_identical_bit_for_bit"),
      ("stochastic.md", "Dropout"), ("examples/plot_dropout_inference.py",)),
    T("S2", "Inference by weight scaling, and by Monte-Carlo averaging of k masks", "DL eq. 7.30; TA", BUILT,
      "7.11", "7.12", ("minireg/nn/dropout.py:dropout_predict",),
      ("tests/test_dropout.py::test_weight_scaling_is_the_renormalized_geometric_mean_over_all_masks",
       "tests/test_dropout.py::test_monte_carlo_rules_converge_to_their_exact_means"),
      ("stochastic.md", "Three inference rules"), ("examples/plot_dropout_inference.py",)),
    T("S3", "Fast dropout: the Gaussian approximation of the dropout sum", "DL (Wang and Manning 2013)", BUILT,
      "7.11", "7.12", ("minireg/nn/dropconnect.py:FastDropoutLinear", "minireg/nn/dropconnect.py:dropout_moments"),
      ("tests/test_dropconnect.py::test_dropout_moments_match_monte_carlo_dropout_of_the_inputs",),
      ("stochastic.md", "Fast dropout and DropConnect"), ("examples/plot_stochastic_layers.py",),
      note="the test-time rule is the mean; the paper's integration through the output nonlinearity is not built"),
    T("S4", "DropConnect (drop single weights)", "DL (Wan et al. 2013)", BUILT, "7.11", "7.12",
      ("minireg/nn/dropconnect.py:DropConnectLinear",),
      ("tests/test_dropconnect.py::test_dropconnect_masks_the_weight_once_per_minibatch_through_the_kernel",
       "tests/test_dropconnect.py::test_dropconnect_inference_rules"),
      ("stochastic.md", "Fast dropout and DropConnect"), ("examples/plot_stochastic_layers.py",)),
    T("S5", "Stochastic pooling (sample by activation, expectation at test time)", "DL (Zeiler and Fergus 2013)",
      BUILT, "7.11", "7.12", ("minireg/nn/stochastic_pooling.py:StochasticPool2d",),
      ("tests/test_noise_pooling_depth.py::test_stochastic_pooling_samples_in_proportion_to_the_activations",
       "tests/test_noise_pooling_depth.py::test_stochastic_pooling_evaluation_is_the_probability_weighted_average"),
      ("stochastic.md", "Noise, stochastic pooling, stochastic depth"), ("examples/plot_stochastic_layers.py",)),
    T("S6", "Additive Gaussian noise on inputs, hidden units and weights", "DL", BUILT, "7.6", "7.5",
      ("minireg/nn/noise.py:GaussianNoise", "minireg/nn/noise.py:WeightNoise"),
      ("tests/test_noise_pooling_depth.py::test_gaussian_noise_has_mean_zero_and_the_given_std_and_is_off_in_evaluation",
       "tests/test_noise_pooling_depth.py::test_weight_noise_uses_the_noisy_weight_forward_and_backward"),
      ("stochastic.md", "Noise, stochastic pooling, stochastic depth"),
      ("examples/plot_input_noise_vs_gradient_penalty.py", "examples/plot_stochastic_layers.py")),
    T("S7", "Stochastic depth for residual blocks, with test-time scaling", "SL (Huang et al. 2016)", BUILT, None, None,
      ("minireg/nn/stochastic_depth.py:StochasticDepth", "minireg/nn/stochastic_depth.py:linear_survival"),
      ("tests/test_noise_pooling_depth.py::test_linear_survival_is_the_papers_schedule",
       "tests/test_noise_pooling_depth.py::test_row_mode_drops_examples_independently_and_evaluation_scales_by_survival",
       "tests/test_stochastic_depth_torchvision.py::test_in_training_the_same_draws_give_the_same_output"),
      ("stochastic.md", "Noise, stochastic pooling, stochastic depth"), ("examples/plot_stochastic_layers.py",),
      note="agrees with torchvision.ops.stochastic_depth (body f / p_l), loaded without torchvision's __init__, "
           "whose compiled operators do not load beside torch 2.13.0+cpu"),
    # ---- D: data side ----------------------------------------------------------------------
    T("D1", "Augmentation: translation, rotation, scaling (no flips for digits)", "DL", BUILT, "7.5", "7.4",
      (f"{DATA}:RandomAffine", "minireg/images.py:warp_affine", "minireg/images.py:affine_matrices"),
      (f"{TDS}::test_integer_translations_equal_np_roll_with_zero_fill",
       f"{TDS}::test_rotations_by_multiples_of_90_degrees_are_exact",
       f"{TDS}::test_rotation_and_scaling_agree_with_scipy_ndimage"),
      ("data-side.md", "Augmentation by affine maps (D1)"), SHOWN_DATA),
    T("D2", "Label smoothing: targets α/(K−1) and 1 − α", "SL", BUILT, None, "7.5.1",
      (f"{DATA}:LabelSmoothing", f"{DATA}:pytorch_label_smoothing"),
      (f"{TDS}::test_label_smoothing_gives_the_slides_example",
       f"{TDS}::test_label_smoothed_cross_entropy_is_pytorchs_under_the_conversion"),
      ("data-side.md", "Label smoothing (D2)"), SHOWN_DATA,
      note="PyTorch's label_smoothing=ε is the slides' α = ε(K−1)/K"),
    T("D3", "Mixup with λ ~ Beta(a, a)", "SL", BUILT, None, None, (f"{DATA}:Mixup",),
      (f"{TDS}::test_mixup_mixes_inputs_and_targets_by_the_same_weight", f"{TDS}::test_mixup_weights_follow_beta"),
      ("data-side.md", "Mixup (D3)"), SHOWN_DATA),
    T("D4", "Cutout / random erasing", "SL", BUILT, None, None, (f"{DATA}:RandomErasing", f"{DATA}:Cutout"),
      (f"{TDS}::test_random_erasing_area_and_aspect_stay_inside_their_ranges",
       f"{TDS}::test_random_erasing_random_fill_and_cutout_squares"),
      ("data-side.md", "Random erasing and cutout (D4)"), SHOWN_DATA),
    T("D5", "CutMix: box from λ, labels mixed by area", "SL", BUILT, None, None, (f"{DATA}:CutMix",),
      (f"{TDS}::test_cutmix_label_weight_is_the_pasted_area_also_when_clipped",
       f"{TDS}::test_cutmix_box_is_clipped_at_a_corner"),
      ("data-side.md", "CutMix (D5)"), SHOWN_DATA),
    T("D6", "RandAugment (N, M) for grayscale digits", "SL", BUILT, None, None,
      (f"{DATA}:RandAugment", f"{DATA}:randaugment_operation"),
      (f"{TDS}::test_randaugment_pixel_operations_against_direct_computations",
       f"{TDS}::test_randaugment_geometric_operations_against_scipy",
       f"{TDS}::test_randaugment_draws_n_operations_uniformly"),
      ("data-side.md", "RandAugment (D6)"), SHOWN_DATA,
      note="the paper's operations less Color (the identity on grayscale images)"),
    T("D7", "Randomization tests: random labels, shuffled pixels, random pixels, Gaussian inputs",
      "SL (Zhang et al. 2017)", BUILT, None, None,
      ("minireg/datasets/randomization.py:random_labels", "minireg/datasets/randomization.py:shuffled_pixels",
       "minireg/datasets/randomization.py:random_pixels", "minireg/datasets/randomization.py:gaussian_inputs"),
      ("tests/test_randomization.py::test_all_labels_random",
       "tests/test_randomization.py::test_gaussian_inputs_match_mean_and_variance"),
      ("data.md", "Randomization tests (Zhang et al. 2017)")),
    # ---- T: training procedures --------------------------------------------------------------
    T("T1", "Early stopping, Algorithm 7.1 (patience, θ*, i*, any validation metric)", "DL Alg. 7.1", BUILT,
      "7.7", "7.8", ("minireg/training/callbacks.py:EarlyStopping",),
      ("tests/test_early_stopping.py::test_stop_theta_star_and_i_star_are_those_of_algorithm_7_1",),
      ("training.md", "Algorithm 7.1"), ("minireg run early-stopping-synthetic", "minireg run early-stopping")),
    T("T2", "Retrain on all data for i* steps, Algorithm 7.2", "DL Alg. 7.2", BUILT, "7.7", "7.8",
      ("minireg/training/procedures.py:retrain_on_all_data",),
      ("tests/test_procedures.py::test_algorithm_7_2_starts_again_and_trains_i_star_steps_on_all_data",),
      ("training.md", "Algorithm 7.2: retrain on all the data"), ("minireg run early-stopping-synthetic",)),
    T("T3", "Continue on all data until the validation loss reaches the training loss, Algorithm 7.3",
      "DL Alg. 7.3", BUILT, "7.7", "7.8",
      ("minireg/training/procedures.py:continue_on_all_data", "minireg/training/callbacks.py:StopAtTarget"),
      ("tests/test_procedures.py::test_algorithm_7_3_continues_until_the_validation_loss_reaches_the_subtrain_loss",),
      ("training.md", "Algorithm 7.3: continue on all the data"), ("minireg run early-stopping-synthetic",)),
    T("T4", "Adversarial training with the fast gradient sign method", "DL", BUILT, "7.13", "7.13",
      (f"{PEN}:AdversarialTraining", f"{PEN}:fgsm"),
      ("tests/test_adversarial.py::test_the_objective_is_alpha_clean_plus_one_minus_alpha_adversarial_as_in_torch",
       "tests/test_adversarial.py::test_the_perturbation_is_torchs_sign_of_the_input_gradient",
       "tests/test_adversarial.py::test_the_perturbation_raises_the_loss_by_epsilon_times_the_gradients_l1_norm_to_first_order"),
      ("adversarial.md", "Adversarial training as a penalty"),
      ("examples/plot_adversarial.py", "minireg run adversarial"),
      note="a penalty (place 3): αJ(x) + (1 − α)J(x') = J(x) + (1 − α)[J(x') − J(x)]; x' a constant"),
    T("T5", "Multi-task learning: shared trunk, task heads, weighted task losses", "DL", BUILT, "7.12", "7.7",
      ("minireg/training/multitask.py:MultiTask", "minireg/training/multitask.py:MultiTaskLoss"),
      ("tests/test_multitask.py::test_the_weighted_loss_s_gradient_is_the_weighted_sum_of_the_task_gradients",
       "tests/test_multitask.py::test_a_head_receives_only_its_own_task_s_gradient"),
      ("procedures.md", "Multi-task learning"), ("examples/plot_multitask.py",),
      note="MNIST digits (100 labels) with parity (up to 5,000 labels)"),
    T("T6", "Unsupervised pretraining (autoencoder), then fine-tuning; transfer", "SL", BUILT, None, None,
      ("minireg/training/pretraining.py:Autoencoder", "minireg/training/pretraining.py:with_new_head"),
      ("tests/test_pretraining.py::test_the_new_model_starts_from_a_copy_of_the_pretrained_encoder",
       "tests/test_pretraining.py::test_a_frozen_encoder_keeps_its_values_and_a_fine_tuned_one_trains_while_the_original_stays",
       "tests/test_pretraining.py::test_a_small_run_compares_each_start_in_both_studies"),
      ("procedures.md", "Pretraining and transfer"), ("minireg run pretraining",),
      note="frozen and fine-tuned encoders against training from scratch; transfer from digits 0-4 to 5-9"),
    T("T7", "Parameter sharing: one parameter used in several places", "DL", BUILT, "7.8", "7.9",
      ("minireg/nn/module.py:Parameter", "minireg/nn/conv.py:Conv2d"),
      ("tests/test_parameter_sharing.py::test_a_weight_used_as_w_and_its_transpose_gets_the_sum_of_both_gradients",
       "tests/test_parameter_sharing.py::test_a_layer_shared_by_two_branches_is_one_parameter_updated_once"),
      ("nn.md", "Module and Parameter"), ("examples/plot_tied_autoencoder.py",)),
    # ---- E: ensembles ------------------------------------------------------------------------
    T("E1", "Bagging: k bootstrap resamples, members trained apart, predictions averaged", "DL", BUILT,
      "7.10", "7.11", ("minireg/training/ensembles.py:fit_ensemble", "minireg/training/ensembles.py:bootstrap_indices"),
      ("tests/test_ensembles.py::test_a_bootstrap_resample_holds_one_minus_one_over_e_of_the_examples",
       "tests/test_ensembles.py::test_bagging_trains_each_member_on_its_own_resample_and_averages_distributions"),
      ("ensembles.md", "Bagging and other ensembles"), ("examples/plot_ensembles.py", "minireg run ensembles"),
      note="members train one after another or in parallel (workers=, scheduler=) through the sweep machinery, "
           "bit for bit the same"),
    T("E2", "Ensembles from different seeds, minibatch orders, hyperparameters", "DL", BUILT, "7.10", "7.11",
      ("minireg/training/ensembles.py:Ensemble", "minireg/training/ensembles.py:error_decomposition"),
      ("tests/test_ensembles.py::test_the_decomposition_is_an_identity_and_matches_correlated_gaussian_errors",
       "tests/test_ensembles.py::test_ensemble_errors_are_the_errors_of_the_averaged_first_members",
       "tests/test_ensembles.py::test_members_trained_on_two_worker_processes_equal_those_trained_here_bit_for_bit"),
      ("ensembles.md", "Bagging and other ensembles"), ("examples/plot_ensembles.py", "minireg run ensembles"),
      note="seeds and minibatch orders in the experiment; hyperparameters through build(i); members train in "
           "parallel with workers="),
    # ---- G: GrOWL pipeline ---------------------------------------------------------------------
    T("G1", "Train with GrOWL (or group Lasso, or weight decay, or both + ℓ2)", "GR Alg. 1", BUILT, None, None,
      (f"{PROX}:ProxGrOWL", f"{PROX}:ProxGroupLasso", f"{PEN}:L2"),
      (f"{TPT}::test_growl_combines_with_l2_and_acts_on_conv_input_channels",),
      ("proximal.md", "In training: the proximal regularizers"), ("minireg run growl-mnist",)),
    T("G2", "Row similarity (eq. 10) and affinity-propagation clustering", "GR eq. 10, App. B", BUILT, None, None,
      ("minireg/compression/similarity.py:row_similarity", "minireg/compression/affinity.py:affinity_propagation"),
      ("tests/test_compression.py::test_row_similarity_is_eq_10_on_the_nonzero_rows",
       "tests/test_compression.py::test_affinity_propagation_matches_sklearn_on_random_similarities",
       "tests/test_compression.py::test_affinity_propagation_agrees_with_sklearn_on_exactly_tied_rows"),
      ("growl.md", "Affinity propagation (Appendix B, Algorithm 3)"), ("examples/plot_growl_pipeline.py",)),
    T("G3", "Tie rows to cluster centroids, drop zero rows, retrain (eq. 11)", "GR §3.4.2", BUILT, None, None,
      ("minireg/compression/tying.py:tie_rows", "minireg/compression/tying.py:gather_rows",
       "minireg/compression/pruning.py:prune_previous", "minireg/training/procedures.py:learn_to_share"),
      ("tests/test_compression.py::test_the_centroid_gradient_is_eq_11_the_average_of_the_members_gradients",
       "tests/test_compression.py::test_tied_rows_stay_equal_at_every_step_of_retraining",
       "tests/test_compression.py::test_a_tied_model_saves_loads_and_unties",
       "tests/test_compression_pipeline.py::test_growl_recovers_the_blocks_better_than_group_lasso_end_to_end",
       "tests/test_compression_pruning.py::test_pruning_an_mlp_with_batch_norm_keeps_its_outputs_and_removes_the_units",
       "tests/test_compression_pruning.py::test_pruning_a_conv_net_keeps_its_outputs_also_when_the_previous_layer_is_tied"),
      ("growl.md", "Tying: a visible reparametrization"), ("examples/plot_growl_pipeline.py",),
      note="the units a zero row no longer reads are removed from the layer before (prune_previous)"),
    T("G4", "Metrics: sparsity, compression, parameter sharing; stability of selected rows", "GR §4", BUILT, None,
      None, ("minireg/compression/metrics.py:count_parameters",
             "minireg/compression/metrics.py:row_selection_stability"),
      ("tests/test_compression.py::test_metrics_count_hand_counted_weights",
       "tests/test_compression.py::test_row_selection_stability_is_footnote_2"),
      ("growl.md", "Metrics (§4)"), ("examples/plot_growl_pipeline.py",)),
    # ---- A: analyses -------------------------------------------------------------------------
    T("A1", "Weight decay rescales along Hessian eigenvectors by λᵢ/(λᵢ+α); effective parameters",
      "DL eqs. 7.6-7.8", BUILT, "7.2.1", "7.1.1",
      (f"{ANA}/weight_decay.py:rescaling_linear_regression", f"{ANA}/weight_decay.py:rescaling_mlp",
       f"{ANA}/weight_decay.py:effective_number_of_parameters", f"{ANA}/curvature.py:lanczos"),
      (VERIFIED, VERIFIED_FAILS, "tests/test_verify.py::test_lanczos_finds_the_top_of_the_spectrum_that_eigh_finds"),
      ("verify.md", "7.6-7.7 Weight decay along the Hessian's eigenvectors: linear regression"),
      note="`minireg verify 7.6-7.7`, `7.6-7.7-mlp` (Hessian-vector products, Lanczos) and `7.8`"),
    T("A2", "Ridge normal equations; the pseudoinverse as α → 0", "DL", BUILT, "7.2.1", "7.1.1",
      (f"{ANA}/penalties.py:ridge_normal_equations", f"{ANA}/under_constrained.py:pseudoinverse_limit"),
      (VERIFIED, VERIFIED_FAILS), ("verify.md", "7.2.1 Ridge: the normal equations"),
      ("examples/plot_ridge_shrinkage.py",), note="`minireg verify 7.2.1` and `7.4` (the limit, DL 7.4)"),
    T("A3", "L1 solution under a diagonal Hessian is soft thresholding", "DL", BUILT, "7.2.2", "7.1.2",
      (f"{PROX}:soft_threshold", f"{ANA}/penalties.py:soft_thresholding"),
      (f"{TPX}::test_soft_threshold_optimality_conditions", VERIFIED, VERIFIED_FAILS),
      ("verify.md", "7.2.2 L1 under a diagonal Hessian: soft thresholding"), note="`minireg verify 7.2.2`"),
    T("A4", "L2 ↔ Gaussian prior, L1 ↔ Laplace prior (MAP)", "DL", BUILT, "7.2.3", "7.1.2",
      (f"{ANA}/penalties.py:map_gaussian_prior", f"{ANA}/penalties.py:map_laplace_prior"),
      (VERIFIED, VERIFIED_FAILS), ("verify.md", "7.2.3-l2 L2 as MAP with a Gaussian prior"),
      note="`minireg verify 7.2.3` (the checks 7.2.3-l2 and 7.2.3-l1)"),
    T("A5", "Logistic regression on separable data grows without bound; weight decay stops it", "DL", BUILT,
      "7.4", "7.3", (f"{ANA}/under_constrained.py:separable_growth", f"{ANA}/under_constrained.py:decay_stops_growth"),
      (VERIFIED, VERIFIED_FAILS), ("verify.md", "7.4-separable Separable data: the weights grow without bound"),
      note="`minireg verify 7.4-separable` and `7.4-decay`"),
    T("A6", "Early stopping ≈ L2 with α ≈ 1/(τη) on a quadratic", "DL eqs. 7.25-7.28", BUILT, "7.7", "7.8",
      (f"{ANA}/early_stopping.py:gradient_descent_trajectory", f"{ANA}/early_stopping.py:early_stopping_as_l2"),
      (VERIFIED, VERIFIED_FAILS), ("verify.md", "7.28 Early stopping is L2 with alpha = 1/(tau eta)"),
      note="`minireg verify 7.26` and `7.28`: the two trajectories side by side"),
    T("A7", "Input noise ≈ input-gradient penalty; for linear regression exactly weight decay", "DL", BUILT,
      "7.6.1", "7.5", (f"{ANA}/noise.py:input_noise_is_weight_decay", f"{ANA}/noise.py:input_noise_expansion",
                       f"{ANA}/noise.py:weight_noise_expansion"),
      (VERIFIED, VERIFIED_FAILS), ("verify.md", "7.17 Input noise and the input-gradient penalty"),
      ("examples/plot_input_noise_vs_gradient_penalty.py",),
      note="`minireg verify 7.17-linear`, `7.17` and `7.22` (the weight-noise term of 7.6.2)"),
    T("A8", "Ensemble error v/k + (k−1)c/k; a bootstrap sample holds about 63 % of the examples", "DL", BUILT,
      "7.10", "7.11", ("minireg/training/ensembles.py:error_decomposition", f"{ANA}/ensembles.py:ensemble_error",
                       f"{ANA}/ensembles.py:bootstrap_distinct_fraction"),
      ("tests/test_ensembles.py::test_a_bootstrap_resample_holds_one_minus_one_over_e_of_the_examples",
       "tests/test_ensembles.py::test_the_decomposition_is_an_identity_and_matches_correlated_gaussian_errors",
       VERIFIED, VERIFIED_FAILS),
      ("ensembles.md", "Why it helps"), ("examples/plot_ensembles.py",),
      note="`minireg verify 7.10` and `7.10-bootstrap`"),
    T("A9", "Weight scaling is exact for softmax regression (all 2ⁿ masks)", "DL", BUILT, "7.11", "7.12",
      ("minireg/nn/dropout.py:dropout_predict", f"{ANA}/ensembles.py:weight_scaling_softmax_regression"),
      ("tests/test_dropout.py::test_weight_scaling_is_the_renormalized_geometric_mean_over_all_masks",
       VERIFIED, VERIFIED_FAILS),
      ("stochastic.md", "Three inference rules"), ("examples/plot_dropout_inference.py",),
      note="`minireg verify 7.30`"),
    T("A10", "Bias-variance decomposition over resampled training sets", "SL", BUILT, code=(
      f"{ANA}/bias_variance.py:bias_variance_decomposition",), tests=(VERIFIED, VERIFIED_FAILS),
      docs=("verify.md", "bias-variance Bias and variance over resampled training sets"),
      note="`minireg verify bias-variance`"),
    T("A11", "Double descent: test error against model size through the interpolation threshold",
      "SL (Belkin et al.)", BUILT, None, None,
      ("minireg/experiments/double_descent.py:minimum_norm_fit",
       "minireg/experiments/double_descent.py:random_fourier_features"),
      ("tests/test_double_descent.py::test_the_minimum_norm_fit_is_what_numpy_lstsq_returns",
       "tests/test_double_descent.py::test_ridge_solves_its_normal_equations_and_tends_to_the_minimum_norm_fit",
       "tests/test_double_descent.py::test_a_small_run_peaks_at_the_threshold_and_ridge_flattens_the_peak"),
      ("generalization.md", "Double descent: `minireg run double-descent`"), ("minireg run double-descent",),
      note="measured by R6's experiment; not yet a `minireg verify` check"),
    # ---- R: reproductions --------------------------------------------------------------------
    T("R1", "GrOWL on the synthetic correlated data of GR §4.1", "GR Fig. 3", BUILT, None, None,
      ("minireg/datasets/synthetic.py:growl_synthetic", "minireg/experiments/growl_synthetic.py:run"),
      ("tests/test_synthetic.py::test_the_sampler_has_exactly_the_paper_covariance",
       "tests/test_compression_pipeline.py::test_a_tiny_growl_synthetic_run_reports_every_regularizer"),
      ("growl.md", "Results: the synthetic data of §4.1 (Fig. 3)"), ("minireg run growl-synthetic",)),
    T("R2", "GrOWL vs group Lasso vs weight decay, FC 300 on MNIST", "GR Table 1", BUILT, None, None,
      ("minireg/experiments/growl_mnist.py:run_table", "minireg/experiments/growl_mnist.py:run_one",
       "minireg/experiments/growl_mnist.py:train_tie_retrain", "minireg/models.py:mlp"),
      ("tests/test_growl_experiments.py::test_one_run_prunes_ties_and_counts_what_it_stores",
       "tests/test_growl_experiments.py::test_the_table_runs_a_sweep_per_regularizer_and_seed_and_tunes_on_validation"),
      ("growl.md", "MNIST (Table 1) and CIFAR-10 (Table 2)"), ("minireg run growl-mnist",),
      note="one job per (regularizer, seed) through the sweep machinery; the full recipe (300 + 100 epochs, "
           "5 seeds) is hours per run on a CPU: measured here with --quick only"),
    T("R3", "Dropout and friends on MNIST (L2, L1, KL, max-norm, dropout)", "SL table", BUILT, "7.11", "7.12",
      ("minireg/experiments/dropout_table.py:run", "minireg/experiments/dropout_table.py:FromEpoch"),
      ("tests/test_dropout_table_experiment.py::test_a_small_run_gives_the_six_rows_with_common_random_numbers",
       "tests/test_dropout_table_experiment.py::test_from_epoch_adds_the_penalty_only_from_its_start"),
      ("stochastic.md", "The dropout table: `minireg run dropout-table`"), ("minireg run dropout-table",),
      note="a smaller network and budget than the paper's; the rows' ordering is the claim checked"),
    T("R4", "Learning curves with a U-shaped validation loss, and early stopping on them", "DL Fig. 7.3", BUILT,
      "7.7", "7.8", ("minireg/experiments/early_stopping.py:run",),
      ("tests/test_cli.py::test_run_writes_results_report_and_plots",
       "tests/test_cli.py::test_the_mnist_experiment_runs_on_the_shared_data"),
      ("reproductions.md",
       "R4 — learning curves and early stopping (Deep Learning, Fig. 7.3 and Algorithms 7.1-7.3)"),
      ("minireg run early-stopping-synthetic", "minireg run early-stopping")),
    T("R5", "Memorization: true and random labels, shuffled and random pixels, Gaussian inputs",
      "SL (Zhang et al. 2017)", BUILT, None, None,
      ("minireg/experiments/memorization.py:run", "minireg/experiments/memorization.py:randomized"),
      ("tests/test_memorization.py::test_a_small_run_fits_every_dataset_and_generalizes_only_on_true_labels",
       "tests/test_memorization.py::test_shuffled_pixels_apply_one_permutation_to_training_and_test_images"),
      ("generalization.md", "Memorization: `minireg run memorization`"), ("minireg run memorization",),
      note="an MLP on an MNIST subset (the paper: CNNs on CIFAR-10 and ImageNet); weight decay and dropout, "
           "no augmentation (none is built yet)"),
    T("R6", "Double descent", "SL (Belkin et al. 2018)", BUILT, None, None,
      ("minireg/experiments/double_descent.py:run", "minireg/experiments/double_descent.py:fit_point"),
      ("tests/test_double_descent.py::test_a_small_run_peaks_at_the_threshold_and_ridge_flattens_the_peak",
       "tests/test_double_descent.py::test_worker_processes_give_the_same_points_as_one_process"),
      ("generalization.md", "Double descent: `minireg run double-descent`"), ("minireg run double-descent",),
      note="random Fourier features on n = 500-1,000 MNIST images (the paper: n = 10,000)"),
    T("R7", "Adversarial examples and adversarial training", "DL", BUILT, "7.13", "7.13",
      ("minireg/experiments/adversarial.py:run", "minireg/experiments/adversarial.py:attack"),
      ("tests/test_adversarial_experiment.py::test_a_tiny_run_attacks_both_networks_and_draws_the_figure",
       "tests/test_adversarial_experiment.py::test_the_attack_batch_by_batch_is_fgsm_on_each_example"),
      ("adversarial.md", "The experiment: `minireg run adversarial`"), ("minireg run adversarial",),
      note="a 784-256-10 ReLU MLP, not the paper's maxout network; numbers set beside Goodfellow et al. (2015)"),
    T("R8", "Bagging and dropout ensembles versus single models", "DL", BUILT, "7.10", "7.11",
      ("minireg/experiments/ensembles.py:run", "minireg/experiments/ensembles.py:running_mc_errors"),
      ("tests/test_ensembles_experiment.py::test_a_small_run_measures_both_ensembles_and_the_dropout_rules",
       "tests/test_ensembles_experiment.py::test_running_errors_equal_dropout_predict_with_the_same_masks"),
      ("ensembles.md", "The experiment: `minireg run ensembles`"), ("minireg run ensembles",)),
    T("R9", "VGG-style network with batch norm and GrOWL per conv layer on CIFAR-10", "GR Table 2", PARTLY, None,
      None, ("minireg/experiments/growl_cifar.py:run_cifar", "minireg/experiments/growl_cifar.py:run_lenet",
             "minireg/models.py:vgg16_bn"),
      ("tests/test_growl_experiments.py::test_growl_cifar_runs_on_a_tiny_cifar_folder",
       "tests/test_growl_experiments.py::test_lenet_ties_the_input_channel_rows_of_its_convolution",
       "tests/test_growl_experiments.py::test_vgg16_bn_has_table_3s_weights_and_its_scaled_versions_run"),
      ("growl.md", "MNIST (Table 1) and CIFAR-10 (Table 2)"), ("minireg run growl-cifar", "minireg run growl-lenet"),
      note="the experiment and Table 2's recipe are built and tested on a tiny CIFAR folder; CIFAR-10 is not on "
           "this machine, so no result is reported, and the full VGG-16 recipe is days on a CPU"),
)


# ---- matching and printing -------------------------------------------------------------------

def find(word: str | None = None) -> list[Technique]:
    """The techniques whose text mentions ``word`` (case-insensitive), in table order;
    every technique when ``word`` is None or empty."""
    if not word:
        return list(TECHNIQUES)
    word = word.casefold()
    return [technique for technique in TECHNIQUES if word in technique.text().casefold()]


def slug(heading: str) -> str:
    """The anchor MyST gives a heading (``myst_heading_anchors``): lower case, punctuation
    dropped, spaces made hyphens; ``"Algorithm 7.1"`` is ``"algorithm-71"``."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def sections(technique: Technique) -> str:
    """``"7.2.1 (published 7.1.1)"``, or ``"—"`` when no section of the book is its source."""
    if technique.draft and technique.published:
        return f"{technique.draft} (published {technique.published})"
    if technique.published:
        return f"not in the draft (published {technique.published})"
    return "—"


def _code_name(entry: str) -> tuple[str, str]:
    path, name = entry.split(":")
    return path, name


def as_text(technique: Technique) -> str:
    """The record as the command prints it."""
    lines = [f"{technique.id}  {technique.name}  [{technique.status}]"]
    book = f"; Deep Learning {sections(technique)}" if technique.draft or technique.published else ""
    fields = [("source", [technique.source + book]),
              ("where", [f"{path}: {name}" for path, name in map(_code_name, technique.code)]),
              ("test", technique.tests),
              ("docs", [f"docs/{technique.docs[0]}#{slug(technique.docs[1])}"] if technique.docs else []),
              ("shown by", technique.shown_by),
              ("note", [technique.note] if technique.note else [])]
    for label, values in fields:
        for number, value in enumerate(values):
            lines.append(f"    {(label + ':') if number == 0 else '':<10} {value}")
    return "\n".join(lines)


def _markdown_item(technique: Technique) -> str:
    """One technique as a list item of the docs page, its places as a nested list."""
    book = f"Deep Learning {sections(technique)}. " if technique.draft or technique.published else ""
    lines = [f"- **{technique.id}** {technique.name} ({technique.source}). {book}*{technique.status}*"
             + (f": {technique.note}." if technique.note else ".")]
    where = ["{py:obj}" + f"`{path[:-3].replace('/', '.').removesuffix('.__init__')}.{name}`"
             for path, name in map(_code_name, technique.code)]
    docs = [f"[{technique.docs[1].replace('`', '')}]({technique.docs[0]}#{slug(technique.docs[1])})"] \
        if technique.docs else []
    shown = [f"[{item[len('examples/'):]}](auto_examples/{item[len('examples/'):-3]}.rst)"
             if item.startswith("examples/") else f"`{item}`" for item in technique.shown_by]
    for label, values in (("where", where), ("test", [f"`{test}`" for test in technique.tests]),
                          ("docs", docs), ("shown by", shown)):
        if values:
            lines.append(f"  - {label}: " + "; ".join(values))
    return "\n".join(lines)


def markdown_page() -> str:
    """``docs/catalog.md``: the whole table as a page, one section per group."""
    parts = ["# The map of the chapter\n",
             "<!-- generated from minireg/catalog.py by `python -m minireg.catalog > docs/catalog.md`; "
             "edit the table there -->\n",
             "Every technique of the source documents (Deep Learning ch. 7, the lecture slides, the GrOWL "
             "paper, the tutorial article), with the section of the draft chapter that minireg cites and the "
             "published book's (see [section numbers](section-numbers.md)), where it lives, the test that "
             "proves it, the page that explains it, and the example or experiment that shows it. "
             "`minireg catalog WORD` prints the same from the command line, for example "
             "`minireg catalog dropout`.\n",
             "Sources: DL = *Deep Learning* ch. 7, SL = the lecture slides, GR = the GrOWL paper, "
             "TA = the tutorial article. Each technique is *built*, *partly* built (what is missing is said), "
             "or *not yet*.\n"]
    counts = {status: sum(t.status == status for t in TECHNIQUES) for status in (BUILT, PARTLY, NOT_YET)}
    parts.append(f"Today: {counts[BUILT]} built, {counts[PARTLY]} partly, {counts[NOT_YET]} not yet, "
                 f"of {len(TECHNIQUES)}.\n")
    for letter, title in GROUPS.items():
        parts.append(f"## {title}\n")
        parts.append("\n".join(_markdown_item(t) for t in TECHNIQUES if t.id.rstrip("0123456789") == letter) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown_page(), end="")
