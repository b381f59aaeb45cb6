"""Is a model's gap to NLM on synthetic noise a matter of level or of noise shape? (#14)

    python benchmarks/noise_shape.py [--model NAME=FILE ...] [--presets a,b] [--shots 0.008,0.03]
        [--images 8]

`vs_classical.py` scores kodak24 with `chroma_denoised` noise (an ISP chroma noise reduction:
luminance grain, little chroma). Here the same photos, seeds, shot levels and JPEG quality get
each preset's noise in turn, so only the noise's shape changes between rows. Per row: the noisy
input, OpenCV NLM with h tuned on that row (the oracle, on the first 4 photos' 256 px centre
crops, then scored on all) and each model (`.tflite`, one pass; default: the shipped files).
kodak24 is validation only; nothing here is trained or chosen on it.

Writes noise-shape-<host>.{md,json} to --out (default benchmarks/results).
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from mobiledenoise.errors import ScriptParser, UserError, at_least_one, run_script

WEIGHTS = REPO / "src" / "mobiledenoise" / "weights"
TUNE_IMAGES, TUNE_CROP = 4, 256


def parse_args(argv=None):
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--presets", default="chroma_denoised,camera_wide")
    parser.add_argument("--shots", default="0.008,0.03")
    parser.add_argument("--images", type=at_least_one, default=8)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    from mobiledenoise.data.synthetic import PRESETS

    args.presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in args.presets if p not in PRESETS]
    if unknown or not args.presets:
        raise UserError(f"expected --presets from {', '.join(PRESETS)}, received {unknown}")
    try:
        args.shots = [float(s) for s in args.shots.split(",")]
    except ValueError:
        raise UserError(f"expected --shots as numbers, e.g. 0.008,0.03, received "
                        f"{args.shots!r}") from None
    specs = args.model or [f"{f.stem}={f}" for f in sorted(WEIGHTS.glob("*_fp32.tflite"))]
    args.models = {}
    for spec in specs:
        name, _, file = spec.partition("=")
        if not name or not Path(file).is_file():
            raise UserError(f"expected --model NAME=FILE with an existing .tflite, received "
                            f"{spec!r}")
        args.models[name] = Path(file)
    return args


def main(argv=None) -> int:
    import classical
    import vs_classical

    from mobiledenoise.data.imageio import from_float
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.metrics import psnr

    args = parse_args(argv)
    files = sorted((args.data / "clean_photos" / "kodak24").glob("*.png"))[:args.images]
    if not files:
        raise UserError(f"expected kodak24 photos in {args.data}/clean_photos/kodak24, found "
                        "none; pass --data PATH/TO/shared/data")
    models = {name: TFLiteDenoiser(path, threads=2) for name, path in args.models.items()}
    rows = []
    for preset in args.presets:
        for shot in args.shots:
            pairs = vs_classical.with_noise(files, preset, shot)
            crops = [tuple(classical.centre_crop(x, TUNE_CROP) for x in pair)
                     for pair in pairs[:TUNE_IMAGES]]
            h, _ = classical.tune_opencv_h_refined(crops)
            row = {"preset": preset, "shot": shot, "h": h,
                   "noisy": float(np.mean([psnr(n, c) for n, c in pairs])),
                   "nlm_oracle": float(np.mean([psnr(classical.opencv_nlm(n, h), c)
                                                for n, c in pairs]))}
            for name, model in models.items():
                row[name] = float(np.mean([psnr(from_float(model.denoise(n, 512, 32)), c)
                                           for n, c in pairs]))
            rows.append(row)
            print(f"{preset} shot {shot:g}: " + " ".join(
                f"{k}={v:.2f}" for k, v in row.items() if k not in ("preset", "shot")), flush=True)
    write(rows, args)
    return 0


def write(rows: list[dict], args) -> None:
    host = socket.gethostname().split(".")[0]
    stem = args.out / f"noise-shape-{host}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(
        {"images": args.images, "models": {k: str(v) for k, v in args.models.items()},
         "rows": rows}, indent=1))
    names = list(args.models)
    lines = [f"# Model against oracle NLM by noise shape (`noise_shape.py`, host {host})",
             "", (f"kodak24, first {args.images} photos, JPEG Q90; PSNR (dB) "
                  "against the clean photo; in brackets the margin over oracle NLM. Each row: one "
                  "preset's noise at one shot level, the same photos and seeds."), "",
             "| preset | shot | noisy | NLM oracle (h) | " + " | ".join(names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for r in rows:
        cells = [f"{r[n]:.2f} ({r[n] - r['nlm_oracle']:+.2f})" for n in names]
        lines.append(f"| {r['preset']} | {r['shot']:g} | {r['noisy']:.2f} | "
                     f"{r['nlm_oracle']:.2f} (h={r['h']:g}) | " + " | ".join(cells) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md")


if __name__ == "__main__":
    run_script(main)
