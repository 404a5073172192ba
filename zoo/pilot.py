"""Pilot study of the zoo's recipes: short trials run by `kd.tuning.search`.

Every disentangling dSprites entry of the zoo is trained at full length (about ten
CPU-hours) only with a recipe that short trials have short-listed. This command runs
those trials as keras-tuner grid searches and writes what they measured:

    python zoo/pilot.py beta_tcvae --threads 1     # run (or resume) that objective's pilot
    python zoo/pilot.py beta_vae --hours 2.5       # only the trials that end within 2.5 h
    python zoo/pilot.py --report                   # zoo/pilots/README.md and the plots
    python zoo/pilot.py --recipe ada_gvae          # the zoo recipe the pilot chose
    python zoo/pilot.py --recipe beta_tcvae --stage mlp   # the best of stage 3 only

Each objective's pilot has three stages, run in order (and, for some objectives, the
further sweeps of stage 4, which need no ranking and run after stage 1); each stage is
one grid search per network arm (`zoo/pilots/runs/<objective>/<stage>-<arm>/`), resumed where it
stopped (a trial interrupted mid-way is run again, which `--hours` avoids):

1. `weight`: the objective's weight over the published sweep (β-VAE β ∈ {2, 4, 8, 16};
   β-TCVAE β ∈ {2, 4, 6, 10}, MSS; FactorVAE γ ∈ {10, 30, 50, 100}; DIP-VAE-II
   λ_od ∈ {1, 5, 20, 50}, λ_d = λ_od, four of Locatello et al.'s six; the VAE and
   DC-IGN have no weight) with Adam 5e-4, on the conv network of Locatello et al.
   (2019) at batch 64 and at batch 256.
2. `learning_rate`: Adam 1e-4 and 1e-3 on the two best (batch, weight) pairs of
   stage 1; the other pairs are pruned. A rate that a stage-4 sweep of the same arm
   already trains every weight at (FactorVAE's `paper`: 1e-4 at batch 64) is not
   trained again.
3. `mlp`: the fully connected network of Chen et al. (2018) at their batch 2,048 and
   Adam 1e-3, at the two best weights of stage 1.
4. Further weight sweeps of one objective (`EXTRA_SEARCHES`), each beside stage 1
   (they need no ranking). FactorVAE's stage 1 trains the VAE at Adam 5e-4 and its
   discriminator, which estimates the total correlation, at the paper's Adam 1e-4
   (β = 0.5, 0.9): the encoder moves five times faster than its critic. `paper`
   sweeps γ at Kim & Mnih's own recipe (2018, Sec. 4 and Appendix A: both at Adam
   1e-4, batch 64), where the two move at the same rate. (A sweep with both at 5e-4
   was pruned before it ran: the `paper` sweep's score falls with γ as stage 1's
   does, so the ratio of the two rates does not explain that fall.) `whole_batch`
   repeats stage 1's batch-64 sweep with the discriminator seeing every code of the
   batch and its permutation (`FactorVAE(discriminator_samples="batch")`: 64 real and
   64 permuted codes per step, as Kim & Mnih's Algorithm 1) instead of the two halves
   (32 and 32): at γ ≥ 30 the halves' discriminator ends near chance (accuracy
   0.53–0.57), so a TC estimate too weak to steer the encoder may explain the fall.
   Both sweeps stopped early, `paper` at γ ∈ {10, 30, 50} and `whole_batch` at
   γ ∈ {10, 30}; why is `pruned` in `EXTRA_SEARCHES`, printed by `--report`.

The VAE (`vae`, the baseline every entry is compared with) and DC-IGN (`dcign`,
weakly supervised: each batch varies one factor) have stage 1 only. DC-IGN's arms are
the batch and which latents each factor owns: two per factor (the default, both
batches), one per factor (the other five clamped in every batch, so unused), and
Kulkarni et al.'s (2015, Sec. 3.2) allocation, one latent per extrinsic factor (scale,
orientation, position x, y) and the other six for the intrinsic one (shape). MIG
credits a factor with the gap between its two most informative latents, so a factor
coded by two latents of its own scores near zero however cleanly it is separated.
The AnnealedVAE's pilot (`annealed_vae`, one stage) chooses the capacity C_max ∈ {5, 10,
25, 50} nats at γ = 1000 (Burgess et al. 2018; four of Locatello et al.'s six values); a
trial raises the capacity from 0 to C_max over its own length (16,000 steps at batch 64),
and the zoo run keeps that schedule, the one the pilot measured (how much of the capacity
goes to single factors depends on how fast it rises), then trains on to its plateau;
Burgess et al.'s and Locatello et al.'s schedule over 100,000 steps costs six times as
much and is not measured. InfoGAN has no pilot: its two optimizers and its code size are
the paper's, not the learning rate and latent size that `kd.tuning` searches. Ada-GVAE's
pilot (`ada_gvae`) has stage 1 only, at β = 1: its arms are the number of factors k in
which the training pairs differ, 1 or `"random"` (Locatello et al. 2020), which its zoo
entry then uses. Its trials see pairs: twice the images per step.

Trials compare recipes at equal cost: each sees `IMAGES_PER_TRIAL` images (16,000
steps at batch 64, 4,000 at 256, 500 at 2,048; the two networks train at about the
same images/s on CPU) and is scored four times, at each quarter, by the entry's own
target metric on a cheap protocol (`PILOT_METRICS`) plus discrete MIG, which every
entry is compared on. A stage whose predecessor has not finished is skipped.
Wall time and process CPU time of every trial are recorded by `kd.tuning`.
"""

import argparse
import json
import os
import sys

from kerasdis.zoo_runs import CURVE_OPTIONS

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = os.path.join(HERE, "pilots", "runs")
REPORT = os.path.join(HERE, "pilots")

IMAGES_PER_TRIAL = 1_024_000
EVALUATIONS = 4
BASE_LEARNING_RATE = 5e-4

WEIGHTS = {
    "vae": None,
    "beta_vae": [2.0, 4.0, 8.0, 16.0],
    "beta_tcvae": [2.0, 4.0, 6.0, 10.0],
    "factor_vae": [10.0, 30.0, 50.0, 100.0],
    "dip_vae": [1.0, 5.0, 20.0, 50.0],
    "annealed_vae": [1000.0],
    "dcign": None,
    "ada_gvae": [1.0],
}
MODEL_ARGS = {"beta_tcvae": {"estimator": "mss"}, "dip_vae": {"variant": "ii"}}

# The entry's target metric (the tuner's objective) on a cheap protocol.
TARGET = {
    "vae": "discrete_mig",
    "beta_vae": "beta_vae",
    "beta_tcvae": "mig",
    "factor_vae": "factor_vae",
    "dip_vae": "mig",
    "annealed_vae": "mig",
    "dcign": "mig",
    "ada_gvae": "mig",
}
# The cheap protocols, the same as the zoo runs' learning curves.
PILOT_METRICS = CURVE_OPTIONS

# Network arms: (name, architecture, batch size, further model arguments).
CONV_ARMS = [("conv-b64", "conv", 64, {}), ("conv-b256", "conv", 256, {})]
MLP_ARM = ("mlp-b2048", "mlp", 2048, {})
KEEP = 2  # how many recipes of stage 1 go on to stages 2 and 3
# Ada-GVAE (weak supervision): its pilot chooses the number k of factors in which the
# training pairs differ, 1 or "random" (Locatello et al. 2020), at β = 1; one stage.
# The AnnealedVAE's arms are the capacity C_max it is pulled to, at γ = 1000 (four of
# the six C_max values of Locatello et al. 2019); one stage.
ARMS = {"ada_gvae": [("conv-b64-k1", "conv", 64, {"pair_k": 1}),
                     ("conv-b64-krandom", "conv", 64, {"pair_k": "random"})],
        "annealed_vae": [(f"conv-b64-c{c:g}", "conv", 64, {"capacity_max": c})
                         for c in (5.0, 10.0, 25.0, 50.0)],
        "dcign": CONV_ARMS + [
            ("conv-b64-one", "conv", 64, {"factor_dims": [[0], [1], [2], [3], [4]]}),
            ("conv-b64-paper", "conv", 64, {"factor_dims": [[0, 1, 2, 3, 4, 5], [6], [7],
                                                             [8], [9]]})]}
# The VAE is the baseline at the base recipe; DC-IGN has no weight to choose.
ONE_STAGE = {"ada_gvae", "vae", "annealed_vae", "dcign"}
# Stage 4: further weight sweeps (see the docstring), as the searches of `plan`.
# A sweep's `beta` (optional) lists the weights it keeps when the rest were pruned
# after its first trials; `pruned` says why (`--report` prints it).
EXTRA_SEARCHES = {"factor_vae": [
    dict(stage="paper", arm="conv-b64", architecture="conv", batch_size=64,
         learning_rate=[1e-4], model_args={}, beta=[10.0, 30.0, 50.0],
         pruned="γ = 100: the sweep fell from γ = 10 (0.664) to 0.388 and 0.520 at "
                "γ = 30 and 50, as stage 1 fell to its lowest score at γ = 100 (0.376)"),
    dict(stage="whole_batch", arm="conv-b64", architecture="conv", batch_size=64,
         learning_rate=[BASE_LEARNING_RATE], model_args={"discriminator_samples": "batch"},
         beta=[10.0, 30.0],
         pruned="γ = 50 and 100: at γ = 10 and 30 it scored below stage 1 (0.652 and 0.478 "
                "against 0.698 and 0.598), and its discriminator was no stronger than the "
                "halves' (γ = 30: accuracy 0.571 against 0.566, TC estimate 0.08 against "
                "0.07 nats)"),
]}


def project_dir(objective, stage, arm):
    return os.path.join(RUNS, objective, f"{stage}-{arm}")


def completed_trials(path):
    """The completed trials of the search in `path` (trial files only)."""
    from kerasdis import tuning

    return [r for r in tuning.results_table(path) if r["status"] == "COMPLETED"]


def stage_one_ranking(objective):
    """(score, arm, architecture, batch, weight) of stage 1, best first; None if unfinished."""
    weights = WEIGHTS[objective]
    expected = len(weights) if weights else 1
    ranking = []
    for arm, architecture, batch, _ in ARMS.get(objective, CONV_ARMS):
        rows = completed_trials(project_dir(objective, "weight", arm))
        if len(rows) < expected:
            return None
        for row in rows:
            ranking.append((row["score"], arm, architecture, batch, row.get("beta")))
    return sorted(ranking, key=lambda r: -r[0])


def plan(objective):
    """The searches of `objective`'s pilot that can run now, in order, as dicts."""
    weights = WEIGHTS[objective]
    arms = ARMS.get(objective, CONV_ARMS)
    searches = [dict(stage="weight", arm=arm, architecture=architecture, batch_size=batch,
                     beta=weights, learning_rate=[BASE_LEARNING_RATE], model_args=args)
                for arm, architecture, batch, args in arms]
    searches += [{**{k: v for k, v in search.items() if k != "pruned"},
                  "beta": search.get("beta", weights)}
                 for search in EXTRA_SEARCHES.get(objective, ())]
    ranking = stage_one_ranking(objective)
    if ranking is None or objective in ONE_STAGE:
        return searches
    best = ranking[:KEEP]
    arm_args = {arm: args for arm, _, _, args in arms}
    swept = {(s["arm"], lr) for s in EXTRA_SEARCHES.get(objective, ())
             if not s["model_args"] for lr in s["learning_rate"]}  # the same model only
    for _, arm, architecture, batch in sorted({(None, *r[1:4]) for r in best},
                                              key=lambda r: r[1]):
        betas = sorted({r[4] for r in best if r[1] == arm}, key=lambda b: b or 0)
        searches.append(dict(stage="learning_rate", arm=arm, architecture=architecture,
                             batch_size=batch, beta=betas if weights else None,
                             learning_rate=[lr for lr in (1e-4, 1e-3) if (arm, lr) not in swept],
                             model_args=arm_args[arm]))
    arm, architecture, batch, args = MLP_ARM
    betas = sorted({r[4] for r in best}, key=lambda b: b or 0)
    searches.append(dict(stage="mlp", arm=arm, architecture=architecture, batch_size=batch,
                         beta=betas if weights else None, learning_rate=[1e-3],
                         model_args=args))
    return searches


def run(objective, threads, stages=None, hours=None):
    """Runs (or resumes) `objective`'s pilot; with `hours`, starts a trial only if it is
    expected to end within them (`kd.tuning.search(time_limit=...)`), then stops."""
    import time

    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    from kerasdis import tuning

    target = TARGET[objective]
    metrics = tuple(dict.fromkeys((target, "discrete_mig")))
    deadline = None if hours is None else time.time() + 3600 * hours
    finished = set()
    while True:  # a finished stage 1 adds stages 2 and 3 to the plan
        pending = [s for s in plan(objective)
                   if (s["stage"], s["arm"]) not in finished
                   and (not stages or s["stage"] in stages)]
        if not pending:
            return
        search = pending[0]
        finished.add((search["stage"], search["arm"]))
        if search_done(objective, search):
            continue  # not resumed: a sweep whose last weights were pruned keeps its settings
        steps = IMAGES_PER_TRIAL // search["batch_size"]
        name = f"{search['stage']}-{search['arm']}"
        left = None if deadline is None else deadline - time.time()
        if left is not None and left <= 0:
            print(f"[pilot] {objective}: --hours used up before {name}", flush=True)
            return
        print(f"[pilot] {objective} {name}: beta {search['beta']}, "
              f"learning rate {search['learning_rate']}, {steps} steps", flush=True)
        result = tuning.search(
            objective, "dsprites", tuner="grid", objective=f"val_{target}", max_trials=None,
            directory=os.path.join(RUNS, objective), project_name=name, seed=0,
            load_best_model=False, beta=search["beta"], latent_dim=10,
            learning_rate=search["learning_rate"], batch_size=search["batch_size"],
            architecture=search["architecture"], steps_per_epoch=steps // EVALUATIONS,
            epochs=EVALUATIONS, metrics=metrics,
            metric_options={m: PILOT_METRICS[m] for m in metrics},
            model_args={**MODEL_ARGS.get(objective, {}), **search["model_args"]} or None,
            time_limit=left)
        # The tuner checks the deadline before it learns that its grid is exhausted.
        if result.time_limit_reached and not search_done(objective, search):
            print(f"[pilot] {objective} {name}: stopped at --hours; run again to resume",
                  flush=True)
            return
        print(f"[pilot] {objective} {name}: {len(result.table)} trials, best "
              f"{result.best_hyperparameters}", flush=True)


# ------------------------------------------------------------------------- choice
ZOO_STEPS = 300_000  # the cap of a zoo run; it ends earlier at its plateau
ZOO_CHECKPOINT_EVERY = 2_000
# Chen et al.'s MLP recipe trains 50 epochs of dSprites (their code's default), not the
# conv networks' 300,000 steps of batch 64: at batch 2,048 that is 18,000 steps.
MLP_EPOCHS = 50


def search_done(objective, search):
    """Whether `search` (a search of `plan`) has all its trials."""
    expected = len(search["beta"] or [None]) * len(search["learning_rate"])
    return len(completed_trials(project_dir(objective, search["stage"], search["arm"]))) \
        >= expected


def finished(objective):
    """Whether every search of `objective`'s pilot has all its trials."""
    if not all(search_done(objective, search) for search in plan(objective)):
        return False
    return stage_one_ranking(objective) is not None


def chosen_recipe(objective, stages=None):
    """The zoo recipe of the pilot's best trial (by the tuner's score, the entry's target
    metric), or of the best trial of `stages` only, at the zoo's length (the MLP arm:
    `MLP_EPOCHS` epochs, checkpointed every epoch); None until every stage has finished."""
    if not finished(objective):
        return None
    from kerasdis import data, models

    best = None
    for search in plan(objective):
        if stages and search["stage"] not in stages:
            continue
        for row in completed_trials(project_dir(objective, search["stage"], search["arm"])):
            if best is None or row["score"] > best[0]["score"]:
                best = (row, search)
    row, search = best
    model_class = models.get(objective)
    # the arguments that follow from the trial's length (an AnnealedVAE's capacity
    # schedule) stay the trial's: the zoo run repeats what the pilot measured
    trial_steps = IMAGES_PER_TRIAL // search["batch_size"]
    model_args = {**model_class.run_args(trial_steps), **MODEL_ARGS.get(objective, {}),
                  **search["model_args"], "latent_dim": 10,
                  "architecture": search["architecture"]}
    weight = model_class.searched_weight
    if weight and row.get("beta") is not None:
        model_args[weight] = float(row["beta"])
    steps, every = ZOO_STEPS, ZOO_CHECKPOINT_EVERY
    if search["arm"] == MLP_ARM[0]:
        images = data.load("dsprites").num_examples
        every = -(-images // search["batch_size"])  # one epoch
        steps = MLP_EPOCHS * every
    return {"model": objective, "model_args": model_args, "dataset": "dsprites",
            "steps": steps, "batch_size": search["batch_size"],
            "learning_rate": float(row["learning_rate"]), "seed": 0,
            "checkpoint_every": every, "beta_annealing_steps": 0}


# ------------------------------------------------------------------------- report
def trial_rows():
    """Every trial of every pilot, with its per-evaluation curve."""
    rows = []
    if not os.path.isdir(RUNS):
        return rows
    for objective in sorted(os.listdir(RUNS)):
        for name in sorted(os.listdir(os.path.join(RUNS, objective))):
            path = os.path.join(RUNS, objective, name)
            settings_path = os.path.join(path, "search.json")
            if not os.path.exists(settings_path):
                continue
            with open(settings_path) as f:
                settings = json.load(f)["hypermodel"]
            target = TARGET[objective]
            for trial in sorted(os.listdir(path)):
                extra = os.path.join(path, trial, "kerasdis_trial.json")
                if not os.path.exists(extra):
                    continue
                with open(extra) as f:
                    record = json.load(f)
                history = record["history"][-1] if record["history"] else {}
                per_epoch = settings["steps_per_epoch"]
                curve = [((i + 1) * per_epoch, v)
                         for i, v in enumerate(history.get(f"val_{target}", []))]
                dmig = history.get("val_discrete_mig", [])
                rec = history.get("reconstruction", [])
                hps = record["hyperparameters"]
                rows.append({
                    "objective": objective, "search": name, "trial": record["trial_id"],
                    "architecture": settings["architecture"],
                    "batch_size": settings["batch_size"], "weight": hps.get("beta"),
                    "learning_rate": hps.get("learning_rate"),
                    "steps": per_epoch * len(curve), "target": target, "curve": curve,
                    "best": max((v for _, v in curve), default=None),
                    "final": curve[-1][1] if curve else None,
                    "discrete_mig": dmig[-1] if dmig else None,
                    "reconstruction": rec[-1] if rec else None,
                    "reconstruction_curve": list(rec),
                    "wall_time_seconds": record["wall_time_seconds"],
                    "cpu_seconds": record.get("cpu_seconds"),
                })
    return rows


def _fmt(value, digits=3):
    return "–" if value is None else f"{value:.{digits}f}"


def mlp_caveat(rows):
    """Report lines on stage 3: at the pilot's images the batch-2,048 MLP makes few
    updates; when its reconstruction still fell by more than 10% over the last
    quarter of a trial, the trial was still learning and its score cannot rank it."""
    learning = [r for r in rows if r["search"].startswith("mlp-")
                and len(r["reconstruction_curve"]) >= 2
                and r["reconstruction_curve"][-1] < 0.9 * r["reconstruction_curve"][-2]]
    if not learning:
        return []
    cells = "; ".join(f"weight {r['weight']:g}: {r['reconstruction_curve'][-2]:.0f} → "
                      f"{r['reconstruction_curve'][-1]:.0f}" for r in learning)
    return ["", f"Stage 3 is not a ranking: at {IMAGES_PER_TRIAL:,} images the batch-"
            f"{learning[0]['batch_size']:,} MLP makes {learning[0]['steps']:,} updates, and its "
            f"reconstruction (nats per image) was still falling fast over the last quarter "
            f"({cells}). Its score says it had not finished learning, not that it is worse. "
            f"Its best trial at the paper's length ({MLP_EPOCHS} epochs): `python zoo/pilot.py "
            f"--recipe {learning[0]['objective']} --stage mlp`, trained as a zoo run beside "
            f"the conv recipe (`kerasdis zoo train NAME --recipe FILE`)."]


def chosen_lines(objective):
    """Report lines naming the zoo recipe of a finished pilot (`chosen_recipe`)."""
    recipe = chosen_recipe(objective)
    if recipe is None:
        return []
    from kerasdis import models

    args = recipe["model_args"]
    name = models.get(objective).searched_weight  # as `chosen_recipe` sets it
    weight = f"{name} {args[name]:g}, " if name in args else ""
    return ["", f"Every stage has finished. The zoo recipe (`python zoo/pilot.py --recipe "
            f"{objective}`, the best trial by {TARGET[objective]}): the {args['architecture']} "
            f"network at batch {recipe['batch_size']:,}, {weight}Adam "
            f"{recipe['learning_rate']:g}, trained to the plateau of its target metric or "
            f"{recipe['steps']:,} steps."]


def write_report(rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(REPORT, exist_ok=True)
    lines = [
        "# Pilot trials of the zoo's recipes",
        "",
        "Made by `python zoo/pilot.py --report` from the trial files under `zoo/pilots/runs/`,",
        "which `python zoo/pilot.py OBJECTIVE` writes (keras-tuner grid searches through",
        f"`kd.tuning.search`; see that script's docstring for the stages). Each trial sees "
        f"{IMAGES_PER_TRIAL:,} images",
        "of the procedural dSprites (pairs of images for `ada_gvae`: twice as many) and is "
        "scored at each quarter on the cheap protocols",
        "`" + json.dumps(PILOT_METRICS) + "`.",
        "`best` and `final` are the entry's target metric (the tuner's objective), `dMIG`",
        "the final discrete MIG, `rec.` the training reconstruction loss (nats per image);",
        "wall and CPU time are of the whole trial, evaluations included.",
        "FactorVAE's discriminator trains with Adam 1e-4 (β = 0.5, 0.9), Kim & Mnih's, in",
        "every search, whatever the VAE's learning rate `lr`.",
        "",
    ]
    for objective in sorted({r["objective"] for r in rows}):
        mine = [r for r in rows if r["objective"] == objective]
        lines += [f"## {objective} (target metric: {TARGET[objective]})", "",
                  f"![{objective} pilot]({objective}.png)", "",
                  "| search | network | batch | weight | lr | steps | best | final | dMIG "
                  "| rec. | wall min | CPU min |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(mine, key=lambda r: (r["search"], r["trial"])):
            weight = "–" if r["weight"] is None else f"{r['weight']:g}"
            lines.append(
                f"| {r['search']} | {r['architecture']} | {r['batch_size']} | {weight} | "
                f"{r['learning_rate']:g} | {r['steps']:,} | {_fmt(r['best'])} | "
                f"{_fmt(r['final'])} | {_fmt(r['discrete_mig'])} | {_fmt(r['reconstruction'], 1)} | "
                f"{_fmt(r['wall_time_seconds'] / 60, 1)} | "
                f"{_fmt(None if r['cpu_seconds'] is None else r['cpu_seconds'] / 60, 1)} |")
        ranking = stage_one_ranking(objective)
        lines.append("")
        if ranking is None:
            lines.append("Stage 1 (weight) is not finished: nothing has been pruned yet.")
        elif objective == "vae":
            lines.append("The VAE is the baseline the entries are compared with: it has no "
                         "weight to choose, so nothing is pruned.")
        elif objective in ONE_STAGE:
            lines.append(f"One stage; by the best {TARGET[objective]}: "
                         + ", ".join(f"{r[1]} ({r[0]:.3f})" for r in ranking)
                         + f". The zoo entry uses {ranking[0][1]}.")
        else:
            kept = ", ".join(f"{r[1]} weight {r[4]} ({r[0]:.3f})" for r in ranking[:KEEP])
            pruned = ", ".join(f"{r[1]} weight {r[4]} ({r[0]:.3f})" for r in ranking[KEEP:])
            lines.append(f"Kept for stages 2 and 3 by the best {TARGET[objective]} of stage 1: "
                         f"{kept}. Pruned: {pruned or 'none'}.")
            lines += mlp_caveat(mine)
            lines += chosen_lines(objective)
        pruned = [f"Pruned from the `{s['stage']}` sweep: {s['pruned']}."
                  for s in EXTRA_SEARCHES.get(objective, ()) if s.get("pruned")]
        if pruned:
            lines += ["", *pruned]
        lines.append("")
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for r in sorted(mine, key=lambda r: (r["search"], r["trial"])):
            if not r["curve"]:
                continue
            steps, values = zip(*r["curve"])
            images = [s * r["batch_size"] / 1e6 for s in steps]
            weight = "" if r["weight"] is None else f" w={r['weight']:g}"
            ax.plot(images, values, marker="o",
                    label=f"{r['search'].split('-')[0]}: {r['architecture']} b{r['batch_size']}"
                          f"{weight} lr={r['learning_rate']:g}")
        ax.set_xlabel("million training images (steps × batch)")
        ax.set_ylabel(f"{TARGET[objective]} (pilot protocol)")
        ax.set_title(f"{objective}: pilot trials")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        fig.savefig(os.path.join(REPORT, f"{objective}.png"), dpi=110)
        plt.close(fig)
    tmp = os.path.join(REPORT, "README.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    os.replace(tmp, os.path.join(REPORT, "README.md"))
    return os.path.join(REPORT, "README.md")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("objective", nargs="?", choices=sorted(WEIGHTS),
                        help="run (or resume) this objective's pilot")
    parser.add_argument("--stage", action="append",
                        choices=("weight", "learning_rate", "mlp", "paper", "whole_batch"),
                        help="run only these stages, or with --recipe choose among their "
                             "trials only (repeatable)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads (0: TensorFlow's default); two pilots with "
                             "one thread each use two cores about as well as one with two")
    parser.add_argument("--hours", type=float, default=None,
                        help="start a trial only if it is expected to end within HOURS, "
                             "then stop (a trial cut off mid-way would be run again)")
    parser.add_argument("--recipe", metavar="OBJECTIVE", choices=sorted(WEIGHTS),
                        help="print the zoo recipe of OBJECTIVE's best trial (JSON)")
    parser.add_argument("--report", action="store_true",
                        help="write zoo/pilots/README.md and one plot per objective")
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    if args.hours is not None and not args.hours > 0:
        parser.error(f"--hours must be a positive number, got {args.hours}")
    if not args.objective and not args.report and not args.recipe:
        parser.error("give an OBJECTIVE to run, --recipe OBJECTIVE or --report")
    if args.objective:
        run(args.objective, args.threads, args.stage, args.hours)
    if args.report:
        print(write_report(trial_rows()))
    if args.recipe:
        recipe = chosen_recipe(args.recipe, args.stage)
        if recipe is None:
            print(f"{args.recipe}'s pilot has not finished; no recipe chosen yet.",
                  file=sys.stderr)
            return 1
        print(json.dumps(recipe, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    sys.exit(main())
