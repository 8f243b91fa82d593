"""Lesson 01 (the baseline CNN): output sizes, receptive fields, the network's structure, the
sanity checks before training, the training loop.
"""

from __future__ import annotations

import keras
import numpy as np

from .common import to_numpy
from .probes import TRAINING_KEYS, TRAINING_PROBE_RATE, TRAINING_PROBES, training_behaviour


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


# The sanity checks' probe: a softmax over the pixels of 8 made-up images, with weights drawn
# from numpy (the same in every process, and the notebook's random state untouched). Adam
# at 1e-3 fits it in 30 steps (measured: 2.85 to 0.004).
SANITY_STEPS, SANITY_LEARNING_RATE = 30, 1e-3


def _probe():
    """A fresh probe model, the probe's images (uint8) and their integer labels."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 32, 32, 3)).astype("uint8")
    labels = rng.integers(0, 10, 8)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.layers[-1].set_weights([rng.normal(0, 0.02, (32 * 32 * 3, 10)).astype("float32"),
                                  np.zeros(10, "float32")])
    return model, images, labels


def _cross_entropy(probabilities, labels) -> float:
    probabilities = to_numpy(probabilities)
    return float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels])))


def check_initial_loss(initial_loss):
    """``initial_loss(model, images, labels)``: the model's mean cross-entropy on the images."""
    model, images, labels = _probe()
    want = _cross_entropy(model.predict(images, verbose=0), labels)
    got = float(to_numpy(initial_loss(model, images, labels)))
    assert abs(got - want) < 1e-4, (
        f"initial_loss gives {got:.4f} on the check's model and images, want {want:.4f}: the "
        f"mean over the images of -ln(the probability the model gives the true class). Hint: "
        f"model.predict, then the natural log (np.log) of each image's true-class probability")
    uniform = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                                keras.layers.Dense(10, activation="softmax",
                                                   kernel_initializer="zeros")])
    got = float(to_numpy(initial_loss(uniform, images, labels)))
    assert abs(got - np.log(10)) < 1e-4, (
        f"a model that gives every class 1/10 has a loss of ln 10 = {np.log(10):.4f}; your "
        f"initial_loss gives {got:.4f}")


def check_overfit_one_batch(overfit_one_batch):
    """``overfit_one_batch(model, images, labels, steps, learning_rate)``: each step's loss
    while Adam fits the model to that one batch, as keras' own training records it."""
    model, images, labels = _probe()
    got = to_numpy(overfit_one_batch(model, images, labels, SANITY_STEPS, SANITY_LEARNING_RATE))
    assert got.shape == (SANITY_STEPS,), (
        f"overfit_one_batch returned shape {got.shape}, want one loss per step: "
        f"({SANITY_STEPS},) for {SANITY_STEPS} steps")
    reference, _, _ = _probe()  # the same model, fitted here with keras' Adam
    reference.compile(optimizer=keras.optimizers.Adam(SANITY_LEARNING_RATE),
                      loss="categorical_crossentropy")
    targets = keras.utils.to_categorical(labels, 10)
    want = []
    for _ in range(SANITY_STEPS):
        # keras 3.10's train_on_batch returns the mean over its calls so far (3.15's, the
        # step's own loss): reset first, so that it is the step's own in every version.
        reference.reset_metrics()
        want.append(float(to_numpy(reference.train_on_batch(images, targets))))
    want = np.array(want)
    assert abs(got[0] - want[0]) < 1e-3, (
        f"the first loss is {got[0]:.4f}, want {want[0]:.4f}, the untrained model's: record "
        f"the loss of each training step as it is taken (train_on_batch returns it), not the "
        f"loss measured after the step")
    worst = int(np.argmax(np.abs(got - want)))
    assert np.allclose(got, want, atol=1e-3), (
        f"step {worst + 1}: loss {got[worst]:.4f}, want {want[worst]:.4f} (keras' Adam at "
        f"learning_rate {SANITY_LEARNING_RATE}, categorical cross-entropy, the whole batch "
        f"each step, {SANITY_STEPS} steps, each step's own loss: not a mean over the steps "
        f"so far, which train_on_batch gives in some keras versions without reset_metrics)")


def check_training_loop(train):
    """``train(model, data, profile)``: compiles the model with Adam at
    ``profile.learning_rate``, categorical cross-entropy and accuracy, fits it once on
    ``data.x_train`` for ``profile.epochs`` epochs of ``profile.batch_size`` images with
    validation on ``data.x_val``, and returns fit's History. Judged by what it does to a
    small model and data of the check's own, with settings no lesson uses
    (``probes.training_behaviour``), not by the lesson's model or history."""
    runs = training_behaviour(train)
    for name, (n_train, n_val, epochs, batch_size) in TRAINING_PROBES.items():
        run = runs[name]
        setting = (f"(called with profile.epochs={epochs}, profile.batch_size={batch_size}, "
                   f"profile.learning_rate={TRAINING_PROBE_RATE} and {n_train} training images)")
        assert run["is_history"] and run["history"] is not None, (
            f"train_baseline returned a {run['returned']}; return what model.fit returns "
            f"(a keras History)")
        assert run["same_model"], (
            "the History returned is from fitting another model: compile and fit the model "
            "train_baseline is given")
        history = run["history"]
        missing = [key for key in TRAINING_KEYS if key not in history]
        assert not missing, (
            f"the history has no {', '.join(map(repr, missing))} (it has {sorted(history)}): "
            f"compile with metrics=['accuracy'] and pass validation_data to fit")
        ran = len(history["loss"])
        assert ran == epochs, (
            f"fit ran {ran} epoch(s) {setting}: train for profile.epochs")
        want = epochs * -(-n_train // batch_size)
        assert run["steps"] == want, (
            f"the optimizer took {run['steps']} steps {setting}; {epochs} epoch(s) of "
            f"{n_train} images in batches of {batch_size} take {want}. Pass "
            f"batch_size=profile.batch_size to one fit on data.x_train")
        val_after = run["val_after"]
        assert (abs(history["val_loss"][-1] - val_after["cross_entropy"]) < 1e-3
                and abs(history["val_accuracy"][-1] - val_after["accuracy"]) < 1e-6), (
            f"the last epoch's val_loss and val_accuracy are {history['val_loss'][-1]:.4f} and "
            f"{history['val_accuracy'][-1]:.3f}; the trained model's categorical cross-entropy "
            f"and accuracy on data.x_val are {val_after['cross_entropy']:.4f} and "
            f"{val_after['accuracy']:.3f}: validate on (data.x_val, one-hot data.y_val), with "
            f"categorical cross-entropy as the loss")
    one_step = runs["one_step"]
    first, want = one_step["history"]["loss"][0], one_step["train_before"]["cross_entropy"]
    assert abs(first - want) < 1e-3, (
        f"the loss fit reported for a single step over all of data.x_train is {first:.4f}; "
        f"the model's categorical cross-entropy on those images before the step is "
        f"{want:.4f}: minimise categorical cross-entropy (no smoothing) on data.x_train "
        f"with its labels one-hot")
    # Adam's first step moves every weight with a gradient by about the learning rate
    # (the gradient divided by its own size); SGD by rate * gradient, RMSprop by ~3x.
    live = np.asarray(one_step["live_steps"])
    live = live[live > TRAINING_PROBE_RATE / 100]
    assert live.size, "training moved none of the model's weights: fit the model you are given"
    ratio = float(np.median(live)) / TRAINING_PROBE_RATE
    assert 0.98 < ratio < 1.001, (
        f"on its first step the optimizer moved the weights by a median of {ratio:.3g} times "
        f"profile.learning_rate ({TRAINING_PROBE_RATE}); keras.optimizers.Adam at "
        f"learning_rate=profile.learning_rate moves each by about 1 times it")
    assert one_step["dead_step"] < 1e-9, (
        f"weights that get no gradient moved by up to {one_step['dead_step']:.2g} in one step: "
        f"the optimizer decays weights (AdamW?). This lesson trains with plain "
        f"keras.optimizers.Adam")


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

