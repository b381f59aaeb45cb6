"""How well does the blind noise estimate match the truth? `estimate_noise` vs scikit-image.

Per image and channel, the truth is std(noisy - clean) in 8-bit units; each estimator gives a
per-channel std from the noisy image alone:
- `mobiledenoise`: `mobiledenoise.data.noise_level.estimate_noise` (this toolkit);
- `skimage`: `skimage.restoration.estimate_sigma(channel_axis=-1)` on the image in [0, 1],
  × 255 (wavelet MAD, the usual blind estimate).
Sets: the PolyU VALIDATION scenes (`find_pairs` + `split_by_scene` defaults, seed 0; the
estimator's constants were chosen on the training scenes and synthetic noise), `sidd_mini`
whole, and its 11 SIDD validation blocks (`nafnetpd_val_*`) alone. sidd_mini is never used to
tune anything. Reported per set: median ratio estimate / truth (with its 10th-90th
percentiles) and median absolute error, over images × channels. Then the estimate on clean
input (PolyU validation references, kodak24), which should be small.

    python benchmarks/noise_estimate.py [--data ../shared/data] [--out benchmarks/results]
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np

from mobiledenoise.errors import ScriptParser

REPO = Path(__file__).resolve().parents[1]


def sets(data: Path) -> dict[str, list]:
    from mobiledenoise.data.pairs import find_pairs, split_by_scene
    from mobiledenoise.errors import UserError

    for name in ("polyu_cropped", "sidd_mini"):
        if not (data / name / "noisy").is_dir():
            raise UserError(f"expected {data}/{name}/noisy (the shared data), received no such "
                            "folder; pass --data pointing at shared/data")
    _, polyu_val = split_by_scene(find_pairs(data / "polyu_cropped"))
    sidd = find_pairs(data / "sidd_mini")
    return {"PolyU validation scenes": polyu_val, "sidd_mini (whole)": sidd,
            "sidd_mini validation blocks": [p for p in sidd if p.name.startswith("nafnetpd_val")]}


def measure(pairs: list, label: str) -> list[dict]:
    from rich.progress import track
    from skimage.restoration import estimate_sigma

    from mobiledenoise.data.imageio import read_image
    from mobiledenoise.data.noise_level import estimate_noise

    rows = []
    for pair in track(pairs, description=f"estimating {label}", transient=True):
        noisy, clean = read_image(pair.noisy), read_image(pair.clean)
        truth = (noisy.astype(np.float64) - clean).reshape(-1, 3).std(axis=0)
        start = time.perf_counter()
        ours = np.array(estimate_noise(noisy).std)
        seconds = time.perf_counter() - start
        theirs = np.array(estimate_sigma(noisy / 255.0, channel_axis=-1)) * 255
        rows.append({"name": pair.name, "truth": truth.round(4).tolist(),
                     "mobiledenoise": ours.round(4).tolist(), "skimage": theirs.round(4).tolist(),
                     "seconds": round(seconds, 4)})
    return rows


def clean_inputs(data: Path, polyu_val: list) -> dict[str, list[float]]:
    """sigma on clean images: the PolyU validation scenes' mean-image references and kodak24
    (validation only: reported here, never tuned on)."""
    from rich.progress import track

    from mobiledenoise.data.imageio import is_image_path, read_image
    from mobiledenoise.data.noise_level import estimate_noise

    kodak = sorted(p for p in (data / "clean_photos" / "kodak24").glob("*") if is_image_path(p))
    out = {"PolyU validation clean references": [p.clean for p in polyu_val],
           "kodak24 (clean photos)": kodak}
    return {label: [round(estimate_noise(read_image(f)).sigma, 4)
                    for f in track(files, description=f"estimating {label}", transient=True)]
            for label, files in out.items() if files}


def summary(rows: list[dict], method: str) -> dict:
    truth = np.array([r["truth"] for r in rows]).ravel()
    est = np.array([r[method] for r in rows]).ravel()
    ratio = est / truth
    return {"median_ratio": float(np.median(ratio)), "p10_ratio": float(np.percentile(ratio, 10)),
            "p90_ratio": float(np.percentile(ratio, 90)),
            "median_abs_error": float(np.median(np.abs(est - truth))),
            "median_truth": float(np.median(truth))}


def main() -> int:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--limit", type=int, default=None, help="First N pairs per set (quick look).")
    args = parser.parse_args()

    results = {}
    for label, pairs in sets(args.data).items():
        rows = measure(pairs[: args.limit], label)
        results[label] = {"pairs": len(rows), "rows": rows,
                          "mobiledenoise": summary(rows, "mobiledenoise"),
                          "skimage": summary(rows, "skimage")}
    lines = ["Blind noise estimate against the truth std(noisy - clean), 8-bit units, over "
             "images × channels. Ratio = estimate / truth: median [10th-90th percentile].", "",
             "| set | pairs | median truth | method | median ratio | ratio p10-p90 | "
             "median abs error |", "|---|---|---|---|---|---|---|"]
    for label, result in results.items():
        for method in ("mobiledenoise", "skimage"):
            s = result[method]
            name = "mobiledenoise `estimate_noise`" if method == "mobiledenoise" else \
                "scikit-image `estimate_sigma`"
            lines.append(f"| {label} | {result['pairs']} | {s['median_truth']:.2f} | {name} | "
                         f"{s['median_ratio']:.2f} | {s['p10_ratio']:.2f}-{s['p90_ratio']:.2f} | "
                         f"{s['median_abs_error']:.2f} |")
    clean = clean_inputs(args.data, sets(args.data)["PolyU validation scenes"][: args.limit])
    lines += ["", "Clean input (no truth; an estimator should read small): `estimate_noise` sigma "
              "(mean of R, G, B) over the images.", "",
              "| clean set | images | median | 90th percentile | max |", "|---|---|---|---|---|"]
    for label, values in clean.items():
        lines.append(f"| {label} | {len(values)} | {np.median(values):.2f} | "
                     f"{np.percentile(values, 90):.2f} | {np.max(values):.2f} |")
    results["clean input"] = clean
    seconds = [r["seconds"] for label, result in results.items() if label != "clean input"
               for r in result["rows"]]
    lines += ["", f"`estimate_noise` time per image (median): {np.median(seconds) * 1000:.0f} ms "
              "(512×512 and 256×256 crops)."]
    print("\n".join(lines))
    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"noise_estimate-{host}.json").write_text(json.dumps(results, indent=1))
    (args.out / f"noise_estimate-{host}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
