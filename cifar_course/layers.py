"""Drop-in Keras layers that run the course CNN faster on the torch backend, public API only.

``ChannelsLastConv2D``, ``ChannelsLastMaxPooling2D`` and
``FusedBatchNormalization`` are ``keras.layers.Conv2D``, ``MaxPooling2D`` and
``BatchNormalization``: same arguments, weights, saved form and results (the
tests compare them with keras' on every supported keras), overriding only
public methods (``convolution_op``, ``call``). On the torch backend they hand
PyTorch a channels-last *view* of the NHWC tensor, and batch normalisation
runs as torch's one fused kernel, where keras computes moments and the
normalisation with separate element-wise ops (every keras 3 release; keras
3.15.1 also copies each activation twice around a convolution, keras#23279).

Anywhere the fast path does not apply (another backend, shape inference on
the meta device, other data formats or dtypes, masks), the layers run keras'
own code. docs/benchmarks.md gives what they save.
"""

from __future__ import annotations

import keras


def _fast_path(inputs, data_format: str = "channels_last") -> bool:
    """A real float32 NHWC torch tensor on the torch backend (not keras' shape inference)."""
    if keras.backend.backend() != "torch" or data_format != "channels_last":
        return False
    import torch

    return (isinstance(inputs, torch.Tensor) and inputs.device.type != "meta"
            and inputs.ndim == 4 and inputs.dtype == torch.float32)


def _nchw_view(x):
    """NHWC tensor -> NCHW view with channels-last strides (no copy)."""
    return x.permute(0, 3, 1, 2)


def _nhwc_view(x):
    return x.permute(0, 2, 3, 1)


def _tensor(variable_or_tensor):
    """The torch tensor behind a keras Variable (or the tensor itself)."""
    return getattr(variable_or_tensor, "value", variable_or_tensor)


@keras.saving.register_keras_serializable(package="cifar_course")
class ChannelsLastConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` without activation copies on the torch backend."""

    def convolution_op(self, inputs, kernel):
        same_is_symmetric = all(k % 2 == 1 for k in self.kernel_size) and tuple(self.strides) == (1, 1)
        if not (_fast_path(inputs, self.data_format)
                and (self.padding == "valid" or same_is_symmetric)):
            return super().convolution_op(inputs, kernel)
        import torch.nn.functional as F

        padding = 0 if self.padding == "valid" else tuple(
            d * (k - 1) // 2 for k, d in zip(self.kernel_size, self.dilation_rate))
        # keras kernels are (kh, kw, in, out); torch wants (out, in, kh, kw).
        weight = _tensor(kernel).permute(3, 2, 0, 1)
        x = _nchw_view(inputs.to(weight.device))
        out = F.conv2d(x, weight, None, self.strides, padding, self.dilation_rate, self.groups)
        return _nhwc_view(out)


@keras.saving.register_keras_serializable(package="cifar_course")
class ChannelsLastMaxPooling2D(keras.layers.MaxPooling2D):
    """``keras.layers.MaxPooling2D`` without activation copies on the torch backend."""

    def call(self, inputs):
        if not (_fast_path(inputs, self.data_format) and self.padding == "valid"):
            return super().call(inputs)
        import torch.nn.functional as F

        return _nhwc_view(F.max_pool2d(_nchw_view(inputs), self.pool_size, self.strides))


@keras.saving.register_keras_serializable(package="cifar_course")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` on the channel axis, fused on the torch backend.

    The moving statistics follow keras' rule (``momentum`` is the share of the
    old value kept) and are written with ``Variable.assign``, as keras' layer
    does; the moving variance uses torch's unbiased batch variance, larger than
    keras' biased one by n/(n-1), under 0.05% for the course CNN.
    """

    def call(self, inputs, training=None, mask=None):
        if not (_fast_path(inputs) and mask is None and not getattr(self, "renorm", False)
                and self.axis in (-1, 3)):
            return super().call(inputs, training=training, mask=mask)
        import torch.nn.functional as F

        mean, variance = _tensor(self.moving_mean), _tensor(self.moving_variance)
        weight = _tensor(self.gamma) if self.scale else None
        bias = _tensor(self.beta) if self.center else None
        x = _nchw_view(inputs.to(mean.device))
        if not (training and self.trainable):  # keras: the moving statistics
            return _nhwc_view(F.batch_norm(x, mean, variance, weight, bias, False, 0.0,
                                           self.epsilon))
        # One fused pass normalises with the batch statistics and updates copies
        # of the moving ones (torch's momentum is the share replaced).
        new_mean, new_variance = mean.detach().clone(), variance.detach().clone()
        out = F.batch_norm(x, new_mean, new_variance, weight, bias, True, 1.0 - self.momentum,
                           self.epsilon)
        self.moving_mean.assign(new_mean)
        self.moving_variance.assign(new_variance)
        return _nhwc_view(out)
