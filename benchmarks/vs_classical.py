"""The shipped model against classical denoisers, on the same validation images, in one run.

    python benchmarks/vs_classical.py --data ../shared/data/polyu_cropped [--model M.tflite]
        [--int8 M_int8.tflite] [--out benchmarks/results] [--limit N] [--skip-bm3d]

Design choices:
- Images: the VALIDATION scenes of `--data` (`find_pairs` + `split_by_scene`, val_fraction
  0.2, seed 0 — the split training uses), so the model is never scored on what it saw.
  OpenCV NLM's `h` is tuned on up to `--tune-pairs` TRAINING pairs only.
- Every method maps uint8 → uint8 and is scored with `evaluate.metrics.psnr/ssim`.
- Time: wall clock (`perf_counter`) per image, normalised to milliseconds per megapixel;
  the median over images is reported. Models run through `deploy.runtime.TFLiteDenoiser`
  (LiteRT + XNNPACK, tiled when fixed-size), after one untimed warm-up. Threads: the model
  and OpenCV at 1 and 2 (`cv2.setNumThreads`); scikit-image runs single-threaded; bm3d
  manages its own threads. `speed_vs_cv2_nlm` = OpenCV NLM's ms/MP at the same thread count
  ÷ the method's (>1: faster than OpenCV NLM).
- A fixed-size model (480×720) must pad each 512×512 crop to two tiles, so on these small crops
  it spends ~2.3× the pixels it returns. `ms_per_mp_photo` times it on a 12 MP photo
  (3000×4000, the validation crops tiled into one image, median of 3 runs) where tiles are
  ~89 % useful — what a phone photo costs; the model rows' speed ratio uses that figure.
- BM3D (~70 s/MP) runs on the first `--bm3d-images` images, centre-cropped to
  `--bm3d-crop`; its note gives the do-nothing PSNR on that same subset to compare against.
- Output, named by machine so runs can be compared: `vs_classical-<host>.csv`, `.md` and
  `.png` (PSNR vs ms/MP, log-x, one labelled point per method/threads).
"""

from __future__ import annotations

import csv
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer

import classical
from mobiledenoise.errors import UserError

COLUMNS = ["method", "threads", "psnr", "ssim", "ms_per_mp", "ms_per_mp_photo", "speed_vs_cv2_nlm",
           "n_images", "note"]
DEFAULT_OUT = Path(__file__).resolve().parent / "results"

Denoise = Callable[[np.ndarray], np.ndarray]  # uint8 H×W×3 -> uint8 H×W×3
Pair = tuple[np.ndarray, np.ndarray]  # (noisy, clean) uint8


@dataclass
class Method:
    name: str
    threads: int
    run: Denoise
    note: str = ""
    subset: bool = False  # scored on the small cropped subset (BM3D)
    photo_ms_per_mp: Callable[[], float] | None = None  # models: timing on a 12 MP photo


@dataclass
class Row:
    method: str
    threads: int
    psnr: float
    ssim: float
    ms_per_mp: float
    n_images: int
    note: str
    speed_vs_cv2_nlm: float | None = None
    ms_per_mp_photo: float | None = None


def load_split(data: Path, limit: int | None, tune_pairs: int) -> tuple[list[Pair], list[Pair]]:
    """(validation pairs, training pairs for tuning) as uint8 arrays."""
    from mobiledenoise.data.pairs import find_pairs, load_pair, split_by_scene

    train, val = split_by_scene(find_pairs(data))
    if not val:
        raise UserError(f"expected at least two scenes in {data} to hold some out for "
                        "validation, received one; add pairs from other scenes")
    val = val[:limit] if limit else val
    step = max(1, len(train) // max(tune_pairs, 1))  # spread the tuning pairs over scenes
    return [load_pair(p) for p in val], [load_pair(p) for p in train[::step][:tune_pairs]]


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]


def opencv_method(h: float, threads: int, note: str) -> Method:
    def run(noisy: np.ndarray) -> np.ndarray:
        import cv2

        cv2.setNumThreads(threads)
        return classical.opencv_nlm(noisy, h)

    return Method("opencv_nlm", threads, run, note)


def model_method(name: str, path: Path, threads: int, warmup: np.ndarray) -> Method:
    from mobiledenoise.data.imageio import from_float, to_float
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(path, threads=threads)
    denoiser.denoise(to_float(warmup))  # XNNPACK packs the weights on the first run

    def run(noisy: np.ndarray) -> np.ndarray:
        return from_float(denoiser.denoise(to_float(noisy)))

    def photo_ms_per_mp() -> float:
        photo = np.pad(warmup, ((0, 3000 - warmup.shape[0]), (0, 4000 - warmup.shape[1]), (0, 0)),
                       mode="symmetric") if warmup.shape[0] < 3000 else warmup[:3000, :4000]
        times = []
        for _ in range(3):
            start = time.perf_counter()
            denoiser.denoise(photo)
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times) / 12.0

    return Method(name, threads, run, path.name, photo_ms_per_mp=photo_ms_per_mp)


def build_methods(models: dict[str, Path], h: float, tune_note: str, warmup: np.ndarray,
                  bm3d_note: str | None) -> list[Method]:
    methods = [Method("identity", 1, classical.identity, "noisy input")]
    for name, path in models.items():
        methods += [model_method(name, path, t, warmup) for t in (1, 2)]
    methods += [opencv_method(h, t, tune_note) for t in (1, 2)]
    methods += [Method("wavelet_bayes", 1, classical.wavelet),
                Method("skimage_nlm", 1, classical.skimage_nlm, "sigma = estimate_sigma")]
    if bm3d_note is not None:
        methods.append(Method("bm3d", 1, classical.bm3d, bm3d_note, subset=True))
    return methods


def evaluate(method: Method, pairs: list[Pair], advance: Callable[[], None]) -> Row:
    from mobiledenoise.evaluate.metrics import psnr, ssim

    scores, similarities, ms_per_mp = [], [], []
    for noisy, clean in pairs:
        start = time.perf_counter()
        output = method.run(noisy)
        elapsed = time.perf_counter() - start
        ms_per_mp.append(1e3 * elapsed / (noisy.shape[0] * noisy.shape[1] / 1e6))
        scores.append(psnr(output, clean))
        similarities.append(ssim(output, clean))
        advance()
    row = Row(method.name, method.threads, float(np.mean(scores)), float(np.mean(similarities)),
              float(statistics.median(ms_per_mp)), len(pairs), method.note)
    if method.photo_ms_per_mp is not None:
        row.ms_per_mp_photo = method.photo_ms_per_mp()
    return row


def add_speed_ratios(rows: list[Row]) -> None:
    reference = {r.threads: r.ms_per_mp for r in rows if r.method == "opencv_nlm"}
    for row in rows:
        own = row.ms_per_mp_photo or row.ms_per_mp
        if row.method != "identity" and row.threads in reference and own > 0:
            row.speed_vs_cv2_nlm = reference[row.threads] / own


def _cells(row: Row) -> list[str]:
    ratio = "" if row.speed_vs_cv2_nlm is None else f"{row.speed_vs_cv2_nlm:.2f}"
    return [row.method, str(row.threads), f"{row.psnr:.2f}", f"{row.ssim:.4f}",
            f"{row.ms_per_mp:.1f}",
            "" if row.ms_per_mp_photo is None else f"{row.ms_per_mp_photo:.1f}", ratio,
            str(row.n_images), row.note]


def write_csv(rows: list[Row], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(_cells(row) for row in rows)


def write_markdown(rows: list[Row], path: Path, header: str) -> None:
    lines = [header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    path.write_text("\n".join(lines) + "\n")


def plot(rows: list[Row], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {name: f"C{i}" for i, name in enumerate(dict.fromkeys(r.method for r in rows))}
    for row in rows:
        if row.method == "identity":
            ax.axhline(row.psnr, color="grey", linestyle="--", linewidth=1)
            ax.annotate("noisy input", (0.01, row.psnr), xycoords=("axes fraction", "data"),
                        fontsize=8, color="grey", va="bottom")
            continue
        point = (max(row.ms_per_mp_photo or row.ms_per_mp, 1e-3), row.psnr)
        # 1- and 2-thread runs share a PSNR: tell them apart by marker and label side.
        ax.scatter(*point, color=colours[row.method], marker="o" if row.threads == 1 else "^")
        subset = ", subset" if row.n_images < rows[0].n_images else ""
        label = f"{row.method} ({row.threads}t{subset})"
        left = row.threads != 1  # 2-thread labels to the left: the models' points sit close
        ax.annotate(label, point, fontsize=8, xytext=(-5 if left else 5, 3),
                    ha="right" if left else "left", textcoords="offset points")
    ax.set_xscale("log")
    lowest = min((r.ms_per_mp_photo or r.ms_per_mp) for r in rows if r.method != "identity")
    ax.set_xlim(left=max(lowest, 1e-3) / 8)  # room for the labels left of the fastest points
    ax.set(xlabel="milliseconds per megapixel (median, log scale)", ylabel="PSNR (dB)",
           title=title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def resolve_models(model: Path | None, int8: Path | None) -> dict[str, Path]:
    from mobiledenoise.weights import default_model_path

    fp32 = model or default_model_path("fp32")  # a UserError says to pass --model
    if int8 is None:
        try:
            int8 = default_model_path("int8")
        except UserError:
            int8 = None
    return {"model_fp32": Path(fp32), **({"model_int8": Path(int8)} if int8 else {})}


def run_benchmark(data: Path, model: Path | None, int8: Path | None, out: Path,
                  limit: int | None, skip_bm3d: bool, tune_pairs: int, bm3d_images: int,
                  bm3d_crop: int) -> list[Path]:
    from rich.progress import Progress

    models = resolve_models(model, int8)
    val, tune = load_split(data, limit, tune_pairs)
    with Progress(transient=True) as progress:
        task = progress.add_task("tuning OpenCV h on training pairs",
                                 total=len(classical.OPENCV_H_GRID))
        h, means = classical.tune_opencv_h(tune, classical.OPENCV_H_GRID,
                                           lambda: progress.advance(task))
    tune_note = f"h={h:g} tuned on {len(tune)} train pairs"
    subset = [(centre_crop(n, bm3d_crop), centre_crop(c, bm3d_crop)) for n, c in val[:bm3d_images]]
    bm3d_note = None
    if not skip_bm3d:
        from mobiledenoise.evaluate.metrics import psnr

        noisy_psnr = np.mean([psnr(n, c) for n, c in subset])
        bm3d_note = (f"subset: {len(subset)} images, {bm3d_crop}px centre crops "
                     f"(noisy input {noisy_psnr:.2f} dB there); sigma = estimate_sigma")
    methods = build_methods(models, h, tune_note, val[0][0], bm3d_note)
    rows = []
    with Progress() as progress:
        total = sum(len(subset if m.subset else val) for m in methods)
        task = progress.add_task("benchmarking", total=total)
        for method in methods:
            progress.update(task, description=f"{method.name} ({method.threads}t)")
            rows.append(evaluate(method, subset if method.subset else val,
                                 lambda: progress.advance(task)))
    add_speed_ratios(rows)
    return write_results(rows, out, data, means)


def write_results(rows: list[Row], out: Path, data: Path, h_means: dict[float, float]
                  ) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"vs_classical-{socket.gethostname()}"
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".png")]
    tuning = ", ".join(f"h={h:g}: {m:.2f}" for h, m in h_means.items())
    write_csv(rows, paths[0])
    write_markdown(rows, paths[1], f"# Model vs classical denoisers on {data.name} "
                   f"(validation scenes, host {socket.gethostname()})\n\n"
                   f"OpenCV h tuning (train PSNR): {tuning}")
    plot(rows, paths[2], f"{data.name}: PSNR vs runtime")
    return paths


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


@app.command()
def main(
    data: Path = typer.Option(..., help="Pair folder; its validation scenes are scored."),
    model: Path | None = typer.Option(None, help="FP32 .tflite (default: the shipped model)."),
    int8: Path | None = typer.Option(None, help="INT8 .tflite (default: shipped, if any)."),
    out: Path = typer.Option(DEFAULT_OUT, help="Folder for the .csv, .md and .png."),
    limit: int | None = typer.Option(None, min=1, help="Score only the first N validation pairs."),
    skip_bm3d: bool = typer.Option(False, "--skip-bm3d", help="Leave out BM3D (slow)."),
    tune_pairs: int = typer.Option(8, min=1, help="Training pairs used to tune OpenCV's h."),
    bm3d_images: int = typer.Option(4, min=1, help="Validation images BM3D runs on."),
    bm3d_crop: int = typer.Option(512, min=16, help="Centre crop size for BM3D."),
) -> None:
    """Score the model and classical denoisers on the same validation images."""
    paths = run_benchmark(data, model, int8, out, limit, skip_bm3d, tune_pairs, bm3d_images,
                          bm3d_crop)
    typer.echo(paths[1].read_text())
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    app()
