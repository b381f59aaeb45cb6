"""INT8 quantizers on the shipped model: the TFLite converter (today) against AI Edge Quantizer.

    python benchmarks/quantizers.py [--fp32 src/mobiledenoise/weights/fast_fp32.tflite]

Method (documented choices):
- The model is the shipped FP32 file (`fast`, which `default` names too). The converter
  needs the Keras model: scripts/run_from_tflite.py rebuilds it from the file (checked to
  1e-4). AEQ quantizes the FP32 .tflite itself.
- Every option calibrates on the same 32 patches, drawn as the shipped INT8 file's were:
  480×720 noisy crops of the PolyU TRAIN scenes, 10 % with synthetic camera noise, seed 0.
- Options: the converter with min/max ranges (public API) and with 99.99th-percentile ranges
  (today's export, through the private `_mlir_quantize`); the shipped INT8 file; AEQ
  static-range INT8 (per-channel weights) with its own activation ranges (a moving average of
  per-patch extremes), then with ours set on its public calibration result (exact min/max, or
  99.99th percentiles inside, as `deploy/aeq.py` does), with min/max, OCTAV and MSE weight
  clipping; AEQ 16×8 (int16 activations). AEQ files get float I/O like the others.
- Quality: mean PSNR (8-bit outputs) on the PolyU validation scenes and on sidd_mini, each
  file tiling the images as `mobiledenoise evaluate` does; loss = FP32 PSNR - option's PSNR.
- Speed: 720×480, 1 thread, median of `--rounds` rounds × `--runs` invocations, all options
  interleaved in each round (the machine is shared: read the ratios to FP32, not the ms).
- GPU: `mobiledenoise check`'s op audit of each file.
Writes benchmarks/results/quantizers-<hostname>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mobiledenoise.errors import ScriptParser

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SIZE = (480, 720)
PERCENTILE = 99.99


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    weights = ROOT / "src" / "mobiledenoise" / "weights"
    parser.add_argument("--fp32", type=Path, default=weights / "fast_fp32.tflite")
    parser.add_argument("--shipped-int8", type=Path, default=weights / "fast_int8.tflite")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", default=None, help="options whose label holds one "
                        "of these words (FP32 always); results named quantizers-<host>-only.*")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args(argv)


def keras_model(fp32: Path):
    """The Keras model of an FP32 export, rebuilt by scripts/run_from_tflite.py."""
    from mobiledenoise.train.runs import load_model

    run = Path(tempfile.mkdtemp(prefix="quantizers-")) / "run"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "run_from_tflite.py"), str(fp32),
                    "--out", str(run)], check=True, capture_output=True)
    return load_model(run)


def options(fp32: bytes, model, patches, shipped: bytes) -> dict[str, tuple[str, object]]:
    """{label: (quantizer, function returning the .tflite bytes)}."""
    from mobiledenoise.deploy import aeq
    from mobiledenoise.deploy.convert import to_tflite

    def converter(percentile=None):
        return lambda: to_tflite(model, patches, "int8", size=SIZE, range_percentile=percentile)

    def edge(**kw):
        return lambda: aeq.quantize(fp32, patches, **kw)

    return {
        "fp32 (reference)": ("-", lambda: fp32),
        "converter min/max": ("TFLiteConverter (public)", converter()),
        f"converter {PERCENTILE:g}th pct (today)": ("TFLiteConverter + private _mlir_quantize",
                                                   converter(PERCENTILE)),
        "shipped fast_int8.tflite": ("today's export of the QAT run", lambda: shipped),
        "AEQ, its own ranges": ("ai-edge-quantizer (moving-average min/max)", edge(own_ranges=False)),
        "AEQ min/max": ("ai-edge-quantizer + exact min/max", edge()),
        "AEQ OCTAV weights": ("ai-edge-quantizer + exact min/max", edge(algorithm="octav")),
        "AEQ MSE weights": ("ai-edge-quantizer + exact min/max", edge(algorithm="mse")),
        f"AEQ min/max + {PERCENTILE:g}th pct": ("ai-edge-quantizer + our ranges",
                                               edge(range_percentile=PERCENTILE)),
        f"AEQ OCTAV + {PERCENTILE:g}th pct": ("ai-edge-quantizer + our ranges",
                                             edge(algorithm="octav", range_percentile=PERCENTILE)),
        f"AEQ MSE + {PERCENTILE:g}th pct": ("ai-edge-quantizer + our ranges",
                                           edge(algorithm="mse", range_percentile=PERCENTILE)),
        "AEQ 16x8": ("ai-edge-quantizer + exact min/max", edge(activation_bits=16)),
        f"AEQ 16x8 + {PERCENTILE:g}th pct": ("ai-edge-quantizer + our ranges",
                                            edge(activation_bits=16, range_percentile=PERCENTILE)),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    from mobiledenoise.data.calibration import calibration_pairs, calibration_patches
    from mobiledenoise.data.pairs import find_pairs, split_by_scene
    from mobiledenoise.deploy.bench import benchmark
    from mobiledenoise.deploy.opaudit import audit
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.errors import UserError
    from mobiledenoise.evaluate.runner import evaluate_pairs

    polyu = args.data / "polyu_cropped"
    sets = {"PolyU val": split_by_scene(find_pairs(polyu))[1],
            "sidd_mini": find_pairs(args.data / "sidd_mini")}
    patches = list(calibration_patches(calibration_pairs(polyu, "train"), SIZE, synthetic=0.1))
    fp32 = args.fp32.read_bytes()
    rows, files = [], {}
    chosen = options(fp32, keras_model(args.fp32), patches, args.shipped_int8.read_bytes())
    if args.only:
        chosen = {k: v for i, (k, v) in enumerate(chosen.items())
                  if i == 0 or any(word in k for word in args.only)}
    for label, (tool, make) in chosen.items():
        start = time.perf_counter()
        try:
            data = make()
            denoiser = TFLiteDenoiser(data, threads=2)
        except (UserError, ValueError, RuntimeError) as exc:  # record it, go on with the rest
            rows.append({"option": label, "tool": tool, "error": " ".join(str(exc).split())[:200]})
            print(f"{label}: {rows[-1]['error']}", flush=True)
            continue
        seconds = time.perf_counter() - start
        files[label] = data
        report = audit(data)
        psnr = {name: evaluate_pairs(denoiser.denoise, pairs, progress=False).psnr
                for name, pairs in sets.items()}
        rows.append({"option": label, "tool": tool, "quantize_s": round(seconds, 1),
                     "kib": len(data) / 1024, "io": f"{report.inputs[0].dtype}",
                     "gpu_ok": report.compatible,
                     "gpu_failures": sorted({f"{f.op}: {f.reason}" for f in report.failures}),
                     **{f"psnr {n}": v for n, v in psnr.items()}})
        print(f"{label}: {psnr} ({seconds:.0f} s)", flush=True)
    times: dict[str, list[float]] = {label: [] for label in files}
    for _ in range(args.rounds):  # interleaved, so load changes hit every option alike
        for label, data in files.items():
            times[label].append(benchmark(data, size=SIZE, threads=1, runs=args.runs)["median_ms"])
    base = rows[0]
    for row in rows:
        if "error" in row:
            continue
        row["ms"] = statistics.median(times[row["option"]])
        row["ms_vs_fp32"] = row["ms"] / statistics.median(times[base["option"]])
        for name in sets:
            row[f"loss {name}"] = base[f"psnr {name}"] - row[f"psnr {name}"]
    write(args, rows, sets)


def write(args, rows: list[dict], sets: dict) -> None:
    host = socket.gethostname().split(".")[0] + ("-only" if args.only else "")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"fp32": str(args.fp32), "size": SIZE, "calibration": "32 PolyU train-scene crops, "
              "10 % synthetic noise, seed 0", "rows": rows}
    (args.out / f"quantizers-{host}.json").write_text(json.dumps(result, indent=2))
    names = list(sets)
    lines = [f"INT8 quantizers on `{args.fp32.name}` (720×480; PSNR loss to FP32 in dB, mean over "
             "images; CPU ms: 1 thread, median, shared machine: read the ratio).", "",
             "| option | tool | " + " | ".join(f"loss {n}" for n in names)
             + " | KiB | I/O | CPU ms | × FP32 | GPU audit |",
             "|---|---|" + "---|" * len(names) + "---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['option']} | {row['tool']} | fails: {row['error']} |")
            continue
        gpu = "ok" if row["gpu_ok"] else "fails: " + "; ".join(row["gpu_failures"])[:120]
        losses = " | ".join(f"{row[f'loss {n}']:+.3f}" for n in names)
        lines.append(f"| {row['option']} | {row['tool']} | {losses} | {row['kib']:.0f} | "
                     f"{row['io']} | {row['ms']:.1f} | {row['ms_vs_fp32']:.2f} | {gpu} |")
    lines += ["", "FP32 PSNR: " + ", ".join(f"{n} {rows[0][f'psnr {n}']:.2f} dB" for n in names)]
    (args.out / f"quantizers-{host}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    from mobiledenoise.errors import run_script

    run_script(main)
