"""Wall time and peak memory of every `kerasdis.metrics` metric on dSprites, on CPU.

The representation is `kd.models.BetaVAE(latent_dim=10, input_shape=(64, 64, 1))`,
untrained (the cost does not depend on training), on `kd.data.load("dsprites")`
(737,280 images). Targets: the full-grid `mig` (Chen et al.) under 10 minutes
including the grid encoding; every 10,000-point metric under 1 minute; DCI under 3.

Peak memory is the largest resident set size seen while the metric runs (psutil,
sampled every 50 ms) minus the resident size before it; without psutil, the growth
of `ru_maxrss`.

`--opt-in` also times the faster opt-in variants that change the estimate
(`mig(estimator="shared")`, `dci(classifier="hist")`); the default run, part of
`python -m benchmarks`, times what `kd.metrics.evaluate` runs.

    python benchmarks/metrics_speed.py                 # full settings (~10-15 min)
    python benchmarks/metrics_speed.py --quick         # tiny settings (~1 min)
    python benchmarks/metrics_speed.py --opt-in        # + the opt-in estimators (~1.5 min more)
    python benchmarks/metrics_speed.py --output results.md
"""

import argparse
import os
import platform
import resource
import sys
import threading
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kerasdis` does (kerasdis/backend.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks._output import write_atomic  # noqa: E402
DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "metrics_speed.md")

try:
    import psutil
except ImportError:  # pragma: no cover
    psutil = None


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PeakMemory:
    """Context manager: `.seconds` (wall), `.cpu_seconds` (this process, all threads)
    and `.peak_mb` (resident growth) of its body."""

    def __enter__(self):
        self._stop = threading.Event()
        if psutil is not None:
            self._proc = psutil.Process()
            self._base = self._proc.memory_info().rss
            self._peak = self._base
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        else:
            self._base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self._start = time.perf_counter()
        self._cpu = _cpu_seconds()
        return self

    def _poll(self):
        while not self._stop.wait(0.05):
            self._peak = max(self._peak, self._proc.memory_info().rss)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        self.cpu_seconds = _cpu_seconds() - self._cpu
        self._stop.set()
        if psutil is not None:
            self._thread.join()
            self._peak = max(self._peak, self._proc.memory_info().rss)
        else:
            self._peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak_mb = max(0.0, (self._peak - self._base) / 2**20)
        return False


def _setup(quick):
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import kerasdis as kd

    ds = kd.data.load("dsprites")
    model = kd.models.BetaVAE(latent_dim=10, input_shape=(64, 64, 1), seed=0)
    return kd, ds, model


def _settings(quick):
    if quick:
        return {
            "sample": {"num_train": 300, "num_test": 150},
            "beta_vae": {"num_train": 40, "num_eval": 20, "batch_size": 8},
            "factor_vae": {"num_train": 40, "num_eval": 20, "num_variance_estimate": 200,
                           "batch_size": 8, "prune_threshold": 0.0},
            "mig": {"subsample": 3000, "num_samples": 300},
            "elbo": {"num_images": 200},
        }
    return {
        "sample": {"num_train": 10_000, "num_test": 5_000},
        "beta_vae": {"num_train": 10_000, "num_eval": 5_000, "batch_size": 64},
        "factor_vae": {"num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000,
                       "batch_size": 64, "prune_threshold": 0.0},
        "mig": {"subsample": None, "num_samples": 10_000},
        "elbo": {"num_images": 10_000},
    }


def run(quick=False, verbose=0, log=print, opt_in=False):
    """Runs the benchmark; returns `(rows, info)`. `opt_in`: also the opt-in estimators."""
    kd, ds, model = _setup(quick)
    m = kd.metrics
    s = _settings(quick)
    rows = []

    def measure(name, settings, target, fn):
        log(f"[metrics_speed] {name} ({settings}) ...")
        with PeakMemory() as pm:
            value = fn()
        rows.append({"metric": name, "settings": settings, "seconds": pm.seconds,
                     "cpu_seconds": pm.cpu_seconds, "peak_mb": pm.peak_mb, "target": target,
                     "value": value})
        log(f"[metrics_speed] {name}: {pm.seconds:.1f} s (cpu {pm.cpu_seconds:.1f} s), "
            f"+{pm.peak_mb:.0f} MB, {value}")
        return value

    grid = None
    if not quick:
        grid = measure("encode_grid (means + log-variances)", f"{ds.num_examples} images",
                       None, lambda: m.encode_grid(model, ds, verbose=verbose))
        rows[-1]["value"] = f"{grid.means.shape}"
    # Chen et al. MIG on the whole grid (or a subsample in --quick).
    grid_desc = f"subsample {s['mig']['subsample']}" if quick else "full"
    mig_out = measure(
        "mig (Chen et al.)", f"grid={grid_desc}, S={s['mig']['num_samples']}", 600.0,
        lambda: m.mig(model, ds, codes=grid, seed=0, verbose=verbose, **s["mig"]))
    rows[-1]["value"] = round(mig_out["mig"], 4)
    if grid is not None:
        rows.append({"metric": "mig incl. grid encoding", "settings": "full grid",
                     "seconds": rows[0]["seconds"] + rows[-1]["seconds"],
                     "cpu_seconds": rows[0]["cpu_seconds"] + rows[-1]["cpu_seconds"],
                     "peak_mb": max(rows[0]["peak_mb"], rows[-1]["peak_mb"]), "target": 600.0,
                     "value": rows[-1]["value"]})

    if opt_in:
        shared = measure(
            "mig, estimator='shared' (opt-in)", f"grid={grid_desc}, S={s['mig']['num_samples']}",
            600.0, lambda: m.mig(model, ds, codes=grid, seed=0, verbose=verbose,
                                 estimator="shared", **s["mig"]))
        rows[-1]["value"] = round(shared["mig"], 4)

    codes = grid if grid is not None else None
    enc = "grid" if grid is not None else "on the fly"
    bv = measure("beta_vae", f"{s['beta_vae']}, {enc}", 60.0, lambda: m.beta_vae_score(
        model, ds, seed=0, codes=codes, encode_grid=False, verbose=verbose, **s["beta_vae"]))
    rows[-1]["value"] = round(bv["eval_accuracy"], 4)
    fv = measure("factor_vae", f"{s['factor_vae']}, {enc}", 60.0, lambda: m.factor_vae_score(
        model, ds, seed=0, codes=codes, encode_grid=False, verbose=verbose, **s["factor_vae"]))
    rows[-1]["value"] = round(fv["eval_accuracy"], 4)

    n_train, n_test = s["sample"]["num_train"], s["sample"]["num_test"]
    sample_fly = {}

    def fly():
        sample_fly["train"] = m.sample_codes(model, ds, n_train, seed=0, encode_grid=False)
        sample_fly["test"] = m.sample_codes(model, ds, n_test, seed=1, encode_grid=False)
        return "encoded"

    measure("sample + encode train/test on the fly", f"{n_train} + {n_test} images", 60.0, fly)
    c_train, f_train = sample_fly["train"]
    c_test, f_test = sample_fly["test"]
    out = measure("discrete_mig", f"num_train={n_train}", 60.0,
                  lambda: m.discrete_mig(c_train, f_train))
    rows[-1]["value"] = round(out, 4)
    out = measure("sampled_discrete_mig (incl. encoding)", f"num_train={n_train}, on the fly",
                  60.0, lambda: m.sampled_discrete_mig(model, ds, num_train=n_train, seed=0,
                                                       encode_grid=False))
    rows[-1]["value"] = round(out["discrete_mig"], 4)
    out = measure("dci", f"{n_train}/{n_test}, GradientBoosting, threads over factors", 180.0,
                  lambda: m.dci(c_train, f_train, c_test, f_test))
    rows[-1]["value"] = round(out["disentanglement"], 4)
    if opt_in:
        out = measure("dci, classifier='hist' (opt-in)", f"{n_train}/{n_test}, "
                      "HistGradientBoosting depth 3", 60.0,
                      lambda: m.dci(c_train, f_train, c_test, f_test, classifier="hist"))
        rows[-1]["value"] = round(out["disentanglement"], 4)
    out = measure("sap", f"{n_train}/{n_test}", 60.0,
                  lambda: m.sap(c_train, f_train, c_test, f_test))
    rows[-1]["value"] = round(out, 4)
    out = measure("modularity_explicitness", f"{n_train}/{n_test}", 60.0,
                  lambda: m.modularity_explicitness(c_train, f_train, c_test, f_test))
    rows[-1]["value"] = round(out["modularity"], 4)
    out = measure("unsupervised", f"num_train={n_train}", 60.0,
                  lambda: m.unsupervised_scores(c_train))
    rows[-1]["value"] = round(out["mutual_info_score"], 4)
    out = measure("elbo_decomposition", f"num_images={s['elbo']['num_images']}", 60.0,
                  lambda: m.elbo_decomposition(model, ds, seed=0, **s["elbo"]))
    rows[-1]["value"] = round(out["kl"], 4)

    import tensorflow as tf

    info = {
        "quick": quick,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "dataset": f"{ds.name}, {ds.num_examples} images",
    }
    return rows, info


def to_markdown(rows, info):
    lines = [
        "# kerasdis.metrics speed",
        "",
        "Untrained `BetaVAE(latent_dim=10)` conv encoder on procedural dSprites, CPU. "
        "Generated by `benchmarks/metrics_speed.py`"
        + (" --quick (tiny settings, not the targets)." if info["quick"] else "."),
        "",
        f"- date: {info['date']}; CPUs: {info['cpus']} (shared); load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in info['load_average'] or ())}",
        f"- python {info['python']}, tensorflow {info['tensorflow']}; dataset: {info['dataset']}",
        "- seconds: wall time; cpu s: CPU time of the process (all threads), which is what "
        "the metric costs when the CPUs are shared (2 free cores: wall ~ cpu / 2 for the "
        "parallel parts)",
        "- peak MB: largest resident-set growth while the metric ran",
        "- untrained encoder: its posterior means have std < 0.05, so FactorVAE prunes every "
        "dimension unless `prune_threshold=0` (used here to time the votes)",
        "",
        "| metric | settings | seconds | cpu s | peak MB | target (s) | within | value |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        target = r["target"]
        within = ""
        if target is not None and not info["quick"]:
            within = "yes" if r["seconds"] <= target else "NO"
        lines.append(
            f"| {r['metric']} | {r['settings']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{r['peak_mb']:.0f} | "
            f"{'' if target is None else f'{target:.0f}'} | {within} | {r['value']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (for tests)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write")
    parser.add_argument("--verbose", type=int, default=0, help="progress bars (0 or 1)")
    parser.add_argument("--opt-in", action="store_true",
                        help="also time the opt-in estimators (shared MIG, hist DCI)")
    args = parser.parse_args(argv)
    rows, info = run(quick=args.quick, verbose=args.verbose, opt_in=args.opt_in)
    text = to_markdown(rows, info)
    write_atomic(args.output, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
