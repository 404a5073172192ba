"""Regenerates the README pictures from the zoo's β-VAE and β-TCVAE.

    python docs/make_figures.py

Uses the shipped presets when present (`kd.zoo.load`), else the latest training
checkpoint in `zoo/<name>/run/`. Writes `docs/images/<name>_traversal.png`,
`<name>_traversal.gif` and `<name>_reconstructions.png`.
"""

import os

import keras
import numpy as np

import kerasdis as kd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENTRIES = ("beta_vae_dsprites", "beta_tcvae_dsprites")


def load_entry(name):
    if name in kd.zoo.list():
        return kd.zoo.load(name), "preset"
    checkpoint = os.path.join(ROOT, "zoo", name, "run", "checkpoint.keras")
    if os.path.isfile(checkpoint):
        return keras.saving.load_model(checkpoint, safe_mode=True), "checkpoint"
    return None, None


def main():
    ds = kd.data.load("dsprites")
    # A fixed, visible seed image: a heart at scale 5, orientation 0, centred.
    seed_image = ds.images(np.array([[2, 5, 0, 16, 16]]))
    x = np.concatenate([seed_image, ds.images(ds.sample_factors(7, seed=0))])
    out = os.path.join(HERE, "images")
    for name in ENTRIES:
        model, source = load_entry(name)
        if model is None:
            print(f"{name}: no preset or checkpoint, skipped")
            continue
        if source == "preset":
            steps = kd.zoo.info(name).get("steps")
        else:
            steps = int(model.optimizer.iterations.numpy()) if model.optimizer else None
        kd.viz.traversal_grid(model, x=x, dataset=ds, path=os.path.join(out, f"{name}_traversal.png"))
        kd.viz.traversal_gif(model, x=x, path=os.path.join(out, f"{name}_traversal.gif"))
        kd.viz.reconstructions(model, x, path=os.path.join(out, f"{name}_reconstructions.png"))
        print(f"{name}: pictures from the {source}" + (f" at step {steps}" if steps else ""))


if __name__ == "__main__":
    main()
