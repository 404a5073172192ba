"""Resumable keras-tuner oracles and recording tuners; the only module that uses
private keras-tuner API.

keras-tuner writes `trial.json` before `oracle.json` and lists a trial as ongoing
until the tuner's next save, so a search killed in between would run a completed
trial again on reload. The oracles here write their files atomically and, on
reload, trust the trial files. The tuners record each trial's wall time, worker
and per-epoch logs (`TRIAL_FILE`, `RUNS_FILE`), resume a search killed before its
first trial ended, and serve the chief of a distributed search until the workers
are done.

keras-tuner has no public API for any of this. What this module relies on is
listed in `PRIVATE_API` and checked by `private_api_problems()`
(`tests/test_tuning_adapter.py`), so that a keras-tuner release that changes it
fails a test naming the attribute instead of a search resuming wrongly:

- `Oracle._save_trial(trial)` (overridden: atomic `trial.json`),
  `Oracle._get_trial_dir(trial_id)`, `Oracle._get_oracle_fname()`: where the
  oracle's files are;
- `Oracle._retry_queue` (list of trial ids) and `Oracle._run_times` (trial id ->
  count), with the unprefixed `start_order` and `end_order`: the oracle state that
  `reload` repairs (they are what `Oracle.get_state()` saves);
- `keras_tuner.src.distribute.utils.has_chief_oracle()` / `is_chief_oracle()`:
  keras-tuner's own reading of its `KERASTUNER_*` environment;
- `keras_tuner.src.distribute.oracle_chief.OracleServicer(oracle)` (its
  `stop_triggered` flag), `oracle_chief.exit_chief(oracle)` and
  `keras_tuner.src.protos.get_service_grpc().add_OracleServicer_to_server`: the
  chief's gRPC server, which keras-tuner only offers as a loop that polls every
  20 s and never stops its server.
"""

import copy
import glob
import importlib
import inspect
import json
import os
import socket
import statistics
import time

import keras
import keras_tuner

from kerasdis.io import write_json
from kerasdis.tuning.hypermodel import estimate_trial_seconds

TRIAL_FILE = "kerasdis_trial.json"
RUNS_FILE = "runs.jsonl"


def _atomic(save, path):
    tmp = f"{path}.tmp-{os.getpid()}"
    save(tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------ distributed roles
def current_role():
    """`"chief"`, `"worker"` or None (one process), as keras-tuner reads its
    `KERASTUNER_*` environment."""
    from keras_tuner.src.distribute import utils as dist_utils

    if not dist_utils.has_chief_oracle():
        return None
    return "chief" if dist_utils.is_chief_oracle() else "worker"


# ---------------------------------------------------------------------- oracles
class _ResumableOracle:
    """Oracle mixin: atomic state files and a reload that never repeats a finished trial.

    keras-tuner writes `trial.json` before `oracle.json` and lists a trial as ongoing
    until the tuner's next save; a search killed in between would run a completed
    trial again on reload. Here the trial files are authoritative.
    """

    def save(self):
        # What keras-tuner's `Oracle.save` writes (`json.dumps(get_state())`), atomically.
        state = json.dumps(self.get_state())

        def write(tmp):
            with open(tmp, "w") as f:
                f.write(state)

        _atomic(write, self._get_oracle_fname())

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        _atomic(trial.save, path)

    def reload(self):
        super().reload()
        from keras_tuner.engine.trial import TrialStatus

        done = {TrialStatus.COMPLETED, TrialStatus.FAILED}
        queue = []
        for trial_id in [*self._retry_queue, *sorted(self.trials)]:
            status = self.trials[trial_id].status
            if trial_id not in self.start_order:
                self.start_order.append(trial_id)
            if status in done:  # finished, whatever oracle.json says
                if trial_id not in self.end_order:
                    self.end_order.append(trial_id)
                self._run_times[trial_id] = max(1, self._run_times[trial_id])
            elif (status == TrialStatus.RUNNING or trial_id in self._retry_queue) \
                    and trial_id not in queue:
                # interrupted, or created just before the kill (unknown to oracle.json)
                queue.append(trial_id)
        self._retry_queue = queue


class _RandomOracle(_ResumableOracle, keras_tuner.oracles.RandomSearchOracle):
    pass


class _BayesianOracle(_ResumableOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _HyperbandOracle(_ResumableOracle, keras_tuner.oracles.HyperbandOracle):
    pass


class _GridOracle(_ResumableOracle, keras_tuner.oracles.GridSearchOracle):
    """Grid oracle whose walk through the grid survives a restart.

    keras-tuner keeps the grid's order of trials (`_ordered_ids`) and the trials whose
    successor is still to be created (`_populate_next`) only in memory, so a search
    resumed in a new process after its first trial was created failed with a
    `KeyError` when creating the next one. Both are rebuilt here from the trials.
    """

    def reload(self):
        super().reload()
        import functools

        from keras_tuner.src.tuners.gridsearch import LinkedList

        def compare(a, b):
            return self._compare(self.trials[a].hyperparameters.values,
                                 self.trials[b].hyperparameters.values)

        ordered = sorted(self.trials, key=functools.cmp_to_key(compare))
        self._ordered_ids = LinkedList()
        previous = None
        for trial_id in ordered:
            self._ordered_ids.insert(trial_id, previous)
            previous = trial_id
        # Successors of finished trials are created unless tried (populate_space skips
        # a combination that is already the next one in `_ordered_ids`).
        self._populate_next = [t for t in ordered if t in self.end_order]


ORACLES = {"random": _RandomOracle, "bayesian": _BayesianOracle,
           "hyperband": _HyperbandOracle, "grid": _GridOracle}


# ----------------------------------------------------------------------- tuners
def _append_line(path, record):
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write with O_APPEND: lines of concurrent workers never mix
    finally:
        os.close(fd)


class TimeLimitReached(Exception):
    """Raised by a tuner with a `deadline` instead of starting a trial that would end
    after it; the search stops between two trials, with nothing lost."""


class _RecordingTuner:
    """Tuner mixin: records each trial's wall time and logs; resumes from `oracle.json`;
    with a `deadline` (a `time.time()` value), starts a trial only if it is expected to
    end before it (`expected_trial_seconds`), and ends a search that has no trial
    left as finished, however close the deadline."""

    deadline = None

    def __init__(self, oracle, hypermodel, directory, project_name, overwrite=False, **kwargs):
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
        tuner_file = os.path.join(str(directory), project_name, f"{tuner_id}.json")
        had_tuner_file = os.path.exists(tuner_file)
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, directory=directory,
                                   project_name=project_name, overwrite=overwrite, **kwargs)
        oracle_file = os.path.join(self.project_dir, "oracle.json")
        # Killed before the first trial ended: keras-tuner would start over and
        # overwrite trial 0; reload the oracle instead.
        if not overwrite and not had_tuner_file and current_role() != "worker" \
                and os.path.exists(oracle_file):
            self.oracle.reload()

    def expected_trial_seconds(self):
        """The median wall time of the search's completed trials (their `TRIAL_FILE`);
        before the first one, `estimate_trial_seconds(hypermodel)` (timed once)."""
        walls = []
        for path in glob.glob(os.path.join(self.project_dir, "trial_*", TRIAL_FILE)):
            with open(path) as f:
                walls.append(json.load(f)["wall_time_seconds"])
        if walls:
            return statistics.median(walls)
        if getattr(self, "_estimated_seconds", None) is None:
            self._estimated_seconds = estimate_trial_seconds(self.hypermodel)["seconds"]
        return self._estimated_seconds

    def pre_create_trial(self):
        super().pre_create_trial()
        if self.deadline is None:
            return
        expected, left = self.expected_trial_seconds(), self.deadline - time.time()
        if expected > left and self.oracle_has_another_trial():
            raise TimeLimitReached(
                f"the next trial would take about {expected / 60:.1f} min and "
                f"{max(left, 0) / 60:.1f} min are left")

    def oracle_has_another_trial(self):
        """Whether the oracle's next `create_trial` would give a trial to run rather
        than end the search (`max_trials` reached, the grid exhausted), asked without
        changing the oracle: `populate_space` moves the grid's walk and the random
        state, so a copy of the oracle answers it."""
        from keras_tuner.engine.trial import TrialStatus

        oracle = self.oracle
        if oracle._retry_queue:
            return True
        if oracle.max_trials and len(oracle.trials) >= oracle.max_trials:
            return False
        probe = copy.deepcopy(oracle)
        response = probe.populate_space(f"probe-{len(oracle.trials)}")
        return response["status"] != TrialStatus.STOPPED

    def search(self, *fit_args, **fit_kwargs):
        if current_role() != "chief":
            return super().search(*fit_args, **fit_kwargs)
        if "verbose" in fit_kwargs:
            self.oracle.verbose = fit_kwargs["verbose"]
        self.save()
        _serve(self.oracle)

    def run_trial(self, trial, *args, **kwargs):
        runs = os.path.join(self.project_dir, RUNS_FILE)
        record = {"trial_id": trial.trial_id, "tuner_id": self.tuner_id, "pid": os.getpid(),
                  "host": socket.gethostname()}
        started = time.time()
        cpu_started = time.process_time()
        _append_line(runs, {**record, "event": "start", "time": started})
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except BaseException as error:
            _append_line(runs, {**record, "event": "error", "time": time.time(),
                                "error": f"{type(error).__name__}: {error}"})
            raise
        finished = time.time()
        cpu_seconds = time.process_time() - cpu_started
        logs = [{k: [float(v) for v in values] for k, values in h.history.items()}
                for h in histories if isinstance(h, keras.callbacks.History)]
        write_json(os.path.join(self.get_trial_dir(trial.trial_id), TRIAL_FILE),
                   {**record, "started": started, "finished": finished,
                    "wall_time_seconds": finished - started, "cpu_seconds": cpu_seconds,
                    "hyperparameters": dict(trial.hyperparameters.values), "history": logs})
        _append_line(runs, {**record, "event": "end", "time": finished,
                            "wall_time_seconds": finished - started})
        return histories


def _serve(oracle, poll_seconds=0.2):
    """Serves `oracle` to the workers until they have all been told to stop.

    keras-tuner's `oracle_chief.start_server`, polling every `poll_seconds` instead of
    every 20 s once the search is over, failing on a port that cannot be bound, and
    stopping the server on return.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ValueError(f"The chief cannot listen on {address} (address in use or invalid).")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=1.0)


class _RandomTuner(_RecordingTuner, keras_tuner.RandomSearch):
    pass


class _BayesianTuner(_RecordingTuner, keras_tuner.BayesianOptimization):
    pass


class _HyperbandTuner(_RecordingTuner, keras_tuner.Hyperband):
    pass


class _GridTuner(_RecordingTuner, keras_tuner.GridSearch):
    pass


TUNER_CLASSES = {"random": _RandomTuner, "bayesian": _BayesianTuner,
                 "hyperband": _HyperbandTuner, "grid": _GridTuner}


# ------------------------------------------------------- private API, checked
PRIVATE_API = {
    # keras_tuner.Oracle methods: name -> parameters (after self)
    "Oracle._save_trial": ("trial",),
    "Oracle._get_trial_dir": ("trial_id",),
    "Oracle._get_oracle_fname": (),
    # oracle attributes: name -> the `get_state()` key that saves it
    "Oracle._retry_queue": "retry_queue",
    "Oracle._run_times": "run_times",
    "Oracle.start_order": "start_order",
    "Oracle.end_order": "end_order",
    # module functions: name -> parameters
    "keras_tuner.src.distribute.utils.has_chief_oracle": (),
    "keras_tuner.src.distribute.utils.is_chief_oracle": (),
    "keras_tuner.src.distribute.oracle_chief.exit_chief": ("oracle",),
    "keras_tuner.src.distribute.oracle_chief.OracleServicer": ("oracle",),
    "keras_tuner.src.protos.get_service_grpc": (),
    "keras_tuner.src.tuners.gridsearch.LinkedList": (),
}


def _parameters(function, skip_self=False):
    """The positional parameter names; None for a `(*args, **kwargs)` wrapper."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return None  # e.g. `@keras_tuner.synchronized`: checked by calling it below
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return tuple(names[1:] if skip_self else names)


def private_api_problems():
    """What of `PRIVATE_API` the installed keras-tuner lacks or changed.

    Returns a list of messages, each naming the keras-tuner version and the
    attribute; empty when everything this module relies on is as expected.
    """
    version = getattr(keras_tuner, "__version__", "?")
    problems = []

    def problem(name, what):
        problems.append(f"keras-tuner {version}: `{name}` {what}; kerasdis/tuning/oracles.py "
                        "relies on it (resumable oracles, the distributed chief).")

    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("score", "max"), max_trials=1)
    state = oracle.get_state()
    for name, expected in PRIVATE_API.items():
        if name.startswith("Oracle."):
            attribute = name[len("Oracle."):]
            if isinstance(expected, tuple):  # a method
                method = getattr(keras_tuner.Oracle, attribute, None)
                if not callable(method):
                    problem(name, "is missing")
                elif _parameters(method, skip_self=True) != expected:
                    problem(name, f"takes {_parameters(method, skip_self=True)}, not {expected}")
            elif not hasattr(oracle, attribute):
                problem(name, "is missing")
            elif expected not in state or state[expected] is not getattr(oracle, attribute):
                problem(name, f"is no longer what `Oracle.get_state()[{expected!r}]` saves")
            continue
        module_name, attribute = name.rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            problem(module_name, f"cannot be imported ({error})")
            continue
        function = getattr(module, attribute, None)
        if not callable(function):
            problem(name, "is missing")
            continue
        target = function.__init__ if inspect.isclass(function) else function
        found = _parameters(target, skip_self=inspect.isclass(function))
        if found is not None and found != expected:
            problem(name, f"takes {found}, not {expected}")
    for name, kind in (("_retry_queue", list), ("start_order", list), ("end_order", list)):
        if not isinstance(getattr(oracle, name, None), kind):
            problem(f"Oracle.{name}", f"is not a {kind.__name__}")
    if hasattr(oracle, "_run_times") and oracle._run_times["never-run"] != 0:
        problem("Oracle._run_times", "does not count from 0 for an unknown trial")
    grid = keras_tuner.oracles.GridSearchOracle(
        objective=keras_tuner.Objective("score", "max"), max_trials=1)
    if not isinstance(getattr(grid, "_populate_next", None), list):
        problem("GridSearchOracle._populate_next", "is not a list")
    if not callable(getattr(grid, "_compare", None)):
        problem("GridSearchOracle._compare", "is missing")
    ordered = getattr(grid, "_ordered_ids", None)
    if not (callable(getattr(ordered, "insert", None)) and callable(getattr(ordered, "next", None))):
        problem("GridSearchOracle._ordered_ids", "has no insert/next (the grid's linked list)")
    else:
        ordered.insert("a")
        ordered.insert("b", "a")
        if ordered.next("a") != "b" or ordered.next("b") is not None:
            problem("GridSearchOracle._ordered_ids", "no longer links insert(data, data_pre)")
    if not problems:  # the chief's server pieces
        from keras_tuner.src import protos
        from keras_tuner.src.distribute import oracle_chief

        try:
            idle = oracle_chief.exit_chief(oracle)
        except Exception as error:  # noqa: BLE001 - reported, with the version
            idle = f"{type(error).__name__}: {error}"
        if idle is not True:
            problem("oracle_chief.exit_chief(oracle)", f"gives {idle!r} for an idle oracle, "
                    "not True")
        if getattr(oracle_chief.OracleServicer(oracle), "stop_triggered", None) is not False:
            problem("oracle_chief.OracleServicer(oracle).stop_triggered", "is not False at start")
        if not callable(getattr(protos.get_service_grpc(), "add_OracleServicer_to_server", None)):
            problem("protos.get_service_grpc().add_OracleServicer_to_server", "is missing")
    return problems
