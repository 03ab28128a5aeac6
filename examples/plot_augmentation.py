"""
Data-side regularizers: what each transform does to a batch of digits
=====================================================================

Place 1 of the training step (Deep Learning 7.5, published 7.4, and the lecture's
slides): before the forward pass, the batch is changed. Random affine maps move,
rotate and scale each digit (no flips: a mirrored 7 is no digit); random erasing and
cutout blank out a rectangle; mixup and CutMix mix pairs of examples and their targets
(CutMix by the pasted area); label smoothing changes only the targets; RandAugment
applies N operations of magnitude M drawn at random. Each row of the figure is one
transform applied to the same four digits, drawn here as polylines so that nothing is
downloaded; under each image, its target.
"""
import matplotlib.pyplot as plt
import numpy as np

from minireg.regularizers import (CutMix, Cutout, LabelSmoothing, Mixup, RandAugment, RandomAffine,
                                  RandomErasing)

STROKES = {  # (row, column) points of each digit's strokes on a 28 x 28 canvas
    1: [[(5, 15), (23, 13)], [(8, 11), (5, 15)]],
    4: [[(5, 16), (17, 6), (17, 21)], [(9, 17), (23, 17)]],
    7: [[(6, 7), (6, 21), (23, 11)], [(14, 10), (14, 19)]],
    0: [[(5, 14), (8, 8), (15, 6), (21, 9), (23, 14), (20, 20), (13, 21), (7, 19), (5, 14)]],
}


def draw_digit(strokes, width=1.6):
    """A 28 x 28 image in [0, 1]: bright within ``width`` pixels of the polylines, soft edges."""
    rows, columns = np.mgrid[0:28, 0:28].astype(np.float32)
    distance = np.full((28, 28), np.inf, dtype=np.float32)
    for line in strokes:
        for (r0, c0), (r1, c1) in zip(line[:-1], line[1:]):
            direction = np.array([r1 - r0, c1 - c0], np.float32)
            t = ((rows - r0) * direction[0] + (columns - c0) * direction[1]) / (direction @ direction)
            t = np.clip(t, 0, 1)
            distance = np.minimum(distance, np.hypot(rows - r0 - t * direction[0], columns - c0 - t * direction[1]))
    return np.clip(width + 0.5 - distance, 0, 1)


labels = np.array(list(STROKES))
x = np.stack([draw_digit(strokes) for strokes in STROKES.values()])[:, None]   # (4, 1, 28, 28) float32
transforms = {
    "original": None,
    "RandomAffine()": RandomAffine(max_rotation=20.0, max_translation=3.0),
    "LabelSmoothing(0.1)": LabelSmoothing(0.1, n_classes=10),
    "Mixup(a=1)": Mixup(1.0, n_classes=10),
    "RandomErasing(p=1)": RandomErasing(p=1.0),
    "Cutout(10)": Cutout(10),
    "CutMix(a=1)": CutMix(1.0, n_classes=10),
    "RandAugment(2, 9)": RandAugment(2, 9.0),
}

rng = np.random.default_rng(0)
figure, axes = plt.subplots(len(transforms), len(labels), figsize=(5.2, 11))
for row, (name, transform) in enumerate(transforms.items()):
    images, targets = (x, labels) if transform is None else transform.transform(x, labels, rng)
    assert images.dtype == np.float32 and images.shape == x.shape
    for column in range(len(labels)):
        axis = axes[row, column]
        axis.imshow(images[column, 0], cmap="gray", vmin=0, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
        if targets.ndim == 2:       # soft targets: the classes with weight, largest first
            q = targets[column]
            shown = [k for k in np.argsort(q)[::-1][:2] if q[k] >= 0.05]
            caption = ", ".join(f"{k}: {q[k]:.2f}" for k in shown)
            print(f"{name:<20} digit {labels[column]}: target {caption}")
        else:
            caption = str(targets[column])
        axis.set_xlabel(caption, fontsize=7)
    axes[row, 0].set_ylabel(name, fontsize=7)
figure.suptitle("The same four digits under each data-side transform", fontsize=9)
figure.tight_layout()
plt.show()
