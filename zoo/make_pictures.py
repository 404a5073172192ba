"""Draws every zoo entry's latent traversal (PNG and GIF) into `zoo/<name>/`.

    python zoo/make_pictures.py                 # every preset, then the README's pictures
    python zoo/make_pictures.py beta_vae_dsprites

For each preset: `kd.viz.traversal_grid` and `kd.viz.traversal_gif` of the published
model on 8 images of its dataset (seed 0), one row per latent sorted by KL, each row
labelled with its KL in nats; latents whose KL is below 0.01 nats are marked
"inactive". Then `zoo/make_table.py` puts the pictures into `zoo/README.md`.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def draw(name, zoo_dir=HERE, seed=0):
    import kerasdis as kd

    info = kd.zoo.info(name)
    model = kd.zoo.load(name)
    dataset = kd.data.load(info.get("dataset") or "dsprites")
    out = os.path.join(zoo_dir, name)
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, "traversal.png")
    gif = os.path.join(out, "traversal.gif")
    kd.viz.traversal_grid(model, dataset=dataset, seed=seed, path=png)
    kd.viz.traversal_gif(model, dataset=dataset, seed=seed, path=gif)
    return png, gif


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="presets to draw (default: every one)")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(HERE))
    import kerasdis as kd

    names = args.names or kd.zoo.list()
    unknown = sorted(set(names) - set(kd.zoo.list()))
    if unknown:
        parser.error(f"unknown presets {unknown}; choose from {kd.zoo.list()}")
    for name in names:
        for path in draw(name):
            print(f"wrote {path}")
    import make_table

    return make_table.main([])


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
