"""The shipped models against classical denoisers, on every validation set, in one run.

    python benchmarks/vs_classical.py [--model NAME=M.tflite ...] [--adaptive NAME ...]
        [--sets a,b] [--limit N]
        [--data-root ../shared/data] [--out benchmarks/results] [--skip-bm3d] [--no-photo]
        [--tune-images 6] [--tune-crop 256] [--bm3d-images 3] [--bm3d-crop 128] [--fit-crop 256]

Sets (`SETS`; all validation only, never trained on):
- `polyu_val`: the PolyU validation scenes (`find_pairs` + `split_by_scene` defaults, seed 0);
- `sidd_mini` whole, and `sidd_val`, its 11 SIDD validation blocks (`nafnetpd_val_*`) alone;
- `kodak_clean`: kodak24 as CLEAN input, scored against itself ("do no harm");
- `kodak_shot<s>`: kodak24 + calibrated synthetic camera noise (`SyntheticNoise`, preset
  `chroma_denoised` with its shot range narrowed to s, JPEG quality 90), one level per set from
  near-clean to night-time phone; image i always gets seed (0, i), so every run, level and
  method sees the same camera, only the shot noise grows.

Methods (each maps uint8 → uint8, scored by `evaluate.metrics.psnr/ssim`):
- the models, `--model NAME=FILE` (default: every shipped `weights/<name>_{fp32,int8}.tflite`),
  run by `model_runner` (the hook: a factory (file, threads) → uint8 denoiser; today
  `deploy.runtime.TFLiteDenoiser`, one model pass);
- `--adaptive NAME` (repeatable): that shipped model's file as `denoise` runs it by default
  (`--passes auto`, `deploy.adaptive`: a second pass weighted by how much noise the first
  removed, with the thresholds of the model the file belongs to), as method `<NAME>_auto`;
  untimed;
- `nlm_oracle`: OpenCV NLM with h tuned per set ON THAT SET (the strongest a user reaches by
  hand): coarse grid 1…40 then refined, on `--tune-images` images spread over the set,
  `--tune-crop` px centre crops (to keep the run affordable);
- `nlm_blind`: OpenCV NLM with h = map(σ), σ from `mobiledenoise.data.noise_level.
  estimate_noise`, the map fitted on TRAINING images only (`classical.blind_h_samples`);
- `bm3d` with that σ, on `--bm3d-images` images, `--bm3d-crop` px centre crops (~70 s/MP);
  its note gives the noisy input's PSNR on the same crops;
- `wavelet_bayes` (scikit-image BayesShrink) and `identity` (the noisy input).

Timing only on `polyu_val`: wall clock per image, median ms per megapixel, models and OpenCV
at 1 and 2 threads (`cv2.setNumThreads`), models also on a 12 MP photo (the validation crops
tiled to 3000×4000, median of 3; a fixed 480×720 model pads a 512 crop to two tiles, so the
photo figure is the honest one). Elsewhere models and OpenCV run at 2 threads, untimed.
`speed_vs_cv2_nlm` = oracle NLM's ms/MP at the same thread count ÷ the method's.

Output, named by machine: `vs_classical-<host>.csv` (long: one row per set × method ×
threads), `.md` (sets, summary of model − oracle NLM and INT8 − FP32, one table per set),
`.json` (oracle h per set, the blind h map), `.png` (PolyU PSNR vs runtime) and
`-sets.png` (PSNR per set and method; lines over the noise levels).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import typer

import classical
from mobiledenoise.cli.errors import UserErrorCommand
from mobiledenoise.data.crops import pad_to
from mobiledenoise.errors import UserError

COLUMNS = ["set", "method", "threads", "psnr", "ssim", "ms_per_mp", "ms_per_mp_photo",
           "speed_vs_cv2_nlm", "n_images", "note"]
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(os.environ.get("MOBILEDENOISE_SHARED_DATA",
                                   Path(__file__).resolve().parents[2] / "shared" / "data"))
WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "mobiledenoise" / "weights"
KODAK_SHOTS = (2e-4, 2e-3, 8e-3, 3e-2)  # near-clean daylight … night-time phone
JPEG_QUALITY = 90

Denoise = Callable[[np.ndarray], np.ndarray]  # uint8 H×W×3 -> uint8 H×W×3
ModelRunner = Callable[[Path, int], Denoise]  # (model file, threads) -> denoiser
Image = tuple[str, np.ndarray, np.ndarray]  # (key, noisy, clean) uint8; key = "<source>/<name>"


@dataclass(frozen=True)
class SetSpec:
    name: str
    what: str
    timed: bool = False  # the one set with runtime measurements


# The synthetic kodak sets use the first fit to real noise; the committed results were made
# with it (it was named `calibrated` then; data/synthetic.py explains the rename).
KODAK_PRESET = "chroma_denoised"
SETS = [SetSpec("polyu_val", "PolyU validation scenes (5 DSLRs, JPEG Q75)", timed=True),
        SetSpec("sidd_mini", "sidd_mini whole (phones)"),
        SetSpec("sidd_val", "sidd_mini's 11 SIDD validation blocks"),
        SetSpec("kodak_clean", "kodak24 as clean input, scored against itself")]
SETS += [SetSpec(f"kodak_shot{s:g}", f"kodak24 + calibrated camera noise, shot {s:g}, JPEG "
                 f"Q{JPEG_QUALITY}") for s in KODAK_SHOTS]
SET_NAMES = [s.name for s in SETS]


# --- sets -------------------------------------------------------------------------------------

def load_set(spec: SetSpec, root: Path, limit: int | None) -> list[Image]:
    from mobiledenoise.data.imageio import read_image
    from mobiledenoise.data.pairs import find_pairs, load_pair, split_by_scene

    if spec.name == "polyu_val":
        pairs = split_by_scene(find_pairs(root / "polyu_cropped"))[1]
    elif spec.name.startswith("sidd"):
        pairs = find_pairs(root / "sidd_mini")
        if spec.name == "sidd_val":
            pairs = [p for p in pairs if p.name.startswith("nafnetpd_val_")]
    if not spec.name.startswith("kodak"):  # sidd_val shares its keys (and outputs) with sidd_mini
        source = "polyu" if spec.name == "polyu_val" else "sidd"
        return [(f"{source}/{p.name}", *load_pair(p)) for p in pairs[:limit]]
    files = sorted((root / "clean_photos" / "kodak24").glob("*.png"))[:limit]
    if spec.name == "kodak_clean":
        return [(f"kodak/{f.stem}", image, image) for f in files for image in [read_image(f)]]
    shot = float(spec.name.removeprefix("kodak_shot"))
    return [(f"{spec.name}/{f.stem}", noisy, clean)
            for f, (noisy, clean) in zip(files, with_noise(files, KODAK_PRESET, shot))]


def with_noise(files: list[Path], preset: str, shot: float) -> list[tuple[np.ndarray, ...]]:
    """(noisy, clean) uint8 pairs: `preset`'s noise at one shot level and JPEG_QUALITY, photo i
    seeded (0, i), so every preset and level sees the same cameras."""
    from mobiledenoise.data.imageio import from_float, read_image, to_float
    from mobiledenoise.data.synthetic import PRESETS, SyntheticNoise

    levels = dataclasses.replace(PRESETS[preset], shot_range=(shot, shot * 1.0001))
    synth = SyntheticNoise(levels, jpeg_quality=(JPEG_QUALITY, JPEG_QUALITY))
    pairs = []
    for i, f in enumerate(files):
        noisy, clean = synth(to_float(read_image(f)), np.random.default_rng([0, i]))
        pairs.append((from_float(noisy), from_float(clean)))
    return pairs


def spread(items: list, n: int) -> list:
    """n items evenly spaced over the list (all of them when there are fewer)."""
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]


# --- methods ----------------------------------------------------------------------------------

def shipped_name(path: Path) -> str:
    """`default` for weights/default_int8.tflite: the shipped model a file belongs to."""
    return path.stem.rsplit("_", 1)[0]


def adaptive_runner(path: Path, threads: int) -> Denoise:
    """`model_runner` as `denoise --passes auto` runs a shipped model (`deploy.adaptive`)."""
    from mobiledenoise.data.imageio import from_float
    from mobiledenoise.deploy.adaptive import THRESHOLDS, NoiseAdaptiveDenoiser
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = NoiseAdaptiveDenoiser(TFLiteDenoiser(path, threads=threads),
                                     *THRESHOLDS[shipped_name(path)])
    return lambda noisy: from_float(denoiser.denoise(noisy))


def model_runner(path: Path, threads: int) -> Denoise:
    """The default ModelRunner: LiteRT via `deploy.runtime.TFLiteDenoiser`, tiled as needed."""
    from mobiledenoise.data.imageio import from_float
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    denoiser = TFLiteDenoiser(path, threads=threads)
    return lambda noisy: from_float(denoiser.denoise(noisy))


@dataclass
class Method:
    name: str
    threads: int
    run: Denoise
    note: str = ""
    key: str = ""  # same key + same image = same output (reused across sets); "" = never reuse
    subset: bool = False  # scored on the small cropped subset (BM3D)
    photo_ms_per_mp: Callable[[], float] | None = None  # models: timing on a 12 MP photo


@dataclass
class Row:
    set: str
    method: str
    threads: int
    psnr: float
    ssim: float
    n_images: int
    note: str
    ms_per_mp: float | None = None
    ms_per_mp_photo: float | None = None
    speed_vs_cv2_nlm: float | None = None


def opencv(h: float | Callable[[np.ndarray], float], threads: int) -> Denoise:
    def run(noisy: np.ndarray) -> np.ndarray:
        import cv2

        cv2.setNumThreads(threads)
        return classical.opencv_nlm(noisy, h(noisy) if callable(h) else h)

    return run


def photo_timer(run: Denoise, sample: np.ndarray) -> Callable[[], float]:
    def ms_per_mp() -> float:
        photo = pad_to(sample, 3000, 4000)[:3000, :4000]
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run(photo)
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times) / 12.0

    return ms_per_mp


@dataclass
class Context:
    """What every set shares: the models, the blind h map, σ estimates, reusable scores."""

    models: dict[str, Path]
    runner: ModelRunner
    h_map: classical.HMap
    photo: bool
    skip_bm3d: bool
    bm3d_images: int
    bm3d_crop: int
    tune_images: int
    tune_crop: int
    adaptive: tuple[str, ...] = ()  # models also scored as `--passes auto` (NAME_auto)
    denoisers: dict[tuple[str, int], Denoise] = field(default_factory=dict)
    sigmas: dict[str, float] = field(default_factory=dict)  # digest(noisy) -> σ
    scores: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def model(self, name: str, threads: int, warmup: np.ndarray) -> Denoise:
        if (name, threads) not in self.denoisers:
            base = name.removesuffix("_auto")
            runner = adaptive_runner if base in self.adaptive and name != base else self.runner
            run = runner(self.models[base], threads)
            run(warmup)  # XNNPACK packs the weights on the first run
            self.denoisers[name, threads] = run
        return self.denoisers[name, threads]

    def sigma(self, noisy: np.ndarray) -> float:
        key = digest(noisy)
        if key not in self.sigmas:
            self.sigmas[key] = classical.noise_sigma(noisy)
        return self.sigmas[key]


def digest(image: np.ndarray) -> str:
    """Content key of an image: equal pixels, equal key (sidd_val reuses sidd_mini's outputs)."""
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16,
                           person=str(image.shape).encode()[:16]).hexdigest()


def build_methods(spec: SetSpec, images: list[Image], h_oracle: float, ctx: Context
                  ) -> list[Method]:
    threads = (1, 2) if spec.timed else (2,)
    warmup = images[0][1]
    methods = [Method("identity", 1, classical.identity, "noisy input", key="identity")]

    def photo_time(run: Denoise):  # every model row, `--passes auto` too: like with like
        return photo_timer(run, warmup) if spec.timed and ctx.photo else None

    for name in ctx.models:
        for t in threads:
            run = ctx.model(name, t, warmup)
            methods.append(Method(name, t, run, ctx.models[name].name, key=f"model:{name}",
                                  photo_ms_per_mp=photo_time(run)))
    for name in ctx.adaptive:
        run = ctx.model(f"{name}_auto", threads[-1], warmup)
        methods.append(Method(f"{name}_auto", threads[-1], run,
                              f"{ctx.models[name].name}, --passes auto", key=f"auto:{name}",
                              photo_ms_per_mp=photo_time(run)))
    note = (f"h={h_oracle:g}, tuned on this set ({min(ctx.tune_images, len(images))} images, "
            f"{ctx.tune_crop}px centre crops)")
    methods += [Method("nlm_oracle", t, opencv(h_oracle, t), note, key=f"nlm:{h_oracle:g}")
                for t in threads]
    blind = lambda noisy: ctx.h_map(ctx.sigma(noisy))  # noqa: E731
    methods.append(Method("nlm_blind", threads[-1], opencv(blind, threads[-1]),
                          "h from the noise estimate (map in the header)", key="nlm_blind"))
    methods.append(Method("wavelet_bayes", 1, classical.wavelet, key="wavelet"))
    if not ctx.skip_bm3d:
        bm3d = lambda noisy: classical.bm3d(noisy, ctx.sigma(noisy) / 255)  # noqa: E731
        methods.append(Method("bm3d", 1, bm3d, "", subset=True))
    return methods


def evaluate(spec: SetSpec, method: Method, images: list[Image], ctx: Context,
             advance: Callable[[], None]) -> Row:
    from mobiledenoise.evaluate.metrics import psnr, ssim

    scores, similarities, ms_per_mp = [], [], []
    for name, noisy, clean in images:
        key = (method.key, digest(noisy))
        if method.key and not spec.timed and key in ctx.scores:
            score, similarity = ctx.scores[key]
        else:
            start = time.perf_counter()
            output = method.run(noisy)
            ms_per_mp.append(1e3 * (time.perf_counter() - start) / (noisy.size / 3e6))
            score, similarity = psnr(output, clean), ssim(output, clean)
            ctx.scores[key] = score, similarity
        scores.append(score)
        similarities.append(similarity)
        advance()
    row = Row(spec.name, method.name, method.threads, float(np.mean(scores)),
              float(np.mean(similarities)), len(images), method.note)
    if spec.timed:
        row.ms_per_mp = float(statistics.median(ms_per_mp))
        if method.photo_ms_per_mp is not None:
            row.ms_per_mp_photo = method.photo_ms_per_mp()
    return row


def tune_oracle(images: list[Image], ctx: Context) -> tuple[float, dict[float, float]]:
    crops = [(classical.centre_crop(n, ctx.tune_crop), classical.centre_crop(c, ctx.tune_crop))
             for _, n, c in spread(images, ctx.tune_images)]
    import cv2

    cv2.setNumThreads(2)
    return classical.tune_opencv_h_refined(crops)


def run_set(spec: SetSpec, images: list[Image], ctx: Context, progress) -> tuple[list[Row], dict]:
    from mobiledenoise.evaluate.metrics import psnr

    task = progress.add_task(f"{spec.name}: tuning h", total=None)
    h, means = tune_oracle(images, ctx)
    methods = build_methods(spec, images, h, ctx)
    subset = [(n, classical.centre_crop(a, ctx.bm3d_crop), classical.centre_crop(b, ctx.bm3d_crop))
              for n, a, b in spread(images, ctx.bm3d_images)]
    for (_, full, _), (_, crop, _) in zip(spread(images, ctx.bm3d_images), subset):
        ctx.sigmas[digest(crop)] = ctx.sigma(full)  # BM3D's σ: the whole image's estimate
    progress.update(task, total=sum(len(subset if m.subset else images) for m in methods),
                    completed=0)
    rows = []
    for method in methods:
        progress.update(task, description=f"{spec.name}: {method.name} ({method.threads}t)")
        if method.subset:
            method.note = (f"subset: {', '.join(n.split('/')[-1] for n, _, _ in subset)}, "
                           f"{ctx.bm3d_crop}px "
                           f"centre crops (noisy input "
                           f"{np.mean([psnr(a, b) for _, a, b in subset]):.2f} dB there); "
                           "sigma = the whole image's noise estimate")
        rows.append(evaluate(spec, method, subset if method.subset else images, ctx,
                             lambda: progress.advance(task)))
    progress.remove_task(task)
    if spec.timed:
        add_speed_ratios(rows)
    stds = [float(np.std(n.astype(np.float64) - c)) for _, n, c in images]
    info = {"what": spec.what, "n_images": len(images), "h_oracle": h,
            "h_tuning_psnr": {f"{k:g}": round(v, 3) for k, v in means.items()},
            "noise_std": float(np.mean(stds)),
            "sigma_estimate": float(np.mean([ctx.sigma(n) for _, n, _ in images])),
            "h_blind_mean": float(np.mean([ctx.h_map(ctx.sigma(n)) for _, n, _ in images]))}
    return rows, info


def add_speed_ratios(rows: list[Row]) -> None:
    reference = {r.threads: r.ms_per_mp for r in rows if r.method == "nlm_oracle"}
    for row in rows:
        own = row.ms_per_mp_photo or row.ms_per_mp
        if row.method != "identity" and row.threads in reference and own:
            row.speed_vs_cv2_nlm = reference[row.threads] / own


# --- inputs -----------------------------------------------------------------------------------

def parse_models(specs: list[str]) -> dict[str, Path]:
    """`NAME=FILE` pairs (or a bare FILE, named by its stem); default: every shipped
    `<name>_{fp32,int8}.tflite`."""
    if not specs:
        models = {p.stem: p for p in sorted(WEIGHTS.glob("*_fp32.tflite"))
                  + sorted(WEIGHTS.glob("*_int8.tflite"))}
        if not models:
            raise UserError(f"expected shipped models in {WEIGHTS}, found none; pass "
                            "--model NAME=FILE.tflite")
        return dict(sorted(models.items()))
    models = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else (Path(spec).stem, "", spec)
        if not name or name in models or "," in name:
            raise UserError(f"expected --model NAME=FILE.tflite with a new name, received "
                            f"{spec!r}; give each model its own name")
        path = Path(path)
        if not path.is_file() or path.suffix.lower() != ".tflite":
            raise UserError(f"expected a .tflite model file, received {path} which "
                            f"{'does not exist' if not path.exists() else 'is not one'}; "
                            "check the path")
        models[name] = path
    return models


def parse_sets(text: str | None) -> list[SetSpec]:
    if not text:
        return list(SETS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SET_NAMES]
    if unknown or not names:
        raise UserError(f"expected sets from {', '.join(SET_NAMES)}, received "
                        f"{', '.join(unknown) or repr(text)}; pass --sets with those names")
    return [s for s in SETS if s.name in names]


def check_data(root: Path, sets: list[SetSpec]) -> None:
    needed = {root / "polyu_cropped", root / "clean_photos" / "cbsd68"}  # the blind h fit
    for spec in sets:
        needed.add(root / ("sidd_mini" if spec.name.startswith("sidd") else
                           "clean_photos/kodak24" if spec.name.startswith("kodak") else
                           "polyu_cropped"))
    missing = sorted(str(p) for p in needed if not p.is_dir())
    if missing:
        raise UserError(f"expected the shared data folders, received missing {', '.join(missing)}"
                        "; pass --data-root (the folder described in shared/data/README.md)")


# --- output -----------------------------------------------------------------------------------

def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _cells(row: Row) -> list[str]:
    return [row.set, row.method, str(row.threads), f"{row.psnr:.2f}", f"{row.ssim:.4f}",
            _num(row.ms_per_mp, ".1f"), _num(row.ms_per_mp_photo, ".1f"),
            _num(row.speed_vs_cv2_nlm, ".2f"), str(row.n_images), row.note]


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(cells) + " |" for cells in body])


def summary(rows: list[Row], models: dict[str, Path], adaptive: tuple[str, ...] = ()
            ) -> list[str]:
    """Per set: noisy, oracle and blind NLM, each model's PSNR (margin over oracle NLM), and
    INT8 − FP32 for every model shipped in both precisions."""
    pairs = [n.removesuffix("_fp32") for n in models
             if n.endswith("_fp32") and n.removesuffix("_fp32") + "_int8" in models]
    models = [*models, *[f"{name}_auto" for name in adaptive]]
    header = ["set", "noisy", "NLM oracle (h)", "NLM blind", *models,
              *[f"{p} INT8 − FP32" for p in pairs]]
    body = []
    for name in dict.fromkeys(r.set for r in rows):
        psnr = {r.method: r.psnr for r in rows if r.set == name}  # thread rows share a PSNR
        oracle = psnr["nlm_oracle"]
        h = next(r.note.split(",")[0] for r in rows if r.set == name and r.method == "nlm_oracle")
        noisy = "clean" if psnr["identity"] >= 100 else f"{psnr['identity']:.2f}"
        body.append([name, noisy, f"{oracle:.2f} ({h})",
                     f"{psnr['nlm_blind']:.2f}",
                     *[f"{psnr[m]:.2f} ({psnr[m] - oracle:+.2f})" for m in models],
                     *[f"{psnr[p + '_int8'] - psnr[p + '_fp32']:+.2f}" for p in pairs]])
    return _table(header, body)


def write_results(rows: list[Row], infos: dict[str, dict], ctx: Context, out: Path,
                  seconds: float, notes: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    stem = out / f"vs_classical-{host}"
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".json")]
    with paths[0].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(_cells(r) for r in rows)
    sets = _table(["set", "what", "images", "noisy PSNR", "noise std (8-bit)", "σ estimate",
                   "oracle h", "blind h (mean)"],
                  [[name, i["what"], str(i["n_images"]), f"{i['noisy_psnr']:.2f}",
                    f"{i['noise_std']:.2f}", f"{i['sigma_estimate']:.2f}", f"{i['h_oracle']:g}",
                    f"{i['h_blind_mean']:.1f}"] for name, i in infos.items()])
    lines = [f"# Models vs classical denoisers (host {host}, {time.strftime('%Y-%m-%d')}, "
             f"one run of {seconds / 60:.1f} min)", "",
             "Models: " + ", ".join(f"{n} = {p.name}" for n, p in ctx.models.items()), "",
             f"Blind OpenCV NLM: {ctx.h_map}.", "", *notes, "", "## Sets", "", *sets, "",
             "## Summary: PSNR (dB), in brackets the margin over oracle NLM", "",
             *summary(rows, ctx.models, ctx.adaptive)]
    for name in infos:
        lines += ["", f"## {name}", "", *_table(COLUMNS[1:],
                                                [_cells(r)[1:] for r in rows if r.set == name])]
    paths[1].write_text("\n".join(lines) + "\n")
    paths[2].write_text(json.dumps({"h_map": dataclasses.asdict(ctx.h_map), "sets": infos,
                                    "seconds": round(seconds, 1)}, indent=2) + "\n")
    import vs_classical_plots as plots

    if "polyu_val" in infos:
        paths.append(stem.with_suffix(".png"))
        plots.psnr_vs_runtime([r for r in rows if r.set == "polyu_val"], paths[-1],
                              "PolyU validation scenes: PSNR vs runtime")
    paths.append(out / f"vs_classical-{host}-sets.png")
    plots.psnr_per_set(rows, infos, paths[-1])
    return paths


# --- run --------------------------------------------------------------------------------------

def run_benchmark(sets: list[SetSpec], models: dict[str, Path], root: Path, out: Path,
                  limit: int | None, options: dict, runner: ModelRunner = model_runner
                  ) -> list[Path]:
    from rich.progress import Progress

    start, cpu = time.perf_counter(), time.process_time()
    fit_n = (min(8, limit or 8), min(12, limit or 12))
    fit_crop = options.pop("fit_crop")
    with Progress(transient=True) as progress:
        task = progress.add_task("fitting blind h on training images", total=fit_n[0] + 2 * fit_n[1])
        samples = classical.blind_h_samples(root, *fit_n, crop=fit_crop,
                                            on_sample=lambda: progress.advance(task))
    ctx = Context(models, runner, classical.fit_h_map(samples), **options)
    rows, infos = [], {}
    with Progress() as progress:
        for spec in sets:
            began = time.perf_counter()
            images = load_set(spec, root, limit)
            if not images:
                raise UserError(f"expected images for set {spec.name} under {root}, found none")
            set_rows, info = run_set(spec, images, ctx, progress)
            info["noisy_psnr"] = next(r.psnr for r in set_rows if r.method == "identity")
            rows += set_rows
            infos[spec.name] = info
            progress.console.print(f"{spec.name} ({time.perf_counter() - began:.0f} s): " + ", ".join(
                f"{r.method}{'' if r.threads == 2 or not spec.timed else ' 1t'} {r.psnr:.2f}"
                for r in set_rows if not (spec.timed and r.threads == 2)))
    notes = [f"Oracle NLM: h from {classical.OPENCV_H_COARSE} then refined, tuned per set on "
             f"{options['tune_images']} images spread over it ({options['tune_crop']} px centre "
             "crops), and scored on the whole set.",
             "BM3D: σ from the noise estimate, on the small cropped subset its note names.",
             "Timing (ms/MP) only on polyu_val; elsewhere models and OpenCV run at 2 threads.",
             f"Blind h fitted on {fit_n[0]} PolyU training pairs + {fit_n[1]} clean photos "
             f"(not kodak24) × 2 synthetic levels (σ on the whole image, NLM on {fit_crop} px "
             "centre crops); never on a scored set."]
    notes.append(f"CPU time of the run (all threads): {(time.process_time() - cpu) / 60:.1f} min "
                 "(the wall time in the title includes waiting for a busy machine).")
    return write_results(rows, infos, ctx, out, time.perf_counter() - start, notes)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


@app.command(cls=UserErrorCommand)
def main(
    model: list[str] = typer.Option([], "--model", help="NAME=FILE.tflite, repeatable "
                                    "(default: every shipped <name>_{fp32,int8}.tflite)."),
    adaptive: list[str] = typer.Option([], "--adaptive", help="NAME of a model to score also "
                                       "as `denoise --passes auto` runs it, repeatable."),
    sets: str | None = typer.Option(None, help=f"Comma-separated subset of: {', '.join(SET_NAMES)}."),
    limit: int | None = typer.Option(None, min=1, help="Score only the first N images per set "
                                     "(also caps the tuning and fitting images)."),
    data_root: Path = typer.Option(DEFAULT_DATA, help="The shared data folder."),
    out: Path = typer.Option(DEFAULT_OUT, help="Folder for the results."),
    skip_bm3d: bool = typer.Option(False, "--skip-bm3d", help="Leave out BM3D (slow)."),
    no_photo: bool = typer.Option(False, "--no-photo", help="Skip the 12 MP photo timing."),
    tune_images: int = typer.Option(6, min=1, help="Images per set the oracle h is tuned on."),
    tune_crop: int = typer.Option(256, min=16, help="Centre crop size for the h tuning."),
    bm3d_images: int = typer.Option(3, min=1, help="Images per set BM3D runs on."),
    bm3d_crop: int = typer.Option(128, min=16, help="Centre crop size for BM3D."),
    fit_crop: int = typer.Option(256, min=32, help="Centre crop size of the blind h fit's "
                                 "training images."),
) -> None:
    """Score the models and classical denoisers on every validation set in one run."""
    chosen = parse_sets(sets)
    models = parse_models(model)
    from mobiledenoise.deploy.adaptive import THRESHOLDS

    unknown = [name for name in adaptive
               if name not in models or shipped_name(models[name]) not in THRESHOLDS]
    if unknown:
        raise UserError(f"expected --adaptive to name a scored shipped model's file "
                        f"({', '.join(models)}), received {', '.join(unknown)}")
    check_data(data_root, chosen)
    for path in models.values():  # a file LiteRT cannot load fails here, before any work
        model_runner(path, 1)
    options = dict(photo=not no_photo, skip_bm3d=skip_bm3d, bm3d_images=bm3d_images,
                   bm3d_crop=bm3d_crop, tune_images=tune_images, tune_crop=tune_crop,
                   fit_crop=fit_crop, adaptive=tuple(dict.fromkeys(adaptive)))
    paths = run_benchmark(chosen, models, data_root, out, limit, options)
    typer.echo(paths[1].read_text())
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    app()
