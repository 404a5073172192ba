"""What a search leaves: the table of its trials, `results.csv` / `results.json`,
`tradeoff.png`, and the `SearchResult` that `search` returns.

Everything here reads the search directory (keras-tuner's `trial_<id>/trial.json`
and kerasdis' `trial_<id>/kerasdis_trial.json`), so it works on any process of a
distributed search, and on a search whose checkpoints were not kept.
"""

import csv
import io
import json
import os

from keras_tuner.engine.trial import Trial

from kerasdis.io import write_json
from kerasdis.tuning.hypermodel import _is_number
from kerasdis.tuning.oracles import TRIAL_FILE, _atomic


def _last_line(text):
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else None


def results_table(project_dir):
    """One dict per trial of the search in `project_dir`, sorted by trial id.

    Keys: `trial_id`, `status`, `score`, `best_step`, the hyper-parameters (`beta`,
    `latent_dim`, `learning_rate`, Hyperband's `tuner/...`), every metric of the best
    epoch (`loss`, `reconstruction`, `kl`, `val_<metric>`, ...; a logged metric named
    like a hyper-parameter, e.g. an annealed `beta`, becomes `<name>_logged`),
    `wall_time_seconds`, `tuner_id` and, for failed trials, `message` (last line).
    Works on any process of a distributed search (it reads the shared directory).
    """
    rows = []
    if not os.path.isdir(project_dir):
        return rows
    for entry in sorted(os.listdir(project_dir)):
        path = os.path.join(project_dir, entry, "trial.json")
        if not (entry.startswith("trial_") and os.path.exists(path)):
            continue
        trial = Trial.load(path)
        hps = dict(trial.hyperparameters.values)
        row = {"trial_id": trial.trial_id, "status": trial.status,
               "score": None if trial.score is None else float(trial.score),
               "best_step": trial.best_step}
        row.update(hps)
        for name in sorted(trial.metrics.metrics):
            value = trial.metrics.get_last_value(name)
            key = f"{name}_logged" if name in row else name
            row[key] = None if value is None else float(value)
        extra_path = os.path.join(project_dir, entry, TRIAL_FILE)
        row["wall_time_seconds"] = None
        row["cpu_seconds"] = None
        row["tuner_id"] = None
        if os.path.exists(extra_path):
            with open(extra_path) as f:
                extra = json.load(f)
            row["wall_time_seconds"] = extra.get("wall_time_seconds")
            row["cpu_seconds"] = extra.get("cpu_seconds")
            row["tuner_id"] = extra.get("tuner_id")
        if trial.status in ("FAILED", "INVALID") and trial.message:
            row["message"] = _last_line(trial.message)
        rows.append(row)
    return rows


def _columns(table):
    first = ["trial_id", "status", "score", "best_step", "model", "weight"]
    last = ["wall_time_seconds", "cpu_seconds", "tuner_id", "message"]
    seen = []
    for row in table:
        for key in row:
            if key not in seen:
                seen.append(key)
    middle = [k for k in seen if k not in first and k not in last]
    return [k for k in first if k in seen] + middle + [k for k in last if k in seen]


def write_results(project_dir, table, summary=None):
    """Writes `results.csv` and `results.json` (atomically); returns their paths."""
    columns = _columns(table)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    csv_path = os.path.join(project_dir, "results.csv")

    def save_csv(tmp):
        with open(tmp, "w", newline="") as f:
            f.write(buffer.getvalue())

    _atomic(save_csv, csv_path)
    json_path = os.path.join(project_dir, "results.json")
    write_json(json_path, {**(summary or {}), "columns": columns, "trials": table})
    return csv_path, json_path


def _numeric(row, key):
    value = row.get(key)
    return _is_number(value)


def plot_tradeoff(project_dir, table, objective, metrics):
    """Writes `tradeoff.png` (reconstruction or ELBO vs. disentanglement); path or None."""
    from kerasdis import viz

    done = [r for r in table if r.get("status") == "COMPLETED"]
    scores = [f"val_{m}" for m in metrics if m != "elbo"]
    if objective != "val_elbo" and objective not in scores:
        scores.insert(0, objective)
    y = next((k for k in scores if done and all(_numeric(r, k) for r in done)), None)
    x = "val_elbo" if done and all(_numeric(r, "val_elbo") for r in done) else "reconstruction"
    if y is None:
        y, x = ("val_elbo", "reconstruction") if x == "val_elbo" else (None, x)
    if not done or y is None or not all(_numeric(r, x) for r in done):
        return None
    path = os.path.join(project_dir, "tradeoff.png")
    annotate = None
    if all(_numeric(r, "beta") for r in done):
        annotate = "beta"
        done = [{**r, "beta": float(f"{r['beta']:.3g}")} for r in done]
    viz.tradeoff_plot(done, x=x, y=y, label="model", path=path, annotate=annotate,
                      title=f"{done[0].get('model', '')} search ({objective})")
    return path


class SearchResult:
    """What `search` returns. Unpacks as `best_model, table = search(...)`.

    Attributes:
        best_model: the best trial's model (weights of its best epoch), compiled;
            None on a distributed worker or when no trial completed.
        table: list of dicts, one per trial (see `results_table`).
        best_hyperparameters: dict of the best trial's values, or None.
        best_trial_id: str or None.
        project_dir: str. The search directory.
        paths: dict of the written files (`results.csv`, `results.json`,
            `tradeoff.png`; empty on a worker).
        tuner: the keras-tuner `Tuner`.
        time_limit_reached: bool. The search stopped at `search(time_limit=...)` before
            its last trial; calling `search` again resumes it.
    """

    def __init__(self, best_model, table, best_hyperparameters, best_trial_id, project_dir,
                 paths, tuner, time_limit_reached=False):
        self.best_model = best_model
        self.table = table
        self.best_hyperparameters = best_hyperparameters
        self.best_trial_id = best_trial_id
        self.project_dir = project_dir
        self.paths = paths
        self.tuner = tuner
        self.time_limit_reached = time_limit_reached

    def __iter__(self):
        return iter((self.best_model, self.table))

    def __repr__(self):
        return (f"SearchResult({len(self.table)} trials, best_trial_id={self.best_trial_id!r}, "
                f"best_hyperparameters={self.best_hyperparameters!r}, "
                f"project_dir={self.project_dir!r})")

