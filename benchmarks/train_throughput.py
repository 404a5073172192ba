"""Training throughput of kerasdis against an equivalent PyTorch loop, on CPU.

For the VAE, the β-TCVAE (MSS estimator) and the FactorVAE with the conv
architecture of Locatello et al. 2019 at batch 64 (64x64x1 dSprites images),
measures images/s of a training step:

- kerasdis as users run it: `model.fit` on a prefetched `tf.data` of in-memory
  batches, Keras' Adam, with TensorFlow's oneDNN kernels on (what `import
  kerasdis` asks for; TensorFlow's own default turns them on only on CPUs with
  AVX512_VNNI/BF16 or AMX, see `kerasdis/backend.py`), in two configurations:
  - "default": float32. Its Bernoulli reconstruction is the fused
    `tf.nn.sigmoid_cross_entropy_with_logits`
    (`kerasdis.losses.negative_log_likelihood`), the library default since it
    measured 1.13x on the VAE (it used to be TFP's `Bernoulli.log_prob`), and the
    decoder's one-channel logits layer is `kerasdis.networks.Conv2DTranspose`, whose
    forward pass is a matmul and an overlap-add (with `keras.layers.Conv2DTranspose`
    instead, the `keras_logits` variant, the VAE step ran at 0.92x and the FactorVAE
    step at 0.94x: `benchmarks/results/overlap_add_logits.md`);
  - "kept": the library's opt-in mixed precision, what `kerasdis train
    --mixed-precision` (recipe key `"mixed_precision": True`) runs: the model is
    built inside `kerasdis.training.dtype_policy`, so it computes in bfloat16 with
    float32 variables and float32 network outputs; the optimizer is Keras' Adam
    (bfloat16 pays on CPUs with AVX512-BF16 or AMX; without them TensorFlow
    emulates it and "kept" is several times slower than float32, so there the
    default run leaves it, and torch's bfloat16 row, to `--explore`);
- a PyTorch implementation of the same networks, loss and batch written here
  (eager, `torch.optim.Adam`), with 2 threads (its default here) and 1 thread,
  and, for the VAE, under `torch.autocast` bfloat16 (like for like with "kept").

Implementations are run alternately in one process (`--rounds` rounds of up to
`--steps` steps or `--seconds` seconds each; tracing and warm-up excluded) and
the table reports the median of the per-round ratios. The reference of the
"x torch" column is, in each round, the faster of the two torch thread settings.

Also: achieved FLOP/s against a 2048x2048 float32 `tf.linalg.matmul` measured in
the same rounds, a check that the PyTorch reference computes the same function
as kerasdis, a check that "kept" trains like the default (both trained for 20
steps from the same weights), peak memory (peak resident set) of a training run
in a subprocess, and the full-grid MIG's peak memory (from `metrics_speed.md`
when it is there).

The default run measures only that: 7 rounds of up to 30 steps / 2 s per
implementation, 13 implementations in all (VAE: torch x3, default, kept;
β-TCVAE and FactorVAE: torch x2, default, kept), 9 on a CPU without native
bfloat16 (no kept, no torch bfloat16), about 5-7 minutes on a quiet 2-core
machine, so that `python -m benchmarks` stays within its budget. `--explore`
adds the variants that were measured and not kept, in the same rounds: XLA
(`jit_compile=True`, every model), `steps_per_execution=16`, channels-first
(NCHW) networks, no `prefetch` and the `kerasdis.training.training_batches`
pipeline (VAE), a fused Adam update (FactorVAE; it measured 0.99x), the decoder
with Keras' own `Conv2DTranspose` logits layer (VAE and FactorVAE: what the
library's overlap-add layer is measured against), and, in subprocesses (they must
be set before TensorFlow starts), oneDNN off and TensorFlow thread settings (VAE).
The fused Adam is a subclass defined in this file (`fused_adam_class`); the
channels-first networks and Keras' logits layer are builder arguments of
`kerasdis.networks` (`data_format="channels_first"`, `logits_layer="keras"`,
see `network_options`). `--variants` picks variants by
name or composes them with "+" (e.g. `spe=4+bf16`; `bf16` is the library's mixed
precision, the same configuration as "kept").

    python benchmarks/train_throughput.py             # default run (~5-7 min, quiet 2 cores)
    python benchmarks/train_throughput.py --explore   # + explored variants (~15 min)
    python benchmarks/train_throughput.py --quick     # tiny settings (smoke test)
    python benchmarks/train_throughput.py --models vae,factor_vae --variants default,keras_logits

Without PyTorch (`pip install ".[bench]"` brings it) the torch columns are marked
unavailable and everything else still runs.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kerasdis` does (kerasdis/backend.py)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._output import write_atomic  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "train_throughput.md"
BATCH = 64
LATENT = 10
IMAGE = (64, 64, 1)
NUM_BATCHES = 16  # distinct in-memory batches, cycled
DSPRITES_SIZE = 737_280
TCVAE_BETA = 6.0
FACTOR_GAMMA = 35.0
DISC_UNITS = 1000
TARGET = 1.5
MODELS = ("vae", "beta_tcvae", "factor_vae")
MODEL_LABELS = {"vae": "VAE", "beta_tcvae": "β-TCVAE (MSS)", "factor_vae": "FactorVAE"}
TORCH_UNAVAILABLE = "unavailable"
TORCH_LABELS = {}

# kerasdis variants measured in-process. `spe`: steps_per_execution; `jit`:
# jit_compile; `bf16`: the library's mixed precision (`kerasdis.training.dtype_policy`);
# `fused_adam`: fused Adam update (subclass); `channels_first`: NCHW networks
# (`data_format="channels_first"` builders); `keras_logits`: the decoder's logits layer as
# `keras.layers.Conv2DTranspose` (what kerasdis used before its overlap-add layer);
# `pipeline`: "memory" (prefetched in-memory batches),
# "memory_noprefetch" or "training_batches".
KEPT = "kept"  # what the measurements made us keep: `mixed_precision` (bfloat16), Keras' Adam
VARIANTS = {
    "default": dict(label="kerasdis default: `fit`, graph mode, float32"),
    "xla": dict(jit=True, label="+ XLA (`jit_compile=True`)"),
    "spe16": dict(spe=16, label="+ `steps_per_execution=16`"),
    "channels_first": dict(channels_first=True, label="+ channels-first (NCHW) networks"),
    "keras_logits": dict(keras_logits=True,
                         label="default with `keras.layers.Conv2DTranspose` logits (no "
                               "overlap-add)"),
    "fused_adam": dict(fused_adam=True,
                       label="+ fused Adam update (`ResourceApplyAdam`, subclass)"),
    "noprefetch": dict(pipeline="memory_noprefetch", label="+ no `prefetch` in the input pipeline"),
    "bf16": dict(bf16=True, label="+ `mixed_precision` (bfloat16, library option)"),
    KEPT: dict(bf16=True, label="**kept: + `mixed_precision` (bfloat16, library option, "
                                "`--mixed-precision`)**"),
    "training_batches": dict(pipeline="training_batches",
                             label="default, fed by `training_batches(dsprites)` (rendered "
                                   "on the fly)"),
}
DEFAULT_VARIANTS = ("default", KEPT)  # every model, default run and --quick
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # without them bfloat16 is emulated
EXPLORE_VARIANTS = {  # added by --explore
    "vae": ("keras_logits", "xla", "spe16", "channels_first", "noprefetch", "training_batches"),
    "beta_tcvae": ("xla",),
    "factor_vae": ("keras_logits", "xla", "fused_adam"),
}
VARIANT_PARTS = ("spe=N", "xla", "fused_adam", "bf16", "channels_first", "keras_logits",
                 "noprefetch", "training_batches")


def variant_spec(name):
    """A variant by name (`VARIANTS`) or composed with "+": e.g. `spe=4+bf16+xla`."""
    if name in VARIANTS:
        return VARIANTS[name]
    spec, parts = {}, []
    for token in name.split("+"):
        if token.startswith("spe="):
            spec["spe"] = int(token[4:])
            parts.append(f"`steps_per_execution={spec['spe']}`")
        elif token in ("xla", "fused_adam", "bf16", "channels_first", "keras_logits"):
            spec["jit" if token == "xla" else token] = True
            parts.append({"xla": "XLA", "bf16": "`mixed_precision` (bfloat16)",
                          "fused_adam": "fused Adam", "channels_first": "NCHW",
                          "keras_logits": "Keras `Conv2DTranspose` logits"}[token])
        elif token in ("training_batches", "noprefetch"):
            spec["pipeline"] = "memory_noprefetch" if token == "noprefetch" else token
            parts.append({"training_batches": "fed by `training_batches`",
                          "noprefetch": "no prefetch"}[token])
        else:
            raise ValueError(f"unknown variant part {token!r} in {name!r}: expected a name of "
                             f"{tuple(VARIANTS)} or parts {VARIANT_PARTS} joined by '+'")
    spec["label"] = "+ " + " + ".join(parts)
    return spec


# Settings that must be made before TensorFlow starts: measured in subprocesses
# (VAE, default configuration), against the same torch reference.
ENV_VARIANTS = {
    "onednn_off": dict(env={"TF_ENABLE_ONEDNN_OPTS": "0"},
                       label="default, oneDNN off (`TF_ENABLE_ONEDNN_OPTS=0`: Eigen kernels)"),
    "threads_1_1": dict(intra=1, inter=1, label="default, TF threads intra 1 / inter 1"),
    "threads_2_1": dict(intra=2, inter=1, label="default, TF threads intra 2 / inter 1"),
}


# ---------------------------------------------------------------------------- FLOPs
def conv_macs(out_hw, k, cin, cout):
    return out_hw * out_hw * cout * k * k * cin


def deconv_macs(in_hw, k, cin, cout):
    return in_hw * in_hw * cin * k * k * cout


def network_macs():
    """Multiply-accumulates per image of one forward pass, by network."""
    encoder = (conv_macs(32, 4, 1, 32) + conv_macs(16, 4, 32, 32) + conv_macs(8, 2, 32, 64)
               + conv_macs(4, 2, 64, 64) + 1024 * 256 + 2 * 256 * LATENT)
    decoder = (LATENT * 256 + 256 * 1024 + deconv_macs(4, 4, 64, 64) + deconv_macs(8, 4, 64, 32)
               + deconv_macs(16, 4, 32, 32) + deconv_macs(32, 4, 32, 1))
    discriminator = LATENT * DISC_UNITS + 5 * DISC_UNITS * DISC_UNITS + DISC_UNITS * 2
    return {"encoder": encoder, "decoder": decoder, "discriminator": discriminator}


def train_flops_per_image(model):
    """Forward conv/dense FLOPs (2 x MACs) x 3 (backward ~ 2x forward).

    FactorVAE runs the discriminator on every image twice (the TC term and the
    discriminator loss). Elementwise work (losses, MSS, Adam) is not counted.
    """
    macs = network_macs()
    forward = macs["encoder"] + macs["decoder"]
    if model == "factor_vae":
        forward += 2 * macs["discriminator"]
    return 3 * 2 * forward


# ------------------------------------------------------------------------ data
def in_memory_images(seed=0):
    """`NUM_BATCHES` batches of dSprites images, float32 `[n, 64, 64, 1]`."""
    import kerasdis as kd

    ds = kd.data.load("dsprites")
    return ds.images(ds.sample_factors(NUM_BATCHES * BATCH, seed=seed)).astype("float32")


# ---------------------------------------------------------------- PyTorch reference
def torch_available():
    try:
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return False
    return True


def mss_log_weights_np(batch_size, dataset_size):
    """MSS log importance weights (Chen et al. 2018, App. C.2), written independently
    of kerasdis: row i has 1/N at column i, (N - M)/(N M) at column (i + 1) mod B and
    1/M elsewhere, M = B - 1."""
    import numpy as np

    b, n = batch_size, float(dataset_size)
    m = b - 1
    w = np.full((b, b), 1.0 / m)
    for i in range(b):
        w[i, i] = 1.0 / n
        w[i, (i + 1) % b] = (n - m) / (n * m)
    return np.log(w)


class TorchReference:
    """The kerasdis conv models and objectives in eager PyTorch (NCHW)."""

    def __init__(self, model, seed=0):
        import torch
        from torch import nn

        self.torch = torch
        self.model = model
        torch.manual_seed(seed)
        self.encoder_body = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(),    # TF 'same' pads 1 on each side here
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 2, 2, 0), nn.ReLU(),   # k = s = 2: no padding
            nn.Conv2d(64, 64, 2, 2, 0), nn.ReLU(),
            nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(),
        )
        self.mean_head = nn.Linear(256, LATENT)
        self.log_var_head = nn.Linear(256, LATENT)
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),  # 'same' transposed: 2x size
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1),
        )
        self.vae_params = [p for m in (self.encoder_body, self.mean_head, self.log_var_head,
                                       self.decoder) for p in m.parameters()]
        self.optimizer = torch.optim.Adam(self.vae_params, lr=1e-4, betas=(0.9, 0.999))
        self.discriminator = None
        if model == "factor_vae":
            layers = []
            width = LATENT
            for _ in range(6):
                layers += [nn.Linear(width, DISC_UNITS), nn.LeakyReLU(0.2)]
                width = DISC_UNITS
            layers.append(nn.Linear(DISC_UNITS, 2))
            self.discriminator = nn.Sequential(*layers)
            self.disc_params = list(self.discriminator.parameters())
            self.disc_optimizer = torch.optim.Adam(self.disc_params, lr=1e-4, betas=(0.5, 0.9))
        if model == "beta_tcvae":
            self.log_w = torch.tensor(mss_log_weights_np(BATCH, DSPRITES_SIZE), dtype=torch.float32)

    def num_params(self):
        params = list(self.vae_params) + (self.disc_params if self.discriminator else [])
        return sum(p.numel() for p in params)

    def encode(self, x):
        h = self.encoder_body(x)
        return self.mean_head(h), self.log_var_head(h).clamp(-20.0, 10.0)

    @staticmethod
    def log_density(torch, z, mean, log_var):
        return -0.5 * (math.log(2 * math.pi) + log_var + (z - mean) ** 2 * torch.exp(-log_var))

    def decomposed_kl(self, z, mean, log_var, log_w):
        """MSS estimates of (MI, TC, dimension-wise KL), batch means."""
        torch = self.torch
        pairs = self.log_density(torch, z[:, None, :], mean[None], log_var[None])  # [B, B, D]
        log_qz_given_x = self.log_density(torch, z, mean, log_var).sum(1)
        log_pz = (-0.5 * (math.log(2 * math.pi) + z ** 2)).sum(1)
        log_qz = torch.logsumexp(log_w + pairs.sum(2), dim=1)
        log_prod_qzj = torch.logsumexp(log_w[:, :, None] + pairs, dim=1).sum(1)
        return ((log_qz_given_x - log_qz).mean(), (log_qz - log_prod_qzj).mean(),
                (log_prod_qzj - log_pz).mean())

    def step(self, x):
        torch = self.torch
        F = torch.nn.functional
        mean, log_var = self.encode(x)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        logits = self.decoder(z)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()
        kl = (0.5 * (log_var.exp() + mean ** 2 - 1.0 - log_var).sum(1)).mean()
        if self.model == "vae":
            loss = rec + kl
        elif self.model == "beta_tcvae":
            mi, tc, dwkl = self.decomposed_kl(z, mean, log_var, self.log_w)
            loss = rec + 1.0 * mi + TCVAE_BETA * tc + 1.0 * dwkl
        else:
            logits_real = self.discriminator(z)
            tc = (logits_real[:, 0] - logits_real[:, 1]).mean()
            loss = rec + kl + FACTOR_GAMMA * tc
            half = z.shape[0] // 2
            z_fixed = z.detach()
            fake = z_fixed[half: 2 * half]
            order = torch.argsort(torch.rand_like(fake), dim=0)  # permute each dimension
            z_disc = torch.cat([z_fixed[:half], torch.gather(fake, 0, order)])
            labels = torch.cat([torch.zeros(half, dtype=torch.long),
                                torch.ones(half, dtype=torch.long)])
            disc_loss = F.cross_entropy(self.discriminator(z_disc), labels)
            self.disc_optimizer.zero_grad(set_to_none=True)
        self.optimizer.zero_grad(set_to_none=True)
        if self.discriminator is None:
            loss.backward()
        else:
            loss.backward(inputs=self.vae_params)        # the VAE's gradients only
            disc_loss.backward(inputs=self.disc_params)  # the discriminator's
            self.disc_optimizer.step()
        self.optimizer.step()
        return loss


def make_torch_runner(model, images, threads, seed=0, autocast=False):
    """Returns `(reference, run)`; `threads="auto"` picks the faster of 1 and 2 threads now.

    `autocast=True` runs the step under `torch.autocast("cpu", torch.bfloat16)`.
    """
    import torch

    ref = TorchReference(model, seed=seed)
    batches = [torch.from_numpy(images[i * BATCH:(i + 1) * BATCH]).permute(0, 3, 1, 2).contiguous()
               for i in range(len(images) // BATCH)]
    counter = [0]

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            ref.step(batches[counter[0] % len(batches)])
        counter[0] += 1

    if threads == "auto":
        timings = {}
        for candidate in (1, 2):
            torch.set_num_threads(candidate)
            step()
            start = time.perf_counter()
            for _ in range(3):
                step()
            timings[candidate] = time.perf_counter() - start
        threads = min(timings, key=timings.get)
    ref.threads = threads

    def run(steps, seconds):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            step()  # not timed: the first step after a thread change
            done, start = 0, time.perf_counter()
            while done < max(steps, 2) and (done < 2 or time.perf_counter() - start < seconds):
                step()
                done += 1
            return done * BATCH / (time.perf_counter() - start)
        finally:
            torch.set_num_threads(previous)

    torch.set_num_threads(threads)
    for _ in range(2):
        step()
    return ref, run


# ------------------------------------------------------------ kerasdis variants
def network_options(channels_first=False, keras_logits=False):
    """Builder arguments of `kerasdis.networks` for a variant: `(encoder, decoder)` dicts.

    `channels_first`: the conv networks compute channels-first (NCHW; the images stay
    NHWC at the model's boundary). `keras_logits`: the decoder's one-channel logits
    layer is `keras.layers.Conv2DTranspose` instead of `kerasdis.networks.Conv2DTranspose`
    (same weights, same function; the library's computes its forward pass as a matmul
    and an overlap-add).
    """
    encoder, decoder = {}, {}
    if channels_first:
        encoder["data_format"] = decoder["data_format"] = "channels_first"
    if keras_logits:
        decoder["logits_layer"] = "keras"
    return encoder, decoder


def with_networks(cls, encoder_options, decoder_options):
    """`cls` whose conv encoder and decoder are built by `kerasdis.networks` with these
    builder arguments (no options: `cls` itself).

    The models build their networks in their constructor and take no builder
    arguments, so the subclass rebuilds each network as the constructor assigns it
    (`self.encoder = ...`), before Keras tracks it, with the same shapes and the same
    initial weights; nothing in kerasdis is patched.
    """
    if not encoder_options and not decoder_options:
        return cls
    import keras

    from kerasdis import networks

    def rebuild_encoder(net):
        return networks.build_encoder(tuple(net.inputs[0].shape[1:]), net.outputs[0].shape[-1],
                                      "conv", name=net.name, **encoder_options)

    def rebuild_decoder(net):
        return networks.build_decoder(tuple(net.outputs[0].shape[1:]), net.inputs[0].shape[-1],
                                      "conv", name=net.name, **decoder_options)

    rebuild = {"encoder": rebuild_encoder if encoder_options else None,
               "decoder": rebuild_decoder if decoder_options else None}

    class WithNetworks(cls):
        def __setattr__(self, name, value):
            if rebuild.get(name) is not None and isinstance(value, keras.Model):
                rebuilt = rebuild[name](value)
                rebuilt.set_weights(value.get_weights())
                value = rebuilt
            super().__setattr__(name, value)

    WithNetworks.__name__ = WithNetworks.__qualname__ = f"{cls.__name__}WithNetworks"
    return WithNetworks


def fused_adam_class():
    """`keras.optimizers.Adam` whose update is TensorFlow's fused `ResourceApplyAdam` kernel.

    Same arithmetic as Keras' Adam (lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); var -=
    lr_t m / (sqrt(v) + eps)) in one multi-threaded pass over each variable instead
    of about ten elementwise ops. Falls back to Keras' update for AMSGrad and sparse
    gradients.
    """
    import keras
    import tensorflow as tf

    class FusedAdam(keras.optimizers.Adam):
        def update_step(self, gradient, variable, learning_rate):
            if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
                return super().update_step(gradient, variable, learning_rate)
            dtype = variable.dtype
            index = self._get_variable_index(variable)
            m, v = self._momentums[index], self._velocities[index]
            step = tf.cast(self.iterations + 1, dtype)
            beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
            handle = (variable.value if isinstance(variable, keras.Variable) else variable).handle
            tf.raw_ops.ResourceApplyAdam(
                var=handle, m=m.value.handle, v=v.value.handle,
                beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
                epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype),
                use_locking=False)

    return FusedAdam


def target_verdict(default, kept):
    """The target is judged on the float32 default against float32 PyTorch; the opt-in
    bfloat16 ("kept") is only named when it alone reaches the target."""
    if default is not None and default >= TARGET:
        return "met (float32)"
    if kept is not None and kept >= TARGET:
        return "**not met** in float32 (met with `--mixed-precision`)"
    return "**not met**"


def compile_kerasdis_model(net, model, spe=1, jit=False, fused_adam=False):
    """Adam(1e-4) as `kerasdis.training` compiles (FactorVAE: the discriminator keeps
    the paper's Adam(1e-4, 0.5, 0.9))."""
    import keras

    adam = fused_adam_class() if fused_adam else keras.optimizers.Adam
    kwargs = {}
    if model == "factor_vae":
        kwargs["discriminator_optimizer"] = adam(1e-4, beta_1=0.5, beta_2=0.9)
    net.compile(optimizer=adam(1e-4), steps_per_execution=spe, jit_compile=jit, **kwargs)


def build_kerasdis_model(model, bf16=False, channels_first=False, keras_logits=False, seed=0):
    """The kerasdis model; `bf16=True` builds it as `"mixed_precision": True` does
    (inside `kerasdis.training.dtype_policy`)."""
    import keras

    import kerasdis as kd

    classes = {"vae": kd.models.VAE, "beta_tcvae": kd.models.BetaTCVAE,
               "factor_vae": kd.models.FactorVAE}
    cls = classes[model]
    kwargs = dict(latent_dim=LATENT, input_shape=IMAGE, seed=seed)
    if model == "beta_tcvae":
        kwargs.update(beta=TCVAE_BETA, dataset_size=DSPRITES_SIZE, estimator="mss")
    if model == "factor_vae":
        kwargs.update(gamma=FACTOR_GAMMA, discriminator_units=DISC_UNITS)
    cls = with_networks(cls, *network_options(channels_first, keras_logits))
    with kd.training.dtype_policy({"mixed_precision": bf16}):
        net = cls(**kwargs)
    return net, keras


def in_memory_dataset(images, prefetch=True):
    """A repeated `tf.data` of the in-memory batches (one slice per step), prefetched."""
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensor_slices(images.reshape((-1, BATCH) + IMAGE)).repeat()
    return batches.prefetch(tf.data.AUTOTUNE) if prefetch else batches


def make_kerasdis_runner(model, images, spe=1, jit=False, bf16=False, channels_first=False,
                         keras_logits=False, fused_adam=False, pipeline="memory", seed=0,
                         warmup=2):
    """Returns `(keras model, run)`: `run(steps, seconds)` -> images/s of `model.fit`.

    Time runs from the start of the second execution to the end of the epoch, so
    the first execution of each `fit` (iterator start, prefetch fill) is excluded.
    """
    net, keras = build_kerasdis_model(model, bf16=bf16, channels_first=channels_first,
                                      keras_logits=keras_logits, seed=seed)
    compile_kerasdis_model(net, model, spe=spe, jit=jit, fused_adam=fused_adam)
    if pipeline in ("memory", "memory_noprefetch"):
        data = in_memory_dataset(images, prefetch=pipeline == "memory")
    else:
        import kerasdis as kd

        data = kd.training.training_batches(kd.data.load("dsprites"), BATCH, seed=seed)

    class Clock(keras.callbacks.Callback):
        async_safe = True

        def reset(self, seconds):
            self.seconds, self.starts, self.end = seconds, [], None

        def on_train_batch_begin(self, batch, logs=None):
            now = time.perf_counter()
            self.starts.append(now)
            if len(self.starts) > 2 and now - self.starts[1] >= self.seconds:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            self.end = time.perf_counter()

    clock = Clock()

    def run(steps, seconds):
        executions = max(2, 1 + math.ceil(steps / spe))
        clock.reset(seconds)
        net.fit(data, steps_per_epoch=executions * spe, epochs=1, verbose=0, shuffle=False,
                callbacks=[clock])
        timed = (len(clock.starts) - 1) * spe
        return timed * BATCH / (clock.end - clock.starts[1])

    clock.reset(0.0)
    net.fit(data, steps_per_epoch=max(warmup, 2) * spe, epochs=1, verbose=0, shuffle=False,
            callbacks=[clock])
    return net, run


# ------------------------------------------------------------------- allocator
MMAP_THRESHOLD = 64 << 20  # bytes: larger than any tensor of these models (8 MB at most)
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory():
    """Makes glibc's malloc keep freed blocks instead of returning them to the system.

    With glibc's defaults, blocks of a few MB are mmapped and unmapped at every step
    until a free raises the dynamic threshold, so a PyTorch step pays for fresh zeroed
    pages: measured here, the torch VAE ran at 630–900 images/s when it was the first
    model of the process and at 1,000–1,130 after another model, or with these
    settings, while kerasdis's step did not move (TensorFlow keeps its own buffers).
    `mallopt(M_MMAP_THRESHOLD, 64 MiB)` and `mallopt(M_TRIM_THRESHOLD, 256 MiB)`
    give both frameworks the warm allocator from the first step, as `LD_PRELOAD`ing
    jemalloc or tcmalloc does in PyTorch's CPU tuning guides. Returns whether it
    applied (glibc only).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD)
                    and libc.mallopt(m_trim_threshold, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


# ---------------------------------------------------------------- machine limit
def make_matmul_probe(n=2048, repeats=3):
    """Returns `probe()` -> float32 GFLOP/s of an n x n `tf.linalg.matmul` (best of repeats)."""
    import tensorflow as tf

    a = tf.random.stateless_normal([n, n], seed=[1, 2])
    b = tf.random.stateless_normal([n, n], seed=[3, 4])

    @tf.function
    def matmul(a, b):
        return tf.reduce_sum(tf.linalg.matmul(a, b)[:1, :1])

    matmul(a, b).numpy()

    def probe():
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            matmul(a, b).numpy()
            best = max(best, 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
        return best

    return probe


# ------------------------------------------------------------- equivalence checks
def check_equivalence(images):
    """Copies kerasdis weights into the torch reference and compares outputs and loss terms.

    Returns a dict of max absolute differences (or the reason it could not run).
    """
    import numpy as np
    import tensorflow as tf
    import torch

    import kerasdis as kd

    out = {}
    net, _ = build_kerasdis_model("factor_vae", seed=0)
    ref = TorchReference("factor_vae", seed=0)
    kd_params = sum(int(np.prod(v.shape)) for v in net.trainable_weights)
    out["parameters (kerasdis / torch)"] = f"{kd_params:,} / {ref.num_params():,}"

    def dense(layer, linear, rows=None):
        kernel, bias = (w.numpy() for w in layer.weights)
        if rows is not None:  # flatten order NHWC -> NCHW
            kernel = kernel[rows]
        linear.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
        linear.bias.data = torch.from_numpy(bias)

    def conv(layer, module):
        kernel, bias = (w.numpy() for w in layer.weights)
        # Conv2D (h, w, in, out) -> (out, in, h, w);
        # Conv2DTranspose (h, w, out, in) -> (in, out, h, w)
        module.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        module.bias.data = torch.from_numpy(bias)

    enc, dec = net.encoder, net.decoder
    body = ref.encoder_body
    for name, module in zip(("conv1", "conv2", "conv3", "conv4"), body[0:8:2]):
        conv(enc.get_layer(name), module)
    # NHWC flat index (h, w, c) of each NCHW flat position (c, h, w).
    nchw_to_nhwc = np.arange(4 * 4 * 64).reshape(4, 4, 64).transpose(2, 0, 1).reshape(-1)
    dense(enc.get_layer("fc"), body[9], rows=nchw_to_nhwc)
    dense(enc.get_layer("mean"), ref.mean_head)
    dense(enc.get_layer("log_var"), ref.log_var_head)
    d = ref.decoder
    dense(dec.get_layer("fc1"), d[0])
    fc2_kernel, fc2_bias = (w.numpy() for w in dec.get_layer("fc2").weights)
    d[2].weight.data = torch.from_numpy(np.ascontiguousarray(fc2_kernel[:, nchw_to_nhwc].T))
    d[2].bias.data = torch.from_numpy(fc2_bias[nchw_to_nhwc])
    for name, module in zip(("deconv1", "deconv2", "deconv3", "logits"), (d[5], d[7], d[9], d[11])):
        conv(dec.get_layer(name), module)
    disc_layers = [m for m in ref.discriminator if isinstance(m, torch.nn.Linear)]
    for i, module in enumerate(disc_layers[:-1]):
        dense(net.discriminator.get_layer(f"fc{i + 1}"), module)
    dense(net.discriminator.get_layer("logits"), disc_layers[-1])

    x = images[:BATCH]
    x_t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        mean_t, log_var_t = ref.encode(x_t)
        mean_k, log_var_k = (t.numpy() for t in net.encode(x))
        out["encoder (mean, log_var)"] = max(np.abs(mean_k - mean_t.numpy()).max(),
                                             np.abs(log_var_k - log_var_t.numpy()).max())
        z = mean_k + 0.5 * np.random.default_rng(0).standard_normal(mean_k.shape).astype("float32")
        logits_t = ref.decoder(torch.from_numpy(z))
        logits_k = net.decoder(z).numpy()
        out["decoder logits (shape 64x64x1 / 1x64x64)"] = np.abs(
            logits_k - logits_t.permute(0, 2, 3, 1).numpy()).max()
        assert tuple(logits_t.shape[1:]) == (1, 64, 64) and logits_k.shape[1:] == IMAGE
        out["discriminator logits"] = np.abs(
            net.discriminator(z).numpy() - ref.discriminator(torch.from_numpy(z)).numpy()).max()
        nll_t = torch.nn.functional.binary_cross_entropy_with_logits(
            logits_t, x_t, reduction="none").sum((1, 2, 3))
        nll_k = kd.losses.negative_log_likelihood(tf.constant(x), tf.constant(logits_k),
                                                  "bernoulli")  # what the models minimize
        out["reconstruction per image (nats)"] = np.abs(nll_k.numpy() - nll_t.numpy()).max()
        kl_t = 0.5 * (log_var_t.exp() + mean_t ** 2 - 1 - log_var_t).sum(1)
        out["KL per image"] = np.abs(kd.losses.gaussian_kl(mean_k, log_var_k).numpy()
                                     - kl_t.numpy()).max()
        terms_k = kd.losses.decomposed_kl_terms(tf.constant(z), tf.constant(mean_k),
                                                tf.constant(log_var_k), DSPRITES_SIZE, "mss")
        log_w = torch.tensor(mss_log_weights_np(BATCH, DSPRITES_SIZE), dtype=torch.float32)
        terms_t = ref.decomposed_kl(torch.from_numpy(z), mean_t, log_var_t, log_w)
        out["MSS (mi, tc, dwkl)"] = max(abs(float(terms_k[k]) - float(t))
                                        for k, t in zip(("mi", "tc", "dwkl"), terms_t))
    return out


def compiled_model(model, bf16=False, fused_adam=False):
    """The model (seed 0) compiled as the benchmark compiles it, and its initial weights."""
    net, _ = build_kerasdis_model(model, bf16=bf16, seed=0)
    compile_kerasdis_model(net, model, fused_adam=fused_adam)
    return net, [w.numpy() for w in net.trainable_weights]


def train_steps(net, images, steps):
    """`steps` steps of `train_on_batch` on the in-memory batches, in order."""
    for i in range(steps):
        net.train_on_batch(images[(i % NUM_BATCHES) * BATCH:(i % NUM_BATCHES + 1) * BATCH])


def check_fused_adam(images, steps=3):
    """FactorVAE trained `steps` steps with Keras' Adam and with the fused Adam from the
    same weights on the same batches: max over variables of max |update difference| /
    max |update| (float32 rounding is ~1e-4 here; an arithmetic error would be ~1)."""
    import numpy as np

    updates = {}
    for fused_adam in (False, True):
        net, before = compiled_model("factor_vae", fused_adam=fused_adam)
        train_steps(net, images, steps)
        updates[fused_adam] = [w.numpy() - b for w, b in zip(net.trainable_weights, before)]
    return float(max(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)
                     for a, b in zip(updates[False], updates[True])))


def check_bf16(images, steps):
    """Trains the default (float32) and the kept (`mixed_precision`: bfloat16 compute)
    VAE, both with Keras' Adam, for `steps` steps from the same weights on the same
    batches and noise.

    Returns relative differences of the loss terms on a fixed batch at the start
    and after `steps` steps, and the losses of both.
    """
    import tensorflow as tf

    x = tf.constant(images[:BATCH])
    terms = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        net, _ = compiled_model("vae", bf16=bf16)
        start = net.compute_terms(x)
        train_steps(net, images, steps)
        terms[name] = (start, net.compute_terms(x))
    results = {}
    for when, index in (("start", 0), (f"after {steps} steps", 1)):
        a, b = terms["fp32"][index], terms["bf16"][index]
        results[when] = {k: float(abs(b[k] - a[k]) / max(abs(float(a[k])), 1e-6))
                         for k in ("loss", "reconstruction", "kl")}
    for name in terms:
        results[f"{name} loss"] = tuple(float(t["loss"]) for t in terms[name])
    return results


# -------------------------------------------------------------------- children
def child_main(args):
    """Entry point of the subprocesses (`--child memory|mig|env`); prints one JSON line."""
    if args.child == "env":
        variant = ENV_VARIANTS[args.env_variant]
        import tensorflow as tf

        if "intra" in variant:
            tf.config.threading.set_intra_op_parallelism_threads(variant["intra"])
            tf.config.threading.set_inter_op_parallelism_threads(variant["inter"])
        images = in_memory_images()
        impls = {"default": make_kerasdis_runner("vae", images)[1]}
        if not args.no_torch and torch_available():
            impls["torch_2"] = make_torch_runner("vae", images, 2)[1]
            impls["torch_1"] = make_torch_runner("vae", images, 1)[1]
        rates = alternate(impls, args.rounds, args.steps, args.seconds)
        print("RESULT " + json.dumps({"rates": rates}))
        return 0
    if args.child == "memory":
        import numpy as np

        images = np.load(args.images)
        if args.impl == "torch":  # numpy and torch only: no TensorFlow in this process
            import torch  # noqa: F401

            setup = peak_rss_mb()
            _, run = make_torch_runner(args.model, images, 2)
        else:
            import kerasdis  # noqa: F401

            setup = peak_rss_mb()
            _, run = make_kerasdis_runner(args.model, images, warmup=1)
        run(args.steps, 1e9)
        peak = peak_rss_mb()
        print("RESULT " + json.dumps({"setup_mb": setup, "peak_mb": peak}))
        return 0
    if args.child == "mig":
        import kerasdis as kd

        ds = kd.data.load("dsprites")
        net = kd.models.BetaVAE(latent_dim=LATENT, input_shape=IMAGE, seed=0)
        before = peak_rss_mb()
        start = time.perf_counter()
        kd.metrics.mig(net, ds, subsample=args.mig_subsample, num_samples=args.mig_samples,
                       seed=0, verbose=0)
        seconds = time.perf_counter() - start
        peak = peak_rss_mb()
        print("RESULT " + json.dumps({"before_mb": before, "peak_mb": peak, "seconds": seconds}))
        return 0
    raise ValueError(args.child)


def peak_rss_mb():
    """Peak resident set of this process image in MB: `VmHWM` (Linux), else `ru_maxrss`.

    `ru_maxrss` of a child started from a large parent keeps the parent's peak on
    Linux (it survives fork + exec); `VmHWM` belongs to the new process image only.
    """
    try:
        with open("/proc/self/status") as f:
            match = re.search(r"^VmHWM:\s*(\d+) kB", f.read(), re.M)
        if match:
            return int(match.group(1)) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_result(returncode, stdout, stderr):
    for line in stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (stderr or stdout).strip().splitlines()[-3:]
    return {"error": f"exit {returncode}: {' | '.join(tail)}"}


def _child_command(extra):
    return [sys.executable, str(Path(__file__).resolve())] + extra


def run_child(extra, env=None, timeout=900):
    """Runs this script as a child; returns its RESULT JSON, or `{"error": ...}`."""
    full_env = dict(os.environ, **(env or {}))
    try:
        proc = subprocess.run(_child_command(extra), capture_output=True, text=True,
                              env=full_env, timeout=timeout, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    return _child_result(proc.returncode, proc.stdout, proc.stderr)


MEMORY_CONCURRENCY = 3


def run_children(children, timeout=900):
    """Runs several children, `MEMORY_CONCURRENCY` at a time (memory, not timing,
    measurements: CPU contention does not change a peak resident set)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(MEMORY_CONCURRENCY) as pool:
        futures = {key: pool.submit(run_child, extra, None, timeout)
                   for key, extra in children.items()}
        return {key: future.result() for key, future in futures.items()}


# ------------------------------------------------------------------ measurement
def alternate(impls, rounds, steps, seconds, probe=None, log=None):
    """Runs each implementation in turn, `rounds` times (order reversed every other
    round); returns {name: [images/s per round]} (and "matmul" GFLOP/s with `probe`)."""
    names = list(impls)
    rates = {name: [] for name in names}
    if probe is not None:
        rates["matmul"] = []
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            rates[name].append(impls[name](steps, seconds))
        if probe is not None:
            rates["matmul"].append(probe())
        if log:
            log(f"  round {r + 1}/{rounds}: " + ", ".join(
                f"{n} {rates[n][-1]:,.0f}" for n in names) + f" (load {os.getloadavg()[0]:.1f})")
    return rates


STALL = 0.4  # a measurement under this fraction of its own median is a stall


def stalled(rates):
    """Rounds whose measurement fell under `STALL` x the median of the same implementation.

    On a loaded machine a run is sometimes descheduled mid-parallel-op and a whole
    measurement drops 10-50x; such rounds say nothing about the implementation.
    """
    med = statistics.median(rates)
    return {r for r, x in enumerate(rates) if x < STALL * med}


def median_ratio(a, b):
    """Median over rounds of a[r] / b[r], leaving out rounds where either stalled
    (all rounds if that leaves none)."""
    pairs = list(zip(a, b))
    skip = stalled(a) | stalled(b)
    kept = [p for r, p in enumerate(pairs) if r not in skip] or pairs
    return statistics.median(x / y for x, y in kept)


def torch_reference_rates(rates):
    """Per round: the faster torch thread setting."""
    if "torch_2" not in rates:
        return None
    return [max(a, b) for a, b in zip(rates["torch_2"], rates["torch_1"])]


def bench_model(model, images, variants, args, probe, log, with_torch, errors):
    """Rates of the torch runners and of the kerasdis `variants` of `model`, measured
    alternately. A variant this machine cannot run (e.g. NCHW convolutions without
    oneDNN) is left out with its error appended to `errors`."""
    impls = {}
    if with_torch:
        impls["torch_2"] = make_torch_runner(model, images, 2)[1]
        impls["torch_1"] = make_torch_runner(model, images, 1)[1]
        if model in args.torch_bf16_models:
            ref, impls["torch_bf16"] = make_torch_runner(model, images, "auto", autocast=True)
            TORCH_LABELS["torch_bf16"] = (
                f"PyTorch eager + `torch.autocast` bfloat16, {ref.threads} "
                f"thread{'s' if ref.threads > 1 else ''} (context)")
    for name in variants:
        spec = variant_spec(name)
        log(f"[train_throughput] {model}: building {name} ...")
        try:
            _, impls[name] = make_kerasdis_runner(
                model, images, **{k: v for k, v in spec.items() if k != "label"})
        except Exception as error:  # report, keep benchmarking the others
            reasons = [line.strip() for line in str(error).splitlines()
                       if line.strip() and not line.strip().startswith("[[")]
            message = reasons[-1] if reasons else ""
            errors.append(f"{name} could not run here: {type(error).__name__}: {message}")
            log(f"[train_throughput] {model}: {errors[-1]}")
    log(f"[train_throughput] {model}: {args.rounds} rounds x {len(impls)} implementations")
    rates = alternate(impls, args.rounds, args.steps, args.seconds, probe=probe, log=log)
    return rates


def measured_variants(results):
    """Names of the in-process kerasdis variants measured (not torch, env or matmul)."""
    return {name for rates in results["rates"].values() for name in rates
            if name != "matmul" and not name.startswith("torch") and name not in ENV_VARIANTS}


def summarize(model, rates):
    """Rows of the table of one model: dicts with label, rate, ratios, FLOP/s."""
    ref = torch_reference_rates(rates)
    flops = train_flops_per_image(model)
    rows = []
    names = [n for n in rates if n != "matmul"]
    for name in names:
        if name in TORCH_LABELS:
            label = TORCH_LABELS[name]
        elif name.startswith("torch"):
            plural = "s" if name[-1] != "1" else ""
            label = f"PyTorch {torch_version()} eager, {name[-1]} thread{plural}"
        elif name in ENV_VARIANTS:
            label = ENV_VARIANTS[name]["label"] + " *(subprocess)*"
        else:
            label = variant_spec(name)["label"]
        row = {"name": name, "label": label, "rate": statistics.median(rates[name])}
        row["x_torch"] = median_ratio(rates[name], ref) if ref else None
        row["x_default"] = (median_ratio(rates[name], rates["default"])
                            if "default" in rates and not name.startswith("torch") else None)
        row["gflops"] = row["rate"] * flops / 1e9
        rows.append(row)
    return rows


def torch_version():
    try:
        import torch

        return torch.__version__.split("+")[0]
    except Exception:
        return ""


# --------------------------------------------------------------------- report
def machine_info():
    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.summary import cpu_flags, cpu_model

    cpu = cpu_model()
    flags = ", ".join(cpu_flags(("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "flags": flags,
        "python": platform.python_version(),
        "versions": (f"tensorflow {tf.__version__}, keras {keras.__version__}, "
                     f"numpy {np.__version__}, "
                     + (f"torch {torch_version()}" if torch_version() else "torch not installed")),
    }


def fmt(value, spec=",.0f", suffix=""):
    return "–" if value is None else f"{value:{spec}}{suffix}"


def parse_metrics_speed(path):
    """MIG rows (seconds, peak MB) of a `metrics_speed.md`, or None."""
    path = Path(path)
    if not path.exists():
        return None
    rows, header = {}, None
    for line in path.read_text().splitlines():
        if not line.strip().startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "metric":
            header = {name: i for i, name in enumerate(cells)}
            continue
        if header is None or not (cells[0].startswith("mig") or cells[0].startswith("encode_grid")):
            continue
        values = {key: cells[header[name]] if header.get(name, len(cells)) < len(cells) else "?"
                  for key, name in (("settings", "settings"), ("seconds", "seconds"),
                                    ("peak_mb", "peak MB"))}
        rows[cells[0]] = values
    quick = "--quick" in path.read_text()
    return {"rows": rows, "quick": quick, "path": str(path)} if rows else None


def render(results, info, args):
    torch_ok = results["torch"]
    lines = [
        "# Training throughput: kerasdis vs PyTorch (CPU)",
        "",
        f"- date: {info['date']}; settings: "
        f"{'--quick (tiny, not meaningful)' if args.quick else 'full'}"
        f"{' + --explore' if args.explore else ''}, {args.rounds} rounds x "
        f"up to {args.steps} steps / {args.seconds:g} s per implementation",
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['flags']}); "
        f"python {info['python']}; {info['versions']}",
        f"- load average (1, 5, 15 min) at start: {results['load_start']}, at end: "
        f"{results['load_end']} — the machine is shared: absolute numbers are noisy, the ratios "
        "are medians of per-round ratios of implementations run alternately in one process",
        "- batch 64 of 64x64x1 dSprites images, 16 distinct in-memory batches cycled; "
        "kerasdis: `model.fit` on a prefetched `tf.data` of the batches, Adam(1e-4); "
        "torch: the same networks and objectives written in `benchmarks/train_throughput.py`, "
        "eager, `torch.optim.Adam(1e-4)`, NCHW, same batches",
        "- **x torch**: against the faster of the two torch thread settings in the same round; "
        "**x default**: against kerasdis default in the same round; "
        f"ratios leave out rounds where either side stalled (under {STALL:.0%} of its own "
        "median: descheduled by the load); "
        "**% peak**: achieved conv/dense FLOP/s over the best FLOP/s of a 2048² float32 "
        "`tf.linalg.matmul` measured in the same rounds (the machine limit under that load; "
        "bfloat16 rows are measured against this float32 limit)",
        "",
    ]
    if not torch_ok:
        lines += [f"**PyTorch {TORCH_UNAVAILABLE}** ({results['torch_reason']}): the torch rows "
                  "and the x torch column are marked unavailable; `pip install \".[bench]\"` "
                  "installs it.", ""]
    lines += ["## Summary", "",
              "| model | train GFLOP / image | kerasdis default x torch | kerasdis "
              f"--mixed-precision x torch | target {TARGET:g}x |",
              "| --- | ---: | ---: | ---: | --- |"]
    for model in results["models"]:
        rows = {r["name"]: r for r in results["rows"][model]}
        default = rows.get("default", {}).get("x_torch")
        kept = rows.get(KEPT, {}).get("x_torch")
        verdict = TORCH_UNAVAILABLE if not torch_ok else target_verdict(default, kept)
        lines.append(f"| {MODEL_LABELS[model]} | {train_flops_per_image(model) / 1e9:.3f} | "
                     f"{fmt(default, '.2f', 'x') if torch_ok else TORCH_UNAVAILABLE} | "
                     f"{fmt(kept, '.2f', 'x') if torch_ok else TORCH_UNAVAILABLE} | {verdict} |")
    lines.append("")
    for model in results["models"]:
        rates = results["rates"][model]
        if "torch_bf16" in rates and KEPT in rates:
            lines += [f"Like for like in bfloat16 ({MODEL_LABELS[model]}): kerasdis "
                      "`--mixed-precision` is "
                      f"{median_ratio(rates[KEPT], rates['torch_bf16']):.2f}x PyTorch eager under "
                      "`torch.autocast(\"cpu\", torch.bfloat16)` (median of per-round ratios); "
                      "the x torch column compares with float32 PyTorch, the equivalent of what "
                      "the PyTorch research code runs.", ""]
    for model in results["models"]:
        matmul = results["rates"][model].get("matmul")
        limit = max(matmul) if matmul else None
        lines += [f"## {MODEL_LABELS[model]}", "",
                  "| implementation | images/s | x torch | x default | GFLOP/s | % peak |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for row in results["rows"][model]:
            x_torch = fmt(row["x_torch"], ".2f", "x") if torch_ok else TORCH_UNAVAILABLE
            lines.append(f"| {row['label']} | {row['rate']:,.0f} | {x_torch} | "
                         f"{fmt(row['x_default'], '.2f', 'x')} | {row['gflops']:.1f} | "
                         f"{fmt(row['gflops'] / limit if limit else None, '.0%')} |")
        if not torch_ok:
            lines.append(f"| PyTorch eager | {TORCH_UNAVAILABLE} | {TORCH_UNAVAILABLE} "
                         "| – | – | – |")
        lines.append("")
        model_rates = results["rates"][model]
        stalls = {name: len(stalled(r)) for name, r in model_rates.items()
                  if name != "matmul" and len(r) > 1 and stalled(r)}
        if stalls:
            lines += ["Stalled measurements left out of the ratios: " + ", ".join(
                f"{name} {n}/{len(model_rates[name])}" for name, n in stalls.items()) + ".", ""]
        if limit:
            lines += [f"Machine limit in these rounds: {limit:.1f} GFLOP/s (best 2048² float32 "
                      f"matmul; median {statistics.median(matmul):.1f}).", ""]
        errors = results.get("errors", {}).get(model, [])
        lines += [f"- {error}" for error in errors] + ([""] if errors else [])
    mm = results.get("matmul")
    if mm:
        lines += [f"Machine limit over the whole run: 2048² float32 `tf.linalg.matmul` in a "
                  f"`tf.function`, best of 3 per round: median {statistics.median(mm):.1f}, best "
                  f"{max(mm):.1f} GFLOP/s over {len(mm)} rounds. The % peak column divides by "
                  "the best of the model's own rounds, measured under the same load.", ""]
    macs = network_macs()
    lines += ["FLOPs per training image (analytic, conv/dense only: forward MACs x 2, backward "
              "= 2 x forward): encoder "
              f"{macs['encoder'] / 1e6:.2f} M MACs, decoder {macs['decoder'] / 1e6:.2f} M MACs, "
              f"FactorVAE discriminator {macs['discriminator'] / 1e6:.2f} M MACs per sample, "
              "run on "
              "every image twice (TC term, discriminator loss).", ""]
    if results.get("equivalence"):
        lines += ["## Same function", "",
                  "kerasdis weights copied into the torch reference (FactorVAE networks; "
                  "NHWC→NCHW "
                  "kernels and flatten order), one batch, max absolute difference:", "",
                  "| quantity | max abs diff |", "| --- | ---: |"]
        for key, value in results["equivalence"].items():
            lines.append(f"| {key} | {value if isinstance(value, str) else f'{value:.2e}'} |")
        lines.append("")
    if results.get("bf16_check") or results.get("fused_adam_check") is not None:
        lines += ["## Same results with the kept settings", ""]
    if results.get("bf16_check"):
        check = results["bf16_check"]
        lines += ["Default (float32) and kept (`mixed_precision`: bfloat16 compute, float32 "
                  "variables) VAE, both with Keras' Adam, from the same weights, trained on the "
                  "same batches and noise; relative difference of the terms on a fixed batch:",
                  "",
                  "| when | loss | reconstruction | kl |", "| --- | ---: | ---: | ---: |"]
        for when in [k for k in check if k.startswith(("start", "after"))]:
            v = check[when]
            lines.append(f"| {when} | {v['loss']:.2%} | {v['reconstruction']:.2%} | "
                         f"{v['kl']:.2%} |")
        lines += ["", f"Loss, default: {check['fp32 loss'][0]:.2f} → "
                  f"{check['fp32 loss'][1]:.2f}; "
                  f"kept: {check['bf16 loss'][0]:.2f} → {check['bf16 loss'][1]:.2f} nats.", ""]
    if results.get("fused_adam_check") is not None:
        lines += ["Fused Adam against Keras' Adam (FactorVAE, same weights and batches, a few "
                  "steps): max |update difference| / max |update| = "
                  f"{results['fused_adam_check']:.1e} (float32 rounding).", ""]
    if results.get("memory"):
        lines += ["## Peak memory", "",
                  "Peak resident set (`VmHWM`; what `ru_maxrss` reports for a fresh process) of "
                  "a subprocess that loads the framework and the 16 batches, then builds the "
                  "model and trains it (1 warm-up execution + the steps). The torch process "
                  "imports no TensorFlow.", "",
                  "| run | after imports + data (MB) | peak (MB) | model + training (MB) |",
                  "| --- | ---: | ---: | ---: |"]
        for label, mem in results["memory"].items():
            if "error" in mem:
                lines.append(f"| {label} | {mem['error']} | | |")
            else:
                lines.append(f"| {label} | {mem['setup_mb']:,.0f} | {mem['peak_mb']:,.0f} | "
                             f"{mem['peak_mb'] - mem['setup_mb']:,.0f} |")
        lines.append("")
    mig = results.get("mig")
    if mig:
        lines += ["Full-grid MIG:", ""]
        if mig.get("from_metrics_speed"):
            ms = mig["from_metrics_speed"]
            quick = " (--quick run: subsample)" if ms["quick"] else ""
            lines.append(f"- from `{Path(ms['path']).name}`{quick} "
                         "(peak resident-set growth while the metric ran):")
            for name, row in ms["rows"].items():
                lines.append(f"  - {name} ({row['settings']}): {row['seconds']} s, "
                             f"+{row['peak_mb']} MB")
        if mig.get("measured"):
            m = mig["measured"]
            if "error" in m:
                lines.append(f"- measured here: {m['error']}")
            else:
                lines.append(
                    f"- measured here in a subprocess, `kd.metrics.mig` on a subsample of "
                    f"{mig['subsample']:,} images (not the full grid), S = {mig['samples']:,}: "
                    f"{m['seconds']:.1f} s, peak resident set {m['peak_mb']:,.0f} MB "
                    f"({m['before_mb']:,.0f} MB before the metric)")
        lines.append("")
    results["notes"].insert(0, "Both kerasdis configurations are the library as it ships: "
                            "the default computes the Bernoulli reconstruction with the fused "
                            "`tf.nn.sigmoid_cross_entropy_with_logits` "
                            "(`kerasdis.losses.negative_log_likelihood`, 1.13x on the VAE when "
                            "it was measured as a variant) and its decoder's one-channel "
                            "logits layer is `kerasdis.networks.Conv2DTranspose` (a matmul and "
                            "an overlap-add; the `keras_logits` variant measures Keras' own); "
                            "kept builds the model inside "
                            "`kerasdis.training.dtype_policy({\"mixed_precision\": True})`. "
                            "Explored variants (`--explore`): the fused Adam is a subclass in "
                            "`benchmarks/train_throughput.py` (`fused_adam_class`); NCHW and "
                            "Keras' logits layer are `kerasdis.networks` builder arguments "
                            "(`data_format=\"channels_first\"`, `logits_layer=\"keras\"`).")
    if results.get("warm_malloc"):
        results["notes"].insert(1, "Allocator: this process sets glibc's malloc to keep freed "
                                "memory (`keep_freed_memory`: M_MMAP_THRESHOLD 64 MiB, "
                                "M_TRIM_THRESHOLD 256 MiB) before measuring, for both frameworks. "
                                "With glibc's defaults the torch VAE ran at 630–900 images/s as "
                                "the first model of the process and at 1,000–1,130 later or with "
                                "these settings, kerasdis unchanged: throughput tables written "
                                "before this setting (up to commit c48f140) overstate kerasdis "
                                "against torch. The peak-memory subprocesses keep glibc's defaults.")
    else:
        results["notes"].insert(1, "Allocator: glibc's malloc settings could not be changed here "
                                "(not glibc): torch's first model may run slower than later ones.")
    bf16_measured = any(variant_spec(name).get("bf16") for name in measured_variants(results))
    native = bool(set(NATIVE_BF16_FLAGS) & set(info["flags"].split(", ")))
    if not bf16_measured and not native:
        results["notes"].insert(1, "This CPU has neither AVX512-BF16 nor AMX-BF16, so the default "
                                "run leaves out the `--mixed-precision` (bfloat16) rows, which "
                                "TensorFlow would emulate (several times slower than float32): "
                                "`--explore` or `--variants kept` measures them.")
    elif bf16_measured and not native:
        results["notes"].insert(1, "This CPU has neither AVX512-BF16 nor AMX-BF16: TensorFlow "
                                "emulates the bfloat16 convolutions and matmuls, so the "
                                "`mixed_precision` rows are slower than float32 here. The option "
                                "pays on CPUs with AVX512-BF16 (and on GPUs).")
    lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


# ------------------------------------------------------------------------ main
def selected_variants(model, args):
    """The kerasdis variants to measure for `model`: `--variants`, else the default
    run's (+ the explored ones with `--explore`); "default" always, first."""
    if args.variants:
        variants = [v for v in args.variants.split(",") if v]
        for v in variants:
            variant_spec(v)  # validates
    else:
        variants = list(DEFAULT_VARIANTS) + list(EXPLORE_VARIANTS[model] if args.explore else ())
        if not (args.explore or args.native_bf16):
            variants.remove(KEPT)  # emulated bfloat16: --explore measures it
    return (["default"] if "default" not in variants else []) + variants


def native_bf16():
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    from benchmarks.summary import cpu_flags

    return bool(cpu_flags(NATIVE_BF16_FLAGS))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings, to check the script runs")
    parser.add_argument("--explore", action="store_true",
                        help="also measure the explored variants (XLA, steps_per_execution, "
                             "NCHW, input pipelines, fused Adam) and, in subprocesses, oneDNN "
                             "and thread settings")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="markdown file to write")
    parser.add_argument("--models", default=None, help=f"comma-separated subset of {MODELS}")
    parser.add_argument("--variants", default=None,
                        help=f"comma-separated kerasdis variants of {tuple(VARIANTS)}, or "
                             f"parts {VARIANT_PARTS} joined by '+' (default: "
                             f"{', '.join(DEFAULT_VARIANTS)}; with --explore also per model)")
    parser.add_argument("--env-variants", default=None,
                        help=f"comma-separated subprocess variants of {tuple(ENV_VARIANTS)}, "
                             "or 'none' (default: none; with --explore all, quick one)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7, quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="max timed steps per measurement")
    parser.add_argument("--seconds", type=float, default=None, help="max seconds per measurement")
    parser.add_argument("--no-torch", action="store_true",
                        help="behave as if torch were not installed")
    parser.add_argument("--no-subprocess", action="store_true",
                        help="skip the subprocess measurements (env variants, memory, MIG)")
    parser.add_argument("--metrics-speed", default=None,
                        help="metrics_speed.md to take the MIG memory from "
                             "(default: next to --output)")
    # Internal: subprocess entry points.
    parser.add_argument("--child", choices=("memory", "mig", "env"), help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="kerasdis", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="vae", help=argparse.SUPPRESS)
    parser.add_argument("--env-variant", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--images", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mig-subsample", type=int, default=20_000, help=argparse.SUPPRESS)
    parser.add_argument("--mig-samples", type=int, default=2_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 7
    if args.steps is None:
        args.steps = 2 if args.quick else 30
    if args.seconds is None:
        args.seconds = 0.5 if args.quick else 2.0
    args.native_bf16 = native_bf16()
    # torch under autocast bfloat16 is the like-for-like reference of "kept"; on a CPU
    # that emulates bfloat16 both are measured only with --explore (or --variants kept).
    with_kept = args.explore or args.native_bf16 or KEPT in (args.variants or "").split(",")
    args.torch_bf16_models = () if args.quick or not with_kept else ("vae",)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child_main(args)

    started = time.perf_counter()

    def log(message):
        print(f"{time.perf_counter() - started:6.0f}s {message}", flush=True)

    results = {"load_start": ", ".join(f"{x:.1f}" for x in os.getloadavg()), "notes": [],
               "errors": {}}
    results["warm_malloc"] = keep_freed_memory()
    with_torch = not args.no_torch and torch_available()
    results["torch"] = with_torch
    results["torch_reason"] = ("--no-torch" if args.no_torch else "torch is not importable")
    models = args.models.split(",") if args.models else list(MODELS)
    for model in models:
        if model not in MODELS:
            raise SystemExit(f"unknown model {model!r}; expected some of {MODELS}")
    results["models"] = models

    import tensorflow as tf

    if with_torch:
        import torch

        torch.set_num_threads(2)
    images = in_memory_images()
    probe = make_matmul_probe(repeats=1 if args.quick else 3)

    if with_torch:
        log("[train_throughput] checking that the torch reference computes the same function ...")
        try:
            results["equivalence"] = check_equivalence(images)
        except Exception as error:  # report, keep benchmarking
            results["equivalence"] = {"error": f"{type(error).__name__}: {error}"}

    results["rows"], all_matmul = {}, []
    for model in models:
        variants = selected_variants(model, args)
        rates = bench_model(model, images, variants, args, probe, log, with_torch,
                            results["errors"].setdefault(model, []))
        results.setdefault("rates", {})[model] = rates
        all_matmul += rates["matmul"]
        if model == "vae" and not args.no_subprocess:
            if args.env_variants is not None:
                env_names = [v for v in args.env_variants.split(",") if v in ENV_VARIANTS]
            elif args.explore:
                env_names = ["threads_1_1"] if args.quick else list(ENV_VARIANTS)
            else:
                env_names = []
            for name in env_names:
                log(f"[train_throughput] vae: subprocess variant {name} ...")
                child = run_child(
                    ["--child", "env", "--env-variant", name,
                     "--rounds", str(max(2, args.rounds - 2)),
                     "--steps", str(args.steps), "--seconds", str(args.seconds)]
                    + (["--no-torch"] if not with_torch else []),
                    env=ENV_VARIANTS[name].get("env"))
                if "error" in child:
                    results["errors"].setdefault(model, []).append(f"{name}: {child['error']}")
                    continue
                env_rates = child["rates"]
                # Ratios to torch come from the child's own rounds; x default is the
                # ratio of the two processes' x torch (or of raw rates without torch).
                rates[name] = env_rates["default"]
                if with_torch:
                    results.setdefault("env_x_torch", {})[name] = median_ratio(
                        env_rates["default"], torch_reference_rates(env_rates))
        rows = summarize(model, rates)
        for row in rows:
            if row["name"] in ENV_VARIANTS:
                x_torch = results.get("env_x_torch", {}).get(row["name"])
                row["x_torch"] = x_torch
                default = next(r for r in rows if r["name"] == "default")
                row["x_default"] = (x_torch / default["x_torch"] if x_torch and default["x_torch"]
                                    else row["rate"] / default["rate"])
        results["rows"][model] = rows
    results["matmul"] = all_matmul

    measured = measured_variants(results)
    if any(variant_spec(name).get("bf16") for name in measured):
        log("[train_throughput] bfloat16 check ...")
        try:
            results["bf16_check"] = check_bf16(images, steps=3 if args.quick else 20)
        except Exception as error:
            results["notes"].append(f"bfloat16 check failed: {type(error).__name__}: {error}")
    if any(variant_spec(name).get("fused_adam") for name in measured):
        log("[train_throughput] fused Adam check ...")
        try:
            results["fused_adam_check"] = check_fused_adam(images, steps=2 if args.quick else 3)
        except Exception as error:
            results["notes"].append(f"fused Adam check failed: {type(error).__name__}: {error}")

    if not args.no_subprocess:
        steps = 3 if args.quick else 20
        memory = {}
        jobs = [("kerasdis", m) for m in models]
        jobs += [("torch", m) for m in models] if with_torch else []
        if args.quick:
            jobs = jobs[:1]
        children = {}
        images_file = Path(tempfile.mkdtemp(prefix="kerasdis_bench_")) / "images.npy"
        import numpy as np

        np.save(images_file, images)
        for impl, model in jobs:
            label = (f"{'kerasdis `fit`' if impl == 'kerasdis' else 'PyTorch eager'}, "
                     f"{MODEL_LABELS[model]}, {steps} steps")
            children[label] = ["--child", "memory", "--impl", impl, "--model", model,
                               "--steps", str(steps), "--images", str(images_file)]
        mig = {}
        ms_path = Path(args.metrics_speed) if args.metrics_speed else \
            Path(args.output).parent / "metrics_speed.md"
        parsed = parse_metrics_speed(ms_path)
        if parsed:
            mig["from_metrics_speed"] = parsed
        if not parsed or parsed["quick"]:
            subsample, samples = ((1_000, 100) if args.quick
                                  else (args.mig_subsample, args.mig_samples))
            mig.update(subsample=subsample, samples=samples)
            children["mig"] = ["--child", "mig", "--mig-subsample", str(subsample),
                               "--mig-samples", str(samples)]
        log(f"[train_throughput] peak memory: {len(children)} subprocesses, "
            f"{MEMORY_CONCURRENCY} at a time ...")
        memory = run_children(children)
        images_file.unlink()
        images_file.parent.rmdir()
        if "mig" in memory:
            mig["measured"] = memory.pop("mig")
        results["memory"] = memory
        results["mig"] = mig

    results["load_end"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results["notes"].append(f"wall time of this benchmark: {time.perf_counter() - started:.0f} s")
    text = render(results, machine_info(), args)
    write_atomic(args.output, text)
    raw = {k: results.get(k) for k in ("load_start", "load_end", "models", "rates", "matmul",
                                       "bf16_check", "fused_adam_check", "memory")}
    write_atomic(Path(args.output).with_suffix(".json"), json.dumps(raw, indent=1, default=str))
    print(text)
    del tf
    return results


if __name__ == "__main__":
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
