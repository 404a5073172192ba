"""Encoder, decoder and discriminator builders.

Three architectures are provided, all as functional `keras.Model`s:

- `"conv"`: the convolutional encoder/decoder of Locatello et al. 2019
  ("Challenging Common Assumptions in the Unsupervised Learning of Disentangled
  Representations", Table 1; disentanglement_lib `conv_encoder` and
  `deconv_decoder`), the common architecture of the disentanglement literature.
  Inputs are 64x64xC. kerasdis builds, all ReLU with "same" padding: encoder conv
  32 4x4 stride 2, conv 32 4x4 stride 2, conv 64 2x2 stride 2, conv 64 2x2 stride
  2, FC 256, then two FC `latent_dim` heads (mean, log-variance); decoder FC 256,
  FC 1024 reshaped to 4x4x64, transposed conv 64, 32, 32 (4x4 stride 2, ReLU)
  and a transposed conv to C logit channels (4x4 stride 2). This is *not* the
  network of Burgess et al. 2018 ("Understanding disentangling in β-VAE", App.
  A.1), whose encoder has four conv layers of 32 channels, all 4x4 stride 2,
  then two FC layers of 256 units, and whose decoder is its transpose; kerasdis'
  AnnealedVAE (Burgess et al.'s objective) trains on the Locatello network above.
- `"mlp"`: the fully connected networks of Chen et al. 2018 ("Isolating Sources of
  Disentanglement in VAEs", Appendix, dSprites): 1200-1200 ReLU encoder and
  1200-1200-1200 tanh decoder. Works for any input shape.
- `"higgins2017"`: the 2D shapes (dSprites) networks of Higgins et al. 2017
  ("β-VAE: Learning Basic Visual Concepts with a Constrained Variational
  Framework", ICLR, appendix table of architectures): the flattened 4096-pixel image
  -> FC 1200 ReLU -> FC 1200 ReLU -> 2 x 10 (mean, log-variance of the Gaussian
  posterior); decoder z -> FC 1200 tanh x 3 -> 4096 Bernoulli logits. The paper
  trains them with Adagrad, learning rate 1e-2, and β = 4 for its β-VAE (pass
  `optimizer=keras.optimizers.Adagrad(1e-2)` to `compile`; the architecture does not
  set the optimiser). These are the layers of `"mlp"` (same names, shapes and
  initialisation); the separate name records which paper a model follows. Any input
  shape (flattened); the paper's is 64x64x1.

Encoders map images to `(mean, log_var)` of a diagonal Gaussian; decoders map
latents to per-pixel parameters (logits) of the observation model.

Mixed precision: under a mixed global dtype policy
(`keras.config.set_dtype_policy("mixed_bfloat16")`, or `"mixed_precision": true`
in a training recipe) the layers compute in bfloat16 with float32 variables, and
every builder casts its outputs to float32 (the Keras mixed-precision guide's
float32 output layer), so losses, sampling and metrics stay in float32.
"""

import contextlib
import math

import keras
import tensorflow as tf
from keras import layers

ARCHITECTURES = ("conv", "mlp", "higgins2017")
DATA_FORMATS = ("channels_last", "channels_first")
LOGITS_LAYERS = ("auto", "overlap_add", "keras")


def _check_architecture(architecture):
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"`architecture` must be one of {ARCHITECTURES}, got {architecture!r}."
        )


def _check_conv_option(name, value, allowed, default, architecture):
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {allowed}, got {value!r}.")
    if value != default and architecture != "conv":
        raise ValueError(
            f"`{name}={value!r}` applies to architecture='conv' only, got {architecture!r}.")


def _initializers(seed):
    """Yields kernel initializers: Glorot uniform (the Keras default), seeded per layer."""
    index = 0
    while True:
        if seed is None:
            yield "glorot_uniform"
        else:
            yield keras.initializers.GlorotUniform(seed=int(seed) * 100 + index)
        index += 1


@contextlib.contextmanager
def global_dtype_policy(policy):
    """Sets Keras's global dtype policy to `policy` (a name, a `DTypePolicy` or its
    config) while the networks are built inside the block, then restores it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(keras.dtype_policies.get(policy))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_outputs(outputs, names):
    """Casts outputs to float32 when the global dtype policy computes in another dtype."""
    if keras.config.dtype_policy().compute_dtype == "float32":
        return outputs
    return [layers.Activation("linear", dtype="float32", name=f"{name}_float32")(output)
            for output, name in zip(outputs, names)]


def _overlap_add_conv2d_transpose(x, kernel, stride):
    """`tf.nn.conv2d_transpose(x, kernel, strides=stride, padding="SAME")` for a kernel
    of size `q * stride`, computed as one matmul and an overlap-add.

    Each input pixel `i` spreads `x[i] @ kernel[ky, kx]` to output pixel
    `stride * i + ky - pad` (`pad = (k - stride) // 2`, TensorFlow's "SAME"). Writing
    `ky = stride * qy + ry`, the contributions of one `(qy, qx)` form an image laid out
    by `tf.nn.depth_to_space`; the output is the sum of those `q * q` images, shifted by
    `stride * q - pad` pixels.
    """
    k, _, filters, in_channels = kernel.shape
    q = k // stride
    pad = (k - stride) // 2
    # Columns ordered (ry, rx, qy, qx, filter), the order depth_to_space reads channels in.
    columns = tf.reshape(kernel, [q, stride, q, stride, filters, in_channels])
    columns = tf.reshape(tf.transpose(columns, [5, 1, 3, 0, 2, 4]), [in_channels, -1])
    height, width = x.shape[1], x.shape[2]
    pixels = tf.matmul(tf.reshape(x, [-1, in_channels]), columns)
    pixels = tf.reshape(pixels, [-1, height, width, stride * stride * q * q * filters])
    shifted = tf.nn.depth_to_space(pixels, stride)  # [B, s*H, s*W, (qy, qx, filter)]
    before, after = max(0, stride * (q - 1) - pad), max(0, pad)
    shifted = tf.pad(shifted, [[0, 0], [before, after], [before, after], [0, 0]])
    outputs = 0
    for qy in range(q):
        for qx in range(q):
            top, left = before + pad - stride * qy, before + pad - stride * qx
            first = (qy * q + qx) * filters
            outputs += shifted[:, top:top + stride * height, left:left + stride * width,
                               first:first + filters]
    return outputs


def _conv2d_transpose_with_conv_gradients(x, kernel, stride):
    """The overlap-add forward pass with the gradients TensorFlow registers for
    `conv2d_transpose` (a strided convolution of the upstream gradient for `x`,
    `Conv2DBackpropFilter` for the kernel): differentiating the slices and the
    depth_to_space instead is three times slower."""

    @tf.custom_gradient
    def forward(x, kernel):
        def grad(upstream):
            strides = [1, stride, stride, 1]
            grad_x = tf.nn.conv2d(upstream, kernel, strides=strides, padding="SAME")
            grad_kernel = tf.raw_ops.Conv2DBackpropFilter(
                input=upstream, filter_sizes=tf.shape(kernel), out_backprop=x,
                strides=strides, padding="SAME")
            return grad_x, grad_kernel

        return _overlap_add_conv2d_transpose(x, kernel, stride), grad

    return forward(x, kernel)


@keras.saving.register_keras_serializable(package="kerasdis")
class Conv2DTranspose(layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` with the same weights and the same function,
    whose forward pass is a matmul and an overlap-add.

    It keeps Keras' class name so that weight files keep their paths
    (`.../conv2d_transpose_3/vars`): presets and checkpoints saved with
    `keras.layers.Conv2DTranspose` load into it and back.

    For a decoder's last layer with one output channel (binary images): TensorFlow
    computes a transposed convolution as `Conv2DBackpropInput`, whose oneDNN CPU
    kernel is slow when it has a single output channel; the conv decoder uses this
    layer for one channel only (`build_decoder(logits_layer="auto")`). `python
    benchmarks/train_throughput.py --variants default,keras_logits` measures the
    whole training step against Keras' layer, `python benchmarks/step_profile.py
    --layers` the layer alone (past measurements: `benchmarks/results/history.md`).
    Supports what the conv decoder uses: channels-last, square kernel
    a multiple of the stride, "same" padding, no dilation or output padding; any other
    configuration runs `Conv2DTranspose.call`.
    """

    def _overlap_add_applies(self):
        kernel, stride = self.kernel_size, self.strides
        return (self.data_format == "channels_last" and self.padding == "same"
                and kernel[0] == kernel[1] and stride[0] == stride[1]
                and kernel[0] % stride[0] == 0 and tuple(self.dilation_rate) == (1, 1)
                and self.output_padding is None)

    def call(self, inputs):
        if not self._overlap_add_applies():
            return super().call(inputs)
        kernel = tf.cast(tf.convert_to_tensor(self.kernel), inputs.dtype)
        outputs = _conv2d_transpose_with_conv_gradients(inputs, kernel, self.strides[0])
        if self.use_bias:  # an add, not tf.nn.bias_add: BiasAddGrad is 6x slower for 1 channel
            outputs = outputs + tf.reshape(tf.cast(self.bias, outputs.dtype), [1, 1, 1, -1])
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


def check_input_shape(input_shape, architecture):
    """Validates `input_shape` (H, W, C) for the given architecture and returns a tuple."""
    _check_architecture(architecture)
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`input_shape` must be a tuple (height, width, channels), got {input_shape!r}."
        ) from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"`input_shape` must be (height, width, channels) with positive sizes, got {input_shape!r}."
        )
    if architecture == "conv" and shape[:2] != (64, 64):
        raise ValueError(
            f"`input_shape` must be (64, 64, C) for architecture='conv' (the Locatello et al. "
            f"network), got {input_shape!r}. Use architecture='mlp' or 'higgins2017' for "
            "other sizes."
        )
    return shape


def build_encoder(input_shape=(64, 64, 1), latent_dim=10, architecture="conv", name="encoder",
                  seed=None, data_format="channels_last"):
    """Builds an encoder `images -> (mean, log_var)`.

    Args:
        input_shape: tuple `(height, width, channels)`. Defaults to `(64, 64, 1)`.
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        architecture: str. `"conv"` (Locatello et al. 2019), `"mlp"` (Chen et al. 2018)
            or `"higgins2017"` (Higgins et al. 2017, 2D shapes).
        name: str. Model name.
        seed: int or None. Seeds the weight initialisation. Defaults to `None`.
        data_format: str. Layout the `"conv"` layers compute in: `"channels_last"`
            (NHWC, the default) or `"channels_first"` (NCHW: a `Permute` after the
            input, the same layers and weight shapes). The images are NHWC either way.

    Returns:
        A functional `keras.Model` with two outputs of shape `[batch, latent_dim]`.
    """
    input_shape = check_input_shape(input_shape, architecture)
    _check_conv_option("data_format", data_format, DATA_FORMATS, "channels_last", architecture)
    init = _initializers(seed)
    images = keras.Input(shape=input_shape, name="images")
    if architecture == "conv":
        h, cf = images, {}
        if data_format == "channels_first":
            h = layers.Permute((3, 1, 2), name="to_channels_first")(h)
            cf = {"data_format": "channels_first"}
        h = layers.Conv2D(32, 4, strides=2, padding="same", activation="relu", name="conv1",
            kernel_initializer=next(init), **cf)(h)
        h = layers.Conv2D(32, 4, strides=2, padding="same", activation="relu", name="conv2",
            kernel_initializer=next(init), **cf)(h)
        h = layers.Conv2D(64, 2, strides=2, padding="same", activation="relu", name="conv3",
            kernel_initializer=next(init), **cf)(h)
        h = layers.Conv2D(64, 2, strides=2, padding="same", activation="relu", name="conv4",
            kernel_initializer=next(init), **cf)(h)
        h = layers.Flatten(name="flatten")(h)
        h = layers.Dense(256, activation="relu", name="fc", kernel_initializer=next(init))(h)
    else:  # "mlp" and "higgins2017": the same fully connected layers
        h = layers.Flatten(name="flatten")(images)
        h = layers.Dense(1200, activation="relu", name="fc1", kernel_initializer=next(init))(h)
        h = layers.Dense(1200, activation="relu", name="fc2", kernel_initializer=next(init))(h)
    mean = layers.Dense(latent_dim, name="mean", kernel_initializer=next(init))(h)
    log_var = layers.Dense(latent_dim, name="log_var", kernel_initializer=next(init))(h)
    mean, log_var = float32_outputs([mean, log_var], ["mean", "log_var"])
    return keras.Model(images, [mean, log_var], name=name)


def build_decoder(output_shape=(64, 64, 1), latent_dim=10, architecture="conv", name="decoder",
                  seed=None, data_format="channels_last", logits_layer="auto"):
    """Builds a decoder `z -> logits` of the observation model, shaped like the images.

    Args:
        output_shape: tuple `(height, width, channels)` of the images. Defaults to `(64, 64, 1)`.
        latent_dim: int. Number of latent dimensions. Defaults to `10`.
        architecture: str. `"conv"` (Locatello et al. 2019), `"mlp"` (Chen et al. 2018)
            or `"higgins2017"` (Higgins et al. 2017, 2D shapes).
        name: str. Model name.
        seed: int or None. Seeds the weight initialisation. Defaults to `None`.
        data_format: str. Layout the `"conv"` layers compute in: `"channels_last"`
            (NHWC, the default) or `"channels_first"` (NCHW, with a `Permute` to NHWC
            after the `"logits"` layer). The logits are NHWC either way.
        logits_layer: str. Class of the `"conv"` decoder's last layer (`"logits"`, same
            weights and function whichever it is): `"auto"` (the default)
            `kerasdis.networks.Conv2DTranspose` for one channel in channels-last and
            `keras.layers.Conv2DTranspose` otherwise; `"overlap_add"` the former
            (channels-last only); `"keras"` the latter.
    """
    output_shape = check_input_shape(output_shape, architecture)
    _check_conv_option("data_format", data_format, DATA_FORMATS, "channels_last", architecture)
    _check_conv_option("logits_layer", logits_layer, LOGITS_LAYERS, "auto", architecture)
    channels_first = data_format == "channels_first"
    if channels_first and logits_layer == "overlap_add":
        raise ValueError("`logits_layer='overlap_add'` needs data_format='channels_last'.")
    init = _initializers(seed)
    z = keras.Input(shape=(latent_dim,), name="z")
    if architecture == "conv":
        cf = {"data_format": "channels_first"} if channels_first else {}
        h = layers.Dense(256, activation="relu", name="fc1", kernel_initializer=next(init))(z)
        h = layers.Dense(1024, activation="relu", name="fc2", kernel_initializer=next(init))(h)
        h = layers.Reshape((64, 4, 4) if channels_first else (4, 4, 64), name="reshape")(h)
        h = layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu", name="deconv1",
            kernel_initializer=next(init), **cf)(h)
        h = layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu", name="deconv2",
            kernel_initializer=next(init), **cf)(h)
        h = layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu", name="deconv3",
            kernel_initializer=next(init), **cf)(h)
        # One channel: the same layer computed as a matmul and an overlap-add (faster on CPU).
        if logits_layer == "auto":
            overlap_add = output_shape[-1] == 1 and not channels_first
        else:
            overlap_add = logits_layer == "overlap_add"
        last_layer = Conv2DTranspose if overlap_add else layers.Conv2DTranspose
        logits = last_layer(output_shape[-1], 4, strides=2, padding="same", name="logits",
            kernel_initializer=next(init), **cf)(h)
        if channels_first:
            logits = layers.Permute((2, 3, 1), name="to_channels_last")(logits)
    else:  # "mlp" and "higgins2017": the same fully connected layers
        h = layers.Dense(1200, activation="tanh", name="fc1", kernel_initializer=next(init))(z)
        h = layers.Dense(1200, activation="tanh", name="fc2", kernel_initializer=next(init))(h)
        h = layers.Dense(1200, activation="tanh", name="fc3", kernel_initializer=next(init))(h)
        h = layers.Dense(math.prod(output_shape), name="logits_flat",
            kernel_initializer=next(init))(h)
        logits = layers.Reshape(output_shape, name="logits")(h)
    (logits,) = float32_outputs([logits], ["logits"])
    return keras.Model(z, logits, name=name)


def build_discriminator(latent_dim=10, units=1000, depth=6, name="discriminator", seed=None):
    """The FactorVAE discriminator (Kim & Mnih 2018, Appendix): 6 dense layers of 1000
    units with leaky ReLU (slope 0.2) and 2 logits (real q(z) vs. permuted codes)."""
    init = _initializers(seed)
    z = keras.Input(shape=(latent_dim,), name="z")
    h = z
    for i in range(depth):
        h = layers.Dense(units, name=f"fc{i + 1}", kernel_initializer=next(init))(h)
        h = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i + 1}")(h)
    logits = layers.Dense(2, name="logits", kernel_initializer=next(init))(h)
    (logits,) = float32_outputs([logits], ["logits"])
    return keras.Model(z, logits, name=name)
