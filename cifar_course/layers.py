"""Drop-in Keras layers, and a model class, that run the course CNN at PyTorch's own speed.

``ChannelsLastConv2D``, ``ChannelsLastMaxPooling2D`` and
``FusedBatchNormalization`` are ``keras.layers.Conv2D``, ``MaxPooling2D`` and
``BatchNormalization``: same arguments, weights, saved form and results
(tests compare them with keras'), but on the torch backend they hand PyTorch
a channels-last *view* of the NHWC tensor instead of what keras 3.15 does:

- Conv2D and MaxPooling2D: keras permutes to NCHW with ``.contiguous()`` and
  then converts back to channels-last memory, two copies of every activation
  per layer;
- BatchNormalization: keras computes moments and the normalisation with
  separate element-wise ops instead of torch's fused kernel.

On a 2-core CPU those costs made a keras training step of the course CNN about
twice as slow as the same network in plain PyTorch. Anywhere the fast path does
not apply (another backend, symbolic shape inference, other data formats,
masks), the layers fall back to keras' own code. ``LeanFunctionalModel`` is
``keras.Model`` that frees activations as PyTorch does (its docstring says why).
"""

from __future__ import annotations

import keras


def _eager_torch(tensors) -> bool:
    """Real torch tensors on the torch backend, outside keras' stateless and symbolic scopes."""
    if keras.backend.backend() != "torch":
        return False
    import torch
    from keras.src.backend.common.stateless_scope import in_stateless_scope
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope

    return (all(isinstance(x, torch.Tensor) and x.device.type != "meta" for x in tensors)
            and not in_stateless_scope() and not in_symbolic_scope())


def _torch_fast_path(inputs, data_format: str = "channels_last") -> bool:
    """True when ``inputs`` is a real float32 NHWC torch tensor outside symbolic tracing."""
    if not (data_format == "channels_last" and _eager_torch([inputs])):
        return False
    import torch

    return inputs.ndim == 4 and inputs.dtype == torch.float32


def _nchw_view(x):
    """NHWC tensor -> NCHW view with channels-last strides (no copy)."""
    return x.permute(0, 3, 1, 2)


def _nhwc_view(x):
    return x.permute(0, 2, 3, 1)


@keras.saving.register_keras_serializable(package="cifar_course")
class ChannelsLastConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` without activation copies on the torch backend."""

    def convolution_op(self, inputs, kernel):
        same_is_symmetric = all(k % 2 == 1 for k in self.kernel_size) and self.strides == (1, 1)
        if not (_torch_fast_path(inputs, self.data_format)
                and (self.padding == "valid" or same_is_symmetric)):
            return super().convolution_op(inputs, kernel)
        import torch.nn.functional as F

        padding = 0 if self.padding == "valid" else tuple(
            d * (k - 1) // 2 for k, d in zip(self.kernel_size, self.dilation_rate))
        # keras kernels are (kh, kw, in, out); torch wants (out, in, kh, kw).
        weight = getattr(kernel, "value", kernel).permute(3, 2, 0, 1)  # a Variable's tensor
        out = F.conv2d(_nchw_view(inputs), weight, None, self.strides, padding,
                       self.dilation_rate, self.groups)
        return _nhwc_view(out)


@keras.saving.register_keras_serializable(package="cifar_course")
class ChannelsLastMaxPooling2D(keras.layers.MaxPooling2D):
    """``keras.layers.MaxPooling2D`` without activation copies on the torch backend."""

    def call(self, inputs):
        if not (_torch_fast_path(inputs, self.data_format) and self.padding == "valid"):
            return super().call(inputs)
        import torch.nn.functional as F

        return _nhwc_view(F.max_pool2d(_nchw_view(inputs), self.pool_size, self.strides))


@keras.saving.register_keras_serializable(package="cifar_course")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` on the channel axis, fused on the torch backend.

    The moving statistics follow keras' rule (``momentum`` is the share of the
    old value kept); the moving variance uses torch's unbiased batch variance,
    larger than keras' biased one by n/(n-1), under 0.05% for the course CNN.
    """

    def call(self, inputs, training=None, mask=None):
        if not (_torch_fast_path(inputs) and mask is None and not self.renorm
                and self.axis in (-1, 3)):
            return super().call(inputs, training=training, mask=mask)
        import torch.nn.functional as F

        x = _nchw_view(inputs)
        weight = self.gamma.value if self.scale else None
        bias = self.beta.value if self.center else None
        # In training one fused pass normalises with the batch statistics and
        # updates the moving ones in place; keras' `momentum` is the share kept,
        # torch's the share replaced.
        update = bool(training and self.trainable)
        out = F.batch_norm(x, self.moving_mean.value, self.moving_variance.value, weight, bias,
                           update, 1.0 - self.momentum, self.epsilon)
        return _nhwc_view(out)


# Built leaf layers whose ``__call__`` only does bookkeeping for a float32 torch
# tensor without a mask: the lean model calls their ``call`` directly.
_DIRECT_CALL_TYPES = (
    keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.BatchNormalization,
    keras.layers.ReLU, keras.layers.Activation, keras.layers.Dense, keras.layers.Dropout,
    keras.layers.GlobalAveragePooling2D, keras.layers.Flatten,
)


def _direct_call_type(operation) -> bool:
    """A plain keras layer type whose ``__call__`` is keras' own (fixed for a layer's life)."""
    return (isinstance(operation, _DIRECT_CALL_TYPES)
            and type(operation).__call__ is keras.layers.Layer.__call__)


def _callable_directly(operation) -> bool:
    """Whether skipping ``Layer.__call__`` now leaves nothing undone (``operation`` is of a
    ``_direct_call_type``; hooks and policies can change, so this is checked at each call)."""
    return (
        operation.built
        and operation.activity_regularizer is None
        and not getattr(operation, "_remat_mode", None)
        and getattr(operation, "quantization_mode", None) is None
        and operation.dtype_policy.compute_dtype == "float32"
        and operation.dtype_policy.variable_dtype == "float32"
        and not operation._forward_hooks and not operation._forward_pre_hooks
    )


def _plain_eager_call(inputs) -> bool:
    """A torch-backend call on real tensors, outside any autocast, distribution or tracing."""
    from keras.src import tree
    from keras.src.backend.common.variables import get_autocast_scope
    from keras.src.distribution import distribution_lib

    return (_eager_torch(tree.flatten(inputs)) and get_autocast_scope() is None
            and distribution_lib.distribution() is None)


@keras.saving.register_keras_serializable(package="cifar_course")
class LeanFunctionalModel(keras.Model):
    """A functional ``keras.Model`` that runs its graph with PyTorch's economy.

    Two costs of keras 3.15's graph runner, measured on the course CNN:

    - it keeps every intermediate tensor of a forward pass until the pass ends,
      where PyTorch frees each as soon as nothing needs it: about 170 MB held
      per batch of 128 instead of a few, and every element-wise op writes to
      cold memory (keras' ReLU and batch norm took 3 times as long as
      PyTorch's in ``predict``);
    - ``Layer.__call__`` spends 150-400 us of Python on each layer (input
      conversion, masks, call context, autocast), as much as a small layer's
      arithmetic. For plain built layers (``_callable_directly``) on float32
      tensors the lean runner calls ``layer.call`` itself, with the
      ``training`` flag ``__call__`` would have passed; anything else goes
      through ``__call__`` as in keras.

    The results are keras' own: the graph and the layers are unchanged (tests
    compare outputs and gradients). Build it as ``keras.Model``:
    ``LeanFunctionalModel(inputs, outputs, name=...)``.
    """

    def call(self, inputs, training=None, mask=None, **kwargs):
        if mask is not None or kwargs or not _plain_eager_call(inputs):
            return super().call(inputs, training=training, mask=mask, **kwargs)
        from keras.src.models.functional import operation_fn, unpack_singleton

        outputs = self._run_lean(self._standardize_inputs(inputs),
                                 lambda op: operation_fn(op, training=training),
                                 direct=True, training=training)
        return unpack_singleton(outputs)

    def _run_through_graph(self, inputs, operation_fn=lambda op: op, call_fn=None):
        if call_fn is not None or not hasattr(self, "_nodes_by_depth"):
            return super()._run_through_graph(inputs, operation_fn, call_fn)  # symbolic
        return self._run_lean(inputs, operation_fn)

    def _run_lean(self, inputs, operation_fn, direct=False, training=None):
        import torch
        from keras.src import tree

        tensors = {id(ref): value for ref, value in zip(self.inputs, tree.flatten(inputs))}
        order, operations, last_use, direct_types = self._execution_plan()
        for step, (node, operation) in enumerate(zip(order, operations)):
            if any(id(ref) not in tensors for ref in node.input_tensors):
                continue  # not computable from these inputs, as keras skips it
            args, kwargs = node.arguments.fill_in(tensors)
            if (direct and direct_types[step] and len(args) == 1 and _callable_directly(operation)
                    and isinstance(args[0], torch.Tensor) and args[0].dtype == torch.float32
                    and getattr(args[0], "_keras_mask", None) is None):
                if training is not None and operation._call_has_training_arg:
                    kwargs = {**kwargs, "training": training}
                outputs = operation.call(*args, **kwargs)
            else:
                outputs = operation_fn(operation)(*args, **kwargs)
            del args, kwargs  # hold no reference to the inputs past this step
            for ref, value in zip(node.outputs, tree.flatten(outputs)):
                tensors[id(ref)] = value
            del outputs
            for ref in node.input_tensors:
                if last_use.get(id(ref)) == step:
                    tensors.pop(id(ref), None)  # once, even if read twice by this node
        return tree.pack_sequence_as(self._outputs_struct,
                                     [tensors[id(ref)] for ref in self.outputs])

    def _execution_plan(self):
        """Nodes in keras' order, their operations, for each tensor the step that reads it
        last, and for each node whether its layer is of a type that may be called directly."""
        if self.__dict__.get("_lean_plan") is None:
            # keras 3.15 maps nodes to operations (for JAX's NNX; fixed on torch);
            # older versions have no map.
            operation_for = getattr(self, "_get_operation_for_node",
                                    lambda node: node.operation)
            order = [node for depth in sorted(self._nodes_by_depth, reverse=True)
                     for node in self._nodes_by_depth[depth]
                     if node.operation and not node.is_input]
            last_use = {id(ref): step for step, node in enumerate(order)
                        for ref in node.input_tensors}
            for ref in self.outputs:  # the model's outputs are returned, never dropped
                last_use.pop(id(ref), None)
            operations = [operation_for(node) for node in order]
            direct_types = [_direct_call_type(operation) for operation in operations]
            # Past keras' attribute tracking: a plan, not model state.
            object.__setattr__(self, "_lean_plan", (order, operations, last_use, direct_types))
        return self._lean_plan
