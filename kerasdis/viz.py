"""Pictures of what a model learned: traversals, reconstructions, KL and trade-off plots.

Disentanglement is judged by eye first. The standard picture is the *latent
traversal* (Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework", Fig. 1-2): encode an image, then change one
latent at a time over a range of values and decode. A disentangled latent changes
one factor of the image (position, scale, ...) and nothing else; an unused latent
changes nothing.

```python
from kerasdis import viz

ds = kd.data.load("dsprites")
x = ds.images(ds.sample_factors(256, seed=0))
grid = viz.traversal_grid(model, x, path="traversals.png")   # uint8 [H, W, 3]
viz.traversal_gif(model, x, path="traversals.gif")           # animated, lo -> hi -> lo
viz.reconstructions(model, x[:8], path="reconstructions.png")
kls = viz.kl_per_dimension(model, ds, path="kl.png")          # nats per latent
viz.latents_vs_factors(model, ds, path="latents_vs_factors.png")
viz.tradeoff_plot(runs, x="reconstruction", y="mig", label="model", path="tradeoff.png")
```

Every picture function takes the model first, then the data (images, a dataset,
or a number of samples), then options, and the file as the keyword `path=`.
Images are uint8 numpy arrays `[H, W, 3]` (grayscale models are shown in gray
RGB). Every function writes a file when given `path`; files are written atomically
(a temporary file in the same folder, then `os.replace`), and missing folders are
created. Plots use matplotlib's Agg canvas directly (`matplotlib.figure.Figure`,
never `pyplot`), so nothing needs a display and the global backend is untouched.
"""

import functools
import math
import os
import tempfile
import warnings

import numpy as np

# A latent is "active" when its mean KL over the data exceeds this many nats
# (the usual threshold for counting active units, cf. Burda et al. 2016 who use a
# variance of 0.01; here applied to KL(q(z_j|x) || p(z_j)) averaged over images).
ACTIVE_KL_THRESHOLD = 0.01
# Images drawn from a dataset to estimate per-dimension KLs and posterior ranges.
DEFAULT_NUM_IMAGES = 256
# Pixels between tiles of a grid, and their colour (white, as disentanglement_lib).
PAD = 2
PAD_VALUE = 255
_BATCH_SIZE = 256
_SORT_BY = ("kl", None)


# ----------------------------------------------------------------- validation
def _check_model(model):
    for attr in ("encode", "decode", "latent_dim", "image_shape"):
        if not hasattr(model, attr):
            raise ValueError(
                f"`model` must be a kerasdis model with `encode`, `decode`, `latent_dim` "
                f"and `image_shape`, got {type(model).__name__} without `{attr}`."
            )
    return model


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_images(model, x, name="x"):
    """`x` as float32 numpy images `[n, H, W, C]` in [0, 1] (uint8 is scaled by 1/255)."""
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001 - any unconvertible object is bad input
        raise ValueError(f"`{name}` must be an array of images, got {type(x).__name__}.") from None
    shape = tuple(model.image_shape)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != shape or arr.shape[0] < 1:
        raise ValueError(
            f"`{name}` must be images of shape [n, {', '.join(map(str, shape))}] with n >= 1, "
            f"got shape {list(arr.shape)}."
        )
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"`{name}` must hold numbers, got dtype {arr.dtype}.")
    return arr.astype(np.float32, copy=False)


def _is_dataset(obj):
    return hasattr(obj, "images_at") and hasattr(obj, "num_examples")


def _dataset_images(dataset, n, seed, name="dataset"):
    """A reproducible sample of `n` images of a kerasdis dataset."""
    if not _is_dataset(dataset):
        raise ValueError(
            f"`{name}` must be a kerasdis dataset (`kd.data.load(...)`), "
            f"got {type(dataset).__name__}."
        )
    rng = np.random.default_rng(seed)
    if getattr(dataset, "factor_sizes", ()):
        return np.asarray(dataset.images(dataset.sample_factors(n, seed=rng), seed=seed))
    num = int(dataset.num_examples)
    indices = rng.choice(num, size=min(n, num), replace=False)
    return np.asarray(dataset.images_at(np.sort(indices)))


def _check_dims(dims, latent_dim):
    if dims is None:
        return list(range(latent_dim))
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        dims = [dims]
    try:
        dims = list(dims)
    except TypeError:
        raise ValueError(f"`dims` must be a list of latent indices, got {dims!r}.") from None
    if not dims:
        raise ValueError("`dims` must name at least one latent dimension, got an empty list.")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 0 <= d < latent_dim:
            raise ValueError(
                f"`dims` must hold latent indices in [0, {latent_dim - 1}], got {d!r}."
            )
    if len(set(int(d) for d in dims)) != len(dims):
        raise ValueError(f"`dims` must not repeat a dimension, got {dims!r}.")
    return [int(d) for d in dims]


def _check_limits(limits):
    if isinstance(limits, str):
        if limits != "posterior":
            raise ValueError(f"`limits` must be a (lo, hi) tuple or 'posterior', got {limits!r}.")
        return limits
    try:
        lo, hi = (float(v) for v in limits)
    except (TypeError, ValueError):
        raise ValueError(
            f"`limits` must be a (lo, hi) tuple or 'posterior', got {limits!r}."
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"`limits` must be finite with lo < hi, got {limits!r}.")
    return lo, hi


# ------------------------------------------------------------------- encoding
def _encode(model, x):
    """Posterior means and log-variances of `x`, as numpy arrays, in batches."""
    means, log_vars = [], []
    for start in range(0, len(x), _BATCH_SIZE):
        mean, log_var = model.encode(x[start:start + _BATCH_SIZE])
        means.append(np.asarray(mean))
        log_vars.append(np.asarray(log_var))
    return np.concatenate(means), np.concatenate(log_vars)


def _mean_kl(mean, log_var):
    """Mean over images of KL(q(z_j|x) || N(0, 1)) for each latent j, in nats.

    The per-latent terms of `kerasdis.losses.gaussian_kl` (which sums them).
    """
    mean, log_var = mean.astype(np.float64), log_var.astype(np.float64)
    return np.mean(0.5 * (np.exp(log_var) + mean**2 - 1.0 - log_var), axis=0)


def _decode(model, z):
    """Decoded image means of codes `z` as uint8 RGB `[n, H, W, 3]`."""
    chunks = [np.asarray(model.decode(z[s:s + _BATCH_SIZE].astype(np.float32)))
              for s in range(0, len(z), _BATCH_SIZE)]
    return to_uint8_rgb(np.concatenate(chunks))


def to_uint8_rgb(images):
    """Float images in [0, 1] `[..., H, W, C]` as uint8 RGB `[..., H, W, 3]`.

    One channel is repeated to gray RGB; a fourth (alpha) channel is dropped; other
    channel counts show the first channel in gray.
    """
    images = np.asarray(images, dtype=np.float32)
    channels = images.shape[-1]
    if channels == 1 or channels not in (3, 4):
        images = np.repeat(images[..., :1], 3, axis=-1)
    images = images[..., :3]
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- files
def _atomic_write(path, write, suffix):
    """Calls `write(tmp_path)` then moves the result to `path` in one `os.replace`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; use the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def save_png(image, path):
    """Writes a uint8 image `[H, W, 3]` (or `[H, W]`) as a PNG, atomically."""
    from PIL import Image

    return _atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"), ".png")


def _save_figure(figure, path):
    return _atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), ".png")


def _new_figure(figsize):
    """A matplotlib figure on an Agg canvas: no pyplot, no display, no global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


# --------------------------------------------------------------------- tiling
def _tile(tiles, columns, left=0, bottom=0):
    """Lays out uint8 tiles `[n, h, w, 3]` in rows of `columns`, white padding.

    Returns the canvas and the boxes `(top, left, bottom, right)` of the tiles.
    `left` and `bottom` reserve margins (for labels and sliders).
    """
    n, h, w, _ = tiles.shape
    rows = math.ceil(n / columns)
    height = PAD + rows * (h + PAD) + bottom
    width = left + PAD + columns * (w + PAD)
    canvas = np.full((height, width, 3), PAD_VALUE, np.uint8)
    boxes = np.zeros((n, 4), np.int64)
    for i, tile in enumerate(tiles):
        top = PAD + (i // columns) * (h + PAD)
        x0 = left + PAD + (i % columns) * (w + PAD)
        canvas[top:top + h, x0:x0 + w] = tile
        boxes[i] = (top, x0, top + h, x0 + w)
    return canvas, boxes


def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


def _line_height(font):
    return font.getbbox("Ag")[3] + 1


# A latent whose mean KL to the prior is below this (nats) carries no information.
INACTIVE_KL = 0.01


def _row_labels(dims, kls, row_height):
    """Row labels `z<j>`, `<KL>` and, below `INACTIVE_KL`, "inactive" (one line each,
    or one line for small images).

    Returns the labels (lists of lines) and the width of the label margin.
    """
    font = _font()
    labels = [[f"z{d}"] + ([] if kl is None else [f"{kl:.2f}"])
              + (["inactive"] if kl is not None and kl < INACTIVE_KL else [])
              for d, kl in zip(dims, kls if kls is not None else [None] * len(dims))]
    labels = [lines if len(lines) * _line_height(font) <= row_height else [" ".join(lines)]
              for lines in labels]
    text_width = max(font.getlength(line) for lines in labels for line in lines)
    return labels, 4 + int(math.ceil(text_width))


def _draw_row_labels(canvas, row_tops, row_height, labels):
    """Writes `labels` (lists of lines) left of each row, black on the white margin."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = _font()
    line_height = _line_height(font)
    for top, lines in zip(row_tops, labels):
        y = top + max(0, (row_height - line_height * len(lines)) // 2)
        for line in lines:
            draw.text((2, y), line, fill=(0, 0, 0), font=font)
            y += line_height
    return np.asarray(image)


# ------------------------------------------------------------------ traversals
def _prepare_traversal(model, x, dims, steps, limits, sort_by, seed, dataset, num_images):
    """Validates the traversal arguments; returns base code, row order, KLs and values."""
    _check_model(model)
    steps = _check_int("steps", steps, 2)
    limits = _check_limits(limits)
    if sort_by not in _SORT_BY:
        raise ValueError(f"`sort_by` must be one of {_SORT_BY}, got {sort_by!r}.")
    dims = _check_dims(dims, model.latent_dim)
    num_images = _check_int("num_images", num_images, 1)
    if x is not None:
        x = _check_images(model, x)
    elif dataset is not None:
        x = _check_images(model, _dataset_images(dataset, num_images, seed), name="dataset")

    if x is not None:
        mean, log_var = _encode(model, x)
        base = mean[0]
        kl = _mean_kl(mean, log_var)
    else:
        mean = kl = None
        base = np.random.default_rng(seed).standard_normal(model.latent_dim).astype(np.float32)

    # Without images there is nothing to measure: natural order, no KL labels.
    if sort_by == "kl" and kl is not None:
        dims = sorted(dims, key=lambda d: -kl[d])  # stable: ties keep natural order

    if limits == "posterior":
        if mean is None:
            raise ValueError("`limits`='posterior' needs images: pass `x` or `dataset`.")
        lo, hi = mean.min(axis=0)[dims], mean.max(axis=0)[dims]
    else:
        lo, hi = np.full(len(dims), limits[0]), np.full(len(dims), limits[1])
    values = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, steps)[None, :]
    return {
        "base": base.astype(np.float32),
        "dims": dims,
        "kl": None if kl is None else kl[dims],
        "values": values.astype(np.float32),
    }


def _traversal_tiles(model, plan):
    """Decodes every traversal: uint8 `[len(dims), steps, H, W, 3]`."""
    dims, values = plan["dims"], plan["values"]
    rows, steps = values.shape
    z = np.tile(plan["base"], (rows, steps, 1))
    for r, d in enumerate(dims):
        z[r, :, d] = values[r]
    tiles = _decode(model, z.reshape(rows * steps, -1))
    return tiles.reshape((rows, steps) + tiles.shape[1:])


def traversal_grid(model, x=None, dims=None, steps=11, limits=(-2, 2), sort_by="kl", seed=0,
                   path=None, dataset=None, num_images=DEFAULT_NUM_IMAGES, return_info=False):
    """Latent traversals: one row per latent, one column per value (Higgins et al. 2017).

    The traversed code is the posterior mean of a seed image, the first image of
    `x` (or of the dataset sample); without images it is a prior draw
    `N(0, I)` with `seed`. Row `j` decodes that code with latent `dims[j]` set to
    each of `steps` evenly spaced values.

    With `sort_by="kl"` rows are ordered by the latent's mean
    KL(q(z_j|x) || p(z_j)) over the images (all of `x`, or `num_images` sampled
    from `dataset`), most informative first, and each row is labelled with its
    latent index and KL in nats, as in the disentanglement_lib visualisations.
    Without images, rows keep their natural order and show only the index.

    Args:
        model: a kerasdis model (`encode`, `decode`).
        x: images `[n, H, W, C]` (float in [0, 1] or uint8), or `None`.
        dims: latent indices to show, or `None` for all.
        steps: int >= 2. Values per row. Defaults to `11`.
        limits: `(lo, hi)`, the same range for every latent (the prior's
            ±2 standard deviations by default), or `"posterior"`: for each latent
            the min and max of the posterior means over the images (the
            "interval" traversal of disentanglement_lib); needs `x` or `dataset`.
        sort_by: `"kl"` or `None` (natural order).
        seed: int. Seed of the prior draw and of the dataset sample.
        path: PNG file to write, or `None`.
        dataset: a kerasdis dataset, used when `x` is `None`.
        num_images: int. Images sampled from `dataset`. Defaults to `256`.
        return_info: bool. Also return a dict with `dims` (row order), `kl`
            (mean KL of each row's latent, or `None`), `values` `[rows, steps]`
            and `boxes` `[rows, steps, 4]` (top, left, bottom, right of each tile).

    Returns:
        uint8 image `[H, W, 3]`, or `(image, info)` with `return_info=True`.
    """
    plan = _prepare_traversal(model, x, dims, steps, limits, sort_by, seed, dataset, num_images)
    tiles = _traversal_tiles(model, plan)
    rows, steps, h, w, _ = tiles.shape

    labels, label_width = _row_labels(plan["dims"], plan["kl"], h)
    canvas, boxes = _tile(tiles.reshape((-1,) + tiles.shape[2:]), steps, left=label_width)
    boxes = boxes.reshape(rows, steps, 4)
    image = _draw_row_labels(canvas, boxes[:, 0, 0], h, labels)
    if path is not None:
        save_png(image, path)
    if return_info:
        info = {"dims": list(plan["dims"]), "kl": plan["kl"], "values": plan["values"],
                "boxes": boxes}
        return image, info
    return image


# The parameters of `traversal_gif` before it took `path=` as a keyword, in order.
_OLD_GIF_ORDER = ("path", "x", "dims", "steps", "limits", "sort_by", "seed", "dataset",
                  "num_images", "columns", "duration")


def _accepts_old_gif_order(function):
    """Lets `traversal_gif(model, path, x, ...)` (the old order) run, with a
    `DeprecationWarning`: a path-like second positional argument is the file."""

    @functools.wraps(function)
    def wrapper(model, *args, **kwargs):
        if args and isinstance(args[0], (str, bytes, os.PathLike)):
            warnings.warn(
                "traversal_gif(model, path, x, ...) is deprecated: pass the file as a keyword, "
                "traversal_gif(model, x, ..., path=...), as every kerasdis.viz function.",
                DeprecationWarning, stacklevel=2)
            if len(args) > len(_OLD_GIF_ORDER):
                raise TypeError(f"traversal_gif() takes at most {len(_OLD_GIF_ORDER) + 1} "
                                f"positional arguments, got {len(args) + 1}.")
            for name, value in zip(_OLD_GIF_ORDER, args):
                if name in kwargs:
                    raise TypeError(f"traversal_gif() got multiple values for argument {name!r}.")
                kwargs[name] = value
            args = ()
        return function(model, *args, **kwargs)

    return wrapper


@_accepts_old_gif_order
def traversal_gif(model, x=None, dims=None, steps=11, limits=(-2, 2), sort_by="kl", seed=0,
                  path=None, dataset=None, num_images=DEFAULT_NUM_IMAGES, columns=None,
                  duration=100):
    """Animated traversal of every latent at once, as disentanglement_lib publishes.

    Each frame shows one decoded image per latent (ordered as in
    `traversal_grid`, `columns` per row, default all in one row); frame `t` sets
    every latent to its `t`-th value, going lo -> hi -> lo, so the animation loops
    smoothly over `2 * steps - 2` frames. A bar under the images marks the current
    position in the range. Written by Pillow.

    Arguments are ordered as in every picture function of this module: the model,
    then the data, then options, the file as the keyword `path=`. The old order
    `traversal_gif(model, path, x, ...)` still works and warns (`DeprecationWarning`).

    Args:
        model, x, dims, steps, limits, sort_by, seed, dataset, num_images: as in
            `traversal_grid`.
        path: GIF file to write (required).
        columns: int or `None`. Images per row of a frame.
        duration: int. Milliseconds per frame. Defaults to `100`.

    Returns:
        int, the number of frames.
    """
    from PIL import Image

    if path is None:
        raise ValueError("`path` must be a file name for the GIF (traversal_gif(model, x, "
                         "path='traversals.gif')), got None.")
    duration = _check_int("duration", duration, 1)
    plan = _prepare_traversal(model, x, dims, steps, limits, sort_by, seed, dataset, num_images)
    tiles = _traversal_tiles(model, plan)  # [rows, steps, h, w, 3]
    rows, steps = tiles.shape[:2]
    columns = rows if columns is None else _check_int("columns", columns, 1)
    order = list(range(steps)) + list(range(steps - 2, 0, -1))  # lo -> hi -> lo

    bar = 6
    frames = []
    for t in order:
        canvas, _ = _tile(tiles[:, t], min(columns, rows), bottom=bar + PAD)
        # Slider: a gray track with a black marker at the relative position t / (steps - 1).
        top, width = canvas.shape[0] - bar - PAD, canvas.shape[1] - 2 * PAD
        canvas[top + bar // 2 - 1:top + bar // 2 + 1, PAD:PAD + width] = 160
        x0 = PAD + int(round(t / (steps - 1) * (width - bar)))
        canvas[top:top + bar, x0:x0 + bar] = 0
        frames.append(Image.fromarray(canvas))

    if model.image_shape[-1] == 1:  # gray: exact palette
        frames = [f.convert("L") for f in frames]

    def write(tmp):
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=duration, loop=0, disposal=1)

    _atomic_write(path, write, ".gif")
    return len(frames)


# ------------------------------------------------------- reconstructions, samples
def reconstructions(model, x, path=None):
    """Originals (top row) above their reconstructions (bottom row), uint8 `[H, W, 3]`.

    The reconstruction is the decoded posterior mean. Pass a small batch (8-16).
    """
    _check_model(model)
    x = _check_images(model, x)
    mean, _ = _encode(model, x)
    tiles = np.concatenate([to_uint8_rgb(x), _decode(model, mean)])
    image, _ = _tile(tiles, len(x))
    if path is not None:
        save_png(image, path)
    return image


def samples(model, n, seed=0, path=None, columns=None):
    """`n` images decoded from prior draws z ~ N(0, I), in a grid (uint8 `[H, W, 3]`).

    Args:
        n: int >= 1.
        seed: int. Seed of the draws.
        columns: int or `None` (about `sqrt(n)`).
    """
    _check_model(model)
    n = _check_int("n", n, 1)
    columns = math.ceil(math.sqrt(n)) if columns is None else _check_int("columns", columns, 1)
    z = np.random.default_rng(seed).standard_normal((n, model.latent_dim)).astype(np.float32)
    image, _ = _tile(_decode(model, z), min(columns, n))
    if path is not None:
        save_png(image, path)
    return image


# --------------------------------------------------------------------- plots
def _images_from(model, data, num_images, seed, name):
    """Images from an array or a sample of a dataset."""
    if _is_dataset(data):
        return _check_images(model, _dataset_images(data, num_images, seed, name=name), name=name)
    return _check_images(model, data, name=name)


def kl_per_dimension(model, data, path=None, num_images=1000, seed=0):
    """Mean KL(q(z_j|x) || p(z_j)) of each latent, in nats, as a bar chart.

    A latent with KL near zero is unused (its posterior is the prior); the
    dashed line marks `ACTIVE_KL_THRESHOLD`.

    Args:
        model: a kerasdis model.
        data: images `[n, H, W, C]` or a kerasdis dataset (`num_images` are sampled).
        path: PNG file to write, or `None`.
        num_images: int. Images sampled from a dataset. Defaults to `1000`.
        seed: int. Seed of the dataset sample.

    Returns:
        float64 array `[latent_dim]`.
    """
    _check_model(model)
    num_images = _check_int("num_images", num_images, 1)
    x = _images_from(model, data, num_images, seed, "data")
    kl = _mean_kl(*_encode(model, x))
    if path is not None:
        figure = _new_figure((max(4.0, 0.45 * len(kl) + 1.5), 3.0))
        ax = figure.add_subplot()
        ax.bar(np.arange(len(kl)), kl, color="tab:blue")
        ax.axhline(ACTIVE_KL_THRESHOLD, color="gray", linestyle="--", linewidth=1)
        ax.set_xticks(np.arange(len(kl)), [f"z{j}" for j in range(len(kl))])
        ax.set_xlabel("latent")
        ax.set_ylabel("mean KL (nats)")
        figure.tight_layout()
        _save_figure(figure, path)
    return kl


def _conditional_moments(codes, factors, factor_sizes):
    """Per factor k, the mean and std of each code given factor k = v, and how many
    samples have k = v: `(means, stds, counts)`, lists of float arrays
    `[num_codes, factor_size]` (NaN where v was not sampled) and int arrays
    `[factor_size]`."""
    means, stds, counts = [], [], []
    for k, size in enumerate(factor_sizes):
        m = np.full((codes.shape[1], size), np.nan)
        s = np.full((codes.shape[1], size), np.nan)
        n = np.zeros(size, dtype=np.int64)
        for v in range(size):
            selected = codes[factors[:, k] == v]
            n[v] = len(selected)
            if n[v]:
                m[:, v], s[:, v] = selected.mean(axis=0), selected.std(axis=0)
        means.append(m)
        stds.append(s)
        counts.append(n)
    return means, stds, counts


def _explained(codes, means, counts):
    """η² `[num_codes, num_factors]` from `_conditional_moments`' means and counts:
    Σ_v n_v (E[c | v] − E[c])² / n over Var(c)."""
    total_var = codes.var(axis=0)
    grand_mean = codes.mean(axis=0)
    explained = np.zeros((codes.shape[1], len(means)))
    for k, (m, n) in enumerate(zip(means, counts)):
        sampled = n > 0
        between = (n[sampled] * (m[:, sampled] - grand_mean[:, None]) ** 2).sum(axis=1)
        explained[:, k] = np.divide(between / len(codes), total_var,
                                    out=np.zeros(codes.shape[1]), where=total_var > 0)
    return explained


def correlation_ratio(codes, factors, factor_sizes):
    """Pearson's correlation ratio η² of every code dimension with every factor.

    η²_jk = Var_v(E[c_j | factor_k = v]) / Var(c_j): the share of code j's variance that
    its mean given factor k explains (0 when c_j ignores the factor, 1 when it is a
    function of it, monotonic or not; 0 for a constant code).

    Args:
        codes: float array `[n, num_codes]`.
        factors: int array `[n, num_factors]` of factor value indices.
        factor_sizes: sequence of int, the number of values of each factor.

    Returns:
        float64 array `[num_codes, num_factors]`.
    """
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError("`codes` [n, num_codes] and `factors` [n, num_factors] must be 2-D "
                         f"with the same n, got shapes {codes.shape} and {factors.shape}.")
    means, _, counts = _conditional_moments(codes, factors, factor_sizes)
    return _explained(codes, means, counts)


def latents_vs_factors(model, ds, num_samples=4096, path=None, seed=0,
                       threshold=ACTIVE_KL_THRESHOLD):
    """Mean of each active latent against each factor (Chen et al. 2018, Fig. 6 style).

    `num_samples` factor vectors are drawn uniformly, their images encoded, and
    for each active latent j (mean KL > `threshold` nats, by default 0.01) and each
    factor k the plot at row j, column k shows E[mean_j(x) | factor_k = v] against
    the factor value index v, with a band of ± one standard deviation. A
    disentangled latent varies with one factor and is flat for the others.

    The same in one number per (latent, factor): the correlation ratio
    η²_jk = Var_v(E[mean_j | factor_k = v]) / Var(mean_j) (Pearson's η², the share of
    the latent's variance its conditional mean on the factor explains; 0 for a latent
    that ignores the factor, 1 for one that is a function of it, whatever the shape
    of that function, so it also works for categorical and circular factors).

    Chen, Li, Grosse, Duvenaud 2018, "Isolating Sources of Disentanglement in
    Variational Autoencoders", Fig. 6.

    Args:
        model: a kerasdis model.
        ds: a kerasdis dataset with ground-truth factors.
        num_samples: int. Images encoded. Defaults to `4096`.
        path: PNG file to write, or `None`.
        seed: int. Seed of the factor sample.
        threshold: float. KL (nats) above which a latent is active.

    Returns:
        dict with `dims` (active latents, by decreasing KL), `kl` (their KLs),
        `latent_kl` (every latent's mean KL, a float array `[latent_dim]`),
        `factor_names`, `means`: one float array `[len(dims), factor_size]` per factor
        (NaN where a value was not sampled), `explained`: η², a float array
        `[len(dims), num_factors]`, and `factor_explained`: per factor, the largest η²
        over the active latents (how well the code follows that factor; 0 when no
        latent is active), a float array `[num_factors]`.
    """
    _check_model(model)
    num_samples = _check_int("num_samples", num_samples, 1)
    if not _is_dataset(ds) or not getattr(ds, "factor_sizes", ()):
        raise ValueError("`ds` must be a kerasdis dataset with ground-truth factors "
                         f"(`factor_sizes`), got {type(ds).__name__}.")
    factors = ds.sample_factors(num_samples, seed=np.random.default_rng(seed))
    x = _check_images(model, ds.images(factors, seed=seed), name="ds")
    mean, log_var = _encode(model, x)
    kl = _mean_kl(mean, log_var)
    dims = [int(j) for j in np.argsort(-kl, kind="stable") if kl[j] > threshold]

    active_means = mean[:, dims].astype(np.float64)
    means, stds, counts = _conditional_moments(active_means, factors, ds.factor_sizes)
    explained = _explained(active_means, means, counts)  # η², one grouping for both

    if path is not None:
        num_factors = len(ds.factor_sizes)
        rows = max(1, len(dims))
        figure = _new_figure((1.8 * num_factors + 0.6, 1.3 * rows + 0.6))
        axes = figure.subplots(rows, num_factors, squeeze=False, sharey="row")
        for k, name in enumerate(ds.factor_names):
            axes[0, k].set_title(name, fontsize=9)
            grid = np.arange(ds.factor_sizes[k])
            for r, j in enumerate(dims):
                ax = axes[r, k]
                ax.plot(grid, means[k][r], color="tab:blue", linewidth=1.2)
                ax.fill_between(grid, means[k][r] - stds[k][r], means[k][r] + stds[k][r],
                                color="tab:blue", alpha=0.2, linewidth=0)
                ax.tick_params(labelsize=7)
                if k == 0:
                    ax.set_ylabel(f"z{j}\n({kl[j]:.2f})", fontsize=8)
        if not dims:
            axes[0, 0].text(0.0, 0.5, f"no latent has KL > {threshold} nats", fontsize=9,
                            transform=axes[0, 0].transAxes)
        figure.tight_layout()
        _save_figure(figure, path)
    return {"dims": dims, "kl": kl[dims], "latent_kl": kl, "factor_names": tuple(ds.factor_names),
            "means": means, "explained": explained,
            "factor_explained": explained.max(axis=0, initial=0.0)}


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _as_rows(results):
    if hasattr(results, "to_dict"):  # a pandas DataFrame, without importing pandas
        results = results.to_dict("records")
    if isinstance(results, dict) or isinstance(results, (str, bytes)):
        raise ValueError("`results` must be a list of dicts (one per run), got a "
                         f"{type(results).__name__}.")
    try:
        rows = list(results)
    except TypeError:
        raise ValueError(
            f"`results` must be a list of dicts, got {type(results).__name__}."
        ) from None
    if not rows or not all(hasattr(row, "get") and hasattr(row, "keys") for row in rows):
        raise ValueError("`results` must be a non-empty list of dicts (one per run).")
    return rows


def tradeoff_plot(results, x="reconstruction", y="mig", label="model", path=None,
                  annotate=None, title=None):
    """Reconstruction (or ELBO) against a disentanglement score across runs.

    The trade-off figure of Chen et al. 2018 (β-TCVAE, Fig. 3-4) and Higgins et al.
    2017: one point per run, coloured and shaped by `label` (e.g. the model),
    optionally annotated with a hyper-parameter such as `"beta"`.

    Args:
        results: list of dicts, one per run, e.g.
            `{"model": "beta_vae", "beta": 4, "reconstruction": 30.1, "mig": 0.2}`
            (a pandas DataFrame works too).
        x: str. Key of the horizontal axis. Defaults to `"reconstruction"`.
        y: str. Key of the vertical axis. Defaults to `"mig"`.
        label: str or `None`. Key grouping the points (legend). Defaults to `"model"`.
        path: PNG file to write, or `None`.
        annotate: str or `None`. Key whose value is written next to each point.
        title: str or `None`.

    Returns:
        the `matplotlib.figure.Figure` (on an Agg canvas).
    """
    rows = _as_rows(results)
    for key, name in ((x, "x"), (y, "y")):
        if not isinstance(key, str):
            raise ValueError(f"`{name}` must be a key of the results, got {key!r}.")
        for i, row in enumerate(rows):
            value = row.get(key)
            try:
                float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"`{name}`={key!r}: run {i} has no numeric {key!r} (got {value!r})."
                ) from None

    groups = {}
    for row in rows:
        groups.setdefault(row.get(label, "") if label is not None else "", []).append(row)

    figure = _new_figure((5.0, 3.8))
    ax = figure.add_subplot()
    colors = [f"C{i}" for i in range(10)]
    for i, (name, members) in enumerate(groups.items()):
        xs = [float(r[x]) for r in members]
        ys = [float(r[y]) for r in members]
        ax.scatter(xs, ys, color=colors[i % 10], marker=_MARKERS[i % len(_MARKERS)],
                   label=str(name) if label is not None else None, alpha=0.85)
        if annotate is not None:
            for r, px, py in zip(members, xs, ys):
                if annotate in r:
                    ax.annotate(f"{annotate}={r[annotate]}", (px, py), textcoords="offset points",
                                xytext=(4, 3), fontsize=7)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    if label is not None and len(groups) > 0:
        ax.legend(title=label, fontsize=8)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    if path is not None:
        _save_figure(figure, path)
    return figure
