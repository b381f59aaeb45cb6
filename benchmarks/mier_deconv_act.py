"""Mier's deployed deconvs: GPU-delegate audit and LiteRT FP32 time, with the ReLU after each
TRANSPOSE_CONV fused by the converter (before) or kept as a separate LEAKY_RELU (after).

    python benchmarks/mier_deconv_act.py [--presets tiny default] [--rounds 5] [--runs 5]

Method:
- Each preset is built with every weight moved (N(0, 0.05) added; BN variances kept positive):
  a fresh Mier's deconv biases are zero, the converter then drops them and fuses nothing, so a
  fresh model cannot show the difference.
- "after" is the shipped export (`to_tflite(deployable(model))`); "before" is the same fused
  model with its `up*_act` LeakyReLU(0) layers cloned back to ReLU, which TF's converter fuses
  into the biased TRANSPOSE_CONV (op version 4).
- Audit: `deploy.opaudit` on the FP32 and INT8 files (INT8 calibrated on 4 random images,
  enough for op versions). Time: `deploy.bench.benchmark` at 480×720, 1 thread, XNNPACK;
  `--rounds` alternating rounds of `--runs` runs each; quoted: the median of the round medians
  and the median of the per-round after/before ratios (a shared machine: compare the ratio).
Writes benchmarks/results/mier-deconv-act-<hostname>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from mobiledenoise.errors import ScriptParser  # noqa: E402

SIZE = (480, 720)


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "default"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args(argv)


def moved(model, seed: int = 0):
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = np.asarray(weight) + rng.normal(0, 0.05, weight.shape)
        weight.assign((np.abs(value) if "variance" in weight.path else value).astype(np.float32))
    return model


def relu_fused_form(fixed):
    """`fixed` with its LeakyReLU(0) layers as ReLU: the export before the change."""
    import keras

    def swap(layer):
        if isinstance(layer, keras.layers.LeakyReLU):
            return keras.layers.ReLU(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    clone = keras.models.clone_model(fixed, clone_function=swap)
    clone.set_weights(fixed.get_weights())
    return clone


def exports(preset: str) -> dict[str, dict[str, bytes]]:
    from mobiledenoise.deploy.convert import fixed_to_tflite
    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import deployable
    from mobiledenoise.models.transforms import rebuild

    fixed = rebuild(deployable(moved(build_model("mier", preset=preset))),
                    input_shape=(*SIZE, 3), batch_size=1)
    calib = list(np.random.default_rng(1).random((4, *SIZE, 3), dtype=np.float32))
    forms = {"before": relu_fused_form(fixed), "after": fixed}
    return {form: {p: fixed_to_tflite(m, calib if p == "int8" else None, p)
                   for p in ("fp32", "int8")}
            for form, m in forms.items()}


def deconv_versions(tflite: bytes) -> list[int]:
    from mobiledenoise.deploy.tflite_graph import read_graph

    return [op.version for op in read_graph(tflite).operators if op.name == "TRANSPOSE_CONV"]


def measure(preset: str, rounds: int, runs: int) -> dict:
    from mobiledenoise.deploy.bench import benchmark
    from mobiledenoise.deploy.opaudit import audit

    files = exports(preset)
    row = {"preset": preset}
    for form, by_precision in files.items():
        for precision, tflite in by_precision.items():
            row[f"{form}_{precision}_compatible"] = audit(tflite).compatible
            row[f"{form}_{precision}_deconv_versions"] = deconv_versions(tflite)
    medians = {"before": [], "after": []}
    for _ in range(rounds):
        for form in medians:
            timing = benchmark(files[form]["fp32"], size=SIZE, threads=1, runs=runs, warmup=2)
            medians[form].append(timing.median_ms)
    row.update({f"{form}_fp32_ms": statistics.median(ms) for form, ms in medians.items()})
    row["round_ms"] = medians
    ratios = [a / b for a, b in zip(medians["after"], medians["before"])]
    row["after_over_before"] = statistics.median(ratios)
    return row


def render(rows: list[dict], args) -> str:
    lines = ["# Mier deconvs: fused ReLU (before) vs separate LEAKY_RELU (after)", "",
             f"Host {socket.gethostname()}; every weight moved; FP32 time at {SIZE[0]}×{SIZE[1]}, "
             f"1 thread, median of {args.rounds} alternating rounds × {args.runs} runs (shared, "
             "loaded machine: the ratio is the figure, the ms are noisy).", "",
             "| preset | TRANSPOSE_CONV versions before → after | audit FP32 before → after | "
             "audit INT8 before → after | FP32 ms before | FP32 ms after | after / before |",
             "|---|---|---|---|---|---|---|"]
    yes = {True: "yes", False: "no"}
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['before_fp32_deconv_versions']} → "
            f"{r['after_fp32_deconv_versions']} "
            f"| {yes[r['before_fp32_compatible']]} → {yes[r['after_fp32_compatible']]} "
            f"| {yes[r['before_int8_compatible']]} → {yes[r['after_int8_compatible']]} "
            f"| {r['before_fp32_ms']:.1f} | {r['after_fp32_ms']:.1f} "
            f"| {r['after_over_before']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    rows = [measure(preset, args.rounds, args.runs) for preset in args.presets]
    table = render(rows, args)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"mier-deconv-act-{socket.gethostname()}"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    stem.with_suffix(".md").write_text(table)


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
