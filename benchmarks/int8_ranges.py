"""INT8 activation ranges: min/max against percentiles, as the PSNR lost to FP32.

    python benchmarks/int8_ranges.py RUN --data ../shared/data/polyu_cropped [--weights last]

Method (documented choices):
- The run is exported once in FP32 and once in INT8 per range setting (`--percentiles`, 100 =
  the converter's min/max), all at 480×720 like the shipped files, INT8 calibrated as the
  shipped file is: 32 noisy crops of the TRAIN scenes, 10 % of them with synthetic camera noise.
- Each file denoises three sets: every other pair of the TRAIN scenes and training-side clean
  photos as their own input (`--clean`, scored against themselves: do no harm), where a setting
  is chosen (held-out scenes and kodak24 do not pick it), and the VALIDATION scenes (where it is
  reported). The clean set matters for layouts with full-resolution layers: their int8 rounding
  shows most where the output is otherwise nearly exact.
  Fixed-size files tile the 512×512 crops, as `mobiledenoise evaluate` does.
- The loss is FP32 PSNR minus INT8 PSNR, mean over images, 8-bit outputs.
Writes benchmarks/results/int8-ranges[-NAME]-<hostname>.json and .md, naming the setting with
the smallest worst loss over the two choosing sets.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mobiledenoise.errors import ScriptParser, UserError, at_least_one  # noqa: E402
from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE  # noqa: E402

SIZE = CHALLENGE_SIZE
CLEAN_PHOTOS = Path("../shared/data/clean_photos/cbsd68")  # in fast/default_finetune's clean data


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder (from `mobiledenoise train --out`)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/polyu_cropped"))
    parser.add_argument("--weights", default="last", choices=["best", "last"])
    parser.add_argument("--percentiles", type=float, nargs="+",
                        default=[100, 99.999, 99.998, 99.995, 99.99, 99.9])
    parser.add_argument("--clean", type=Path, nargs="+", default=[CLEAN_PHOTOS],
                        help="folders of clean photos scored as their own input (not kodak24)")
    parser.add_argument("--clean-limit", type=at_least_one, default=24,
                        help="clean photos per folder")
    parser.add_argument("--synthetic", type=float, default=0.1,
                        help="calibration share with synthetic noise")
    parser.add_argument("--name", help="result files int8-ranges-NAME-<host>.* (e.g. the model)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args(argv)


CHOOSING = ("train scenes (every other)", "clean photos as input")  # never the validation scenes


def worst_choosing_loss(row: dict) -> float:
    return max(row[f"{name} loss_db"] for name in CHOOSING)


def chosen_percentile(rows: list[dict]) -> float:
    """The setting with the smallest worst loss over the choosing sets."""
    return min(rows, key=worst_choosing_loss)["percentile"]


def range_label(percentile: float) -> str:
    return "min/max" if percentile >= 100 else f"{percentile:g}th percentile"


def main(argv=None) -> None:
    args = parse_args(argv)
    if any(folder.name == "kodak24" for folder in args.clean):
        raise UserError("expected training-side clean photos for --clean, received kodak24, "
                        "which is validation only; use e.g. clean_photos/cbsd68")
    from rich.progress import track

    from mobiledenoise.data.calibration import calibration_patches
    from mobiledenoise.data.pairs import find_clean_images, find_pairs, split_by_scene
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.runner import evaluate_pairs
    from mobiledenoise.models.registry import deployable
    from mobiledenoise.train.runs import load_model

    clean = [pair for folder in args.clean for pair in find_clean_images(folder)[:args.clean_limit]]
    train, val = split_by_scene(find_pairs(args.data))
    sets = dict(zip(CHOOSING, (train[::2], clean))) | {"validation scenes": val}
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
    chosen = chosen_percentile(rows)
    result = {"run": str(args.run), "weights": args.weights, "fp32_psnr": fp32, "rows": rows,
              "chosen_percentile": chosen}
    host = socket.gethostname().split(".")[0]
    stem = args.out / "-".join(["int8-ranges", *([args.name] if args.name else []), host])
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = [f"INT8 loss to FP32 (dB) of `{args.run}` ({args.weights} weights), by "
             "activation range.", "",
             "| ranges | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for row in rows:
        losses = " | ".join(f"{row[f'{n} loss_db']:.3f}" for n in sets)
        lines.append(f"| {range_label(row['percentile'])} | {losses} |")
    lines += ["", "FP32 PSNR: " + ", ".join(f"{n} {v:.2f} dB" for n, v in fp32.items()),
              "", f"Chosen (smallest worst loss over {' and '.join(CHOOSING)}): "
              + range_label(chosen)]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
