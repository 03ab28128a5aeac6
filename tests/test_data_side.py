"""The data side (place 1): the image geometry of minireg.images and the transforms D1-D6."""
import numpy as np
import pytest
import scipy.ndimage as ndimage
import torch
import torch.nn.functional as torch_F
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from minireg import losses, nn
from minireg import images as im
from minireg.optim import SGD
from minireg.regularizers import data
from minireg.regularizers.data import (CutMix, Cutout, LabelSmoothing, Mixup, RandAugment, RandomAffine,
                                       RandomErasing, pytorch_label_smoothing, randaugment_operation)
from minireg.tensor import Tensor
from minireg.training import Trainer


def random_images(n=4, channels=1, height=28, width=28, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, channels, height, width)).astype(dtype)


def byte_images(n=3, seed=0):
    """Images whose intensities are whole 8-bit levels k / 255 (a digit-like dark background)."""
    levels = np.random.default_rng(seed).integers(0, 256, (n, 1, 16, 16))
    levels[:, :, :4] = 0
    return (levels / 255).astype(np.float32)


def pil_apply(images, operation):
    """``operation(PIL image) -> PIL image`` on each 8-bit grayscale image, back in [0, 1]."""
    out = [np.asarray(operation(Image.fromarray(im.to_bytes(image[0]).astype(np.uint8), "L")))
           for image in images]
    return (np.stack(out)[:, None] / 255).astype(np.float32)


# ---- the geometry: warp_affine and affine_matrices --------------------------------------------


@pytest.mark.parametrize("down, right", [(0, 0), (2, -3), (-5, 1), (27, 0), (0, -30)])
def test_integer_translations_equal_np_roll_with_zero_fill(down, right):
    x = random_images(n=2, channels=3)
    A, b = im.affine_matrices((28, 28), translation=(float(down), float(right)))
    expected = np.roll(x, (down, right), axis=(2, 3))
    rows, columns = np.arange(28) - down, np.arange(28) - right
    wrapped = ((rows < 0) | (rows >= 28))[:, None] | ((columns < 0) | (columns >= 28))[None, :]
    expected[:, :, wrapped] = 0
    np.testing.assert_array_equal(im.warp_affine(x, np.repeat(A, 2, 0), np.repeat(b, 2, 0)), expected)


@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_rotations_by_multiples_of_90_degrees_are_exact(k):
    x = random_images(n=2, channels=2, height=28, width=28)
    A, b = im.affine_matrices((28, 28), rotation=90.0 * k)
    out = im.warp_affine(x, np.repeat(A, 2, 0), np.repeat(b, 2, 0))
    np.testing.assert_array_equal(out, np.rot90(x, k, axes=(2, 3)))


def test_rotation_and_scaling_agree_with_scipy_ndimage():
    x = random_images(n=6, channels=2, height=28, width=25, dtype=np.float64)
    rng = np.random.default_rng(1)
    parameters = dict(rotation=rng.uniform(-45, 45, 6), scale=rng.uniform(0.7, 1.3, 6),
                      shear=tuple(rng.uniform(-0.3, 0.3, (2, 6))), translation=tuple(rng.uniform(-3, 3, (2, 6))),
                      flip_horizontal=np.array([0, 1, 0, 1, 0, 0], bool),
                      flip_vertical=np.array([0, 0, 1, 1, 0, 0], bool))
    A, b = im.affine_matrices((28, 25), **parameters)
    expected = np.stack([[ndimage.affine_transform(x[n, c], A[n], offset=b[n], order=1, mode="constant", cval=0)
                          for c in range(2)] for n in range(6)])
    np.testing.assert_allclose(im.warp_affine(x, A, b), expected, atol=1e-12)


@pytest.mark.parametrize("angle", [-33.0, 12.5, 71.0])
def test_rotation_is_scipy_ndimage_rotate_about_the_centre(angle):
    # an independent construction of the matrix: scipy's own rotate (counter-clockwise as displayed)
    x = random_images(n=1, height=27, width=27, dtype=np.float64)
    A, b = im.affine_matrices((27, 27), rotation=angle)
    expected = ndimage.rotate(x[0, 0], angle, reshape=False, order=1, mode="constant", cval=0)
    np.testing.assert_allclose(im.warp_affine(x, A, b)[0, 0], expected, atol=1e-9)


def test_scaling_about_the_centre_maps_the_centre_to_itself():
    A, b = im.affine_matrices((28, 20), scale=np.array([0.5, 2.0]))
    centre = np.array([13.5, 9.5])
    np.testing.assert_allclose(A @ centre + b, [centre, centre])
    np.testing.assert_allclose(A[1], np.eye(2) / 2)


def test_warp_keeps_float32_and_the_identity_is_exact():
    x = random_images(n=3, channels=2)
    A, b = im.affine_matrices((28, 28), rotation=np.zeros(3))
    out = im.warp_affine(x, A, b)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)


# ---- D1: RandomAffine ---------------------------------------------------------------------------


def test_random_affine_warps_each_image_by_its_own_drawn_map():
    x = random_images(n=5, dtype=np.float64)
    transform = RandomAffine(max_rotation=20.0, max_translation=3.0, scale=(0.8, 1.2))
    out, _ = transform.transform(x, None, np.random.default_rng(4))
    rng = np.random.default_rng(4)   # the documented draws: rotation, scale, translation
    A, b = im.affine_matrices((28, 28), rotation=rng.uniform(-20, 20, 5), scale=rng.uniform(0.8, 1.2, 5),
                              translation=rng.uniform(-3, 3, (2, 5)))
    for n in range(5):
        np.testing.assert_allclose(out[n, 0], ndimage.affine_transform(x[n, 0], A[n], offset=b[n], order=1,
                                                                      mode="constant", cval=0), atol=1e-12)
    assert not np.allclose(out[0], out[1])


def test_random_affine_on_flat_vectors_equals_on_images_and_flips_only_when_asked():
    x = random_images(n=6)
    flat = x.reshape(6, -1)
    transform = RandomAffine(image_shape=(28, 28))
    out_flat, _ = transform.transform(flat, None, np.random.default_rng(2))
    out_images, _ = RandomAffine().transform(x, None, np.random.default_rng(2))
    assert out_flat.shape == (6, 784) and out_flat.dtype == np.float32
    np.testing.assert_array_equal(out_flat, out_images.reshape(6, -1))
    flips = RandomAffine(max_rotation=0.0, max_translation=0.0, scale=(1.0, 1.0), flip_horizontal=True)
    out, _ = flips.transform(random_images(n=40), None, np.random.default_rng(0))
    source = random_images(n=40)
    mirrored = [np.array_equal(o, s[..., ::-1]) for o, s in zip(out, source)]
    kept = [np.array_equal(o, s) for o, s in zip(out, source)]
    assert all(m != k for m, k in zip(mirrored, kept)) and 10 < sum(mirrored) < 30
    plain, _ = RandomAffine(max_rotation=0.0, max_translation=0.0, scale=(1.0, 1.0)).transform(
        source, None, np.random.default_rng(0))
    np.testing.assert_array_equal(plain, source)      # no flips by default


# ---- D2: label smoothing ------------------------------------------------------------------------


def test_label_smoothing_gives_the_slides_example():
    _, q = LabelSmoothing(0.01, 3).transform(np.zeros((1, 2), np.float64), np.array([1]))
    np.testing.assert_allclose(q, [[0.005, 0.990, 0.005]], rtol=1e-12)


@pytest.mark.parametrize("alpha, classes", [(0.1, 10), (0.3, 3), (0.0, 5)])
def test_label_smoothed_cross_entropy_is_pytorchs_under_the_conversion(alpha, classes):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, classes))
    labels = rng.integers(0, classes, 7)
    _, q = LabelSmoothing(alpha, classes).transform(np.zeros((7, 1)), labels)
    ours = losses.cross_entropy(Tensor(logits), q).item()
    epsilon = pytorch_label_smoothing(alpha, classes)
    theirs = torch_F.cross_entropy(torch.tensor(logits), torch.tensor(labels), label_smoothing=epsilon).item()
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert epsilon == pytest.approx(alpha * classes / (classes - 1))
    # and PyTorch's targets themselves: 1 - ε + ε/K on the label, ε/K elsewhere
    np.testing.assert_allclose(q, (1 - epsilon) * np.eye(classes)[labels] + epsilon / classes, atol=1e-15)


def test_label_smoothing_is_linear_on_soft_targets_and_keeps_float32():
    soft = np.array([[0.25, 0.75, 0.0]], np.float32)
    _, q = LabelSmoothing(0.2, 3).transform(np.zeros((1, 4), np.float32), soft)
    assert q.dtype == np.float32
    np.testing.assert_allclose(q, 0.25 * np.array([[0.8, 0.1, 0.1]]) + 0.75 * np.array([[0.1, 0.8, 0.1]]),
                               rtol=1e-6)
    assert q.sum() == pytest.approx(1.0, rel=1e-6)


# ---- D3: mixup ----------------------------------------------------------------------------------


def test_mixup_mixes_inputs_and_targets_by_the_same_weight():
    # each example's input is its own indicator, so the mixed input shows λ and the partner
    n, classes = 12, 5
    x = np.eye(n)
    labels = np.arange(n) % classes
    for seed in range(20):
        mixed, q = Mixup(0.4, classes).transform(x, labels, np.random.default_rng(seed))
        np.testing.assert_allclose(q.sum(axis=1), 1, rtol=1e-12)
        weights = np.diag(mixed)
        partners = np.where(weights < 1, np.argmax(mixed - np.diag(weights), axis=1), np.arange(n))
        weight = weights[partners != np.arange(n)][0]
        np.testing.assert_allclose(weights[partners != np.arange(n)], weight, rtol=0, atol=0)
        expected = weight * np.eye(classes)[labels] + (1 - weight) * np.eye(classes)[labels[partners]]
        np.testing.assert_allclose(q, expected, atol=1e-15)
        assert sorted(partners) == list(range(n))      # a permutation


def test_mixup_weights_follow_beta():
    from scipy import stats
    x = np.eye(10)
    weights, rng = [], np.random.default_rng(0)
    for _ in range(400):
        mixed, _ = Mixup(0.5, 10).transform(x, np.arange(10), rng)
        moved = np.diag(mixed) < 1
        if moved.any():
            weights.append(np.diag(mixed)[moved][0])
    assert stats.kstest(weights, stats.beta(0.5, 0.5).cdf).pvalue > 0.001


# ---- D4: random erasing and cutout --------------------------------------------------------------


def erased_rectangles(out):
    """For each image, (erased, height, width) of the pixels set to -1, checking they form a rectangle."""
    found = []
    for image in out[:, 0]:
        rows, columns = np.nonzero(image == -1)
        if rows.size == 0:
            found.append((False, 0, 0))
            continue
        height, width = np.ptp(rows) + 1, np.ptp(columns) + 1
        assert height * width == rows.size          # a full rectangle
        found.append((True, height, width))
    return found


def test_random_erasing_area_and_aspect_stay_inside_their_ranges():
    x = np.random.default_rng(0).random((3000, 1, 28, 28)).astype(np.float32) * 0.9
    transform = RandomErasing(p=0.5, area=(0.02, 0.4), aspect=0.3, fill=-1.0)
    out, _ = transform.transform(x, None, np.random.default_rng(1))
    found = erased_rectangles(out)
    erased = np.array([e for e, _, _ in found])
    assert abs(erased.mean() - 0.5) < 4 * np.sqrt(0.25 / 3000)
    heights = np.array([h for e, h, _ in found if e])
    widths = np.array([w for e, _, w in found if e])
    areas = heights * widths / 784
    assert areas.min() >= 0.02 and areas.max() <= 0.4 and areas.max() > 0.35 and areas.min() < 0.03
    ratios = heights / widths
    assert ratios.min() >= 0.3 and ratios.max() <= 1 / 0.3 and ratios.min() < 0.4 and ratios.max() > 2.5
    untouched = ~erased
    np.testing.assert_array_equal(out[untouched], x[untouched])


def test_random_erasing_random_fill_and_cutout_squares():
    x = np.full((200, 2, 20, 20), 2.0)
    out, _ = RandomErasing(p=1.0).transform(x, None, np.random.default_rng(0))
    changed = out != 2.0
    assert changed.any(axis=(1, 2, 3)).all() and np.array_equal(changed[:, 0], changed[:, 1])
    assert out[changed].min() >= 0 and out[changed].max() < 1
    out, _ = Cutout(6, fill=-1.0).transform(np.zeros((500, 1, 20, 20)), None, np.random.default_rng(0))
    sides = [(h, w) for _, h, w in erased_rectangles(out)]
    assert (6, 6) in sides and all(h <= 6 and w <= 6 and h >= 3 and w >= 3 for h, w in sides)
    clipped = [side for side in sides if side != (6, 6)]
    assert len(clipped) > 50      # centres near the border: squares cut by it


# ---- D5: CutMix ---------------------------------------------------------------------------------


def test_cutmix_label_weight_is_the_pasted_area_also_when_clipped():
    n, classes, shape = 6, 6, (1, 14, 10)
    x = np.broadcast_to(np.arange(1, n + 1, dtype=np.float32)[:, None, None, None], (n,) + shape).copy()
    labels = np.arange(n)
    clipped = 0
    for seed in range(300):
        mixed, q = CutMix(1.0, classes).transform(x, labels, np.random.default_rng(seed))
        assert mixed.dtype == q.dtype == np.float32
        np.testing.assert_allclose(q.sum(axis=1), 1, rtol=1e-6)
        for i in range(n):
            pasted = mixed[i, 0] != i + 1
            if not pasted.any():
                continue
            partner = int(mixed[i, 0][pasted][0]) - 1
            rows, columns = np.nonzero(pasted)
            assert pasted.sum() == (np.ptp(rows) + 1) * (np.ptp(columns) + 1)   # one rectangle
            kept = 1 - pasted.sum() / 140
            assert q[i, i] == pytest.approx(kept, abs=1e-6) and q[i, partner] == pytest.approx(1 - kept, abs=1e-6)
            touches = rows.min() == 0 or columns.min() == 0 or rows.max() == 13 or columns.max() == 9
            clipped += touches
            break
    assert clipped > 50


def test_cutmix_box_is_clipped_at_a_corner():
    class Corner:  # a generator whose uniform draws put the box's centre at the top-left corner
        @staticmethod
        def uniform(low, high):
            return low

    # λ = 0.75: sides 14 · 0.5 = 7 around (0, 0): only the quarter inside the image, 4 x 4 rounded
    top, left, height, width = CutMix.box(0.75, (14, 14), Corner())
    assert (top, left) == (0, 0) and height == width == 4


# ---- D6: RandAugment ----------------------------------------------------------------------------

SIGNS = np.array([1.0, -1.0, 1.0])


@pytest.mark.parametrize("magnitude", [3.0, 10.0])
def test_randaugment_pixel_operations_against_direct_computations(magnitude):
    x = byte_images()
    v = magnitude / 10
    factors = 1 + 0.9 * v * SIGNS

    def op(name):
        return randaugment_operation(name, x, magnitude, SIGNS)

    np.testing.assert_array_equal(op("identity"), x)
    low, high = x.min(axis=(1, 2, 3), keepdims=True), x.max(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(op("autocontrast"), (x - low) / (high - low), atol=1e-6)
    np.testing.assert_array_equal(op("solarize"), np.where(x > 1 - v, 1 - x, x))
    bits = 8 - round(4 * v)
    np.testing.assert_allclose(op("posterize"), pil_apply(x, lambda image: ImageOps.posterize(image, bits)),
                               atol=1e-7)
    np.testing.assert_allclose(op("equalize"), pil_apply(x, ImageOps.equalize), atol=1e-7)
    for n in range(3):
        mean = x[n].mean()
        np.testing.assert_allclose(op("contrast")[n], np.clip(mean + factors[n] * (x[n] - mean), 0, 1), atol=1e-6)
        np.testing.assert_allclose(op("brightness")[n], np.clip(factors[n] * x[n], 0, 1), atol=1e-6)
        sharp = pil_apply(x[n:n + 1], lambda image: ImageEnhance.Sharpness(image).enhance(factors[n]))
        # PIL rounds the smoothed image (weight 1 − factor in the blend) and the blend to 8 bits
        np.testing.assert_allclose(op("sharpness")[n:n + 1], sharp, atol=(1 + abs(1 - factors[n]) / 2) / 255 + 1e-6)
    np.testing.assert_allclose(im.smooth(x), pil_apply(x, lambda image: image.filter(ImageFilter.SMOOTH)),
                               atol=0.5 / 255 + 1e-6)


def test_randaugment_geometric_operations_against_scipy():
    x = random_images(n=3, height=28, width=24, dtype=np.float64)
    magnitude = 7.0

    def each(name, expected):
        out = randaugment_operation(name, x, magnitude, SIGNS)
        for n in range(3):
            np.testing.assert_allclose(out[n, 0], expected(x[n, 0], SIGNS[n] * 0.7), atol=1e-9)

    each("rotate", lambda image, s: ndimage.rotate(image, 30 * s, reshape=False, order=1, mode="constant"))
    each("translate_x", lambda image, s: ndimage.shift(image, (0, 0.3 * s * 24), order=1, mode="constant"))
    each("translate_y", lambda image, s: ndimage.shift(image, (0.3 * s * 28, 0), order=1, mode="constant"))
    centre = np.array([13.5, 11.5])
    # shear along x: column' = column + k (row − centre row); its inverse subtracts
    for name, inverse in (("shear_x", lambda k: np.array([[1, 0], [-k, 1]])),
                          ("shear_y", lambda k: np.array([[1, -k], [0, 1]]))):
        each(name, lambda image, s: ndimage.affine_transform(
            image, inverse(0.3 * s), offset=centre - inverse(0.3 * s) @ centre, order=1, mode="constant"))


def test_randaugment_draws_n_operations_uniformly(monkeypatch):
    applied = []

    def record(images, codes, magnitude, signs):
        assert len(codes) == len(images) == len(signs) == 1300
        applied.extend(data.OPERATIONS[code] for code in codes)
        assert magnitude == 4.0 and set(np.unique(signs)) <= {-1.0, 1.0}
        return images

    monkeypatch.setattr(data, "_apply_codes", record)
    RandAugment(n=3, m=4.0).transform(random_images(n=1300, height=4, width=4), None, np.random.default_rng(0))
    counts = np.array([applied.count(name) for name in data.OPERATIONS])
    # 3 operations for each of the 1,300 images, each of the 13 drawn about 3 · 1300 / 13 = 300 times
    assert len(applied) == 3 * 1300 and counts.min() > 230 and counts.max() < 370
    assert "color" not in data.OPERATIONS


def test_operations_applied_together_equal_each_applied_alone():
    x = random_images(n=26, dtype=np.float64)
    names = np.array(data.OPERATIONS * 2)
    signs = np.where(np.arange(26) % 3 == 0, -1.0, 1.0)
    together = data.apply_operations(x, names, 8.0, signs)
    for n in range(26):
        alone = randaugment_operation(str(names[n]), x[n:n + 1], 8.0, signs[n:n + 1])
        np.testing.assert_array_equal(together[n:n + 1], alone)


def test_randaugment_with_no_operations_is_the_identity_and_refuses_out_of_range_pixels():
    x = random_images()
    out, _ = RandAugment(n=0, m=9.0).transform(x, None, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError, match=r"RandAugment: the inputs must be intensities in \[0, 1\]"):
        RandAugment().transform(x * 2, None, np.random.default_rng(0))


# ---- every transform ----------------------------------------------------------------------------

ALL = {
    "RandomAffine": lambda: RandomAffine(image_shape=(28, 28)),
    "LabelSmoothing": lambda: LabelSmoothing(0.1, 10),
    "Mixup": lambda: Mixup(0.4, 10),
    "RandomErasing": lambda: RandomErasing(image_shape=(28, 28)),
    "Cutout": lambda: Cutout(8, image_shape=(28, 28)),
    "CutMix": lambda: CutMix(1.0, 10, image_shape=(28, 28)),
    "RandAugment": lambda: RandAugment(2, 9.0, image_shape=(28, 28)),
}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_generator_state_same_batch_shapes_and_dtypes_kept_inputs_untouched(name, dtype):
    x = random_images(n=16, dtype=dtype).reshape(16, 784)
    y = np.arange(16) % 10
    x_before, y_before = x.copy(), y.copy()
    first = ALL[name]().transform(x, y, np.random.default_rng(3))
    second = ALL[name]().transform(x, y, np.random.default_rng(3))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    out_x, out_y = first
    assert out_x.shape == x.shape and out_x.dtype == dtype
    assert out_y.shape in ((16,), (16, 10)) and (out_y.dtype == dtype or out_y is y)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)
    if name not in ("LabelSmoothing",):
        third = ALL[name]().transform(x, y, np.random.default_rng(4))
        assert not np.array_equal(third[0], out_x)


def test_a_trainer_step_with_data_side_regularizers_uses_its_generator():
    def one_step(seed):
        model = nn.Sequential(nn.Linear(784, 10, rng=0))
        regularizers = [RandomAffine(image_shape=(28, 28)), Mixup(0.4, 10), LabelSmoothing(0.1, 10)]
        trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1), regularizers, rng=seed)
        return trainer.train_step(random_images(n=8).reshape(8, -1), np.arange(8))["loss"], model[0].weight.data

    loss, weights = one_step(0)
    again, same = one_step(0)
    assert loss == again and np.array_equal(weights, same)
    assert not np.array_equal(one_step(1)[1], weights)


@pytest.mark.parametrize("build, message", [
    (lambda: LabelSmoothing(1.0, 10), r"LabelSmoothing\(alpha=...\) must be a finite number in \[0.0, 1.0\)"),
    (lambda: LabelSmoothing(-0.1, 10), r"LabelSmoothing\(alpha=...\)"),
    (lambda: LabelSmoothing(0.1, 1), r"LabelSmoothing\(n_classes=...\) must be an integer >= 2"),
    (lambda: Mixup(0.0, 10), r"Mixup\(a=...\) must be a finite number in \(0.0, inf\)"),
    (lambda: Mixup(-1.0, 10), r"Mixup\(a=...\)"),
    (lambda: CutMix(0, 10), r"CutMix\(a=...\)"),
    (lambda: RandAugment(n=-1), r"RandAugment\(n=...\) must be an integer >= 0"),
    (lambda: RandAugment(m=11), r"RandAugment\(m=...\) must be a finite number in \[0.0, 10.0\]"),
    (lambda: RandAugment(m=-0.5), r"RandAugment\(m=...\)"),
    (lambda: RandomAffine(max_rotation=200), r"RandomAffine\(max_rotation=...\)"),
    (lambda: RandomAffine(max_translation=-1), r"RandomAffine\(max_translation=...\)"),
    (lambda: RandomAffine(scale=(1.2, 1.1)), r"RandomAffine\(scale\[1\]=...\)"),
    (lambda: RandomAffine(scale=(0.0, 1.1)), r"RandomAffine\(scale\[0\]=...\)"),
    (lambda: RandomAffine(flip_horizontal=1), r"RandomAffine\(flip_horizontal=...\) must be True or False"),
    (lambda: RandomAffine(image_shape=(28,)), r"RandomAffine\(image_shape=...\) must be None, \(H, W\)"),
    (lambda: RandomErasing(p=1.5), r"RandomErasing\(p=...\)"),
    (lambda: RandomErasing(area=(0.5, 0.4)), r"RandomErasing\(area\[1\]=...\)"),
    (lambda: RandomErasing(aspect=0.0), r"RandomErasing\(aspect=...\)"),
    (lambda: RandomErasing(fill="mean"), r"RandomErasing\(fill=...\) must be a number or 'random'"),
    (lambda: Cutout(0), r"Cutout\(size=...\) must be an integer >= 1"),
])
def test_bad_arguments_are_refused_by_name(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((4, 784), np.float32), np.arange(4), r"RandomAffine: .*flat vectors; pass image_shape"),
    (np.zeros((4, 28, 28), np.float32), np.arange(4), r"RandomAffine: the inputs have shape \(4, 28, 28\)"),
    (np.zeros((4, 1, 28, 28), np.uint8), np.arange(4), r"RandomAffine: the inputs x must be a float"),
])
def test_inputs_of_a_shape_a_transform_cannot_handle_are_refused(x, y, message):
    with pytest.raises((ValueError, TypeError), match=message):
        RandomAffine().transform(x, y, np.random.default_rng(0))


def test_mismatched_images_and_targets_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"image_shape=\(1, 20, 20\)"):
        CutMix(1.0, 10, image_shape=(20, 20)).transform(np.zeros((2, 784)), np.arange(2), rng)
    with pytest.raises(ValueError, match=r"Mixup: the class indices must lie in \[0, 10\)"):
        Mixup(1.0, 10).transform(np.zeros((2, 5)), np.array([0, 10]), rng)
    with pytest.raises(ValueError, match=r"LabelSmoothing: the targets must be .* soft targets \(N, 10\)"):
        LabelSmoothing(0.1, 10).transform(np.zeros((2, 5)), np.full((2, 3), 1 / 3), rng)
    with pytest.raises(ValueError, match="Mixup: 2 inputs but 3 targets"):
        Mixup(1.0, 10).transform(np.zeros((2, 5)), np.arange(3), rng)
