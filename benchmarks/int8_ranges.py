"""INT8 activation ranges: min/max against percentiles, as the PSNR lost to FP32.

    python benchmarks/int8_ranges.py RUN --data ../shared/data/polyu_cropped [--weights last]

Method (documented choices):
- The run is exported once in FP32 and once in INT8 per range setting (`--percentiles`, 100 =
  the converter's min/max), all at 480×720 like the shipped files, INT8 calibrated as the
  shipped file is: 32 noisy crops of the TRAIN scenes, 10 % of them with synthetic camera noise.
- Each file denoises two sets: every other pair of the TRAIN scenes (where a setting is chosen:
  the held-out scenes do not pick it) and the VALIDATION scenes (where it is reported).
  Fixed-size files tile the 512×512 crops, as `mobiledenoise evaluate` does.
- The loss is FP32 PSNR minus INT8 PSNR, mean over images, 8-bit outputs.
Writes benchmarks/results/int8-ranges-<hostname>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mobiledenoise.errors import ScriptParser  # noqa: E402
from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE  # noqa: E402

SIZE = CHALLENGE_SIZE


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder (from `mobiledenoise train --out`)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/polyu_cropped"))
    parser.add_argument("--weights", default="last", choices=["best", "last"])
    parser.add_argument("--percentiles", type=float, nargs="+", default=[100, 99.999, 99.99, 99.9])
    parser.add_argument("--synthetic", type=float, default=0.1, help="calibration share with synthetic noise")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from rich.progress import track

    from mobiledenoise.data.calibration import calibration_patches
    from mobiledenoise.data.pairs import find_pairs, split_by_scene
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.runner import evaluate_pairs
    from mobiledenoise.models.registry import deployable
    from mobiledenoise.train.runs import load_model

    train, val = split_by_scene(find_pairs(args.data))
    sets = {"train scenes (every other)": train[::2], "validation scenes": val}
    model = deployable(load_model(args.run, weights=args.weights))

    def psnr(tflite: bytes) -> dict[str, float]:
        denoiser = TFLiteDenoiser(tflite, threads=2)
        return {name: evaluate_pairs(denoiser.denoise, pairs, progress=False).psnr
                for name, pairs in sets.items()}

    fp32 = psnr(to_tflite(model, precision="fp32", size=SIZE))
    rows = []
    for percentile in track(args.percentiles, description="exporting + scoring INT8"):
        calib = calibration_patches(train, SIZE, synthetic=args.synthetic)
        int8 = psnr(to_tflite(model, precision="int8", size=SIZE, calibration=calib,
                              range_percentile=None if percentile >= 100 else percentile))
        rows.append({"percentile": percentile, **{f"{name} loss_db": fp32[name] - int8[name]
                                                  for name in sets}})
    result = {"run": str(args.run), "weights": args.weights, "fp32_psnr": fp32, "rows": rows}
    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"int8-ranges-{host}.json").write_text(json.dumps(result, indent=2))
    lines = [f"INT8 loss to FP32 (dB) of `{args.run}` ({args.weights} weights), by activation range.",
             "", "| ranges | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for row in rows:
        label = "min/max" if row["percentile"] >= 100 else f"{row['percentile']:g}th percentile"
        lines.append(f"| {label} | " + " | ".join(f"{row[f'{n} loss_db']:.3f}" for n in sets) + " |")
    lines += ["", "FP32 PSNR: " + ", ".join(f"{n} {v:.2f} dB" for n, v in fp32.items())]
    (args.out / f"int8-ranges-{host}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
