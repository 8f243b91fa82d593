"""The checks the lessons' test cells run: structure, behaviour, metrics.

Each check raises ``AssertionError`` with a message a student can act on, and
returns nothing useful to fake: a metric check recomputes its figure from the
model's own predictions on the profile's test set.
"""

from __future__ import annotations


import keras
import numpy as np

from ..data import CLASS_NAMES
from ..evaluation import predict_proba
from ..profiles import Profile, get_profile
from ..references import BAND_FLOOR, MissingReferenceError, load_references, reference_band

# The smoke profile trains for seconds on synthetic images and has no
# reference: its metric check only asks for better than chance (10%).
SMOKE_MINIMUM_ACCURACY = 0.2
# Real data in a profile with no measured reference yet: a floor far above
# chance (10%) that every stage clears in every measured profile.
NO_REFERENCE_MINIMUM_ACCURACY = 0.3
# On a copy of CIFAR-10 the references were not measured on, the band's floor is lowered
# by the band's own minimum half-width: figures on two copies differ by a few points.
OTHER_COPY_ALLOWANCE = BAND_FLOOR


def require(name: str, namespace: dict, hint: str):
    """The notebook variable ``name``, or an AssertionError saying how to make it."""
    value = namespace.get(name)
    assert value is not None, f"`{name}` does not exist yet: {hint}"
    return value


def to_numpy(value) -> np.ndarray:
    """A student's result as float64 numpy, wherever it lives (a CUDA tensor included)."""
    if isinstance(value, (list, tuple)):
        return np.asarray([to_numpy(v) for v in value], dtype=np.float64)
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _close(actual, expected, what: str, atol: float = 1e-5):
    actual, expected = to_numpy(actual), to_numpy(expected)
    assert actual.shape == expected.shape, (
        f"{what}: expected shape {expected.shape}, got {actual.shape}")
    assert np.allclose(actual, expected, atol=atol), (
        f"{what}: expected {np.round(expected, 5).tolist()}, got {np.round(actual, 5).tolist()}")


# --- lesson 00: data ----------------------------------------------------------------

def check_channel_statistics(channel_statistics, images: np.ndarray | None = None):
    """``channel_statistics(images) -> (mean, std)``: one value per colour channel."""
    example = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    example[0, ..., 0] = 10
    example[1, ..., 0] = 30  # red: values 10 and 30 -> mean 20, std 10
    example[..., 1] = 50     # green: constant -> std 0
    mean, std = channel_statistics(example)
    _close(mean, [20, 50, 0], "mean of the hand-made batch")
    _close(std, [10, 0, 0], "std of the hand-made batch")
    if images is not None:
        mean, std = channel_statistics(images)
        pixels = to_numpy(images).reshape(-1, 3)
        _close(mean, pixels.mean(axis=0), "mean of the training images", atol=1e-3)
        _close(std, pixels.std(axis=0), "std of the training images", atol=1e-3)


# --- lesson 01: the mechanism and the training loop ----------------------------------

# (size, kernel, stride, padding) cases: odd and even sizes, both paddings.
OUTPUT_SIZE_CASES = [(32, 3, 1, "same"), (32, 3, 1, "valid"), (32, 2, 2, "valid"),
                     (31, 3, 2, "same"), (7, 5, 1, "valid"), (9, 2, 2, "same")]
COURSE_LAYERS = [("conv", 3), ("conv", 3), ("pool", 2)] * 3


def check_output_size(conv_output_size):
    """``conv_output_size(size, kernel, stride, padding)`` against keras' own layers."""
    for size, kernel, stride, padding in OUTPUT_SIZE_CASES:
        layer = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
        expected = layer.compute_output_shape((1, size, size, 1))[1]
        actual = conv_output_size(size, kernel, stride, padding)
        assert int(to_numpy(actual)) == expected, (
            f"conv_output_size({size}, {kernel}, {stride}, {padding!r}) = {actual}; keras' "
            f"Conv2D gives {expected}. Hint: 'same' keeps ceil(size / stride); 'valid' fits "
            f"the kernel inside the image: (size - kernel) // stride + 1")


def expected_receptive_fields(layers) -> list[int]:
    """The receptive field (pixels of the input one output pixel sees) after each layer."""
    field, jump, fields = 1, 1, []
    for _, kernel in layers:
        stride = kernel if _ == "pool" else 1
        field += (kernel - 1) * jump
        jump *= stride
        fields.append(field)
    return fields


def check_receptive_field(receptive_field):
    """``receptive_field(layers)``: layers are ('conv', k) (stride 1) or ('pool', k) (stride k)."""
    for layers in (COURSE_LAYERS, [("conv", 5), ("pool", 2), ("conv", 3)], [("pool", 2)] * 3):
        expected = expected_receptive_fields(layers)
        actual = [int(v) for v in to_numpy(receptive_field(layers))]
        assert actual == expected, (
            f"receptive_field({layers}) = {actual}, want {expected}. Hint: a layer with kernel "
            f"k adds (k - 1) x (the product of the strides before it) pixels")


def check_training_setup(model: keras.Model, history: dict, profile: Profile | str):
    """The student's loop: Adam at the profile's learning rate, categorical cross-entropy,
    accuracy, ``fit`` for the profile's epochs with validation data."""
    profile = get_profile(profile)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.Adam) and not isinstance(
        optimizer, keras.optimizers.AdamW), (
        f"compile with keras.optimizers.Adam, not {type(optimizer).__name__}")
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    assert abs(rate - profile.learning_rate) < 1e-9, (
        f"Adam's learning rate is {rate}; this lesson uses the profile's, "
        f"{profile.learning_rate} (lesson.profile.learning_rate)")
    loss = model.loss
    name = loss if isinstance(loss, str) else type(loss).__name__
    assert name in ("categorical_crossentropy", "CategoricalCrossentropy"), (
        f"the loss is {name}: the labels are one-hot, so use categorical cross-entropy")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert key in history, (
            f"the history has no {key!r} (it has {sorted(history)}): compile with "
            f"metrics=['accuracy'] and pass validation_data to fit")
    epochs = len(history["loss"])
    assert epochs == profile.epochs, (
        f"fit ran {epochs} epochs; the {profile.name} profile trains {profile.epochs} "
        f"(lesson.profile.epochs)")


# --- structure ---------------------------------------------------------------------

def _layers_of(model: keras.Model, kind) -> list:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def check_baseline_structure(model: keras.Model, widths=(32, 64, 128)):
    """Blocks of conv -> batch norm -> ReLU (twice) -> max pool, channels growing, GAP, softmax."""
    assert isinstance(model, keras.Model), f"expected a keras.Model, got {type(model).__name__}"
    assert tuple(model.input_shape[1:]) == (32, 32, 3), (
        f"the model must take (32, 32, 3) images, not {model.input_shape[1:]}")
    assert tuple(model.output_shape[1:]) == (10,), (
        f"the model must output 10 class probabilities, not shape {model.output_shape[1:]}")
    convs = _layers_of(model, keras.layers.Conv2D)
    filters = [layer.filters for layer in convs]
    expected = [w for w in widths for _ in (1, 2)]
    assert filters == expected, (
        f"convolution filters, in order: expected {expected} (two 3x3 convolutions per "
        f"block), got {filters}")
    for layer in convs:
        assert tuple(layer.kernel_size) == (3, 3), f"{layer.name}: kernel {layer.kernel_size}, want 3x3"
        assert layer.padding == "same", f"{layer.name}: padding {layer.padding!r}, want 'same'"
    pools = _layers_of(model, keras.layers.MaxPooling2D)
    assert len(pools) == len(widths), (
        f"one 2x2 max pooling per block: expected {len(widths)}, got {len(pools)}")
    kinds = [type(layer).__mro__ for layer in model.layers]
    order = []
    for mro in kinds:
        for name, cls in (("conv", keras.layers.Conv2D), ("bn", keras.layers.BatchNormalization),
                          ("relu", keras.layers.ReLU), ("pool", keras.layers.MaxPooling2D)):
            if cls in mro:
                order.append(name)
    relu_as_activation = [layer for layer in convs if layer.get_config().get("activation") == "relu"]
    assert not relu_as_activation, (
        "put the ReLU after batch normalisation (a ReLU layer), not inside the convolution")
    block = ["conv", "bn", "relu", "conv", "bn", "relu", "pool"]
    assert order == block * len(widths), (
        f"layer order: expected {block} in each of the {len(widths)} blocks, got {order}")
    spatial = [tuple(layer.output.shape[1:3]) for layer in pools]
    expected_spatial = [(32 // 2 ** (i + 1),) * 2 for i in range(len(widths))]
    assert spatial == expected_spatial, f"resolution after each pool: want {expected_spatial}, got {spatial}"
    assert _layers_of(model, keras.layers.GlobalAveragePooling2D), (
        "global average pooling before the classifier is missing")
    dense = _layers_of(model, keras.layers.Dense)
    assert len(dense) == 1 and dense[0].units == 10, (
        f"the network ends in one Dense layer with 10 units (the classifier); found "
        f"{len(dense)} Dense layer(s)")
    _every_layer_accounted_for(model)
    activation = dense[-1].get_config().get("activation")
    assert activation == "softmax", f"the classifier's activation is {activation!r}, want 'softmax'"


# What the course network is made of; anything else is not the lesson's network.
_NETWORK_LAYERS = (keras.layers.InputLayer, keras.layers.Normalization, keras.layers.Conv2D,
                   keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.MaxPooling2D,
                   keras.layers.GlobalAveragePooling2D, keras.layers.Dropout, keras.layers.Dense)


def _every_layer_accounted_for(model: keras.Model) -> None:
    """Exactly the lesson's layers, in one chain: no extra branch, layer or second input."""
    assert len(model.inputs) == 1 and len(model.outputs) == 1, (
        "the network takes one input (the images) and gives one output (the probabilities)")
    for layer in model.layers:
        if isinstance(layer, keras.Sequential) and layer.name == "augmentation":
            continue
        assert isinstance(layer, _NETWORK_LAYERS), (
            f"layer {layer.name!r} ({type(layer).__name__}) is not part of the lesson's network "
            f"(normalisation, conv blocks, global pooling, dropout, one Dense classifier)")
    assert len(_layers_of(model, keras.layers.GlobalAveragePooling2D)) == 1, (
        "one global average pooling before the classifier")
    assert len(_layers_of(model, keras.layers.Dropout)) <= 1, "at most one Dropout layer"


def _augmentation_layers(augmentation) -> list:
    return list(getattr(augmentation, "layers", [augmentation]))


def check_random_crop(random_crop):
    """``random_crop(images, padding, rng)``: each image zero-padded by ``padding`` on every
    side, then one window of the original size cut out at its own random place."""
    rng = np.random.default_rng(0)
    # 200 images: a correct crop reaches every offset from 0 to 2 * padding in each axis
    # (one offset missed by all of them: (4/5)**200, about 1e-19).
    images = rng.integers(1, 255, (200, 8, 8, 3)).astype("float32")  # no zeros: padding shows
    padding = 2
    out = to_numpy(random_crop(images, padding, np.random.default_rng(1)))
    assert out.shape == images.shape, (
        f"the crops have shape {out.shape}, want {images.shape}: the same size as the input")
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    size = images.shape[1]
    offsets = []
    for index, (crop, source) in enumerate(zip(out, padded)):
        found = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
                 if np.array_equal(source[dy:dy + size, dx:dx + size], crop)]
        assert found, (
            f"image {index} is not a {size}x{size} window of the image padded with {padding} "
            f"zeros on each side. Hint: pad with zeros first, then cut out a window whose "
            f"top-left corner lies between 0 and 2 * padding")
        offsets.append(found[0])
    assert len(set(offsets)) > 1, (
        "every image was cropped at the same place: draw a new position for each image "
        "(keras' RandomCrop draws one per batch)")
    for axis, name in ((0, "vertical"), (1, "horizontal")):
        reached = sorted({offset[axis] for offset in offsets})
        assert reached == list(range(2 * padding + 1)), (
            f"over {len(images)} images the {name} offsets were only {reached}; a window may "
            f"start anywhere from 0 to 2 * padding = {2 * padding}, both ends included. Hint: "
            f"rng.integers(low, high) never returns high")
    assert np.array_equal(to_numpy(random_crop(images, 0, np.random.default_rng(2))), images), (
        "with padding 0 the only window is the image itself")


def check_random_flip(random_flip):
    """``random_flip(images, rng)``: each image mirrored left-right with probability 1/2."""
    images = np.random.default_rng(0).integers(0, 255, (200, 4, 6, 3)).astype("float32")
    out = to_numpy(random_flip(images, np.random.default_rng(1)))
    assert out.shape == images.shape, f"the output has shape {out.shape}, want {images.shape}"
    mirrored = images[:, :, ::-1]
    flipped = []
    for index, (result, image, mirror) in enumerate(zip(out, images, mirrored)):
        if np.array_equal(result, image[::-1]) and not np.array_equal(result, mirror):
            raise AssertionError(f"image {index} is upside down: flip the width axis "
                                 f"(axis 1 of an image, 2 of a batch), not the height")
        assert np.array_equal(result, image) or np.array_equal(result, mirror), (
            f"image {index} is neither the image nor its left-right mirror")
        flipped.append(np.array_equal(result, mirror))
    share = float(np.mean(flipped))
    assert 0.35 <= share <= 0.65, (
        f"{share:.0%} of the images were flipped, want about half: flip each image on its own "
        f"coin toss")


def check_augmentation_structure(augmentation, padding: int = 4):
    """A crop after ``padding`` pixels of zero padding, a horizontal flip and random erasing."""
    from ..augmentation import RandomCropWithPadding

    steps = _augmentation_layers(augmentation)
    crops = [s for s in steps if isinstance(s, RandomCropWithPadding)]
    assert crops, "no RandomCropWithPadding layer: crop 32x32 after zero padding"
    assert crops[0].padding == padding, f"crop padding is {crops[0].padding}, want {padding}"
    flips = [s for s in steps if isinstance(s, keras.layers.RandomFlip)]
    assert flips, "no RandomFlip layer"
    assert flips[0].mode == "horizontal", (
        f"flip mode {flips[0].mode!r}: upside-down cats are not CIFAR cats, flip 'horizontal' only")
    erasers = [s for s in steps if isinstance(s, keras.layers.RandomErasing)]
    assert erasers, "no RandomErasing layer"
    assert tuple(erasers[0].value_range) == (0, 255), (
        f"RandomErasing value_range is {erasers[0].value_range}: the images are 0-255 here")


def check_erasing_share(augmentation, erasing_probability: float | None):
    """Its ``RandomErasing`` (in ``augmentation``, or in a model's augmentation block) erases
    a share ``erasing_probability`` of the images (``None``: keras' default, half of them),
    measured on 800 flat images."""
    def erasers_in(layer):
        if isinstance(layer, keras.layers.RandomErasing):
            return [layer]
        return [found for inner in getattr(layer, "layers", []) for found in erasers_in(inner)]

    erasers = erasers_in(augmentation)
    assert erasers, "no RandomErasing layer"
    expected = 0.5 if erasing_probability is None else erasing_probability
    flat = np.full((800, 32, 32, 3), 10.0, dtype="float32")
    erased = to_numpy(erasers[0](flat, training=True))
    share = float((erased != 10.0).any(axis=(1, 2, 3)).mean())
    assert abs(share - expected) < 0.06, (
        f"built with erasing_probability={erasing_probability}, RandomErasing erased "
        f"{share:.0%} of 800 images, want {expected:.0%}. Hint: RandomErasing(factor=(p, p)) "
        f"erases a share p; its default factor=1.0 erases half")


def check_augmentation_behaviour(augmentation, images: np.ndarray):
    """Training changes pixels, inference does not; both keep the shape."""
    images = to_numpy(images[:32]).astype("float32")
    trained = keras.ops.convert_to_numpy(augmentation(images, training=True))
    inferred = keras.ops.convert_to_numpy(augmentation(images, training=False))
    assert trained.shape == images.shape, (
        f"augmentation changed the shape in training: {images.shape} -> {trained.shape}")
    assert inferred.shape == images.shape, (
        f"augmentation changed the shape at inference: {images.shape} -> {inferred.shape}")
    assert np.array_equal(inferred, images), "augmentation must do nothing at inference"
    changed = np.mean([not np.array_equal(a, b) for a, b in zip(trained, images)])
    assert changed >= 0.5, f"augmentation changed only {changed:.0%} of the images in training"


def check_regularization(model: keras.Model, dropout: float = 0.5, l2: float = 2.5e-4,
                         images: np.ndarray | None = None):
    """Dropout ``dropout`` before the classifier, L2 ``l2`` on every kernel, no dropout at inference."""
    drops = _layers_of(model, keras.layers.Dropout)
    assert len(drops) == 1, f"expected one Dropout layer, found {len(drops)}"
    assert abs(drops[0].rate - dropout) < 1e-9, f"dropout rate {drops[0].rate}, want {dropout}"
    names = [layer.name for layer in model.layers]
    classifier = _layers_of(model, keras.layers.Dense)[-1]
    assert names.index(drops[0].name) == names.index(classifier.name) - 1, (
        "the dropout belongs right before the classifier")
    for layer in _layers_of(model, keras.layers.Conv2D) + [classifier]:
        regularizer = layer.kernel_regularizer
        assert isinstance(regularizer, keras.regularizers.L2), (
            f"{layer.name}: no L2 kernel regularizer")
        assert abs(float(regularizer.l2) - l2) < 1e-12, f"{layer.name}: L2 {regularizer.l2}, want {l2}"
    if images is not None:
        first = predict_proba(model, images[:16])
        second = predict_proba(model, images[:16])
        assert np.array_equal(first, second), "predictions differ between calls: dropout is on at inference"


def check_inverted_dropout(inverted_dropout):
    """``inverted_dropout(x, rate, training, seed)``: zero a share ``rate``, scale the rest by
    1 / (1 - rate) in training; the identity at inference."""
    x = np.full((400, 50), 3.0, dtype="float32")
    for rate in (0.5, 0.2):
        out = to_numpy(inverted_dropout(x, rate, True, 0))
        assert out.shape == x.shape, f"the output's shape is {out.shape}, want {x.shape}"
        dropped = float((out == 0).mean())
        assert abs(dropped - rate) < 0.03, (
            f"rate {rate}: {dropped:.1%} of the values are zero, want about {rate:.0%}")
        kept = out[out != 0]
        assert np.allclose(kept, 3.0 / (1 - rate), rtol=1e-4), (
            f"rate {rate}: the kept values are {np.unique(kept)[:3]}, want 3 / (1 - {rate}) = "
            f"{3.0 / (1 - rate):.4f}. Hint: scale the survivors so that the mean is unchanged")
        assert abs(out.mean() - 3.0) < 0.15, f"rate {rate}: the mean moved from 3.0 to {out.mean():.3f}"
    assert np.array_equal(to_numpy(inverted_dropout(x, 0.5, False, 0)), x), (
        "at inference (training=False) dropout must return its input unchanged")


def check_l2_penalty(l2_penalty):
    """``l2_penalty(w, l2) -> (penalty, gradient)``: keras' ``L2(l2)`` and its gradient."""
    w = np.array([[0.5, -1.0], [2.0, 0.0]], dtype=np.float64)
    for l2 in (2.5e-4, 0.1):
        penalty, gradient = (to_numpy(a) for a in l2_penalty(w, l2))
        regularizer = keras.regularizers.L2(l2)
        expected = float(keras.ops.convert_to_numpy(regularizer(w.astype("float32"))))
        _close(float(penalty), expected, f"the penalty for l2={l2} (keras' L2 gives it)",
               atol=1e-6 * max(1.0, expected))
        step = 1e-3  # keras' own penalty, differentiated numerically
        numerical = np.zeros_like(w)
        for index in np.ndindex(w.shape):
            up, down = w.copy(), w.copy()
            up[index] += step
            down[index] -= step
            numerical[index] = (float(keras.ops.convert_to_numpy(regularizer(up.astype("float32"))))
                                - float(keras.ops.convert_to_numpy(
                                    regularizer(down.astype("float32"))))) / (2 * step)
        assert np.allclose(gradient, numerical, atol=1e-4 * max(1.0, l2 * 10)), (
            f"l2={l2}: your gradient {np.round(gradient, 6).tolist()}, the numerical gradient of "
            f"keras' penalty {np.round(numerical, 6).tolist()}. Hint: the derivative of "
            f"l2 * w**2 is 2 * l2 * w")


# --- lesson 04: label smoothing -------------------------------------------------------

def check_smoothed_cross_entropy(smoothed_cross_entropy):
    """``smoothed_cross_entropy(y_true, y_pred, smoothing)``: the batch mean, as keras computes it."""
    rng = np.random.default_rng(0)
    y_true = np.eye(10, dtype="float32")[rng.integers(0, 10, 8)]
    logits = rng.normal(size=(8, 10))
    y_pred = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype("float32")
    for smoothing in (0.0, 0.1, 0.3):
        expected = float(keras.ops.convert_to_numpy(
            keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(y_true, y_pred)))
        actual = float(to_numpy(smoothed_cross_entropy(y_true, y_pred, smoothing)))
        assert abs(actual - expected) < 1e-4, (
            f"smoothing {smoothing}: your loss is {actual:.5f}, keras' CategoricalCrossentropy "
            f"gives {expected:.5f}. Hint: smooth the targets, then -sum(target * log(p)) per "
            f"image, averaged over the batch")


def check_smooth_labels(smooth_labels):
    targets = np.array([[0, 1, 0, 0], [1, 0, 0, 0]], dtype="float32")
    _close(smooth_labels(targets, 0.1), [[0.025, 0.925, 0.025, 0.025], [0.925, 0.025, 0.025, 0.025]],
           "smooth_labels(one_hot, 0.1) on 4 classes")
    _close(smooth_labels(targets, 0.0), targets, "smooth_labels(one_hot, 0.0)")


def check_loss_floor(loss_floor):
    """``loss_floor(smoothing, n_classes)``: the least smoothed cross-entropy any prediction
    can reach, the entropy of the smoothed target."""
    for smoothing, classes in ((0.0, 10), (0.1, 10), (0.2, 4)):
        on, off = 1 - smoothing + smoothing / classes, smoothing / classes
        expected = -(on * np.log(on) + (classes - 1) * (off * np.log(off) if off else 0.0))
        actual = float(to_numpy(loss_floor(smoothing, classes)))
        assert abs(actual - expected) < 1e-6, (
            f"smoothing {smoothing}, {classes} classes: your floor is {actual:.5f}, want "
            f"{expected:.5f}. Hint: the loss is lowest when the prediction equals the smoothed "
            f"target; it is then -sum(t * log t) (with 0 * log 0 = 0)")


ADAM_L2_CASE = {"weights": [1.0, -2.0, 0.5], "gradients": [[0.1, -0.3, 2.0], [0.2, 0.1, -1.0]],
                "learning_rate": 0.01, "l2": 0.05}


def check_adam_l2_step(adam_l2_step):
    """``adam_l2_step(w, g, m, v, t, learning_rate, l2) -> (w, m, v)``: keras' Adam fed the
    loss gradient plus the L2 term's, ``g + 2 * l2 * w``, over two steps."""
    case = ADAM_L2_CASE
    _compare_steps(
        keras.optimizers.Adam(learning_rate=case["learning_rate"]), case,
        lambda w, g, m, v, t: adam_l2_step(w, g, m, v, t, case["learning_rate"], case["l2"]),
        keras_gradient=lambda g, w: g + 2 * case["l2"] * w,
        what="keras' Adam on the L2-penalised loss",
        hint="add the L2 term's gradient to g, then take a plain Adam step (your adamw_step "
             "with no decay)")


def _compare_steps(optimizer, case, step, what: str, hint: str, keras_gradient=None):
    """Drive keras' ``optimizer`` and the student's ``step(w, g, m, v, t) -> (w, m, v)`` with
    the case's gradients from the same weights; the weights must agree after every step."""
    variable = keras.Variable(np.array(case["weights"], dtype="float32"), name="kernel")
    w = np.array(case["weights"], dtype=np.float64)
    m = v = np.zeros_like(w)
    for t, gradient in enumerate(case["gradients"], start=1):
        gradient = np.array(gradient)
        fed = keras_gradient(gradient, keras.ops.convert_to_numpy(variable)) if keras_gradient \
            else gradient
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(fed.astype("float32")), variable)])
        w, m, v = (to_numpy(a) for a in step(w, gradient, m, v, t))
        expected = keras.ops.convert_to_numpy(variable)
        assert np.allclose(w, expected, atol=1e-5), (
            f"after step {t} your weights are {np.round(w, 6).tolist()}, {what} gives "
            f"{np.round(expected, 6).tolist()}. Hint: {hint}")


def check_label_smoothing_loss(loss, smoothing: float = 0.1):
    """The loss smooths its targets by ``smoothing`` and equals the formula on an example."""
    assert isinstance(loss, keras.losses.CategoricalCrossentropy), (
        f"use keras.losses.CategoricalCrossentropy (one-hot targets), not {type(loss).__name__}")
    assert abs(loss.get_config()["label_smoothing"] - smoothing) < 1e-9, (
        f"label_smoothing is {loss.get_config()['label_smoothing']}, want {smoothing}")
    y_true = np.eye(10, dtype="float32")[[3, 7]]
    y_pred = np.full((2, 10), 0.05, dtype="float32")
    y_pred[0, 3], y_pred[1, 1] = 0.55, 0.55  # one right, one wrong
    smoothed = y_true * (1 - smoothing) + smoothing / 10
    expected = -(smoothed * np.log(y_pred)).sum(axis=1).mean()
    actual = float(keras.ops.convert_to_numpy(loss(y_true, y_pred)))
    _close(actual, expected, "the loss on a hand-made example", atol=1e-4)


# --- lesson 05: AdamW ---------------------------------------------------------------

def check_adamw(optimizer, weight_decay: float = 0.05):
    """AdamW with decoupled decay: with a zero gradient, one step shrinks w by lr * wd * w."""
    assert isinstance(optimizer, keras.optimizers.AdamW), (
        f"expected keras.optimizers.AdamW, got {type(optimizer).__name__}")
    assert abs(optimizer.weight_decay - weight_decay) < 1e-9, (
        f"weight_decay is {optimizer.weight_decay}, want {weight_decay}")
    config = optimizer.get_config()
    toy = keras.optimizers.AdamW.from_config(config)
    weight = keras.Variable(np.array([1.0, -2.0], dtype="float32"), name="toy_kernel")
    toy.apply_gradients([(keras.ops.zeros((2,)), weight)])
    lr = float(keras.ops.convert_to_numpy(toy.learning_rate))
    # Adam's part is zero for a zero gradient; an L2 term in the gradient would
    # move w by about lr (Adam normalises it), decoupled decay by lr * wd * w.
    _close(keras.ops.convert_to_numpy(weight), np.array([1.0, -2.0]) * (1 - lr * weight_decay),
           "the weight after one AdamW step with a zero gradient", atol=1e-7)


# Large enough a rate and decay that decaying after the Adam step, not before, shows
# (at 0.01 and 0.05 the two differ by 5e-6, inside the tolerance).
ADAMW_STEP_CASE = {"weights": [1.0, -2.0, 0.5], "gradients": [[0.1, -0.3, 2.0], [0.2, 0.1, -1.0]],
                   "learning_rate": 0.1, "weight_decay": 0.2}


def check_adamw_step(adamw_step):
    """``adamw_step(w, g, m, v, t, learning_rate, weight_decay) -> (w, m, v)`` matches keras'
    AdamW over two steps (decay first, then Adam's bias-corrected update)."""
    case = ADAMW_STEP_CASE
    _compare_steps(
        keras.optimizers.AdamW(learning_rate=case["learning_rate"],
                               weight_decay=case["weight_decay"]), case,
        lambda w, g, m, v, t: adamw_step(w, g, m, v, t, case["learning_rate"],
                                         case["weight_decay"]),
        what="keras' AdamW",
        hint="keras first shrinks w by learning_rate * weight_decay * w, then applies the "
             "Adam update with bias correction")


# --- lesson 06: callbacks -------------------------------------------------------------

CALLBACK_KINDS = ("ReduceLROnPlateau", "EarlyStopping", "ModelCheckpoint", "CSVLogger")
CALLBACK_FIELDS = ("monitor", "patience", "factor", "restore_best_weights", "save_best_only",
                   "min_delta", "cooldown", "min_lr", "mode", "baseline", "start_from_epoch")
# Made-up curves that tell the monitors apart: the validation loss stalls after epoch 2
# while the training loss keeps falling, so a callback acting on anything but val_loss
# behaves differently from keras' own with the settings it declares.
BEHAVIOUR_CURVES = {"val_loss": [1.0, 0.8, 0.7, 0.72, 0.71, 0.73, 0.74, 0.75, 0.76, 0.77, 0.78,
                                 0.79, 0.8, 0.81],
                    "loss": [1.0 - 0.05 * epoch for epoch in range(14)]}



def _callback_kind(callback) -> str:
    """Which of keras' callbacks it is (a subclass counts as its base), else its class name."""
    for name in CALLBACK_KINDS:
        if isinstance(callback, getattr(keras.callbacks, name)):
            return name
    return type(callback).__name__


def callback_behaviour(callback) -> dict:
    """What a plateau or early-stopping callback does on ``BEHAVIOUR_CURVES``, driven as
    ``fit`` drives it on a toy model whose weight marks the epoch: the learning rate after
    each epoch, the epoch it stops training at, and the epoch whose weights it leaves."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    callback.set_model(model)
    # A callback already used (in fit, or driven before) keeps its best value in keras 3.13
    # (its MonitorCallback sets `best` at construction only): start from the construction
    # value, as a fresh callback would; keras versions that reset it at on_train_begin do.
    if hasattr(callback, "best"):
        callback.best = getattr(callback, "baseline", None)
    callback.on_train_begin({})
    rates, stopped = [], None
    for epoch, (val_loss, loss) in enumerate(zip(BEHAVIOUR_CURVES["val_loss"],
                                                 BEHAVIOUR_CURVES["loss"])):
        model.layers[-1].kernel.assign(np.full((1, 1), float(epoch), dtype="float32"))
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {"loss": loss, "val_loss": val_loss})
        rates.append(round(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 9))
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end({})
    weights = float(keras.ops.convert_to_numpy(model.layers[-1].kernel)[0, 0])
    return {"rates": rates, "stopped_at": stopped, "weights_of_epoch": weights}


def describe_callbacks(callbacks) -> list[dict]:
    """What the callback check looks at, as plain data: which keras callback each is, the
    settings it declares, and (plateau and early stopping) what it does on made-up curves."""
    described = []
    for callback in callbacks:
        kind = _callback_kind(callback)
        entry = {"class": kind, **{f: getattr(callback, f) for f in CALLBACK_FIELDS
                                   if isinstance(getattr(callback, f, None), (int, float, str, bool))}}
        if kind in ("ReduceLROnPlateau", "EarlyStopping"):
            try:
                entry["behaviour"] = callback_behaviour(callback)
            except Exception as error:  # e.g. a monitor these curves do not have
                entry["behaviour"] = {"error": f"{type(error).__name__}: {error}"}
        described.append(entry)
    return described


def _keras_twin(entry: dict):
    """keras' own callback with the settings ``entry`` declares (monitoring val_loss)."""
    accepted = {"ReduceLROnPlateau": ("factor", "patience", "min_delta", "cooldown", "min_lr", "mode"),
                "EarlyStopping": ("patience", "min_delta", "mode", "baseline",
                                  "restore_best_weights", "start_from_epoch")}[entry["class"]]
    kind = getattr(keras.callbacks, entry["class"])
    import inspect

    known = inspect.signature(kind).parameters
    settings = {k: entry[k] for k in accepted if k in entry and k in known}
    if "min_delta" in settings:
        settings["min_delta"] = abs(settings["min_delta"])  # keras stores it signed after use
    return kind(monitor="val_loss", **settings)


def check_callbacks(callbacks, patience: int = 5, factor: float | None = None):
    """ReduceLROnPlateau (its ``factor``, if given), EarlyStopping (patience 5, best weights),
    checkpoint, CSV log; the plateau and early-stopping callbacks must act as keras' own
    with the settings they declare, monitoring val_loss."""
    described = [c if isinstance(c, dict) else describe_callbacks([c])[0] for c in callbacks]
    kinds = {c["class"]: c for c in described}
    for needed in CALLBACK_KINDS:
        assert needed in kinds, f"no {needed} in the callbacks (got {sorted(kinds)})"
    for name in ("ReduceLROnPlateau", "EarlyStopping", "ModelCheckpoint"):
        monitor = kinds[name].get("monitor")
        assert monitor == "val_loss", f"{name} monitors {monitor!r}: monitor 'val_loss'"
    reduce, stop, checkpoint = kinds["ReduceLROnPlateau"], kinds["EarlyStopping"], kinds["ModelCheckpoint"]
    for name in ("ReduceLROnPlateau", "EarlyStopping"):
        expected = callback_behaviour(_keras_twin(kinds[name]))
        actual = kinds[name].get("behaviour")
        assert actual == expected, (
            f"your {name} does not act as keras' {name} with the settings it declares "
            f"(monitoring val_loss): on a made-up run whose validation loss stalls while the "
            f"training loss falls it gave {actual}, keras' gives {expected}. Use keras' own "
            f"{name}, or act on logs['val_loss'] as it does")
    assert 0 < reduce["factor"] < 1, f"ReduceLROnPlateau factor {reduce['factor']} must lie in (0, 1)"
    if factor is not None:
        assert abs(reduce["factor"] - factor) < 1e-12, (
            f"ReduceLROnPlateau factor {reduce['factor']}, want {factor}: pass the factor you are given")
    assert stop["patience"] == patience, f"EarlyStopping patience {stop['patience']}, want {patience}"
    assert stop["restore_best_weights"], "EarlyStopping must restore the best weights"
    assert reduce["patience"] < stop["patience"], (
        f"ReduceLROnPlateau patience ({reduce['patience']}) must be below EarlyStopping's "
        f"({stop['patience']}), or training stops before the learning rate ever drops")
    assert checkpoint["save_best_only"], (
        "ModelCheckpoint should keep the best model (save_best_only=True)")


# A made-up validation loss with the cases a plateau rule must get right: progress after
# one bad epoch (the count restarts), a tie with the best (not progress), drops down to
# the floor.
PLATEAU_CASE = {"val_losses": [1.0, 0.95, 0.97, 0.94, 0.96, 0.94, 0.90, 0.91, 0.92, 0.93, 0.95,
                               0.96, 0.97, 0.98],
                "factor": 0.5, "patience": 2, "min_lr": 0.002, "learning_rate": 0.01}


def learning_rates_under(callback, val_losses, learning_rate: float = 0.01) -> list[float]:
    """The learning rate after each epoch when ``callback`` sees ``val_losses``, one an epoch.

    Drives the callback as ``fit`` would (``on_train_begin``, then ``on_epoch_end``
    with the epoch's logs) on a toy model, without training it.
    """
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    callback.set_model(model)
    # Positional arguments, as keras' CallbackList passes them: a student's
    # ``on_train_begin(self, logs)`` without a default is as right as keras' own.
    callback.on_train_begin({})
    rates = []
    for epoch, loss in enumerate(val_losses):
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {"val_loss": float(loss)})
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return rates


def check_plateau_callback(schedule):
    """``schedule(val_losses, factor, patience, min_lr)``: the learning rates under the
    student's own plateau callback equal keras' ``ReduceLROnPlateau``'s, epoch by epoch."""
    case = PLATEAU_CASE
    keras_rule = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=case["factor"],
                                                   patience=case["patience"], min_delta=0,
                                                   min_lr=case["min_lr"], verbose=0)
    expected = learning_rates_under(keras_rule, case["val_losses"], case["learning_rate"])
    actual = [float(r) for r in to_numpy(schedule(case["val_losses"], case["factor"],
                                                  case["patience"], case["min_lr"]))]
    assert len(actual) == len(expected), (
        f"{len(actual)} learning rates for {len(expected)} epochs: one per epoch")
    for epoch, (mine, theirs) in enumerate(zip(actual, expected), start=1):
        assert abs(mine - theirs) < 1e-7, (
            f"after epoch {epoch} (val_loss {case['val_losses'][:epoch]}) your learning rate is "
            f"{mine:g}, ReduceLROnPlateau's is {theirs:g}; all of yours: {actual}, keras': "
            f"{expected}. Hint: count the epochs since the best val_loss; when the count reaches "
            f"the patience, multiply the rate by the factor (not below min_lr) and start "
            f"counting again")


def check_final_recipe(model, optimizer, loss, callbacks):
    """The capstone: augmentation, dropout 0.5 without L2, AdamW 0.05, smoothing 0.1, callbacks."""
    check_baseline_structure(model)
    augmentation = [layer for layer in model.layers if layer.name == "augmentation"]
    assert augmentation, "no augmentation block (a layer named 'augmentation') in front of the network"
    check_augmentation_structure(augmentation[0])
    drops = _layers_of(model, keras.layers.Dropout)
    assert len(drops) == 1 and abs(drops[0].rate - 0.5) < 1e-9, "one Dropout(0.5) before the classifier"
    with_l2 = [layer.name for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    assert not with_l2, f"AdamW decays the weights: drop the L2 penalty (still on {with_l2})"
    check_adamw(optimizer, 0.05)
    check_label_smoothing_loss(loss, 0.1)
    check_callbacks(callbacks)


# --- lessons 07 and 08 -----------------------------------------------------------------

def check_cat_dog_confusion(cat_dog_confusion):
    cat, dog = CLASS_NAMES.index("cat"), CLASS_NAMES.index("dog")
    matrix = np.diag(np.full(10, 50))
    matrix[cat, cat], matrix[cat, dog], matrix[cat, 0] = 30, 15, 5
    matrix[dog, dog], matrix[dog, cat] = 40, 10
    result = cat_dog_confusion(matrix)
    _close([result["cat_as_dog"], result["dog_as_cat"]], [0.3, 0.2],
           "cat_as_dog and dog_as_cat on a hand-made matrix")


def _prediction_case(seed: int = 0, n: int = 500):
    """Labels and made-up probabilities of a middling, over-confident 10-class model."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10)) * 2
    logits[np.arange(n), labels] += rng.normal(4.0, 2.0, n)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def check_confusion_matrix(confusion_matrix):
    """``confusion_matrix(labels, predictions, n_classes)``: rows true, columns predicted."""
    from sklearn.metrics import confusion_matrix as reference

    labels, probabilities = _prediction_case()
    predictions = probabilities.argmax(axis=1)
    expected = reference(labels, predictions, labels=list(range(10)))
    actual = to_numpy(confusion_matrix(labels, predictions, 10))
    assert actual.shape == (10, 10), f"the matrix is {actual.shape}, want (10, 10)"
    if np.array_equal(actual, expected.T):
        raise AssertionError("your matrix is the transpose of scikit-learn's: rows are the true "
                             "classes, columns the predicted ones")
    assert np.array_equal(actual, expected), (
        f"your matrix differs from scikit-learn's confusion_matrix in "
        f"{int((actual != expected).sum())} cells (first row: yours {actual[0].tolist()}, "
        f"want {expected[0].tolist()}). Hint: add one to [true, predicted] for each image")


def check_expected_calibration_error(expected_calibration_error):
    """``expected_calibration_error(probabilities, labels, n_bins)`` equals the course's ECE."""
    from ..evaluation import expected_calibration_error as reference

    for seed, n_bins in ((0, 15), (1, 10)):
        labels, probabilities = _prediction_case(seed)
        expected = reference(probabilities, labels, n_bins)
        actual = float(to_numpy(expected_calibration_error(probabilities, labels, n_bins)))
        assert abs(actual - expected) < 1e-6, (
            f"{n_bins} bins: your ECE is {actual:.5f}, want {expected:.5f}. Hint: put each "
            f"image in the equal-width bin of its confidence (the largest probability; "
            f"confidence 1.0 goes in the last bin), then average |accuracy - mean confidence| "
            f"over the bins, each weighted by its share of the images")


def check_ablation_deltas(ablation_deltas):
    result = ablation_deltas({"baseline": 0.5, "augmentation": 0.6, "dropout": 0.55})
    assert list(result) == ["augmentation", "dropout"], (
        f"one delta per stage after the first, in order: got keys {list(result)}")
    _close(list(result.values()), [0.1, -0.05], "the deltas")


def recompute_test_accuracy(model, x_test, y_test) -> float:
    probabilities = predict_proba(model, x_test)
    assert np.all(np.isfinite(probabilities)), (
        "the model outputs NaN: training diverged (the loss became NaN). Lower the learning "
        "rate, or look for a division by zero or a log of zero in your code")
    return float((probabilities.argmax(axis=1) == np.ravel(y_test)).mean())


def check_test_accuracy(model, stage: str, profile: Profile | str, data=None, references=None,
                        under_grader: bool = False) -> str:
    """Recompute the model's test accuracy and compare it with the stage's reference band.

    ``under_grader`` is set by the grader's checker alone (never by a notebook):
    the data must then be the references' own copy, and a stage must have a band.
    """
    from ..training import prepare_data

    profile = get_profile(profile)
    data = data or prepare_data(profile)
    accuracy = recompute_test_accuracy(model, data.x_test, data.y_test)
    if profile.synthetic:
        assert accuracy >= SMOKE_MINIMUM_ACCURACY, (
            f"smoke profile: test accuracy {accuracy:.3f} is no better than chance")
        return f"smoke profile (no reference): test accuracy {accuracy:.3f}, better than chance"
    references = references if references is not None else load_references()
    same_data, mine, theirs = same_copy_as_references(data.source, profile.name, references)
    if under_grader:
        # The grader refuses another copy before the first student (autograde); this
        # is the last guard, for a checker started some other way.
        assert same_data, (
            f"grader set-up: the test data is {mine}, not {theirs}, which the {profile.name} "
            f"references were measured on: grade with the references' copy, or measure the "
            f"references on this one (cifar-course references run --profile {profile.name})")
    try:
        band = reference_band(stage, profile.name, references=references)
    except MissingReferenceError as missing:
        assert not under_grader, (
            f"grader set-up: no {profile.name} reference for stage {stage!r}; grade in a "
            f"profile that has one (cifar-course references show)")
        assert accuracy >= NO_REFERENCE_MINIMUM_ACCURACY, (
            f"test accuracy {accuracy:.4f} is below {NO_REFERENCE_MINIMUM_ACCURACY:.2f}: the "
            f"model learned little (chance is 0.10). Look at the training curves: does the "
            f"training loss fall?")
        return (f"NOT COMPARED WITH A REFERENCE: test accuracy {accuracy:.4f} was checked only "
                f"against a floor of {NO_REFERENCE_MINIMUM_ACCURACY:.2f} (chance: 0.10), because "
                f"stage {stage!r} has no band in the {profile.name} profile yet "
                f"({str(missing).split(': a band')[0]}). Choose a profile with bands "
                f"(PROFILE = 'quick') to have your run compared")
    if not same_data:
        floor = band.low - OTHER_COPY_ALLOWANCE
        assert accuracy >= floor, (
            f"test accuracy {accuracy:.4f} is below {floor:.4f}, the floor of the {profile.name} "
            f"band of stage {stage!r} ({band.describe()}) less {100 * OTHER_COPY_ALLOWANCE:g} "
            f"points, since your data is {mine}, not {theirs}. Hint: compare your model and "
            f"training settings with what the lesson asks for; the curves show whether it "
            f"trained at all")
        return (f"test accuracy {accuracy:.4f}: above the floor {floor:.4f}. Your data is {mine}; "
                f"the references were measured on {theirs}, so only the floor is checked (the "
                f"band's low end less {100 * OTHER_COPY_ALLOWANCE:g} points), not the upper end: "
                f"the same model can score a few points apart on two copies (on canonical "
                f"CIFAR-10, higher)")
    assert accuracy >= band.low, (
        f"test accuracy {accuracy:.4f} is below the {profile.name} reference band of stage "
        f"{stage!r}: {band.describe()}. Hint: compare your model and training settings with "
        f"what the lesson asks for; the curves show whether it trained at all")
    assert accuracy <= band.high, (
        f"test accuracy {accuracy:.4f} is above the {profile.name} reference band of stage "
        f"{stage!r}: {band.describe()}. No model trained as this stage asks reaches that in "
        f"this budget on {theirs}: check that the test images were used for nothing but this "
        f"measurement, and that the recipe is the stage's")
    return f"test accuracy {accuracy:.4f} within the reference band: {band.describe()}"


def same_copy_as_references(source, profile: str, references: dict) -> tuple[bool, str, str]:
    """(whether ``source`` holds the images the profile's references were measured on,
    the student's copy in words, the references' copy in words), told by content."""
    from ..data.copies import describe_copy, known_copy

    measured = references.get("profiles", {}).get(profile, {}).get("provenance", {}).get("data", {})
    expected = known_copy(archive_sha256=measured.get("sha256"))
    expected_content = expected.content_sha256 if expected else measured.get("content_sha256")
    theirs = describe_copy(measured.get("kind", ""), measured.get("sha256"), expected_content)
    if source is None:
        return False, "synthetic images", theirs
    mine = describe_copy(source.kind, source.sha256, source.content_sha256, source.path)
    same = (source.sha256 is not None and source.sha256 == measured.get("sha256")) or (
        source.content_sha256 is not None and source.content_sha256 == expected_content)
    return same, mine, theirs


# --- lesson 09: the speedrun --------------------------------------------------------

def _photo_like_images(seed: int = 0, n: int = 48) -> np.ndarray:
    """Made-up normalised images whose neighbouring pixels and channels correlate (as in
    photographs) and whose mean is not zero, so that an uncentred covariance is not a centred one."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, 33, 33, 3))
    smooth = (noise[:, :-1, :-1] + noise[:, 1:, :-1] + noise[:, :-1, 1:] + noise[:, 1:, 1:]) / 2
    mixing = np.array([[1.0, 0.6, 0.4], [0.6, 1.0, 0.6], [0.4, 0.6, 1.0]])
    return (smooth @ mixing + 0.5).astype(np.float32)


def check_whitening_kernel(whitening_kernel, eps: float = 5e-4):
    """``whitening_kernel(images, size, eps)``: eigenvectors over root eigenvalues, then negations."""
    from ..speedrun.model import patches

    images = _photo_like_images()
    kernel = to_numpy(whitening_kernel(images, 2, eps))
    assert kernel.shape == (2, 2, 3, 24), (
        f"the kernel is {kernel.shape}, want (2, 2, 3, 24): keras' layout (height, width, "
        f"channels in, filters), 12 whitening filters and their 12 negations")
    assert np.allclose(kernel[..., 12:], -kernel[..., :12], atol=1e-5), (
        "filters 12-23 must be the negations of filters 0-11 (in the same order)")
    flat = patches(images.astype(np.float64), 2)  # what a Conv2D with this kernel sees
    eigenvalues = np.linalg.eigvalsh(flat.T @ flat / len(flat))[::-1]
    outputs = flat @ kernel[..., :12].reshape(12, 12)
    covariance = outputs.T @ outputs / len(outputs)
    want = eigenvalues / (eigenvalues + eps)
    off_diagonal = np.abs(covariance - np.diag(np.diag(covariance))).max()
    assert off_diagonal < 1e-3, (
        f"the 12 filters' outputs on the patches are correlated (largest covariance between two "
        f"of them {off_diagonal:.3g}, want about 0). Hint: the filters are the eigenvectors of "
        f"the patches' covariance (np.linalg.eigh), and a patch is flattened in keras' kernel "
        f"order (height, width, channel)")
    got = np.diag(covariance)
    assert np.allclose(got, want, atol=1e-3), (
        f"the outputs' variances are {np.round(got, 3).tolist()}, want "
        f"{np.round(want, 3).tolist()} (eigenvalue / (eigenvalue + eps), largest eigenvalue "
        f"first). Hint: divide each eigenvector by sqrt(eigenvalue + eps), and order the "
        f"filters by decreasing eigenvalue (eigh returns them increasing); use the uncentred "
        f"covariance, patches.T @ patches / n")


def check_dirac_kernel(dirac_kernel):
    """``dirac_kernel(kernel)``: the first min(in, out) filters pass their own channel through."""
    rng = np.random.default_rng(0)
    for shape in ((3, 3, 4, 6), (3, 3, 6, 4)):
        kernel = rng.uniform(-0.3, 0.3, shape).astype(np.float32)
        original = kernel.copy()
        result = to_numpy(dirac_kernel(kernel))
        assert np.array_equal(kernel, original), "leave the kernel you are given unchanged: return a new one"
        assert result.shape == shape, f"kernel {shape}: the result is {result.shape}, want the same shape"
        n = min(shape[2], shape[3])
        identity = np.zeros(shape[:3] + (n,))
        identity[1, 1, np.arange(n), np.arange(n)] = 1.0
        assert np.allclose(result[..., :n], identity), (
            f"kernel {shape}: filter i < {n} must be 1 at the centre [1, 1] of input channel i "
            f"and 0 everywhere else (so that it outputs its input channel i unchanged)")
        assert np.allclose(result[..., n:], original[..., n:]), (
            f"kernel {shape}: filters {n} and up must keep their random initial weights")


def check_flip_schedule(flip_schedule):
    """``flip_schedule(n, epochs, seed)``: random in epoch 0, then every image alternates."""
    schedule = to_numpy(flip_schedule(1000, 6, 0)).astype(bool)
    assert schedule.shape == (6, 1000), (
        f"the schedule is {schedule.shape}, want (epochs, images) = (6, 1000)")
    share = schedule[0].mean()
    assert 0.4 < share < 0.6, (
        f"{share:.0%} of the images are flipped in the first epoch, want about half, chosen at "
        f"random image by image")
    for epoch in range(1, 6):
        assert np.array_equal(schedule[epoch], ~schedule[epoch - 1]), (
            f"epoch {epoch}: every image must be flipped exactly when it was not in epoch "
            f"{epoch - 1} ({int((schedule[epoch] == schedule[epoch - 1]).sum())} images are not)")
    again = to_numpy(flip_schedule(1000, 6, 0)).astype(bool)
    other = to_numpy(flip_schedule(1000, 6, 1)).astype(bool)
    assert np.array_equal(again, schedule), "the same seed must give the same schedule"
    assert not np.array_equal(other[0], schedule[0]), (
        "seeds 0 and 1 give the same first epoch: draw it from a generator seeded with `seed`")


class _LinearModel:
    """A made-up classifier with a ``predict`` like keras', not symmetric under flips or shifts."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(scale=3e-4, size=(32 * 32 * 3, 10))  # logits of a few units

    def predict(self, images, batch_size=None, verbose=0):
        logits = np.asarray(images, dtype=np.float64).reshape(len(images), -1) @ self.weights
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def check_tta_probabilities(tta_probabilities):
    """``tta_probabilities(predict, images)``: the course's level-2 test-time augmentation."""
    from ..speedrun.pipeline import predict_tta

    model = _LinearModel()
    images = np.random.default_rng(1).integers(0, 256, (16, 32, 32, 3)).astype(np.float32)
    want = predict_tta(model, images, level=2)
    got = to_numpy(tta_probabilities(model.predict, images))
    assert got.shape == want.shape, f"the result is {got.shape}, want {want.shape} (images, classes)"
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-6), "each image's probabilities must sum to 1"
    assert np.allclose(got, want, atol=1e-6), (
        f"first image: yours {np.round(got[0], 4).tolist()}, want {np.round(want[0], 4).tolist()}. "
        f"Hint: six views (the image, shifted one pixel up-left and down-right with reflect "
        f"padding, then each of the three mirrored left-right: shift first, mirror the shifted "
        f"view), weights 1/4 for the image and its mirror and 1/8 for each shifted view; average "
        f"the log-probabilities, then normalise with a softmax")
