"""Does a denoiser help photos that are not PolyU? Synthetic camera noise on clean images.

The shared data holds five DSLRs at ISO 800-12800; phones are noisier at night and cleaner by
day. This script takes clean, textured photos that ship with scikit-image (astronaut, chelsea,
coffee, rocket, immunohistochemistry — none in the training data), adds synthetic camera noise
(`mobiledenoise.data.synthetic`: unprocess -> Poisson-Gaussian -> reprocess) at fixed shot
levels from nearly clean (46 dB) to very noisy (18 dB), and reports each model's PSNR next to
the noisy input's. A model that lowers PSNR at the low levels is erasing real texture.

    python benchmarks/generalisation.py MODEL.tflite [MODEL2.tflite ...] [--label NAME ...]
        [--out benchmarks/results]
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np

from mobiledenoise.errors import ScriptParser

SHOTS = (2e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


def clean_images() -> list[np.ndarray]:
    from skimage import data

    images = []
    for name in IMAGES:
        image = getattr(data, name)()
        h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
        images.append(image[:h, :w])
    return images


def main() -> None:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--label", action="append", default=[],
                        help="Column name of each model, in order (default: its path).")
    args = parser.parse_args()
    if args.label and len(args.label) != len(args.models):
        parser.error(f"expected one --label per model ({len(args.models)}), received {len(args.label)}")
    labels = args.label or [str(m) for m in args.models]

    from mobiledenoise.data.imageio import from_float
    from mobiledenoise.data.synthetic import NoiseLevels, SyntheticNoise
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.metrics import psnr

    denoisers = {label: TFLiteDenoiser(m, threads=2) for label, m in zip(labels, args.models)}
    rows = []
    for shot in SHOTS:
        levels = NoiseLevels(shot_range=(shot, shot))
        scores = {"noisy input": []} | {name: [] for name in denoisers}
        for seed, image in enumerate(clean_images()):
            noisy, clean = SyntheticNoise(levels=levels, seed=seed)(image.astype(np.float32) / 255)
            target = from_float(clean)
            scores["noisy input"].append(psnr(from_float(noisy), target))
            for name, denoiser in denoisers.items():
                scores[name].append(psnr(from_float(denoiser.denoise(noisy)), target))
        rows.append({"shot": shot, **{k: round(float(np.mean(v)), 2) for k, v in scores.items()}})
        print(json.dumps(rows[-1]), flush=True)
    header = ["shot", "noisy input", *denoisers]
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join(f"{r[h]:g}" if h == "shot" else f"{r[h]:.2f}" for h in header) + " |"
              for r in rows]
    print("\n".join(table))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"generalisation-{socket.gethostname()}"
    stem.with_suffix(".json").write_text(json.dumps({"images": IMAGES, "rows": rows}, indent=2))
    stem.with_suffix(".md").write_text("PSNR (dB), mean over " + ", ".join(IMAGES) +
                                       " with synthetic camera noise at each shot level.\n\n" +
                                       "\n".join(table) + "\n")


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
