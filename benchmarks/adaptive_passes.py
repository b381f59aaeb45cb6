"""Where does a second pass of a shipped model help? Chooses `deploy/adaptive.py`'s LOW and HIGH.

On training-side photos only (`clean_photos` WITHOUT kodak24, centre crops): each photo clean,
and with synthetic camera noise (`camera_wide`, the shipped `default`'s training noise, JPEG
Q80-98) at fixed shot levels from daylight to night-time phone. Per photo: the std of what the
first pass removed (`removed`, 8-bit units; what `NoiseAdaptiveDenoiser` gates on), the blind
noise estimate (`estimate_noise(...).sigma`, for comparison), PSNR after one pass and after two.
- A clean detailed photo must keep one pass: LOW is the most any clean photo's first pass
  removed, rounded up to a whole number.
- HIGH is LOW + `--ramp`; the tables show what a full second pass gains by `removed`.
The validation sets (PolyU validation, sidd_mini, kodak24) are not read here; they are scored
with and without the second pass by `benchmarks/vs_classical.py --adaptive`.

    python benchmarks/adaptive_passes.py [--model default] [--images 24] [--crop 256]

Writes adaptive-passes-<model>-<host>.{md,json} to --out (default benchmarks/results).
"""

from __future__ import annotations

import json
import math
import socket
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from mobiledenoise.errors import ScriptParser, at_least_one  # noqa: E402

FOLDERS = ("mcmaster18", "cbsd68", "sunhays80", "urban100")  # never kodak24
SHOTS = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2)
PRESET = "camera_wide"


def photos(data: Path, count: int, crop: int) -> list[tuple[str, np.ndarray]]:
    from mobiledenoise.data.imageio import is_image_path, read_image
    from mobiledenoise.errors import UserError

    files = sorted(p for folder in FOLDERS if (data / "clean_photos" / folder).is_dir()
                   for p in (data / "clean_photos" / folder).iterdir() if is_image_path(p))
    if not files:
        raise UserError(f"expected clean photos under {data}/clean_photos ({', '.join(FOLDERS)}), "
                        "received none; pass --data pointing at shared/data")
    out = []
    for path in files[:: max(1, len(files) // count)][:count]:
        image = read_image(path)
        h, w = image.shape[:2]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        out.append((path.stem, image[top: top + crop, left: left + crop]))
    return out


def measure(denoiser, images: list[tuple[str, np.ndarray]]) -> list[dict]:
    import dataclasses

    from rich.progress import track

    from mobiledenoise.data.imageio import from_float, to_float
    from mobiledenoise.data.noise_level import estimate_noise
    from mobiledenoise.data.synthetic import PRESETS, SyntheticNoise
    from mobiledenoise.deploy.adaptive import removed_std
    from mobiledenoise.evaluate.metrics import psnr

    jobs = [("clean", None)] + [(f"shot {s:g}", s) for s in SHOTS]
    rows = []
    for index, (label, shot) in enumerate(track(jobs, description="two passes")):
        if shot is not None:
            levels = dataclasses.replace(PRESETS[PRESET], shot_range=(shot, shot * 1.0001))
            synth = SyntheticNoise(levels, jpeg_quality=(80, 98))
        for number, (name, image) in enumerate(images):
            if shot is None:
                noisy, clean = image, image
            else:
                noisy_f, clean_f = synth(to_float(image), np.random.default_rng([index, number]))
                noisy, clean = from_float(noisy_f), from_float(clean_f)
            once = denoiser.denoise(noisy)
            twice = denoiser.denoise(once)
            rows.append({"level": label, "photo": name,
                         "sigma": estimate_noise(noisy).sigma,
                         "removed": removed_std(noisy, once),  # what the gate reads
                         "one_pass": psnr(from_float(once), clean),
                         "two_passes": psnr(from_float(twice), clean)})
    return rows


def choose(rows: list[dict], ramp: float) -> tuple[float, float]:
    low = float(math.ceil(max(r["removed"] for r in rows if r["level"] == "clean")))
    return low, low + ramp


def report(rows: list[dict], model: str, low: float, high: float) -> list[str]:
    def gain(group: list[dict]) -> str:
        if not group:
            return "-"
        return f"{np.mean([r['two_passes'] - r['one_pass'] for r in group]):+.2f} ({len(group)})"

    lines = [f"# Second pass of `{model}`: where it helps (`benchmarks/adaptive_passes.py`)", "",
             f"Training-side photos only (clean_photos without kodak24), clean and with "
             f"`{PRESET}` noise + JPEG Q80-98 at fixed shot levels. PSNR in dB against the "
             "clean photo (for clean input: against itself). removed: std of what the first "
             "pass removed; σ: the blind noise estimate; both 8-bit units.", "",
             "| input | photos | removed min-max | σ estimate min-max | one pass | two passes | "
             "gain |", "|---|---|---|---|---|---|---|"]
    for level in dict.fromkeys(r["level"] for r in rows):
        group = [r for r in rows if r["level"] == level]
        removed, sig = [r["removed"] for r in group], [r["sigma"] for r in group]
        one = np.mean([r["one_pass"] for r in group])
        two = np.mean([r["two_passes"] for r in group])
        lines.append(f"| {level} | {len(group)} | {min(removed):.1f}-{max(removed):.1f} | "
                     f"{min(sig):.1f}-{max(sig):.1f} | {one:.2f} | {two:.2f} | {two - one:+.2f} |")
    edges = [0.0, low, *np.linspace(low, high, 4)[1:-1], high, np.inf]
    lines += ["", f"Gain of a full second pass (dB, photos) by removed std. Chosen: LOW = {low:g} "
              f"(the most a clean photo's first pass removed, rounded up), HIGH = {high:g}.", "",
              "| removed | gain |", "|---|---|"]
    for lo, hi in zip(edges[:-1], edges[1:]):
        lines.append(f"| {lo:.0f}-{hi:.0f} | " + gain(
            [r for r in rows if lo <= r["removed"] < hi]) + " |")
    return lines


def main(argv=None) -> int:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="a shipped model (default, fast)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--images", type=at_least_one, default=24)
    parser.add_argument("--crop", type=at_least_one, default=256)
    parser.add_argument("--ramp", type=float, default=6.0, help="HIGH - LOW (8-bit units)")
    parser.add_argument("--threads", type=at_least_one, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    from mobiledenoise.deploy.resolve import resolve_denoiser
    from mobiledenoise.errors import UserError
    from mobiledenoise.weights import SHIPPED

    if args.model not in SHIPPED:
        raise UserError(f"expected --model {' or '.join(SHIPPED)}, received {args.model!r}")
    if not args.ramp > 0:
        raise UserError(f"expected --ramp above 0, received {args.ramp}")
    images = photos(args.data, args.images, args.crop)
    rows = measure(resolve_denoiser(args.model, threads=args.threads), images)
    low, high = choose(rows, args.ramp)
    lines = report(rows, args.model, low, high)
    print("\n".join(lines))
    stem = args.out / f"adaptive-passes-{args.model}-{socket.gethostname().split('.')[0]}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    stem.with_suffix(".json").write_text(json.dumps(
        {"model": args.model, "low": low, "high": high, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
