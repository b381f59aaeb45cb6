"""Does the synthetic camera noise look like real noise? Four statistics, real vs synthetic.

Real pairs: the PolyU TRAINING scenes (`polyu_cropped`, `split_by_scene` defaults, seed 0),
`sidd_mini` whole and its 11 SIDD validation blocks alone (`nafnetpd_val_*`). Synthetic: a
preset of `data/synthetic.py` (`--preset`, default `camera_wide`: the shipped `default`'s)
with the shot level fixed at each of `LEVELS` (from a nearly clean daylight photo to a
night-time phone; read noise, camera, gains, tone curve and the ISP's chroma reduction still
drawn at random) and JPEG at a random quality in `--jpeg` (default 75-95: PolyU's Q75 to a
phone's Q95), on clean photos from `clean_photos` WITHOUT kodak24 (validation only),
centre-cropped to at most 512×512.

Per pair (`data.noise_stats.measure_pair`): noise std and noise level function, lag 1-3
correlation (horizontal and vertical averaged), chroma/luma variance ratio, the NLF's shape
(std at clean intensity 16-63 over std at 96-159: real phone sRGB noise is strongest in the
shadows), 8×8 blockiness of the noisy image and of the noise; JPEG quality of real files from
their quantisation tables. The bracket table asks, for each statistic, whether the real sets'
medians lie inside the synthetic images' 5th-95th percentile range (all levels together); the
last table sets each real set beside the synthetic level of the same noise std.

    python benchmarks/noise_realism.py [--preset camera_wide] [--data ../shared/data]
        [--images 24] [--jpeg 75 95] [--out benchmarks/results]

Writes noise_realism-<host>-<preset>.{md,json} and -{nlf,correlation,chroma}.png beside them.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import numpy as np

from mobiledenoise.errors import ScriptParser

REPO = Path(__file__).resolve().parents[1]
LEVELS = {  # label -> shot variance factor (fixed; the rest of the preset still drawn)
    "near-clean (shot 1e-5)": 1e-5,
    "daylight DSLR (1e-4)": 1e-4,
    "DSLR ISO 3200-6400 (5e-4)": 5e-4,
    "phone indoor (2e-3)": 2e-3,
    "phone low light (1e-2)": 1e-2,
    "night phone (5e-2)": 5e-2,
}
SYNTH_FOLDERS = ("mcmaster18", "cbsd68", "sunhays80", "urban100")  # never kodak24
CROP = 512
METRICS = ("sigma", "corr1", "corr2", "corr3", "chroma_ratio", "shadow_ratio", "blockiness",
           "noise_blockiness")


def real_sets(data: Path) -> dict[str, list]:
    from mobiledenoise.data.pairs import find_pairs, split_by_scene
    from mobiledenoise.errors import UserError

    for name in ("polyu_cropped", "sidd_mini", "clean_photos"):
        if not (data / name).is_dir():
            raise UserError(f"expected {data}/{name} (the shared data), received no such folder; "
                            "pass --data pointing at shared/data")
    train, _ = split_by_scene(find_pairs(data / "polyu_cropped"))
    sidd = find_pairs(data / "sidd_mini")
    return {"PolyU training scenes": train, "sidd_mini (whole)": sidd,
            "sidd_mini validation blocks": [p for p in sidd if p.name.startswith("nafnetpd_val")]}


def clean_files(data: Path, count: int) -> list[Path]:
    """`count` photos spread evenly over the non-kodak folders of clean_photos (sorted names)."""
    from mobiledenoise.data.imageio import is_image_path

    files = sorted(p for folder in SYNTH_FOLDERS for p in (data / "clean_photos" / folder).iterdir()
                   if is_image_path(p))
    step = max(1, len(files) // count)
    return files[::step][:count]


def row_of(stats, name: str, quality: int | None) -> dict:
    import warnings

    corr = [(h + v) / 2 for h, v in zip(stats.corr_h, stats.corr_v)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bins empty in every channel
        nlf = np.nanmean(np.array(stats.nlf, np.float64), axis=0)  # mean over channels
        shadows, mids = np.nanmean(nlf[1:4]), np.nanmean(nlf[6:10])  # 16-63 and 96-159
    return {"name": name, "sigma": stats.sigma, "shadow_ratio": float(shadows / mids),
            "std": list(stats.std), "corr1": corr[0],
            "corr2": corr[1], "corr3": corr[2], "chroma_ratio": stats.chroma_ratio,
            "blockiness": stats.blockiness, "noise_blockiness": stats.noise_blockiness,
            "jpeg_quality": quality,
            "nlf": [None if np.isnan(v) else float(v) for v in nlf]}


def measure_real(pairs: list, label: str) -> list[dict]:
    from rich.progress import track

    from mobiledenoise.data.imageio import read_image
    from mobiledenoise.data.noise_stats import jpeg_quality, measure_pair

    return [row_of(measure_pair(read_image(p.noisy), read_image(p.clean)), p.name,
                   jpeg_quality(p.noisy))
            for p in track(pairs, description=f"measuring {label}", transient=True)]


def measure_synthetic(files: list[Path], jpeg: tuple[int, int] | None, preset: str
                      ) -> dict[str, list[dict]]:
    import warnings

    from rich.progress import track

    from mobiledenoise.data.imageio import read_image, to_float
    from mobiledenoise.data.noise_stats import measure_pair
    from mobiledenoise.data.synthetic import PRESETS, SyntheticNoise

    images = []
    for path in files:
        image = to_float(read_image(path))
        h, w = image.shape[:2]
        top, left = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
        images.append((path.stem, image[top: top + CROP, left: left + CROP]))
    out = {}
    for level_index, (label, shot) in enumerate(LEVELS.items()):
        levels = dataclasses.replace(PRESETS[preset], shot_range=(shot, shot))
        synth = SyntheticNoise(levels, jpeg_quality=jpeg)
        tag = "no JPEG" if jpeg is None else f"JPEG {jpeg[0]}-{jpeg[1]}"
        rows = []
        for index, (name, image) in enumerate(track(images, description=f"synthetic {label}",
                                                    transient=True)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                noisy, target = synth(image, np.random.default_rng([level_index, index]))
            rows.append(row_of(measure_pair(noisy, target), name, None if jpeg is None else 0))
        out[f"synthetic, {tag}: {label}"] = rows
    return out


def median_row(rows: list[dict]) -> dict:
    out = {m: float(np.nanmedian([r[m] for r in rows])) if any(np.isfinite(r[m]) for r in rows)
           else float("nan") for m in METRICS}
    qualities = [r["jpeg_quality"] for r in rows if r["jpeg_quality"]]
    out["jpeg_quality"] = float(np.median(qualities)) if qualities else None
    nlf = np.array([[np.nan if v is None else v for v in r["nlf"]] for r in rows], np.float64)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        curve = np.nanmedian(nlf, axis=0)
    out["nlf"] = [None if np.isnan(v) else float(v) for v in curve]
    out["pairs"] = len(rows)
    return out


def plots(results: dict, out_stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mobiledenoise.data.noise_level import BIN_EDGES

    centres = (np.array(BIN_EDGES[:-1]) + np.array(BIN_EDGES[1:])) / 2
    real = {k: v for k, v in results.items() if not k.startswith("synthetic")}
    synth = {k: v for k, v in results.items() if k.startswith("synthetic")}
    shades = plt.cm.viridis(np.linspace(0.05, 0.95, len(LEVELS)))
    greys = [shades[i % len(LEVELS)] for i in range(len(synth))]
    styles = ["--" if "no JPEG" not in k else ":" for k in synth]

    def short(label: str) -> str:
        return label.removeprefix("synthetic, ")
    colours = ("tab:red", "tab:orange", "tab:purple")
    paths = []

    def curves(ax, x, values, ms: float | None = None) -> None:
        """One line per set: synthetic levels thin (dashed/dotted), real sets bold."""
        for (label, result), colour, style in zip(synth.items(), greys, styles):
            ax.plot(x, values(result), style, color=colour, label=short(label))
        for (label, result), colour in zip(real.items(), colours):
            ax.plot(x, values(result), "-o", color=colour, lw=2.5, ms=ms, label=label)

    def save(fig, ax, name: str) -> None:
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        paths.append(out_stem.with_name(f"{out_stem.name}-{name}.png"))
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    curves(ax, centres, lambda result: np.array(
        [np.nan if v is None else v for v in result["summary"]["nlf"]]), ms=4)
    ax.set(yscale="log", xlabel="clean intensity (8-bit)", ylabel="noise std (8-bit units)",
           title="Noise level function (median over pairs, mean of R, G, B)")
    save(fig, ax, "nlf")

    fig, ax = plt.subplots(figsize=(6, 4))
    lags = [1, 2, 3]
    curves(ax, lags, lambda result: [result["summary"][f"corr{lag}"] for lag in lags])
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xticks=lags, xlabel="lag (px)", ylabel="autocorrelation of noisy - clean",
           title="Spatial correlation (median; horizontal and vertical averaged)")
    save(fig, ax, "correlation")

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for (label, result), colour, style in zip(synth.items(), greys, styles):
        rows = result["rows"]
        ax.scatter([r["sigma"] for r in rows], [r["chroma_ratio"] for r in rows], s=10,
                   color=colour, alpha=0.5, marker="." if style == "--" else "x",
                   label=short(label))
    for (label, result), colour, marker in zip(real.items(), colours, "osD"):
        rows = result["rows"]
        ax.scatter([r["sigma"] for r in rows], [r["chroma_ratio"] for r in rows], s=28,
                   color=colour, marker=marker, edgecolor="k", lw=0.4, label=label)
    ax.set(xscale="log", xlabel="noise std (8-bit units)", ylabel="chroma / luma variance",
           title="Chroma share of the noise against its strength (one point per pair)")
    save(fig, ax, "chroma")
    return paths


def main() -> int:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="camera_wide",
                        help="Synthetic noise preset (data/synthetic.py PRESETS).")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--images", type=int, default=24, help="Clean photos per synthetic level.")
    parser.add_argument("--jpeg", type=int, nargs=2, default=(75, 95), metavar=("LO", "HI"))
    parser.add_argument("--limit", type=int, default=None, help="First N real pairs per set.")
    args = parser.parse_args()
    from mobiledenoise.data.synthetic import get_levels
    from mobiledenoise.errors import UserError

    get_levels(args.preset)  # an unknown name is a one-line error before any work
    if args.images < 1:
        raise UserError(f"expected --images of at least 1, received {args.images}")
    if not 1 <= args.jpeg[0] <= args.jpeg[1] <= 100:
        raise UserError(f"expected --jpeg LO HI with 1 <= LO <= HI <= 100, received {args.jpeg}")

    results = {label: {"rows": measure_real(pairs[: args.limit], label)}
               for label, pairs in real_sets(args.data).items()}
    files = clean_files(args.data, args.images)
    for jpeg in (tuple(args.jpeg), None):
        for label, rows in measure_synthetic(files, jpeg, args.preset).items():
            results[label] = {"rows": rows}
    for result in results.values():
        result["summary"] = median_row(result["rows"])

    header = ("| set | pairs | noise std | lag 1 | lag 2 | lag 3 | chroma/luma | "
              "std shadows/mid | blockiness | noise blockiness | JPEG Q |")
    lines = [f"Noise statistics of noisy - clean, medians over pairs (8-bit units). Synthetic: "
             f"`{args.preset}` preset at a fixed shot level, with JPEG at a random quality in "
             f"{args.jpeg[0]}-{args.jpeg[1]} and without, on {len(files)} clean photos "
             "(clean_photos without kodak24, ≤ 512² crops). Correlation: horizontal and "
             "vertical averaged.", "", header,
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, result in results.items():
        s = result["summary"]
        q = "-" if s["jpeg_quality"] is None else f"{s['jpeg_quality']:.0f}"
        if label.startswith("synthetic, JPEG"):
            q = f"{args.jpeg[0]}-{args.jpeg[1]}"
        lines.append(f"| {label} | {s['pairs']} | {s['sigma']:.2f} | {s['corr1']:.2f} | "
                     f"{s['corr2']:.2f} | {s['corr3']:.2f} | {s['chroma_ratio']:.2f} | "
                     f"{s['shadow_ratio']:.2f} | {s['blockiness']:.2f} | "
                     f"{s['noise_blockiness']:.2f} | {q} |")
    synthetic_rows = [r for k, v in results.items() if k.startswith("synthetic") for r in v["rows"]]
    lines += ["", "Does the synthetic range (5th-95th percentile over all synthetic pairs) bracket "
              "the real sets' medians?", "",
              "| statistic | synthetic 5-95 % | " + " | ".join(
                  k for k in results if not k.startswith("synthetic")) + " |",
              "|---|---|" + "---|" * 3]
    bracket = {}
    for metric in METRICS:
        lo, hi = np.nanpercentile([r[metric] for r in synthetic_rows], [5, 95])
        cells = []
        for label, result in results.items():
            if label.startswith("synthetic"):
                continue
            value = result["summary"][metric]
            inside = bool(lo <= value <= hi)  # False for NaN (no pixels in a range)
            bracket.setdefault(metric, {})[label] = {"value": value, "inside": inside}
            cells.append(f"{value:.2f} {'yes' if inside else '**no**'}")
        bracket[metric]["synthetic_range"] = [float(lo), float(hi)]
        lines.append(f"| {metric} | {lo:.2f}-{hi:.2f} | " + " | ".join(cells) + " |")

    lines += ["", "At the same noise level: each real set beside the synthetic level whose median "
              "noise std is nearest (log scale), with and without JPEG.", "",
              "| real set | synthetic level | noise std | lag 1 | lag 2 | lag 3 | chroma/luma | "
              "std shadows/mid | noise blockiness |", "|---|---|---|---|---|---|---|---|---|"]
    matched = {}
    for label, result in results.items():
        if label.startswith("synthetic"):
            continue
        s = result["summary"]
        cells = lambda t: (f"{t['sigma']:.2f} | {t['corr1']:.2f} | {t['corr2']:.2f} | "  # noqa: E731
                           f"{t['corr3']:.2f} | {t['chroma_ratio']:.2f} | "
                           f"{t['shadow_ratio']:.2f} | {t['noise_blockiness']:.2f} |")
        lines.append(f"| **{label}** | (real) | " + cells(s))
        for variant in ("synthetic, JPEG", "synthetic, no JPEG"):
            candidates = {k: v["summary"] for k, v in results.items() if k.startswith(variant)}
            nearest = min(candidates,
                          key=lambda k: abs(np.log(candidates[k]["sigma"] / s["sigma"])))
            matched.setdefault(label, []).append(nearest)
            lines.append(f"| | {nearest.removeprefix('synthetic, ')} | "
                         + cells(candidates[nearest]))

    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"noise_realism-{host}-{args.preset}"
    paths = plots(results, stem)
    lines += ["", "Plots: " + ", ".join(f"`{p.name}`" for p in paths)]
    print("\n".join(lines))
    stem.with_suffix(".json").write_text(json.dumps(
        {"preset": args.preset, "levels": LEVELS, "jpeg_quality": list(args.jpeg),
         "clean_photos": [f.name for f in files],
         "bracket": bracket, "nearest_level": matched, "sets": results}, indent=1))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
