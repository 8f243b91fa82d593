"""The speedrun's optimisation: Nesterov SGD, a triangular schedule, a Lookahead-style average."""

from __future__ import annotations

import keras
from keras import ops

from .recipe import SpeedrunConfig


@keras.saving.register_keras_serializable(package="cifar_course")
class TriangularSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``start * peak`` to ``peak`` over the first ``peak_at`` of
    the run, then linear decay to ``end * peak`` at ``total_steps``."""

    def __init__(self, peak: float, total_steps: int, start: float = 0.2, peak_at: float = 0.23,
                 end: float = 0.07):
        self.peak, self.total_steps = float(peak), int(total_steps)
        self.start, self.peak_at, self.end = float(start), float(peak_at), float(end)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        top = float(max(1, int(self.peak_at * self.total_steps)))
        rise = self.start + (1.0 - self.start) * step / top
        fall = 1.0 + (self.end - 1.0) * (step - top) / max(1.0, self.total_steps - top)
        fraction = ops.where(step < top, rise, ops.maximum(fall, self.end))
        return self.peak * fraction

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "start": self.start,
                "peak_at": self.peak_at, "end": self.end}


def sgd_settings(config: SpeedrunConfig, batch_size: int) -> tuple[float, float]:
    """(peak learning rate, weight decay) for ``keras.optimizers.SGD`` on a mean loss.

    airbench states both per 1,024 examples and divided by how much Nesterov
    momentum amplifies a steady gradient (1 + 1/(1 - momentum)), so that
    changing the momentum or the batch size leaves the step size alone. keras'
    decoupled decay shrinks every weight by ``weight_decay * learning_rate`` a
    step; airbench's goes through the momentum, which multiplies it by
    1/(1 - momentum) in the steady state.
    """
    amplification = 1.0 + 1.0 / (1.0 - config.momentum)
    learning_rate = config.learning_rate * batch_size / 1024 / amplification
    decay_per_step = config.weight_decay * batch_size / 1024 / amplification / (1.0 - config.momentum)
    return learning_rate, decay_per_step / learning_rate


def build_sgd(config: SpeedrunConfig, batch_size: int, total_steps: int) -> keras.optimizers.SGD:
    learning_rate, weight_decay = sgd_settings(config, batch_size)
    schedule = TriangularSchedule(learning_rate, total_steps, config.lr_start, config.lr_peak_at,
                                  config.lr_end)
    return keras.optimizers.SGD(schedule, momentum=config.momentum, nesterov=True,
                                weight_decay=weight_decay)


class Lookahead(keras.callbacks.Callback):
    """An exponential moving average of the weights, copied back into the model.

    From ``start_epoch`` on, every ``every`` steps the average moves towards the
    weights by ``1 - rho`` and the weights are set to it (as the Lookahead
    optimizer does); ``rho`` grows over the run as ``(step / total) ** power``, so
    the average follows the weights early and smooths strongly at the end. At
    each epoch's last step the model takes the average, so validation, the
    test set and a saved model all see it. Batch-norm statistics are averaged
    with the weights.
    """

    def __init__(self, start_epoch: int = 3, every: int = 5, decay: float = 0.95,
                 power: float = 3.0):
        super().__init__()
        self.start_epoch, self.every, self.decay, self.power = start_epoch, every, decay, power
        self.average = None

    def on_train_begin(self, logs=None):
        self.total_steps = self.params["epochs"] * self.params["steps"]
        self.average = None
        self.variables = [v for v in self.model.weights if "float" in str(v.dtype)]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch < self.start_epoch:
            return
        # The global step, from the epoch and batch fit passes (also after a resume):
        # no read of the optimizer's counter, which would sync a GPU every step.
        step = self.epoch * self.params["steps"] + batch + 1
        if step % self.every == 0:
            if self.average is None:
                self.average = [ops.copy(v.value) for v in self.variables]
            else:
                rho = self.decay ** self.every * (step / self.total_steps) ** self.power
                moved = []
                for average, variable in zip(self.average, self.variables):
                    average = average + (1.0 - rho) * (variable.value - average)  # a new tensor
                    variable.assign(average)
                    moved.append(average)
                self.average = moved
        if batch + 1 == self.params["steps"] and self.average is not None:
            for average, variable in zip(self.average, self.variables):
                variable.assign(average)
