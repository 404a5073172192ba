"""kerasdis.tuning's use of private keras-tuner API: in one module, and checked.

`kerasdis/tuning/oracles.py` is the only module that touches keras-tuner's
internals (resumable oracles, the distributed chief). These tests fail, naming the
keras-tuner version and the attribute, when a keras-tuner release changes them.
"""

import ast
import json
import os

import keras_tuner
import pytest

from kerasdis import tuning
from kerasdis.tuning import oracles

TUNING_DIR = os.path.dirname(tuning.__file__)
PACKAGE_DIR = os.path.dirname(TUNING_DIR)


def test_private_keras_tuner_api_is_as_expected():
    problems = oracles.private_api_problems()
    assert problems == [], "\n".join(problems)


def test_a_changed_private_api_fails_loudly(monkeypatch):
    monkeypatch.delattr(keras_tuner.Oracle, "_get_trial_dir")
    monkeypatch.setattr(keras_tuner.Oracle, "_save_trial", lambda self, trial, extra: None)
    problems = oracles.private_api_problems()
    assert len(problems) == 2, problems
    version = keras_tuner.__version__
    assert problems[0].startswith(f"keras-tuner {version}: `Oracle._save_trial` takes")
    assert problems[1].startswith(f"keras-tuner {version}: `Oracle._get_trial_dir` is missing")
    assert all("kerasdis/tuning/oracles.py" in p for p in problems)


def test_a_renamed_oracle_attribute_fails_loudly(monkeypatch):
    original = keras_tuner.Oracle.get_state

    def get_state(self):
        state = original(self)
        state["retry_queue"] = list(state["retry_queue"])  # no longer the attribute itself
        return state

    monkeypatch.setattr(keras_tuner.Oracle, "get_state", get_state)
    problems = oracles.private_api_problems()
    assert any("`Oracle._retry_queue` is no longer what `Oracle.get_state()['retry_queue']`"
               in p for p in problems), problems


def _imports(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_only_the_oracles_module_imports_keras_tuner_internals():
    users = []
    for root, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                if any(m.startswith("keras_tuner.src") for m in _imports(path)):
                    users.append(os.path.relpath(path, PACKAGE_DIR))
    assert users == [os.path.join("tuning", "oracles.py")]


@pytest.mark.parametrize("env, role", [
    ({}, None),
    ({"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1",
      "KERASTUNER_ORACLE_PORT": "8000"}, "chief"),
    ({"KERASTUNER_TUNER_ID": "worker-1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
      "KERASTUNER_ORACLE_PORT": "8000"}, "worker"),
])
def test_roles_as_keras_tuner_reads_its_environment(monkeypatch, env, role):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert oracles.current_role() == role


def test_oracle_file_is_what_keras_tuner_writes(tmp_path):
    """The atomic `save` writes the bytes of keras-tuner's own `Oracle.save`, and a
    plain keras-tuner oracle reloads it (committed searches resume either way)."""
    objective = keras_tuner.Objective("score", "max")
    ours = oracles.ORACLES["random"](objective=objective, max_trials=3, seed=1)
    theirs = keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=3, seed=1)
    for oracle, name in ((ours, "ours"), (theirs, "theirs")):
        oracle._set_project_dir(str(tmp_path), name)
        oracle.hyperparameters.Float("beta", 1.0, 8.0, sampling="log")
        oracle.save()
    assert (tmp_path / "ours" / "oracle.json").read_bytes() == \
        (tmp_path / "theirs" / "oracle.json").read_bytes()
    assert not [p for p in os.listdir(tmp_path / "ours") if ".tmp-" in p]
    reloaded = keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=3)
    reloaded._set_project_dir(str(tmp_path), "ours")
    reloaded.reload()
    assert reloaded.seed == 1 and "beta" in reloaded.hyperparameters.values
    with open(tmp_path / "ours" / "oracle.json") as f:
        assert set(json.load(f)) >= {"retry_queue", "run_times", "start_order", "end_order"}


def test_the_package_keeps_every_public_name():
    for name in ("OBJECTIVES", "TUNERS", "ROLES", "SEARCH_FILE", "TRIAL_FILE", "RUNS_FILE",
                 "DEFAULT_LATENT_DIM", "DEFAULT_LEARNING_RATE", "DisentanglementHyperModel",
                 "TradeoffScore", "SearchResult", "search", "make_tuner", "results_table",
                 "write_results", "plot_tradeoff", "check_metrics", "objective_metric",
                 "describe_dataset"):
        assert hasattr(tuning, name), name
    assert callable(tuning.search) and tuning.search.__module__ == "kerasdis.tuning.searching"
    assert (tuning.SEARCH_FILE, tuning.TRIAL_FILE, tuning.RUNS_FILE) == (
        "search.json", "kerasdis_trial.json", "runs.jsonl")
