"""What is committed keeps working: every shipped preset loads, and every committed
zoo run resumes (its recipe, checkpoint and training stream), in a fresh process
after a bare `import kerasdis` (the lazy package registers the classes first)."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import kerasdis as kd
from kerasdis import training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = sorted(glob.glob(os.path.join(ROOT, "zoo", "*", "run", "checkpoint.keras"))
              + glob.glob(os.path.join(ROOT, "zoo", "*", "seed_*", "checkpoint.keras")))


def test_there_is_something_to_check():
    assert RUNS and kd.zoo.list()


@pytest.mark.parametrize("name", kd.zoo.list())
def test_every_shipped_preset_loads_in_a_fresh_process(name):
    code = ("import sys, kerasdis as kd\n"
            f"m = kd.zoo.load({name!r})\n"
            "print(type(m).registered_name)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    recorded = kd.zoo.info(name)["recipe"]["model"]
    assert result.stdout.split()[-1] == recorded


@pytest.mark.parametrize("checkpoint", RUNS, ids=lambda p: "/".join(p.split(os.sep)[-3:-1]))
def test_every_committed_run_resumes(checkpoint):
    run = os.path.dirname(checkpoint)
    with open(os.path.join(run, "recipe.json")) as f:
        saved = json.load(f)
    recipe = training.complete_recipe(saved)  # still a valid recipe
    with open(os.path.join(run, training.STATE)) as f:
        step = json.load(f)["step"]
    import keras

    kd.models.load_builtins()
    model = keras.saving.load_model(checkpoint, safe_mode=True)
    assert type(model) is kd.models.get(recipe["model"])
    assert int(model.optimizer.iterations.numpy()) == step
    assert step % min(recipe["checkpoint_every"], recipe["steps"]) == 0  # on the grid
    curve = os.path.join(run, "curve.csv")  # a zoo run's learning curve ends at or before it
    if os.path.exists(curve):
        from kerasdis.callbacks import LearningCurve

        assert all(row["step"] <= step for row in LearningCurve.read(curve))
    # The batch a resume trains on next (the recipe's batch size, from `step`) is the one
    # the uninterrupted stream has at `step`: here the stream started a step earlier.
    dataset = kd.data.load(recipe["dataset"])
    size, seed = recipe["batch_size"], recipe["seed"]
    assert step >= 1
    resumed = model.training_batches(dataset, size, seed, first_step=step)
    following = next(resumed.as_numpy_iterator())
    earlier = model.training_batches(dataset, size, seed, first_step=step - 1)
    previous, expected = list(earlier.take(2).as_numpy_iterator())
    tf.nest.map_structure(np.testing.assert_array_equal, following, expected)
    assert not np.array_equal(tf.nest.flatten(previous)[0], tf.nest.flatten(expected)[0])
    # One step of the loaded model on the first 8 images of that batch (cheap).
    first_8 = tf.nest.map_structure(lambda a: a[:8], following)
    history = model.fit(tf.data.Dataset.from_tensors(first_8), epochs=1, verbose=0,
                        shuffle=False)
    assert int(model.optimizer.iterations.numpy()) == step + 1
    assert all(np.isfinite(v[-1]) for v in history.history.values())


def test_readme_shows_the_committed_higgins_table():
    # The README's short table is rendered from the committed result file, never by hand.
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import higgins_table

    with open(os.path.join(ROOT, "benchmarks", "results", "higgins_table.json")) as f:
        results = json.load(f)["results"]
    with open(higgins_table.README, encoding="utf-8") as f:
        readme = f.read()
    block = readme.split("<!-- higgins-table:start -->\n")[1].split("\n<!-- higgins-table:end")[0]
    assert block == higgins_table.readme_table(results)


def test_the_zoo_tables_are_rendered_from_the_shipped_presets():
    # zoo/README.md (table, seeds, pictures) and README.md's zoo summary are generated
    # from the presets' metadata: publishing an entry must regenerate them.
    script = os.path.join(ROOT, "zoo", "make_table.py")
    result = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
