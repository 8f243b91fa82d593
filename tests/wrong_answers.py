"""Plausible wrong answers, per lesson, and the check that must reject each.

Each entry is ``(lesson, mistake, check, arguments)``: ``arguments()`` builds
the keyword arguments of ``checks.<check>`` holding the wrong answer. These
are the mistakes students make (a transform left on at inference, the wrong
axis or scale, smoothing applied twice, decay in the wrong place, the wrong
monitor, a technique missing); the checks that need no training decide them
the same way every time. ``benchmarks/grading_power.py`` runs them for the
table in ``docs/grading-power.md``; ``tests/test_wrong_answers.py`` keeps every
one rejected.
"""

from __future__ import annotations

import numpy as np


def _keras():
    import keras

    return keras


# --- lesson 00 ----------------------------------------------------------------------

def _stats_per_image(images):
    x = np.asarray(images, dtype=np.float64)
    return x.mean(axis=(1, 2))[0], x.std(axis=(1, 2))[0]


def _stats_scaled(images):
    x = np.asarray(images, dtype=np.float64).reshape(-1, 3) / 255
    return x.mean(axis=0), x.std(axis=0)


def _stats_swapped(images):
    x = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    return x.std(axis=0), x.mean(axis=0)


def _stats_variance(images):
    x = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    return x.mean(axis=0), x.var(axis=0)


def _stats_wrong_axis(images):
    x = np.asarray(images, dtype=np.float64)
    return x.mean(axis=(0, 1, 3))[:3], x.std(axis=(0, 1, 3))[:3]


# --- lesson 01 ----------------------------------------------------------------------

def _size_no_plus_one(size, kernel, stride, padding):
    return -(-size // stride) if padding == "same" else (size - kernel) // stride


def _size_ignores_stride(size, kernel, stride, padding):
    return size if padding == "same" else size - kernel + 1


def _size_same_as_valid(size, kernel, stride, padding):
    return (size - kernel) // stride + 1


def _field_adds_kernels(layers):
    field, fields = 1, []
    for _, kernel in layers:
        field += kernel - 1
        fields.append(field)
    return fields


def _field_multiplies(layers):
    field, fields = 1, []
    for _, kernel in layers:
        field *= kernel
        fields.append(field)
    return fields


def _model(block_layers, widths=(32, 64, 128), dense_extra=False, pool="global"):
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = layers.Normalization(mean=[0, 0, 0], variance=[1, 1, 1])(inputs)
    for filters in widths:
        x = block_layers(x, filters)
    x = layers.GlobalAveragePooling2D()(x) if pool == "global" else layers.Flatten()(x)
    if dense_extra:
        x = layers.Dense(64, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def _block(bn=True, convs=2, pool=True):
    def block(x, filters):
        layers = _keras().layers
        for _ in range(convs):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            if bn:
                x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        return layers.MaxPooling2D(2)(x) if pool else x
    return block


def _true_class_probability(model, images, labels):
    probabilities = model.predict(images, verbose=0)
    return probabilities[np.arange(len(labels)), labels]


def _loss_of_predicted_class(model, images, labels):
    return float(-np.mean(np.log(model.predict(images, verbose=0).max(axis=1))))


def _loss_log10(model, images, labels):
    return float(-np.mean(np.log10(_true_class_probability(model, images, labels))))


def _loss_summed(model, images, labels):
    return float(-np.sum(np.log(_true_class_probability(model, images, labels))))


def _overfit(measure_after=False, optimizer="adam", only_last=False, fit=False,
             running_mean=False):
    """``overfit_one_batch`` as written correctly (the defaults: ``train_on_batch`` after
    ``reset_metrics``) or with one mistake."""
    def overfit_one_batch(model, images, labels, steps, learning_rate):
        keras = _keras()
        chosen = (keras.optimizers.Adam if optimizer == "adam" else keras.optimizers.SGD)(
            learning_rate=learning_rate)
        model.compile(optimizer=chosen, loss="categorical_crossentropy")
        targets = keras.utils.to_categorical(labels, 10)
        if fit:
            return model.fit(images, targets, epochs=steps, batch_size=len(images),
                             verbose=0).history["loss"]
        losses = []
        for _ in range(steps):
            model.reset_metrics()
            loss = float(model.train_on_batch(images, targets))
            losses.append(model.evaluate(images, targets, verbose=0) if measure_after else loss)
        if running_mean:  # what keras 3.10's train_on_batch reports without reset_metrics
            return list(np.cumsum(losses) / np.arange(1, steps + 1))
        return losses[-1] if only_last else losses
    return overfit_one_batch


def _train(optimizer="adam", learning_rate=None, batch_size=None, epochs=None, fits=1,
           loss="categorical_crossentropy", validate_on="val", metrics=("accuracy",),
           returns="history", one_hot=None):
    """A ``train_baseline(model, data, profile)`` as the lesson asks (the defaults) or with
    one mistake: a setting hard-coded, another optimizer or loss, the wrong data."""
    keras = _keras()

    def train_baseline(model, data, profile):
        rate = learning_rate or profile.learning_rate
        chosen = {"adam": lambda: keras.optimizers.Adam(learning_rate=rate),
                  "sgd": lambda: keras.optimizers.SGD(learning_rate=rate),
                  "adamw": lambda: keras.optimizers.AdamW(learning_rate=rate)}[optimizer]()
        model.compile(optimizer=chosen, loss=loss, metrics=list(metrics))
        encode = one_hot or (lambda labels: keras.utils.to_categorical(labels, 10))
        x_val, y_val = (data.x_train, data.y_train) if validate_on == "train" else (data.x_val,
                                                                                    data.y_val)
        for _ in range(fits):
            history = model.fit(data.x_train, encode(data.y_train),
                                validation_data=(x_val, encode(y_val)),
                                epochs=epochs or profile.epochs,
                                batch_size=batch_size or profile.batch_size, verbose=0)
        return history.history if returns == "dict" else history
    return train_baseline


def _train_made_up(model, data, profile):
    """A History made up without training: the keys and lengths right, the model compiled,
    fit never called (what a notebook that fakes its training hands over)."""
    keras = _keras()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=profile.learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = {key: list(np.linspace(2.3, 1.0, profile.epochs))
                       for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return history


# --- lesson 02 ----------------------------------------------------------------------

def _crop_same_place(images, padding, rng):
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    y, x = rng.integers(0, 2 * padding + 1, 2)
    return padded[:, y:y + h, x:x + w]


def _crop_short_of_full_padding(images, padding, rng):
    """The crop the lesson's hint invites: rng.integers' upper end is exclusive."""
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    out = np.empty_like(images)
    for index in range(n):
        y, x = rng.integers(0, 2 * padding, 2)
        out[index] = padded[index, y:y + h, x:x + w]
    return out


def _crop_no_padding(images, padding, rng):
    return np.roll(images, tuple(rng.integers(-padding, padding + 1, 2)), axis=(1, 2))


def _crop_resized(images, padding, rng):
    return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def _flip_vertical(images, rng):
    out = images.copy()
    flip = rng.random(len(images)) < 0.5
    out[flip] = images[flip][:, ::-1]
    return out


def _flip_every_image(images, rng):
    return images[:, :, ::-1]


def _flip_whole_batch(images, rng):
    return images[:, :, ::-1] if rng.random() < 0.5 else images


def _augmentation_on_at_inference():
    keras = _keras()

    class AlwaysOn(keras.layers.Layer):
        def call(self, x, training=None):
            return keras.ops.flip(x, axis=2)

    return keras.Sequential([AlwaysOn()], name="augmentation")


def _augmentation_keras_crop():
    keras = _keras()
    layers = keras.layers
    return keras.Sequential([layers.ZeroPadding2D(4), layers.RandomCrop(32, 32),
                             layers.RandomFlip("horizontal"),
                             layers.RandomErasing(value_range=(0, 255))], name="augmentation")


def _augmentation(flip="horizontal", value_range=(0, 255), erasing_factor=1.0):
    """The lesson's pipeline, with the flip mode, the erasing's value range or its factor given."""
    from cifar_course.augmentation import RandomCropWithPadding

    layers = _keras().layers
    # Seeded, so that a check measuring what it does gives the same verdict every time.
    return _keras().Sequential([RandomCropWithPadding(4, seed=0), layers.RandomFlip(flip, seed=1),
                                layers.RandomErasing(factor=erasing_factor, value_range=value_range,
                                                     seed=2)],
                               name="augmentation")


# --- lesson 03 ----------------------------------------------------------------------

def _dropout_not_rescaled(x, rate, training, seed=0):
    if not training:
        return x
    return np.where(np.random.default_rng(seed).random(np.shape(x)) >= rate, x, 0.0)


def _dropout_scaled_down(x, rate, training, seed=0):
    if not training:
        return x
    keep = np.random.default_rng(seed).random(np.shape(x)) >= rate
    return np.where(keep, np.asarray(x) * (1 - rate), 0.0)


def _dropout_at_inference(x, rate, training, seed=0):
    keep = np.random.default_rng(seed).random(np.shape(x)) >= rate
    return np.where(keep, np.asarray(x) / (1 - rate), 0.0)


def _dropout_keeps_rate(x, rate, training, seed=0):
    if not training:
        return x
    keep = np.random.default_rng(seed).random(np.shape(x)) < rate * 0.6
    return np.where(keep, np.asarray(x) / (1 - rate), 0.0)


def _dropout_rescales_at_inference(x, rate, training, seed=0):
    if not training:
        return np.asarray(x) * (1 - rate)
    keep = np.random.default_rng(seed).random(np.shape(x)) >= rate
    return np.where(keep, np.asarray(x) / (1 - rate), 0.0)


def _l2_no_two(w, l2):
    return l2 * np.sum(np.square(w)), l2 * np.asarray(w)


def _l2_norm_not_squared(w, l2):
    return l2 * np.sqrt(np.sum(np.square(w))), 2 * l2 * np.asarray(w)


# --- lesson 04 ----------------------------------------------------------------------

def _sweep(mistake):
    def sweep(train_one, rates, seeds):
        out = {}
        for rate in rates:
            if mistake == "arguments swapped":
                values = [train_one(seed, rate) for seed in seeds]
            elif mistake == "first seed only":
                values = [train_one(rate, seeds[0])] * len(seeds)
            else:
                values = [train_one(rate, seed) for seed in seeds]
            spread = np.std(values, ddof=0 if mistake == "population std" else 1)
            out[rate] = (np.mean(values), spread if mistake != "variance" else spread ** 2)
        if mistake == "sorted by accuracy":
            out = dict(sorted(out.items(), key=lambda item: -item[1][0]))
        return out
    return sweep


def _smooth_over_others(one_hot, smoothing):
    one_hot = np.asarray(one_hot, dtype=np.float64)
    k = one_hot.shape[-1]
    return one_hot * (1 - smoothing) + (1 - one_hot) * smoothing / (k - 1)


def _smooth_twice(one_hot, smoothing):
    once = np.asarray(one_hot, dtype=np.float64) * (1 - smoothing) + smoothing / np.shape(one_hot)[-1]
    return once * (1 - smoothing) + smoothing / np.shape(one_hot)[-1]


def _smooth_no_mass_kept(one_hot, smoothing):
    return np.asarray(one_hot, dtype=np.float64) * (1 - smoothing)


def _ce_sum_over_batch(y_true, y_pred, smoothing):
    t = np.asarray(y_true) * (1 - smoothing) + smoothing / np.shape(y_true)[-1]
    return float(-(t * np.log(np.clip(y_pred, 1e-7, 1))).sum())


def _ce_unsmoothed(y_true, y_pred, smoothing):
    return float(-(np.asarray(y_true) * np.log(np.clip(y_pred, 1e-7, 1))).sum(axis=-1).mean())


def _floor_zero(smoothing, n_classes):
    return 0.0


def _floor_of_one_hot_prediction(smoothing, n_classes):
    on = 1 - smoothing + smoothing / n_classes
    return float(-on * np.log(on))


def _gradient(f, x, h=1e-5, one_sided=False, halved=True, restore=True):
    x = np.asarray(x, dtype=np.float64)
    gradient = np.zeros_like(x)
    for i in range(x.size):
        kept = x.flat[i]
        x.flat[i] = kept + h
        above = f(x)
        x.flat[i] = kept if one_sided else kept - h
        below = f(x)
        if restore:
            x.flat[i] = kept
        gradient.flat[i] = (above - below) / (h if one_sided or not halved else 2 * h)
    return gradient


def _gradient_on_copies(f, x, h=1e-5):
    gradient = []
    for i in range(len(x)):
        step = np.zeros(len(x))
        step[i] = h
        gradient.append((f(x + step) - f(x - step)) / (2 * h))
    return gradient


def _softmax(z, shifted=True):
    with np.errstate(over="ignore", invalid="ignore"):  # the naive one overflows: its mistake
        e = np.exp(z - z.max() if shifted else z)
        return e / e.sum()


def _ce_gradient(mistake):
    def gradient(logits, targets):
        logits, targets = np.asarray(logits, dtype=np.float64), np.asarray(targets, dtype=np.float64)
        p = _softmax(logits, shifted=mistake != "naive softmax")
        return {"sign": targets - p, "no targets": p, "naive softmax": p - targets,
                "by probabilities": -targets / p, "one-hot": p - np.eye(len(p))[targets.argmax()]
                }[mistake]
    return gradient


def _loss_sparse():
    return _keras().losses.SparseCategoricalCrossentropy()


def _loss_wrong_smoothing():
    return _keras().losses.CategoricalCrossentropy(label_smoothing=0.2)


def _loss_none():
    return _keras().losses.CategoricalCrossentropy()


def _loss_claiming_smoothing():
    """Keras' class in name and config (smoothing 0.1), plain cross-entropy in what it
    computes: its config alone rebuilds keras' smoothed loss (issue 32)."""
    keras = _keras()

    class CategoricalCrossentropy(keras.losses.CategoricalCrossentropy):
        def call(self, y_true, y_pred):
            return keras.losses.categorical_crossentropy(y_true, y_pred)

    CategoricalCrossentropy.__module__ = "keras.losses"
    return CategoricalCrossentropy(label_smoothing=0.1)


# --- lesson 05 ----------------------------------------------------------------------

def _adam(w, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-7, correct=True):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if correct else (m, v)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _adamw_decay_after(w, g, m, v, t, learning_rate, weight_decay):
    w, m, v = _adam(w, g, m, v, t, learning_rate)
    return w - learning_rate * weight_decay * w, m, v


def _adamw_decay_not_scaled(w, g, m, v, t, learning_rate, weight_decay):
    return _adam(w - weight_decay * w, g, m, v, t, learning_rate)


def _adamw_no_bias_correction(w, g, m, v, t, learning_rate, weight_decay):
    return _adam(w - learning_rate * weight_decay * w, g, m, v, t, learning_rate, correct=False)


def _adamw_decay_in_gradient(w, g, m, v, t, learning_rate, weight_decay):
    return _adam(w, g + weight_decay * w, m, v, t, learning_rate)


def _adam_l2_no_two(w, g, m, v, t, learning_rate, l2):
    return _adam(w, g + l2 * w, m, v, t, learning_rate)


def _adam_l2_decoupled(w, g, m, v, t, learning_rate, l2):
    return _adam(w - learning_rate * 2 * l2 * w, g, m, v, t, learning_rate)


def _optimizer_adam():
    return _keras().optimizers.Adam(1e-3)


def _optimizer_default_decay():
    return _keras().optimizers.AdamW(1e-3)


def _optimizer_sgd():
    return _keras().optimizers.SGD(1e-3, weight_decay=0.05)


def _adamw(excluded=("bias", "gamma", "beta")):
    """AdamW 0.05 excluding the variables whose names match ``excluded`` (none: decays all)."""
    optimizer = _keras().optimizers.AdamW(1e-3, weight_decay=0.05)
    if excluded:
        optimizer.exclude_from_weight_decay(var_names=list(excluded))
    return optimizer


# --- lesson 06 ----------------------------------------------------------------------

class _Plateau:
    """A plateau rule with one mistake, made a keras callback by ``_plateau``."""

    def __init__(self, mistake):
        self.mistake = mistake

    def rates(self, losses, factor, patience, min_lr, learning_rate=0.01):
        best, waited, rate, out = float("inf"), 0, learning_rate, []
        for loss in losses:
            better = loss <= best if self.mistake == "ties count" else loss < best
            if better:
                best = loss
                waited = waited if self.mistake == "no reset on progress" else 0
            else:
                waited += 1
            if waited >= patience + (1 if self.mistake == "off by one" else 0):
                rate = rate * factor if self.mistake == "no floor" else max(rate * factor, min_lr)
                waited = waited if self.mistake == "no reset after a drop" else 0
            out.append(rate)
        return out


def _plateau(mistake):
    return lambda val_losses, factor, patience, min_lr: _Plateau(mistake).rates(
        val_losses, factor, patience, min_lr)


def _lying_callbacks(kind: str):
    """Callbacks whose plateau or early stopping reports monitor='val_loss' but acts on the
    training loss: a check that reads attributes passes it (issue 32)."""
    keras = _keras()
    base = getattr(keras.callbacks, kind)

    class Lying(base):
        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            logs["val_loss"] = logs.get("loss", logs.get("val_loss"))
            return super().on_epoch_end(epoch, logs)

    Lying.__name__ = kind  # and named as keras' own
    callbacks = _callbacks()
    settings = {"ReduceLROnPlateau": {"monitor": "val_loss", "factor": 0.2, "patience": 2},
                "EarlyStopping": {"monitor": "val_loss", "patience": 5,
                                  "restore_best_weights": True}}[kind]
    return [Lying(**settings) if isinstance(c, base) else c for c in callbacks]


def _callbacks(monitor="val_loss", restore=True, plateau_patience=2, stop_patience=5,
               best_only=True, missing=None, factor=0.2):
    keras = _keras()
    callbacks = {
        "ReduceLROnPlateau": keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=factor,
                                                                patience=plateau_patience),
        "EarlyStopping": keras.callbacks.EarlyStopping(monitor=monitor, patience=stop_patience,
                                                       restore_best_weights=restore),
        "ModelCheckpoint": keras.callbacks.ModelCheckpoint("/tmp/best.keras", monitor=monitor,
                                                           save_best_only=best_only),
        "CSVLogger": keras.callbacks.CSVLogger("/tmp/history.csv"),
    }
    return [c for name, c in callbacks.items() if name != missing]


# --- lesson 07 ----------------------------------------------------------------------

def _cam(mistake):
    def class_activation_map(features, weights, class_index):
        cam = features @ weights[:, class_index]
        if mistake == "rescaled":
            return (cam - cam.min()) / (cam.max() - cam.min())
        if mistake == "unweighted":
            return features.mean(axis=-1)
        if mistake == "bias at every position":
            return cam + 1.0
        if mistake == "relu":
            return np.maximum(cam, 0)
        if mistake == "softmax weights":
            soft = np.exp(weights) / np.exp(weights).sum(axis=1, keepdims=True)
            return features @ soft[:, class_index]
        raise ValueError(mistake)
    return class_activation_map


def _confusion(labels, predictions, n, transpose=False, normalise=False):
    matrix = np.zeros((n, n))
    for t, p in zip(np.ravel(labels), np.ravel(predictions)):
        matrix[t, p] += 1
    if normalise:
        matrix = matrix / matrix.sum(axis=1, keepdims=True)
    return matrix.T if transpose else matrix


def _ece(probabilities, labels, n_bins, mistake):
    probabilities = np.asarray(probabilities)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.ravel(labels)
    if mistake == "overall gap":
        return abs(correct.mean() - confidence.mean())
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    gaps, weights = [], []
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            gaps.append(correct[inside].mean() - confidence[inside].mean())
            weights.append(inside.mean())
    gaps, weights = np.array(gaps), np.array(weights)
    if mistake == "unweighted":
        return float(np.abs(gaps).mean())
    if mistake == "signed":
        return float(abs((weights * gaps).sum()))
    if mistake == "squared":
        return float((weights * gaps ** 2).sum())
    raise ValueError(mistake)


def _cat_dog(matrix, mistake):
    from cifar_course.data import CLASS_NAMES

    matrix = np.asarray(matrix, dtype=np.float64)
    cat, dog = CLASS_NAMES.index("cat"), CLASS_NAMES.index("dog")
    if mistake == "columns":
        return {"cat_as_dog": matrix[cat, dog] / matrix[:, dog].sum(),
                "dog_as_cat": matrix[dog, cat] / matrix[:, cat].sum()}
    if mistake == "swapped":
        return {"cat_as_dog": matrix[dog, cat] / matrix[dog].sum(),
                "dog_as_cat": matrix[cat, dog] / matrix[cat].sum()}
    if mistake == "counts":
        return {"cat_as_dog": matrix[cat, dog], "dog_as_cat": matrix[dog, cat]}
    raise ValueError(mistake)


def _deltas(accuracies, mistake):
    names = list(accuracies)
    if mistake == "against the baseline":
        return {n: accuracies[n] - accuracies[names[0]] for n in names[1:]}
    if mistake == "reversed":
        return {b: accuracies[a] - accuracies[b] for a, b in zip(names, names[1:])}
    if mistake == "includes the first":
        return {n: accuracies[n] - accuracies[names[max(0, i - 1)]] for i, n in enumerate(names)}
    raise ValueError(mistake)


# --- lesson 09 ----------------------------------------------------------------------

def _whitening(images, size, eps, mistake):
    images = np.asarray(images, dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    order = (0, 1, 2, 3, 4, 5) if mistake == "channels first" else (0, 1, 2, 4, 5, 3)
    patches = windows.transpose(order).reshape(-1, size * size * images.shape[-1])
    if mistake == "centred":
        patches = patches - patches.mean(axis=0)
    values, vectors = np.linalg.eigh(patches.T @ patches / len(patches))
    if mistake != "ascending":
        values, vectors = values[::-1], vectors[:, ::-1]
    scale = {"unscaled": np.ones_like(values), "by the eigenvalue": values + eps}.get(
        mistake, np.sqrt(values + eps))
    kernel = (vectors / scale).reshape(size, size, images.shape[-1], -1)
    return kernel if mistake == "no negations" else np.concatenate([kernel, -kernel], axis=-1)


def _dirac(kernel, mistake):
    kernel = np.array(kernel, copy=True)
    kh, kw, cin, cout = kernel.shape
    n = min(cin, cout)
    if mistake == "every filter":
        kernel[...] = 0
        kernel[kh // 2, kw // 2, np.arange(cout) % cin, np.arange(cout)] = 1
        return kernel
    if mistake != "added to the random weights":
        kernel[..., :n] = 0
    row, col = (0, 0) if mistake == "corner" else (kh // 2, kw // 2)
    kernel[row, col, np.arange(n), np.arange(n)] += 1
    return kernel


def _flips(n, epochs, seed, mistake):
    rng = np.random.default_rng(0 if mistake == "ignores the seed" else seed)
    if mistake == "random every epoch":
        return rng.random((epochs, n)) < 0.5
    if mistake == "the whole epoch at once":
        return np.stack([np.full(n, e % 2 == 1) for e in range(epochs)])
    first = rng.random(n) < 0.5
    if mistake == "never alternates":
        return np.stack([first] * epochs)
    return np.stack([first if e % 2 == 0 else ~first for e in range(epochs)])


def _tta(predict, images, mistake):
    images = np.asarray(images)
    pad_mode = "constant" if mistake == "zero padding" else "reflect"
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], mode=pad_mode)
    views = [(0.25, images), (0.125, padded[:, :32, :32]), (0.125, padded[:, 2:, 2:])]
    if mistake == "equal weights":
        views = [(1 / 6, v) for _, v in views]
    mirror = (lambda x: x[:, ::-1]) if mistake == "flipped upside down" else (lambda x: x[:, :, ::-1])
    if mistake == "mirrored before shifting":  # the mirror image, then shifted: other views
        flipped = np.pad(images[:, :, ::-1], [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
        mirrored = [images[:, :, ::-1], flipped[:, :32, :32], flipped[:, 2:, 2:]]
    else:
        mirrored = [mirror(view) for _, view in views]
    total = 0.0
    for (weight, view), flipped_view in zip(views, mirrored):
        for v in (view, flipped_view):
            p = predict(np.ascontiguousarray(v))
            total = total + weight * (p if mistake == "averages probabilities" else np.log(p))
    if mistake == "averages probabilities":
        return total / total.sum(axis=1, keepdims=True)
    p = np.exp(total - total.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


CATALOGUE = [
    ("00_setup_and_data", "statistics per image, not over the whole batch", "check_channel_statistics",
     lambda: {"channel_statistics": _stats_per_image}),
    ("00_setup_and_data", "pixels scaled to [0, 1] first", "check_channel_statistics",
     lambda: {"channel_statistics": _stats_scaled}),
    ("00_setup_and_data", "mean and std swapped", "check_channel_statistics",
     lambda: {"channel_statistics": _stats_swapped}),
    ("00_setup_and_data", "variance instead of standard deviation", "check_channel_statistics",
     lambda: {"channel_statistics": _stats_variance}),
    ("00_setup_and_data", "reduced over the wrong axes", "check_channel_statistics",
     lambda: {"channel_statistics": _stats_wrong_axis}),

    ("01_baseline_cnn", "output size without the +1", "check_output_size",
     lambda: {"conv_output_size": _size_no_plus_one}),
    ("01_baseline_cnn", "output size ignores the stride", "check_output_size",
     lambda: {"conv_output_size": _size_ignores_stride}),
    ("01_baseline_cnn", "'same' padding computed as 'valid'", "check_output_size",
     lambda: {"conv_output_size": _size_same_as_valid}),
    ("01_baseline_cnn", "receptive field adds kernels, ignoring strides", "check_receptive_field",
     lambda: {"receptive_field": _field_adds_kernels}),
    ("01_baseline_cnn", "receptive field multiplies kernels", "check_receptive_field",
     lambda: {"receptive_field": _field_multiplies}),
    ("01_baseline_cnn", "conv block without batch normalisation", "check_baseline_structure",
     lambda: {"model": _model(_block(bn=False))}),
    ("01_baseline_cnn", "one convolution per block", "check_baseline_structure",
     lambda: {"model": _model(_block(convs=1))}),
    ("01_baseline_cnn", "no max pooling", "check_baseline_structure",
     lambda: {"model": _model(_block(pool=False))}),
    ("01_baseline_cnn", "widths 16, 32, 64", "check_baseline_structure",
     lambda: {"model": _model(_block(), widths=(16, 32, 64))}),
    ("01_baseline_cnn", "an extra hidden Dense layer", "check_baseline_structure",
     lambda: {"model": _model(_block(), dense_extra=True)}),

    ("01_baseline_cnn", "initial loss from the predicted class, not the true one",
     "check_initial_loss", lambda: {"initial_loss": _loss_of_predicted_class}),
    ("01_baseline_cnn", "initial loss with log10", "check_initial_loss",
     lambda: {"initial_loss": _loss_log10}),
    ("01_baseline_cnn", "initial loss summed over the images", "check_initial_loss",
     lambda: {"initial_loss": _loss_summed}),
    ("01_baseline_cnn", "each step's loss measured after the step", "check_overfit_one_batch",
     lambda: {"overfit_one_batch": _overfit(measure_after=True)}),
    ("01_baseline_cnn", "plain SGD instead of Adam", "check_overfit_one_batch",
     lambda: {"overfit_one_batch": _overfit(optimizer="sgd")}),
    ("01_baseline_cnn", "only the last step's loss", "check_overfit_one_batch",
     lambda: {"overfit_one_batch": _overfit(only_last=True)}),
    ("01_baseline_cnn", "the mean of the losses so far, not each step's", "check_overfit_one_batch",
     lambda: {"overfit_one_batch": _overfit(running_mean=True)}),
    ("01_baseline_cnn", "batches of 32 written in, not the profile's", "check_training_loop",
     lambda: {"train": _train(batch_size=32)}),
    ("01_baseline_cnn", "fit run twice on the same model", "check_training_loop",
     lambda: {"train": _train(fits=2)}),
    ("01_baseline_cnn", "10 epochs written in, not the profile's", "check_training_loop",
     lambda: {"train": _train(epochs=10)}),
    ("01_baseline_cnn", "learning rate 1e-3 written in, not the profile's",
     "check_training_loop", lambda: {"train": _train(learning_rate=1e-3)}),
    ("01_baseline_cnn", "plain SGD instead of Adam", "check_training_loop",
     lambda: {"train": _train(optimizer="sgd")}),
    ("01_baseline_cnn", "AdamW (keras' default decay) instead of Adam", "check_training_loop",
     lambda: {"train": _train(optimizer="adamw")}),
    ("01_baseline_cnn", "label smoothing in the loss", "check_training_loop",
     lambda: {"train": _train(loss=_keras().losses.CategoricalCrossentropy(label_smoothing=0.1))}),
    ("01_baseline_cnn", "validated on the training images", "check_training_loop",
     lambda: {"train": _train(validate_on="train")}),
    ("01_baseline_cnn", "no accuracy metric", "check_training_loop",
     lambda: {"train": _train(metrics=())}),
    ("01_baseline_cnn", "returns history.history, not the History", "check_training_loop",
     lambda: {"train": _train(returns="dict")}),
    ("01_baseline_cnn", "a History made up, fit never called", "check_training_loop",
     lambda: {"train": _train_made_up}),

    ("02_data_augmentation", "one crop position for the whole batch", "check_random_crop",
     lambda: {"random_crop": _crop_same_place}),
    ("02_data_augmentation", "offsets that never reach 2 * padding", "check_random_crop",
     lambda: {"random_crop": _crop_short_of_full_padding}),
    ("02_data_augmentation", "a shift that wraps around instead of padding", "check_random_crop",
     lambda: {"random_crop": _crop_no_padding}),
    ("02_data_augmentation", "padded but not cropped", "check_random_crop",
     lambda: {"random_crop": _crop_resized}),
    ("02_data_augmentation", "flipped upside down", "check_random_flip",
     lambda: {"random_flip": _flip_vertical}),
    ("02_data_augmentation", "every image flipped", "check_random_flip",
     lambda: {"random_flip": _flip_every_image}),
    ("02_data_augmentation", "one coin toss for the whole batch", "check_random_flip",
     lambda: {"random_flip": _flip_whole_batch}),
    ("02_data_augmentation", "a transform left on at inference", "check_augmentation_behaviour",
     lambda: {"augmentation": _augmentation_on_at_inference(),
              "images": np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3)).astype("uint8")}),
    ("02_data_augmentation", "keras' RandomCrop after ZeroPadding2D", "check_augmentation_structure",
     lambda: {"augmentation": _augmentation_keras_crop()}),
    ("02_data_augmentation", "erasing told the images are 0-1", "check_augmentation_structure",
     lambda: {"augmentation": _augmentation(value_range=(0, 1))}),
    ("02_data_augmentation", "vertical flips too", "check_augmentation_structure",
     lambda: {"augmentation": _augmentation(flip="horizontal_and_vertical")}),
    ("02_data_augmentation", "the profile's erasing share ignored (keras' default kept)",
     "check_erasing_share",
     lambda: {"augmentation": _augmentation(), "erasing_probability": 0.25}),
    ("02_data_augmentation", "factor=p given to RandomErasing (erases p/2, not p)",
     "check_erasing_share",
     lambda: {"augmentation": _augmentation(erasing_factor=0.25), "erasing_probability": 0.25}),

    ("03_dropout_weight_decay", "survivors not rescaled", "check_inverted_dropout",
     lambda: {"inverted_dropout": _dropout_not_rescaled}),
    ("03_dropout_weight_decay", "survivors multiplied by 1 - rate", "check_inverted_dropout",
     lambda: {"inverted_dropout": _dropout_scaled_down}),
    ("03_dropout_weight_decay", "dropout left on at inference", "check_inverted_dropout",
     lambda: {"inverted_dropout": _dropout_at_inference}),
    ("03_dropout_weight_decay", "the wrong share of values dropped", "check_inverted_dropout",
     lambda: {"inverted_dropout": _dropout_keeps_rate}),
    ("03_dropout_weight_decay", "rescaled at inference as well", "check_inverted_dropout",
     lambda: {"inverted_dropout": _dropout_rescales_at_inference}),
    ("03_dropout_weight_decay", "L2 gradient without the factor 2", "check_l2_penalty",
     lambda: {"l2_penalty": _l2_no_two}),
    ("03_dropout_weight_decay", "the norm instead of its square", "check_l2_penalty",
     lambda: {"l2_penalty": _l2_norm_not_squared}),
    ("03_dropout_weight_decay", "the sweep's std with n in the denominator", "check_sweep",
     lambda: {"sweep": _sweep("population std")}),
    ("03_dropout_weight_decay", "train_one called with (seed, rate)", "check_sweep",
     lambda: {"sweep": _sweep("arguments swapped")}),
    ("03_dropout_weight_decay", "every seed given the first seed's run", "check_sweep",
     lambda: {"sweep": _sweep("first seed only")}),
    ("03_dropout_weight_decay", "the variance, not the standard deviation", "check_sweep",
     lambda: {"sweep": _sweep("variance")}),
    ("03_dropout_weight_decay", "the rates sorted by accuracy, not in the order given", "check_sweep",
     lambda: {"sweep": _sweep("sorted by accuracy")}),

    ("04_label_smoothing", "smoothing spread over the other classes only", "check_smooth_labels",
     lambda: {"smooth_labels": _smooth_over_others}),
    ("04_label_smoothing", "smoothing applied twice", "check_smooth_labels",
     lambda: {"smooth_labels": _smooth_twice}),
    ("04_label_smoothing", "the removed mass not given back", "check_smooth_labels",
     lambda: {"smooth_labels": _smooth_no_mass_kept}),
    ("04_label_smoothing", "summed over the batch, not averaged", "check_smoothed_cross_entropy",
     lambda: {"smoothed_cross_entropy": _ce_sum_over_batch}),
    ("04_label_smoothing", "the targets never smoothed", "check_smoothed_cross_entropy",
     lambda: {"smoothed_cross_entropy": _ce_unsmoothed}),
    ("04_label_smoothing", "the floor taken to be 0", "check_loss_floor",
     lambda: {"loss_floor": _floor_zero}),
    ("04_label_smoothing", "the floor of the true class only", "check_loss_floor",
     lambda: {"loss_floor": _floor_of_one_hot_prediction}),
    ("04_label_smoothing", "a one-sided difference", "check_numerical_gradient",
     lambda: {"numerical_gradient": lambda f, x: _gradient(f, x, one_sided=True)}),
    ("04_label_smoothing", "a central difference divided by h, not 2h", "check_numerical_gradient",
     lambda: {"numerical_gradient": lambda f, x: _gradient(f, x, halved=False)}),
    ("04_label_smoothing", "each coordinate left nudged", "check_numerical_gradient",
     lambda: {"numerical_gradient": lambda f, x: _gradient(f, x, restore=False)}),
    ("04_label_smoothing", "the gradient's sign flipped (t - p)", "check_cross_entropy_gradient",
     lambda: {"cross_entropy_gradient": _ce_gradient("sign")}),
    ("04_label_smoothing", "the softmax without the targets", "check_cross_entropy_gradient",
     lambda: {"cross_entropy_gradient": _ce_gradient("no targets")}),
    ("04_label_smoothing", "a softmax that overflows on large logits", "check_cross_entropy_gradient",
     lambda: {"cross_entropy_gradient": _ce_gradient("naive softmax")}),
    ("04_label_smoothing", "the gradient with respect to the probabilities", "check_cross_entropy_gradient",
     lambda: {"cross_entropy_gradient": _ce_gradient("by probabilities")}),
    ("04_label_smoothing", "the one-hot target in place of the smoothed one", "check_cross_entropy_gradient",
     lambda: {"cross_entropy_gradient": _ce_gradient("one-hot")}),
    ("04_label_smoothing", "sparse cross-entropy (no smoothing)", "check_label_smoothing_loss",
     lambda: {"loss": _loss_sparse(), "smoothing": 0.1}),
    ("04_label_smoothing", "smoothing 0.2", "check_label_smoothing_loss",
     lambda: {"loss": _loss_wrong_smoothing(), "smoothing": 0.1}),
    ("04_label_smoothing", "smoothing left out of the loss", "check_label_smoothing_loss",
     lambda: {"loss": _loss_none(), "smoothing": 0.1}),
    ("04_label_smoothing", "a loss that says it smooths and does not", "check_label_smoothing_loss",
     lambda: {"loss": _loss_claiming_smoothing(), "smoothing": 0.1}),

    ("05_adamw", "decay after the Adam step", "check_adamw_step",
     lambda: {"adamw_step": _adamw_decay_after}),
    ("05_adamw", "decay not scaled by the learning rate", "check_adamw_step",
     lambda: {"adamw_step": _adamw_decay_not_scaled}),
    ("05_adamw", "no bias correction", "check_adamw_step",
     lambda: {"adamw_step": _adamw_no_bias_correction}),
    ("05_adamw", "decay put in the gradient (Adam + L2)", "check_adamw_step",
     lambda: {"adamw_step": _adamw_decay_in_gradient}),
    ("05_adamw", "Adam + L2 without the factor 2", "check_adam_l2_step",
     lambda: {"adam_l2_step": _adam_l2_no_two}),
    ("05_adamw", "Adam + L2 decoupled (that is AdamW)", "check_adam_l2_step",
     lambda: {"adam_l2_step": _adam_l2_decoupled}),
    ("05_adamw", "Adam instead of AdamW", "check_adamw",
     lambda: {"optimizer": _optimizer_adam(), "weight_decay": 0.05}),
    ("05_adamw", "AdamW's default decay (0.004)", "check_adamw",
     lambda: {"optimizer": _optimizer_default_decay(), "weight_decay": 0.05}),
    ("05_adamw", "SGD with decay", "check_adamw",
     lambda: {"optimizer": _optimizer_sgd(), "weight_decay": 0.05}),
    ("05_adamw", "biases and batch-norm parameters decayed too", "check_adamw",
     lambda: {"optimizer": _adamw(excluded=()), "weight_decay": 0.05}),
    ("05_adamw", "batch-norm's gamma and beta decayed", "check_adamw",
     lambda: {"optimizer": _adamw(excluded=("bias",)), "weight_decay": 0.05}),

    ("06_callbacks", "ties count as progress", "check_plateau_callback",
     lambda: {"schedule": _plateau("ties count")}),
    ("06_callbacks", "the count not reset after a drop", "check_plateau_callback",
     lambda: {"schedule": _plateau("no reset after a drop")}),
    ("06_callbacks", "no floor on the learning rate", "check_plateau_callback",
     lambda: {"schedule": _plateau("no floor")}),
    ("06_callbacks", "patience off by one", "check_plateau_callback",
     lambda: {"schedule": _plateau("off by one")}),
    ("06_callbacks", "the count not reset on progress", "check_plateau_callback",
     lambda: {"schedule": _plateau("no reset on progress")}),
    ("06_callbacks", "a ReduceLROnPlateau that says val_loss and acts on the training loss",
     "check_callbacks", lambda: {"callbacks": _lying_callbacks("ReduceLROnPlateau")}),
    ("06_callbacks", "an EarlyStopping that says val_loss and acts on the training loss",
     "check_callbacks", lambda: {"callbacks": _lying_callbacks("EarlyStopping")}),
    ("06_callbacks", "the wrong monitor (val_accuracy)", "check_callbacks",
     lambda: {"callbacks": _callbacks(monitor="val_accuracy")}),
    ("06_callbacks", "best weights not restored", "check_callbacks",
     lambda: {"callbacks": _callbacks(restore=False)}),
    ("06_callbacks", "plateau patience not below early stopping's", "check_callbacks",
     lambda: {"callbacks": _callbacks(plateau_patience=5)}),
    ("06_callbacks", "no EarlyStopping", "check_callbacks",
     lambda: {"callbacks": _callbacks(missing="EarlyStopping")}),
    ("06_callbacks", "checkpoint of every epoch, not the best", "check_callbacks",
     lambda: {"callbacks": _callbacks(best_only=False)}),
    ("06_callbacks", "the plateau factor fixed at 0.2, not the one given", "check_callbacks",
     lambda: {"callbacks": _callbacks(factor=0.2), "patience": 5, "factor": 0.5}),

    ("07_evaluation", "confusion matrix transposed", "check_confusion_matrix",
     lambda: {"confusion_matrix": lambda l, p, n: _confusion(l, p, n, transpose=True)}),
    ("07_evaluation", "confusion matrix normalised by rows", "check_confusion_matrix",
     lambda: {"confusion_matrix": lambda l, p, n: _confusion(l, p, n, normalise=True)}),
    ("07_evaluation", "ECE as the overall gap", "check_expected_calibration_error",
     lambda: {"expected_calibration_error": lambda p, l, b: _ece(p, l, b, "overall gap")}),
    ("07_evaluation", "ECE bins not weighted", "check_expected_calibration_error",
     lambda: {"expected_calibration_error": lambda p, l, b: _ece(p, l, b, "unweighted")}),
    ("07_evaluation", "ECE gaps signed", "check_expected_calibration_error",
     lambda: {"expected_calibration_error": lambda p, l, b: _ece(p, l, b, "signed")}),
    ("07_evaluation", "ECE gaps squared", "check_expected_calibration_error",
     lambda: {"expected_calibration_error": lambda p, l, b: _ece(p, l, b, "squared")}),
    ("07_evaluation", "cat/dog divided by the predicted column", "check_cat_dog_confusion",
     lambda: {"cat_dog_confusion": lambda m: _cat_dog(m, "columns")}),
    ("07_evaluation", "cat and dog swapped", "check_cat_dog_confusion",
     lambda: {"cat_dog_confusion": lambda m: _cat_dog(m, "swapped")}),
    ("07_evaluation", "counts, not fractions", "check_cat_dog_confusion",
     lambda: {"cat_dog_confusion": lambda m: _cat_dog(m, "counts")}),
    ("07_evaluation", "the map rescaled to [0, 1] for display", "check_class_activation_map",
     lambda: {"class_activation_map": _cam("rescaled")}),
    ("07_evaluation", "the feature maps averaged, unweighted", "check_class_activation_map",
     lambda: {"class_activation_map": _cam("unweighted")}),
    ("07_evaluation", "the bias added at every position", "check_class_activation_map",
     lambda: {"class_activation_map": _cam("bias at every position")}),
    ("07_evaluation", "negative evidence cut off (a ReLU on the map)", "check_class_activation_map",
     lambda: {"class_activation_map": _cam("relu")}),
    ("07_evaluation", "the classifier's weights put through a softmax", "check_class_activation_map",
     lambda: {"class_activation_map": _cam("softmax weights")}),

    ("08_capstone", "deltas against the baseline, not the previous stage", "check_ablation_deltas",
     lambda: {"ablation_deltas": lambda a: _deltas(a, "against the baseline")}),
    ("08_capstone", "deltas the wrong way round", "check_ablation_deltas",
     lambda: {"ablation_deltas": lambda a: _deltas(a, "reversed")}),
    ("08_capstone", "a delta for the first stage too", "check_ablation_deltas",
     lambda: {"ablation_deltas": lambda a: _deltas(a, "includes the first")}),
    ("08_capstone", "the L2 penalty left on beside AdamW", "check_final_recipe",
     lambda: _recipe(l2=2.5e-4)),
    ("08_capstone", "no augmentation in front", "check_final_recipe",
     lambda: _recipe(augment=False)),
    ("08_capstone", "biases and batch-norm parameters decayed by the optimizer", "check_final_recipe",
     lambda: {**_recipe(), "optimizer": _adamw(excluded=())}),
    ("09_speedrun", "whitening filters not divided by the root eigenvalue", "check_whitening_kernel",
     lambda: {"whitening_kernel": lambda x, k, e: _whitening(x, k, e, "unscaled")}),
    ("09_speedrun", "whitening divided by the eigenvalue, not its root", "check_whitening_kernel",
     lambda: {"whitening_kernel": lambda x, k, e: _whitening(x, k, e, "by the eigenvalue")}),
    ("09_speedrun", "whitening filters smallest eigenvalue first", "check_whitening_kernel",
     lambda: {"whitening_kernel": lambda x, k, e: _whitening(x, k, e, "ascending")}),
    ("09_speedrun", "patches flattened channels first", "check_whitening_kernel",
     lambda: {"whitening_kernel": lambda x, k, e: _whitening(x, k, e, "channels first")}),
    ("09_speedrun", "whitening without the negated filters", "check_whitening_kernel",
     lambda: {"whitening_kernel": lambda x, k, e: _whitening(x, k, e, "no negations")}),
    ("09_speedrun", "whitening from the centred covariance", "check_whitening_kernel",
     lambda: {"whitening_kernel": lambda x, k, e: _whitening(x, k, e, "centred")}),
    ("09_speedrun", "identity at the kernel's corner", "check_dirac_kernel",
     lambda: {"dirac_kernel": lambda k: _dirac(k, "corner")}),
    ("09_speedrun", "identity added to the random weights", "check_dirac_kernel",
     lambda: {"dirac_kernel": lambda k: _dirac(k, "added to the random weights")}),
    ("09_speedrun", "every filter an identity (channels repeated)", "check_dirac_kernel",
     lambda: {"dirac_kernel": lambda k: _dirac(k, "every filter")}),
    ("09_speedrun", "flips drawn afresh every epoch", "check_flip_schedule",
     lambda: {"flip_schedule": lambda n, e, s: _flips(n, e, s, "random every epoch")}),
    ("09_speedrun", "the whole epoch flipped at once", "check_flip_schedule",
     lambda: {"flip_schedule": lambda n, e, s: _flips(n, e, s, "the whole epoch at once")}),
    ("09_speedrun", "flips that never alternate", "check_flip_schedule",
     lambda: {"flip_schedule": lambda n, e, s: _flips(n, e, s, "never alternates")}),
    ("09_speedrun", "flip schedule ignores the seed", "check_flip_schedule",
     lambda: {"flip_schedule": lambda n, e, s: _flips(n, e, s, "ignores the seed")}),
    ("09_speedrun", "TTA averages probabilities, not log-probabilities", "check_tta_probabilities",
     lambda: {"tta_probabilities": lambda f, x: _tta(f, x, "averages probabilities")}),
    ("09_speedrun", "TTA mirror upside down", "check_tta_probabilities",
     lambda: {"tta_probabilities": lambda f, x: _tta(f, x, "flipped upside down")}),
    ("09_speedrun", "TTA shifts with zero padding", "check_tta_probabilities",
     lambda: {"tta_probabilities": lambda f, x: _tta(f, x, "zero padding")}),
    ("09_speedrun", "TTA views weighted equally", "check_tta_probabilities",
     lambda: {"tta_probabilities": lambda f, x: _tta(f, x, "equal weights")}),
    ("09_speedrun", "TTA mirrors before shifting", "check_tta_probabilities",
     lambda: {"tta_probabilities": lambda f, x: _tta(f, x, "mirrored before shifting")}),
]


def _recipe(l2=0.0, augment=True):
    """The capstone's four pieces, right but for one."""
    from cifar_course.augmentation import build_augmentation
    from cifar_course.models import build_baseline_cnn

    keras = _keras()
    model = build_baseline_cnn(augmentation=build_augmentation() if augment else None,
                               dropout=0.5, l2=l2)
    return {"model": model, "optimizer": _adamw(),
            "loss": keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
            "callbacks": _callbacks()}


# --- correct answers a check must not reject ----------------------------------------

def _plateau_callback_logs_without_default():
    """A correct plateau callback in the style the lesson shows for ``on_epoch_end``:
    ``on_train_begin(self, logs)``, no default (keras' fit always passes logs)."""
    keras = _keras()
    from cifar_course.grading import checks

    class Plateau(keras.callbacks.Callback):
        def __init__(self, factor, patience, min_lr):
            super().__init__()
            self.factor, self.patience, self.min_lr = factor, patience, min_lr

        def on_train_begin(self, logs):
            self.best, self.waited = float("inf"), 0

        def on_epoch_end(self, epoch, logs):
            if logs["val_loss"] < self.best:
                self.best, self.waited = logs["val_loss"], 0
                return
            self.waited += 1
            if self.waited >= self.patience:
                rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
                self.model.optimizer.learning_rate = max(rate * self.factor, self.min_lr)
                self.waited = 0

    return lambda val_losses, factor, patience, min_lr: checks.learning_rates_under(
        Plateau(factor, patience, min_lr), val_losses)


# (lesson, variant, check, arguments): right answers written another way; each must pass.
CORRECT_VARIANTS = [
    ("01_baseline_cnn", "train_on_batch after reset_metrics, step by step",
     "check_overfit_one_batch", lambda: {"overfit_one_batch": _overfit()}),
    ("01_baseline_cnn", "one fit in the profile's batches, epochs and rate", "check_training_loop",
     lambda: {"train": _train()}),
    ("01_baseline_cnn", "keras' loss and metric objects, labels one-hot by numpy",
     "check_training_loop", lambda: {"train": _train(
         loss=_keras().losses.CategoricalCrossentropy(),
         metrics=(_keras().metrics.CategoricalAccuracy(name="accuracy"),),
         one_hot=lambda labels: np.eye(10, dtype="float32")[labels.reshape(-1)])}),
    ("04_label_smoothing", "each nudge on a fresh copy of x", "check_numerical_gradient",
     lambda: {"numerical_gradient": _gradient_on_copies}),
    ("05_adamw", "the exclusions as one pattern", "check_adamw",
     lambda: {"optimizer": _adamw(excluded=("bias|gamma|beta",)), "weight_decay": 0.05}),
    ("06_callbacks", "on_train_begin(self, logs) without a default", "check_plateau_callback",
     lambda: {"schedule": _plateau_callback_logs_without_default()}),
]
