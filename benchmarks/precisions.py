"""FP32 vs FP16 vs INT8: LiteRT runtime at 720×480 and PSNR on the validation scenes.

    python benchmarks/precisions.py --data ../shared/data/polyu_cropped [--model RUN_OR_MODEL]

Method (documented choices):
- The model (a run folder, or a registered name = fresh random weights, which only makes the
  timing meaningful) is exported three times at 480×720 for timing and three times at 512×512
  for PSNR: the PolyU crops are 512×512, so they are scored whole, at their own size, instead
  of being padded (padding would score invented pixels).
- INT8 is calibrated on noisy crops of the TRAIN scenes only (`split_by_scene`, seed 0);
  PSNR is the mean over the VALIDATION scenes, against the clean images, on 8-bit outputs.
- Runtime: `mobiledenoise.deploy.bench.benchmark` (LiteRT + XNNPACK, median of `--runs` after
  `--warmup`), on 1 and 2 threads. 2-thread figures swing on a shared machine; compare ratios.
Writes benchmarks/results/precisions-<model>-<hostname>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from mobiledenoise.errors import ScriptParser  # noqa: E402
from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE  # noqa: E402

TIMING_SIZE = CHALLENGE_SIZE
PSNR_SIZE = (512, 512)
PRECISIONS = ("fp32", "fp16", "int8")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/polyu_cropped"))
    parser.add_argument("--model", default="unet", help="run folder or registered model name")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args(argv)


def export_all(model, size, calib_pairs) -> dict[str, bytes]:
    from mobiledenoise.data.calibration import calibration_patches
    from mobiledenoise.deploy.convert import to_tflite

    return {p: to_tflite(model, calibration_patches(calib_pairs, size) if p == "int8" else None, p,
                         size=size)
            for p in PRECISIONS}


def validation_psnr(model, exports: dict[str, bytes], val_pairs) -> dict[str, float]:
    from rich.progress import track

    from mobiledenoise.data.crops import fit_to_size
    from mobiledenoise.data.imageio import to_float
    from mobiledenoise.data.pairs import load_pair
    from mobiledenoise.deploy.convert import run_tflite
    from mobiledenoise.evaluate.metrics import psnr

    scores: dict[str, list[float]] = {"identity": [], "keras_fp32": [], **{p: [] for p in exports}}
    for pair in track(val_pairs, description="validation PSNR", transient=True):
        noisy, clean = (fit_to_size(to_float(a), PSNR_SIZE) for a in load_pair(pair))
        scores["identity"].append(psnr(noisy, clean))
        scores["keras_fp32"].append(psnr(np.asarray(model(noisy[None], training=False))[0], clean))
        for precision, data in exports.items():
            scores[precision].append(psnr(run_tflite(data, noisy), clean))
    return {name: float(np.mean(values)) for name, values in scores.items()}


def timings(exports: dict[str, bytes], threads: list[int], runs: int, warmup: int) -> dict:
    from mobiledenoise.deploy.bench import benchmark

    return {p: {str(t): benchmark(data, size=TIMING_SIZE, threads=t, runs=runs, warmup=warmup).median_ms
                for t in threads} for p, data in exports.items()}


def render_markdown(result: dict) -> str:
    threads = result["threads"]
    head = "| precision | size KiB | " + " | ".join(f"ms {t}T" for t in threads) + \
        " | val PSNR dB | drop vs Keras FP32 dB |"
    lines = [f"# Precisions — {result['model']} on {result['host']}", "",
             f"Runtime at {TIMING_SIZE[1]}×{TIMING_SIZE[0]} (median of {result['runs']}), "
             f"PSNR on {result['val_pairs']} validation pairs at {PSNR_SIZE[0]}×{PSNR_SIZE[1]}; "
             f"identity {result['psnr']['identity']:.2f} dB, Keras FP32 {result['psnr']['keras_fp32']:.2f} dB.",
             "", head, "|" + "---|" * (4 + len(threads))]
    for p in PRECISIONS:
        ms = " | ".join(f"{result['ms'][p][str(t)]:.1f}" for t in threads)
        lines.append(f"| {p} | {result['size_kib'][p]:.1f} | {ms} | {result['psnr'][p]:.2f} | "
                     f"{result['psnr']['keras_fp32'] - result['psnr'][p]:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from mobiledenoise.data.pairs import find_pairs, split_by_scene
    from mobiledenoise.models.registry import deployable
    from mobiledenoise.train.runs import load_model

    train, val = split_by_scene(find_pairs(args.data))
    model = deployable(load_model(args.model))
    print(f"exporting {args.model} in {', '.join(PRECISIONS)} (int8 calibrated on {len(train)} train pairs)")
    timing_exports = export_all(model, TIMING_SIZE, train)
    psnr_exports = export_all(model, PSNR_SIZE, train)
    result = {
        "model": str(args.model), "host": socket.gethostname(), "cpu": platform.processor() or platform.machine(),
        "threads": args.threads, "runs": args.runs, "val_pairs": len(val),
        "size_kib": {p: len(d) / 1024 for p, d in timing_exports.items()},
        "ms": timings(timing_exports, args.threads, args.runs, args.warmup),
        "psnr": validation_psnr(model, psnr_exports, val),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"precisions-{Path(str(args.model)).name}-{result['host']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    markdown = render_markdown(result)
    stem.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
