"""The experiments that ``minireg run NAME`` can run, by name.

An explicit dictionary, so that a reader sees every experiment in one place; each
entry is an :class:`~minireg.experiments.base.Experiment` (config, run, report).
"""
from minireg.experiments import (adversarial, augmentation, double_descent, dropout_table, early_stopping, ensembles,
                                 growl_cifar, growl_mnist, growl_synthetic, memorization, pretraining,
                                 weight_penalties)
from minireg.experiments.base import Experiment

EXPERIMENTS = {
    "early-stopping-synthetic": Experiment(
        name="early-stopping-synthetic",
        description="Trains a small network on generated, noisy data until it overfits: the training loss "
                    "keeps falling while the validation loss rises again (the U-shaped curve of Deep Learning "
                    "Fig. 7.3). Early stopping (Algorithm 7.1) picks the bottom of the U, and the test errors of "
                    "its choice, of the last epoch, and of retraining on all the data (Algorithms 7.2 and 7.3) "
                    "are set side by side. Offline; about 10 seconds (with --threads 1).",
        config_class=early_stopping.SyntheticConfig,
        run=early_stopping.run,
        report=early_stopping.report,
    ),
    "early-stopping": Experiment(
        name="early-stopping",
        description="The same study on MNIST handwritten digits, as in Deep Learning Fig. 7.3: learning "
                    "curves of a wide network on 10,000 training images, early stopping (Algorithm 7.1) on the "
                    "validation loss and on the 0-1 error, then Algorithms 7.2 and 7.3. Needs the MNIST files "
                    "(--data-root, or downloaded on first use); about 3.5 minutes (with --threads 1).",
        config_class=early_stopping.MnistConfig,
        run=early_stopping.run,
        report=early_stopping.report,
    ),
    "weight-penalties": Experiment(
        name="weight-penalties",
        description="L2 and L1 weight penalties, the L1 proximal step and max-norm on MNIST (784-300-10): "
                    "the test error against the penalty's strength α (too much weight decay underfits), the "
                    "exact zeros that the L1 prox makes where the L1 penalty only makes weights small, weight "
                    "histograms, and the hidden units' weight norms with and without max-norm (Deep Learning "
                    "7.2-7.3). Needs the MNIST files; --quick takes about a minute, the default about ten.",
        config_class=weight_penalties.WeightPenaltiesConfig,
        run=weight_penalties.run,
        report=weight_penalties.report,
    ),
    "dropout-table": Experiment(
        name="dropout-table",
        description="The lecture's table from Srivastava et al. (2014) on MNIST: one network trained with L2, "
                    "L2 plus L1 switched on towards the end, L2 plus KL sparsity (sigmoid units), max-norm, "
                    "dropout plus L2 and dropout plus max-norm, from the same initial weights and batches; our "
                    "test errors beside the paper's 1.62 / 1.60 / 1.55 / 1.35 / 1.25 / 1.05 %, and whether the "
                    "rows come in the same order. Needs the MNIST files; --quick takes about 10 seconds, the "
                    "default about nine minutes.",
        config_class=dropout_table.DropoutTableConfig,
        run=dropout_table.run,
        report=dropout_table.report,
    ),
    "ensembles": Experiment(
        name="ensembles",
        description="Model averaging on MNIST (Deep Learning 7.10-7.11): a seed ensemble and a bagged ensemble "
                    "(bootstrap resamples) of the same members, their test error against the number of members "
                    "beside the members' own, the decomposition v/k + (k-1)c/k of the ensemble's squared error, "
                    "and a dropout network evaluated by weight scaling against Monte-Carlo averaging of sampled "
                    "sub-networks (arithmetic and geometric means). Needs the MNIST files; --quick takes about "
                    "5 seconds, the default about a minute.",
        config_class=ensembles.EnsemblesConfig,
        run=ensembles.run,
        report=ensembles.report,
    ),
    "adversarial": Experiment(
        name="adversarial",
        description="Adversarial examples and adversarial training on MNIST (Deep Learning 7.13): a network "
                    "trained plainly and one trained on αJ(x) + (1-α)J(x') with fast-gradient-sign examples x' "
                    "(Goodfellow et al. 2015), their test error on FGSM examples against ε beside the paper's "
                    "89.4 % before and 17.9 % after at ε = 0.25, transfer between the two, and a figure like "
                    "Fig. 7.7 (x, the sign of the gradient, x'). Needs the MNIST files; --quick takes about "
                    "20 seconds, the default about three minutes.",
        config_class=adversarial.AdversarialConfig,
        run=adversarial.run,
        report=adversarial.report,
    ),
    "double-descent": Experiment(
        name="double-descent",
        description="Double descent (Belkin et al. 2019), as the lecture slides show it: random Fourier features "
                    "on an MNIST subset, the minimum-norm least-squares fit and a ridge fit; the test error, the "
                    "squared loss and the norm of the coefficients against the number of features, through the "
                    "interpolation threshold (as many features as training examples), where the min-norm fit "
                    "peaks and ridge does not. Needs the MNIST files; --quick takes about 10 seconds of CPU, "
                    "the default 20 (--workers spreads the points over processes).",
        config_class=double_descent.DoubleDescentConfig,
        run=double_descent.run,
        report=double_descent.report,
    ),
    "memorization": Experiment(
        name="memorization",
        description="The randomization tests of Zhang et al. (2017), as the lecture slides show them: one MLP "
                    "trained to zero training error on MNIST with true labels, random labels, shuffled pixels, "
                    "random pixels and Gaussian inputs, without regularization, with weight decay and with "
                    "dropout; the training curves, the epochs each needs against true labels, and the test "
                    "errors. Needs the MNIST files; --quick takes about a minute, the default tens of minutes "
                    "(--dataset/--regularization pick one run, for minireg sweep).",
        config_class=memorization.MemorizationConfig,
        run=memorization.run,
        report=memorization.report,
    ),
    "pretraining": Experiment(
        name="pretraining",
        description="Pretraining and transfer with few labels on MNIST (the lecture slides): an autoencoder "
                    "trained on unlabelled images, whose encoder is then frozen or fine-tuned under a classifier "
                    "trained on 100 labels, against training from scratch; and a network trained on the digits "
                    "0-4 whose encoder is reused for the digits 5-9. Needs the MNIST files; --quick takes a "
                    "minute or two, the default a few minutes.",
        config_class=pretraining.PretrainingConfig,
        run=pretraining.run,
        report=pretraining.report,
    ),
    "augmentation": Experiment(
        name="augmentation",
        description="Data-side regularizers on 3,000 MNIST training images (Deep Learning 7.5, published 7.4, "
                    "and the slides): a LeNet-style network trained without any and with each of random affine "
                    "maps, label smoothing, mixup, random erasing, cutout, CutMix and RandAugment, from the same "
                    "weights and batches; the test errors side by side and an image grid of what each transform "
                    "does to the same digits. Needs the MNIST files; --quick takes under a minute, the default "
                    "about four (up to eight on a busy machine).",
        config_class=augmentation.AugmentationConfig,
        run=augmentation.run,
        report=augmentation.report,
    ),
    "growl-synthetic": Experiment(
        name="growl-synthetic",
        description="GrOWL §4.1 (Fig. 3): a 784-300-10 network on synthetic data with 10 blocks of correlated "
                    "features, trained with weight decay, group Lasso, GrOWL for several p and OSCAR; the "
                    "eq. (10) similarity matrices of the first layer's rows as images, their sorted entries, and "
                    "the mean within-block similarity that says how much of the block structure each ties. "
                    "Offline; --quick takes about 15 seconds of CPU, the default about 2.5 minutes.",
        config_class=growl_synthetic.GrowlSyntheticConfig,
        run=growl_synthetic.run,
        report=growl_synthetic.report,
    ),
    "growl-mnist": Experiment(
        name="growl-mnist",
        description="GrOWL's Table 1 (Zhang et al. 2018): the 784-300-10 network trained with no regularizer, "
                    "weight decay, group Lasso, group Lasso + l2, GrOWL and GrOWL + l2 on the first layer's rows, "
                    "its rows clustered and tied, then retrained; sparsity, parameter sharing, compression and "
                    "accuracy as mean ± std over seeds (a sweep of growl-mnist-run, --workers) beside the paper's, "
                    "with the similarity maps (Fig. 4) and the rows selected across runs (Fig. 5). Needs the MNIST "
                    "files; --quick takes about 6 minutes with --workers 2, the paper's recipe about 23 minutes "
                    "per run (extrapolated from one epoch).",
        config_class=growl_mnist.GrowlMnistConfig,
        run=growl_mnist.run_table,
        report=growl_mnist.report_table,
    ),
    "growl-mnist-run": Experiment(
        name="growl-mnist-run",
        description="One row of GrOWL's Table 1 for one seed (one job of the growl-mnist sweep): train the "
                    "784-300-10 network with the chosen regularizer, cluster and tie the first layer's rows, "
                    "retrain. Needs the MNIST files.",
        config_class=growl_mnist.GrowlRunConfig,
        run=growl_mnist.run_one,
        report=growl_mnist.report_one,
    ),
    "growl-lenet": Experiment(
        name="growl-lenet",
        description="GrOWL on convolutions (eq. 4): a LeNet-style network on MNIST trained with the chosen "
                    "regularizer on the input-channel rows of its second convolution and the rows of its dense "
                    "layer, rows clustered and tied, retrained; rows kept, clusters, sparsity and sharing per "
                    "layer. Needs the MNIST files; --quick takes one to two minutes.",
        config_class=growl_cifar.LenetConfig,
        run=growl_cifar.run_lenet,
        report=growl_cifar.report_lenet,
    ),
    "growl-cifar": Experiment(
        name="growl-cifar",
        description="GrOWL's Table 2: VGG-16 with batch norm on CIFAR-10, the regularizer on every convolution "
                    "but the first and on the first dense layer, rows clustered and tied, retrained; each layer's "
                    "sparsity and sharing beside the paper's. Needs the CIFAR-10 python batches (--data-root; "
                    "never downloaded). The paper's recipe (150 + 50 epochs) takes days on a CPU: --width and "
                    "--blocks scale the network, --quick takes about 40 seconds.",
        config_class=growl_cifar.CifarConfig,
        run=growl_cifar.run_cifar,
        report=growl_cifar.report_cifar,
    ),
}

__all__ = ["EXPERIMENTS", "Experiment"]
