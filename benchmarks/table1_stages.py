"""The measuring stages of `table1.py`, one model at a time: export, PSNR/SSIM on the two
sets, and the interleaved LiteRT timing of every export (each a library function: the
`mobiledenoise export` flow, `evaluate.runner`, `deploy.bench`)."""

from __future__ import annotations

import statistics
from pathlib import Path

TIMING_SIZE = (480, 720)  # the challenge's 720×480, as height × width


def export_model(run: Path, precision: str, data: Path, progress: bool) -> dict:
    """Export (or reuse) the run's weights at 480×720 as `mobiledenoise export` does; the
    export's sidecar."""
    import json

    from mobiledenoise.cli.export import ExportOptions, export_run

    path = run / "export" / f"{precision}.tflite"
    sidecar = path.with_suffix(".json")
    if sidecar.is_file() and path.is_file():
        return {**json.loads(sidecar.read_text()), "path": str(path)}
    path.parent.mkdir(exist_ok=True)
    options = ExportOptions(  # INT8 calibrated on the training scenes, ranges as shipped
        out=path, precision=precision, size=TIMING_SIZE, calib=data / "polyu_cropped",
        calib_split="train", calib_synthetic=0.0,
        calib_percentile=99.99 if precision == "int8" else None, int8_io=False,
        verify_image=None, overwrite=True)
    return export_run(str(run), "best", options, progress)


def eval_sets(data: Path) -> dict:
    """The two scored sets: PolyU validation scenes (the by-scene split every run holds out)
    and sidd_mini whole."""
    from mobiledenoise.data.pairs import find_pairs
    from mobiledenoise.evaluate.runner import select_pairs

    return {"polyu": select_pairs(data / "polyu_cropped", val_only=True),
            "sidd": find_pairs(data / "sidd_mini")}


def measure(run: Path, sets: dict, progress: bool) -> dict:
    """PSNR/SSIM on each set, of the run's exported weights in Keras FP32 (the FP32 file was
    verified equal to it), each image whole: the 480×720 file would score padded tiles."""
    from mobiledenoise.deploy.keras_denoiser import KerasDenoiser
    from mobiledenoise.evaluate.runner import evaluate_pairs

    denoiser = KerasDenoiser(str(run))
    scores = {name: evaluate_pairs(denoiser.denoise, pairs, progress=progress)
              for name, pairs in sets.items()}
    return {"psnr": scores["polyu"].psnr, "ssim": scores["polyu"].ssim,
            "psnr_sidd": scores["sidd"].psnr, "ssim_sidd": scores["sidd"].ssim}


def time_exports(rows: list[dict], runs: int, timing: dict):
    """LiteRT ms at 720×480, 1 thread, of every export, interleaved: each round times every
    file once, so a busy spell of the shared machine slows all models alike. Fills `timing`
    ({run: {precision: [ms, ...]}}, resumed where it holds fewer rounds) and yields it after
    each round."""
    from mobiledenoise.deploy.bench import benchmark
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    files = {(row["run"], p): e["path"] for row in rows for p, e in row["exports"].items()}
    done = min(len(timing.get(r, {}).get(p, [])) for r, p in files)
    loaded = {key: TFLiteDenoiser(path, threads=1) for key, path in files.items()}
    for k in range(done, runs):
        print(f"timing round {k + 1} of {runs} ({len(files)} files)", flush=True)
        for (run, precision), denoiser in loaded.items():
            ms = benchmark(denoiser, size=TIMING_SIZE, runs=1, warmup=2 if k == 0 else 0)
            timing.setdefault(run, {}).setdefault(precision, [])[k:] = [ms.median_ms]
        yield timing


def input_psnr(sets: dict) -> dict:
    """The noisy input's PSNR on each set (the identity's score)."""
    from mobiledenoise.evaluate.runner import evaluate_pairs

    return {name: evaluate_pairs(lambda x: x, pairs, progress=False).psnr
            for name, pairs in sets.items()}


def add_timing(rows: list[dict], timing: dict) -> None:
    """Median (and min) ms of each row's files, and its Final Score from PSNR and FP32 ms."""
    from mobiledenoise.evaluate.metrics import final_score

    for row in rows:
        ms = timing[row["run"]]
        row.update(cpu_ms=statistics.median(ms["fp32"]), cpu_ms_int8=statistics.median(ms["int8"]),
                   cpu_ms_min=min(ms["fp32"]), cpu_ms_int8_min=min(ms["int8"]))
        row["score"] = final_score(row["psnr"], row["cpu_ms"])
