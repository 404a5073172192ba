"""The package's structure: imports run one way, as ../DESIGN.md's layers say.

Every module is parsed (imports inside functions included) and its imports of
other kerasdis modules form a graph. The graph must have no cycle, and no module
may import a layer above its own: data, networks, losses -> models and metrics
(metrics import no model) -> training, tuning -> zoo publishing and workflows ->
command line.
"""

import ast
import os
import subprocess
import sys

import pytest

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kerasdis")

# Layer of each top-level module or subpackage; a module may import its own layer
# or lower ones only.
LAYERS = {
    "_lazy": 0, "backend": 0, "version": 0, "io": 0, "progress": 0,
    "data": 1, "networks": 1, "losses": 1, "distribute": 1, "preset": 1,
    "models": 2, "metrics": 2, "recipe": 2, "callbacks": 3, "baselines": 3, "export": 3,
    "viz": 3,
    "training": 4, "tuning": 5,
    "zoo": 6, "workflows": 6, "zoo_runs": 6,
    "demo": 7, "zoo_cli": 7, "tune_cli": 7, "cli": 8, "__main__": 9,
}


def module_files():
    for root, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3]
                module = relative.replace(os.sep, ".")
                yield module.removesuffix(".__init__"), path


def is_module(name):
    path = os.path.join(os.path.dirname(PACKAGE_DIR), *name.split("."))
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__init__.py"))


def imports_of(module, path):
    """The kerasdis modules `module` imports, anywhere in its file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base
                     for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith("kerasdis.") and n != module)
    return found


def import_graph():
    return {module: imports_of(module, path) for module, path in module_files()
            if module != "kerasdis"}


def test_no_import_cycle():
    graph = import_graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def layer_of(module):
    return LAYERS[module.split(".")[1]]


def test_imports_point_down_the_layers():
    upward = []
    for module, targets in import_graph().items():
        for target in targets:
            if layer_of(target) > layer_of(module):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_every_module_has_a_layer():
    assert {m.split(".")[1] for m in import_graph()} <= set(LAYERS)


def test_metrics_import_no_model():
    offenders = [f"{m} -> {t}" for m, targets in import_graph().items()
                 if m.startswith("kerasdis.metrics") for t in targets
                 if t.startswith("kerasdis.models")]
    assert offenders == []


def _without_tensorflow(code):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("argv", [
    ["--help"], ["train", "--help"], ["tune", "--help"],
    ["train", "--model", "no_such_model", "--out", "x"],
    ["train", "--dataset", "no_such_data", "--out", "x"],
    ["evaluate", "run", "--metrics", "no_such_metric"],
])
def test_command_line_answers_without_tensorflow(argv):
    result = _without_tensorflow(
        "import sys\nfrom kerasdis import cli\n"
        f"try:\n    cli.main({argv!r})\nexcept SystemExit as e:\n    code = e.code\n"
        "print('TF' if 'tensorflow' in sys.modules else 'no TF', "
        "'keras' in sys.modules, code, file=sys.stderr)\n")
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("no TF False"), result.stderr
    if "--help" in argv:
        assert "usage: kerasdis" in result.stdout
    else:
        assert last.endswith(" 2")
        assert "unknown" in result.stderr and "no_such" in result.stderr


def test_import_kerasdis_is_lazy_and_sets_the_environment():
    result = _without_tensorflow(
        "import os, sys\nimport kerasdis as kd\n"
        "print('tensorflow' in sys.modules, os.environ['KERAS_BACKEND'],"
        " os.environ['TF_ENABLE_ONEDNN_OPTS'])\n"
        "kd.models.BetaVAE\nprint('tensorflow' in sys.modules)\n")
    assert result.stdout.split() == ["False", "tensorflow", "1", "True"], result.stderr


def test_commands_hide_tensorflow_native_logs(tmp_path):
    code = ("from kerasdis import cli\nimport sys\n"
            "sys.exit(cli.main(['export', 'no_such_run_dir', " + repr(str(tmp_path / "x")) + "]))")
    quiet = _without_tensorflow(code)
    assert quiet.returncode == 1
    assert "kerasdis export: error:" in quiet.stderr
    assert "cuda" not in quiet.stderr.lower() and "I0000" not in quiet.stderr, quiet.stderr
