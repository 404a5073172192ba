"""Smoke tests of `benchmarks/train_throughput.py` and `python -m benchmarks` (not timing tests).

They only check that the scripts run on tiny settings and write their tables; the
throughput script must also run when PyTorch is not importable (CI installs
`.[test]`, not `.[bench]`) and mark the torch columns unavailable.
"""

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f"kerasdis_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--quick", "--models", "vae", "--variants", "default", "--rounds", "1", "--steps", "2",
        "--seconds", "0.1", "--no-subprocess"]


NO_TORCH = textwrap.dedent("""
    import importlib.abc, runpy, sys

    class NoTorch(importlib.abc.MetaPathFinder):  # as if torch were not installed
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoTorch())
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def test_train_throughput_without_torch(tmp_path):
    output = tmp_path / "results" / "train_throughput.md"
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(ROOT / "benchmarks" / "train_throughput.py"),
         *TINY, "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = output.read_text()
    assert "PyTorch unavailable" in text and "torch is not importable" in text
    assert "| PyTorch eager | unavailable |" in text
    assert "load average" in text and "cores" in text
    row = next(line for line in text.splitlines()
               if line.startswith("| kerasdis default: `fit`, graph mode"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1].replace(",", "")) > 0 and cells[2] == "unavailable"
    assert not list(output.parent.glob(".*.tmp"))


def test_train_throughput_with_torch(tmp_path):
    pytest.importorskip("torch")
    bench = _load("train_throughput")
    output = tmp_path / "train_throughput.md"
    results = bench.main(TINY + ["--output", str(output)])
    text = output.read_text()
    assert "PyTorch" in text and "unavailable" not in text
    rows = {r["name"]: r for r in results["rows"]["vae"]}
    assert {"torch_1", "torch_2", "default"} <= set(rows)
    assert rows["default"]["x_torch"] > 0
    # The torch reference computes the kerasdis function (weights copied over).
    equivalence = results["equivalence"]
    assert "error" not in equivalence, equivalence
    assert equivalence["parameters (kerasdis / torch)"].split(" / ")[0] == \
        equivalence["parameters (kerasdis / torch)"].split(" / ")[1]
    for key, value in equivalence.items():
        if not isinstance(value, str):
            assert value < 1e-2, (key, value)


def test_flop_count():
    bench = _load("train_throughput")
    macs = bench.network_macs()
    assert macs["encoder"] == 524_288 + 4_194_304 + 524_288 + 262_144 + 262_144 + 5_120
    assert bench.train_flops_per_image("factor_vae") > bench.train_flops_per_image("vae")


def test_main_runs_every_script(tmp_path):
    """`python -m benchmarks` finds the scripts with a `main(argv)`, passes --quick and
    --output, survives a failing script and writes summary.md (fake scripts, no TF)."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    table = textwrap.dedent('''
        import argparse, sys
        def main(argv=None):
            p = argparse.ArgumentParser()
            p.add_argument("--quick", action="store_true")
            p.add_argument("--output")
            a = p.parse_args(argv)
            table = "# {name}\\n\\n| x | quick |\\n| --- | --- |\\n| 1 | %s |\\n"
            open(a.output, "w").write(table % a.quick)
            return {code}
        if __name__ == "__main__":
            sys.exit(main())
    ''')
    (scripts / "data_pipeline.py").write_text(table.format(name="Pipeline table", code=0))
    (scripts / "zeta.py").write_text(table.format(name="Zeta table", code=3))
    (scripts / "mig_vs_beta.py").write_text(table.format(name="Hours table", code=0))
    (scripts / "helper.py").write_text("X = 1\n")  # no main(argv): not a benchmark
    (scripts / "summary.py").write_text(table.format(name="not a benchmark", code=0))
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--scripts-dir", str(scripts),
         "--results-dir", str(results)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # zeta failed
    text = (results / "summary.md").read_text()
    assert "| `data_pipeline.py` | ok |" in text and "| `zeta.py` | failed (exit 3) |" in text
    assert "may be incomplete" in text
    assert "## data_pipeline" in text and "### Pipeline table" in text and "| 1 | True |" in text
    assert "cores" in text and "tensorflow" in text and "load average" in text
    assert "helper" not in text and "not a benchmark" not in text
    assert "| `mig_vs_beta.py` | skipped (hours long" in text  # opt-in: --all or --only
    assert "Hours table" not in text
    main = _load("__main__")
    assert main.discover(ROOT / "benchmarks")[:3] == ["data_pipeline", "metrics_speed",
                                                      "train_throughput"]


def test_summary_judges_the_time_target_only_on_a_full_run():
    summary = _load("summary")
    runs = [{"name": "train_throughput", "status": "ok", "seconds": 300.0, "output": None}]
    info = summary.machine_info()
    full = summary.render(runs, info, total_seconds=300.0, budget_seconds=900)
    assert "(within the 15-minute target)" in full
    partial = summary.render(runs, info, total_seconds=300.0, budget_seconds=900, partial=True)
    assert "a partial run" in partial and "within the" not in partial


def test_mig_memory_is_read_from_metrics_speed_by_column_name(tmp_path):
    bench = _load("train_throughput")
    table = tmp_path / "metrics_speed.md"
    table.write_text("# kerasdis.metrics speed\n\n"
                     "| metric | settings | seconds | cpu s | peak MB | target (s) |\n"
                     "| --- | --- | ---: | ---: | ---: | ---: |\n"
                     "| encode_grid (means) | 737280 images | 72.3 | 120.0 | 390 | |\n"
                     "| mig (Chen et al.) | grid=full | 253.0 | 400.1 | 475 | 600 |\n"
                     "| dci | 10000/5000 | 80.0 | 150.0 | 32 | 180 |\n")
    parsed = bench.parse_metrics_speed(table)
    assert not parsed["quick"]
    assert set(parsed["rows"]) == {"encode_grid (means)", "mig (Chen et al.)"}
    assert parsed["rows"]["mig (Chen et al.)"] == {"settings": "grid=full", "seconds": "253.0",
                                                  "peak_mb": "475"}
    assert bench.parse_metrics_speed(tmp_path / "missing.md") is None


def test_ratios_leave_out_stalled_rounds():
    bench = _load("train_throughput")
    a, b = [100, 104, 5, 98, 100], [50, 52, 50, 2, 49]  # a stalls in round 2, b in round 3
    assert bench.stalled(a) == {2} and bench.stalled(b) == {3}
    assert bench.median_ratio(a, b) == 2.0
    assert bench.median_ratio([10, 1], [1, 10]) == 5.05  # nothing left out of two rounds


def test_variants_measure_the_library_as_it_ships():
    """The default run measures the float32 default and, on a CPU with native bfloat16,
    the library's mixed precision with Keras' Adam ("kept"); the explored variants
    (fused Adam: FactorVAE only) only with --explore; the former "fused" loss variant is
    the library default now."""
    bench = _load("train_throughput")
    assert bench.VARIANTS[bench.KEPT]["bf16"] and not bench.VARIANTS[bench.KEPT].get("fused_adam")
    for model in bench.MODELS:
        for native in (True, False):
            args = bench.parse_args([])
            args.native_bf16 = native
            default_run = bench.selected_variants(model, args)
            assert default_run == (["default", bench.KEPT] if native else ["default"])
            args = bench.parse_args(["--explore"])
            args.native_bf16 = native
            explored = bench.selected_variants(model, args)
            assert explored[:2] == ["default", bench.KEPT] and "xla" in explored
            assert ("fused_adam" in explored) == (model == "factor_vae")
    # torch under autocast bfloat16 (like for like with "kept") goes with "kept".
    args = bench.parse_args(["--variants", "default,kept"])
    assert args.torch_bf16_models == ("vae",)
    assert bench.parse_args([]).torch_bf16_models == (("vae",) if bench.native_bf16() else ())
    assert bench.selected_variants("vae", bench.parse_args(["--variants", "bf16+spe=4"])) == \
        ["default", "bf16+spe=4"]
    with pytest.raises(ValueError, match="unknown variant part 'fused'"):
        bench.variant_spec("fused")


def test_mixed_precision_variant_builds_through_the_library():
    keras = pytest.importorskip("keras")
    bench = _load("train_throughput")
    before = keras.config.dtype_policy().name
    net, _ = bench.build_kerasdis_model("vae", bf16=True)
    assert net.encoder.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
    assert all(t.dtype == "float32" for t in net.encoder.outputs + net.decoder.outputs)
    assert keras.config.dtype_policy().name == before  # the policy is restored
    default, _ = bench.build_kerasdis_model("vae")
    assert default.encoder.get_layer("conv1").dtype_policy.name == "float32"


def test_keras_logits_variant_swaps_only_the_decoder_output_layer():
    """`keras_logits` measures the library against Keras' own Conv2DTranspose logits."""
    keras = pytest.importorskip("keras")
    import kerasdis as kd

    bench = _load("train_throughput")
    swapped, _ = bench.build_kerasdis_model("vae", **{
        k: v for k, v in bench.variant_spec("keras_logits").items() if k != "label"})
    assert type(swapped.decoder.get_layer("logits")) is keras.layers.Conv2DTranspose
    assert kd.networks.Conv2DTranspose is not keras.layers.Conv2DTranspose  # restored
    default, _ = bench.build_kerasdis_model("vae")
    assert isinstance(default.decoder.get_layer("logits"), kd.networks.Conv2DTranspose)
    assert bench.variant_spec("keras_logits+xla")["keras_logits"]


def test_step_profile_lists_the_ops_of_the_training_step(tmp_path):
    profile = _load("step_profile")
    out = tmp_path / "profile.md"
    assert profile.main(["--steps", "1", "--top", "50", "--output", str(out)]) == 0
    text = out.read_text()
    assert "| op type | ms / step | share |" in text
    # The compiled step's convolutions and their gradients were found in the trace
    # (op types are TensorFlow's, e.g. `_MklNativeConv2DBackpropFilter` with oneDNN).
    for kind in ("Conv2DBackpropFilter", "Conv2DBackpropInput", "MatMul"):
        assert f"{kind} |" in text
    assert "step_profile" not in _load("__main__").discover(ROOT / "benchmarks")


def test_step_profile_rejects_bad_steps():
    with pytest.raises(SystemExit):
        _load("step_profile").main(["--steps", "0"])


def test_step_profile_times_the_conv_layers_alone(tmp_path):
    profile = _load("step_profile")
    bench = _load("train_throughput")
    net, _ = bench.build_kerasdis_model("vae")
    # Per-layer MACs add up to the analytic count the throughput table uses.
    macs = sum(profile.layer_macs(layer, tuple(layer.input.shape[1:]))
               for _, layer in profile.weighted_layers(net))
    expected = bench.network_macs()
    assert macs == expected["encoder"] + expected["decoder"]
    out = tmp_path / "layers.md"
    assert profile.main(["--layers", "--steps", "1", "--rounds", "1", "--output", str(out)]) == 0
    text = out.read_text()
    assert "| `encoder/conv1` (no input gradient) | 64x64x1 |" in text
    assert "| `decoder/logits` | 32x32x32 |" in text
    assert "% of the step" in text and "of the matmul" in text


def test_readme_block_replaces_only_its_block_and_refuses_a_readme_without_one(tmp_path):
    sys.path.insert(0, str(ROOT))
    from benchmarks._output import readme_block

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- t:start -->\nold\n<!-- t:end -->\nrest\n")
    assert readme_block(readme, "t", "new\ntable")
    assert readme.read_text() == "intro\n<!-- t:start -->\nnew\ntable\n<!-- t:end -->\nrest\n"
    assert not readme_block(readme, "t", "new\ntable")  # unchanged: nothing written
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="<!-- t:start -->"):
        readme_block(readme, "t", "x")
    assert readme.read_text() == "no markers\n"
