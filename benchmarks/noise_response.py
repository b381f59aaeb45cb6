"""Which noise does a model remove, and which does it leave? A diagnosis for phone noise (#14).

    python benchmarks/noise_response.py [MODEL ...]   # default: the shipped default model

MODEL: a shipped name, a `.tflite` or a run folder (as `denoise --model`). Two measurements on
sidd_mini's 11 SIDD validation blocks (heavy phone noise, std ≈ 17.7 /255), never trained on:
1. **Spatial correlation.** Gaussian noise of a fixed std is added to the CLEAN blocks, white
   or blurred (Gaussian σ 0.6 / 1.0 px, then rescaled to the same std: lag-1 correlation
   0.00 / 0.45 / 0.78). Real phone noise is about 0.46, the PolyU DSLR JPEGs 0.7, a bilinear
   demosaic 0.4-0.65. A model that only learnt correlated noise leaves white noise in place.
2. **What is left on real noise.** The error (output − clean) on the noisy blocks, as RMS in
   8-bit units, split into low frequencies (a Gaussian blur, σ 2 px) and the rest, and into
   luma (channel mean) and chroma; beside the input noise and OpenCV NLM with the oracle h of
   `vs_classical-vm.md` (h = 26 on these blocks).
Writes `benchmarks/results/noise-response-<host>.{md,json}`.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from mobiledenoise.errors import ScriptParser  # noqa: E402

BLURS = (0.0, 0.6, 1.0)  # px: white, phone-like, DSLR-JPEG-like correlation
STDS = (10.0, 18.0)  # 8-bit units
NLM_ORACLE_H = 26  # vs_classical-vm.md, sidd_val
PARTS = ("total", "low", "high", "luma", "chroma")


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["default"])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def sidd_blocks(data: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    from mobiledenoise.data.imageio import to_float
    from mobiledenoise.data.pairs import find_pairs, load_pair
    from mobiledenoise.errors import UserError

    pairs = [p for p in find_pairs(data / "sidd_mini") if "nafnetpd_val" in p.name]
    if not pairs:
        raise UserError(f"expected sidd_mini's SIDD validation blocks in {data / 'sidd_mini'}, "
                        "received none; pass --data with the shared data folder")
    return [tuple(to_float(a) for a in load_pair(p)) for p in pairs]


def gaussian_noise(shape, std: float, blur: float, rng) -> np.ndarray:
    import cv2

    noise = rng.standard_normal(shape).astype(np.float32)
    if blur:
        noise = cv2.GaussianBlur(noise, (0, 0), blur)
    return noise / noise.std() * std / 255


def correlation_response(denoise, blocks) -> list[dict]:
    from mobiledenoise.evaluate.metrics import psnr

    rows = []
    for std in STDS:
        for blur in BLURS:
            noisy_db, out_db, lag1 = [], [], []
            for i, (_, clean) in enumerate(blocks):
                noise = gaussian_noise(clean.shape, std, blur, np.random.default_rng(i))
                noisy = np.clip(clean + noise, 0, 1)
                noisy_db.append(psnr(noisy, clean))
                out_db.append(psnr(denoise(noisy), clean))
                lag1.append(float((noise[:, 1:] * noise[:, :-1]).mean() / (noise ** 2).mean()))
            rows.append({"std": std, "blur_px": blur, "lag1": round(float(np.mean(lag1)), 2),
                         "noisy_db": round(float(np.mean(noisy_db)), 2),
                         "gain_db": round(float(np.mean(out_db) - np.mean(noisy_db)), 2)})
    return rows


def error_parts(error: np.ndarray) -> dict:
    import cv2

    low = cv2.GaussianBlur(error, (0, 0), 2.0)
    luma = np.broadcast_to(error.mean(axis=2, keepdims=True), error.shape)
    parts = (error, low, error - low, luma, error - luma)
    return {k: float(np.sqrt(np.mean(np.square(p))) * 255) for k, p in zip(PARTS, parts)}


def mean_parts(errors: list[np.ndarray]) -> dict:
    found = [error_parts(e) for e in errors]
    return {k: round(float(np.mean([f[k] for f in found])), 2) for k in PARTS}


def nlm(noisy: np.ndarray) -> np.ndarray:
    import cv2

    from mobiledenoise.data.imageio import from_float, to_float

    return to_float(cv2.fastNlMeansDenoisingColored(from_float(noisy), None, NLM_ORACLE_H,
                                                    NLM_ORACLE_H, 7, 21))


def markdown(result: dict) -> str:
    lines = [f"# Which noise the models remove, on `{result['host']}`", "",
             "`benchmarks/noise_response.py`, sidd_mini's 11 SIDD validation blocks. Part 1: PSNR "
             "gain (dB) on the clean blocks plus Gaussian noise of a given std and spatial "
             "correlation (lag-1). Part 2: what is left of the real noise, RMS in 8-bit units "
             "(low: Gaussian blur σ 2 px; luma: channel mean).", "",
             "| model | " + " | ".join(f"std {r['std']:g}, lag-1 {r['lag1']:.2f}"
                                      for r in result["correlation"][result["models"][0]]) + " |",
             "|---|" + "---|" * len(result["correlation"][result["models"][0]])]
    for model in result["models"]:
        lines.append(f"| {model} | " + " | ".join(f"+{r['gain_db']:.2f}" for r in
                                                  result["correlation"][model]) + " |")
    lines += ["", "| error on the real noisy blocks | " + " | ".join(PARTS) + " |",
              "|---|" + "---|" * len(PARTS)]
    for name, parts in result["left"].items():
        lines.append(f"| {name} | " + " | ".join(f"{parts[k]:.2f}" for k in PARTS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from mobiledenoise.deploy.resolve import resolve_denoiser
    from mobiledenoise.fileio import write_json_atomically, write_text_atomically

    args = parse_args(argv)
    blocks = sidd_blocks(args.data)
    denoisers = {m: resolve_denoiser(m) for m in args.models}  # bad names fail before any work
    result = {"host": socket.gethostname().split(".")[0], "models": args.models,
              "correlation": {}, "left": {"noisy input": mean_parts([n - c for n, c in blocks]),
                                         f"OpenCV NLM, h={NLM_ORACLE_H} (oracle)":
                                         mean_parts([nlm(n) - c for n, c in blocks])}}
    for model, denoiser in denoisers.items():
        result["correlation"][model] = correlation_response(denoiser.denoise, blocks)
        result["left"][model] = mean_parts([denoiser.denoise(n) - c for n, c in blocks])
        print(model, json.dumps(result["correlation"][model]), result["left"][model], flush=True)
    stem = args.out / f"noise-response-{result['host']}"
    write_json_atomically(stem.with_suffix(".json"), result, indent=1)
    write_text_atomically(stem.with_suffix(".md"), markdown(result))
    print(f"wrote {stem}.md")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
