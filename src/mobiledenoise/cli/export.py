"""`mobiledenoise export`: a run folder, a model name, an ONNX file or a PyTorch `torch.export`
program (.pt2) -> verified .tflite + JSON sidecar. The library does the work
(`deploy.export`, `deploy.onnx_import`, `deploy.torch_import`); this module parses options,
draws calibration patches (`data.calibration`) and shows progress."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import typer

from mobiledenoise.cli.options import parse_size
from mobiledenoise.errors import expect


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        source: str = typer.Argument(..., help="Run folder (from `train --out`), registered model "
                                     "name, MODEL.onnx or a torch.export program MODEL.pt2."),
        out: Path = typer.Option(..., "--out", "-o", help="Output .tflite path (a .json sidecar goes beside it)."),
        precision: str = typer.Option("fp32", "--precision", "-p", help="fp32 | fp16 | int8"),
        size: str = typer.Option("480x720", "--size", help="Fixed input HEIGHTxWIDTH."),
        dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic H and W instead of --size "
                                     "(slower; refused by the GPU delegate)."),
        calib: Path = typer.Option(None, "--calib", help="Folder of noisy/clean pairs: int8 "
                                   "calibration and the verification image."),
        weights: str = typer.Option("best", "--weights", help="best | last: a run folder's "
                                    "best-validation or final weights."),
        calib_synthetic: float = typer.Option(0.0, "--calib-synthetic", help="Fraction of int8 "
                                              "calibration patches given synthetic camera noise "
                                              "(covers noisier photos than --calib holds)."),
        calib_split: str = typer.Option("all", "--calib-split", help="all | train: calibrate on "
                                        "every pair or only the training scenes (by-scene split)."),
        calib_percentile: float = typer.Option(None, "--calib-percentile", help="int8 activation "
                                               "ranges from this percentile of the calibration "
                                               "values (e.g. 99.99) instead of their min/max."),
        quantizer: str = typer.Option("converter", "--quantizer", help="int8 only: converter "
                                      "(TFLiteConverter calibration) | aeq (AI Edge Quantizer "
                                      "on the FP32 file); see benchmarks/results/quantizers-vm.md."),
        int8_io: bool = typer.Option(False, "--int8-io", help="int8 input/output tensors (int8 only)."),
        verify_image: Path = typer.Option(None, "--verify-image", help="Noisy image to verify on."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    ) -> None:
        """Export to TFLite (FP32/FP16/INT8), verify against the source and audit GPU-delegate ops."""
        from mobiledenoise.deploy.convert import PRECISIONS, QUANTIZERS
        from mobiledenoise.deploy.int8_ranges import check_percentile

        expect(precision in PRECISIONS, f"expected a precision in {', '.join(PRECISIONS)}, "
                                        f"received {precision!r}")
        expect(not int8_io or precision == "int8",
               f"expected --int8-io only with --precision int8, received --precision {precision}")
        expect(calib_percentile is None or precision == "int8", "expected --calib-percentile "
               f"only with --precision int8, received --precision {precision}")
        check_percentile(calib_percentile)
        expect(quantizer in QUANTIZERS, f"expected --quantizer {'|'.join(QUANTIZERS)}, received "
                                        f"{quantizer!r}")
        expect(quantizer == "converter" or precision == "int8",
               f"expected --quantizer only with --precision int8, received --precision {precision}")
        expect(precision != "int8" or calib is not None,
               "expected --calib DIR for an int8 export (real noisy images to calibrate the "
               "quantization), received none; pass a folder of noisy/clean pairs")
        options = ExportOptions(out, precision, None if dynamic else parse_size(size), calib,
                                calib_split, calib_synthetic, calib_percentile, int8_io,
                                verify_image, overwrite, quantizer)
        if Path(source).suffix.lower() in IMPORTED:
            result = export_imported(Path(source), options)
        else:
            result = export_run(source, weights, options)
        typer.echo(render_summary(result))


IMPORTED = (".onnx", ".pt2")


@dataclass(frozen=True)
class ExportOptions:
    out: Path
    precision: str
    size: tuple[int, int] | None
    calib: Path | None
    calib_split: str
    calib_synthetic: float
    calib_percentile: float | None
    int8_io: bool
    verify_image: Path | None
    overwrite: bool
    quantizer: str = "converter"


def export_run(source: str, weights: str, options: ExportOptions, progress: bool = True) -> dict:
    """A run folder or model name through `deploy.export.export_model`, with progress display."""
    from mobiledenoise.deploy.export import export_model, output_paths
    from mobiledenoise.train.runs import load_model

    output_paths(options.out, options.overwrite)  # refuse before loading anything
    pairs, calibration, details = _calibration(options, progress)
    model = load_model(source, weights=weights)
    return _convert(export_model, model, options, pairs, calibration, progress,
                    {"source": str(source), "weights": weights, **details})


def export_imported(source: Path, options: ExportOptions, progress: bool = True) -> dict:
    """An ONNX file or a .pt2 program through `deploy.onnx_import` / `deploy.torch_import`."""
    from mobiledenoise.deploy.export import output_paths

    output_paths(options.out, options.overwrite)
    if source.suffix.lower() == ".pt2":
        from mobiledenoise.deploy.torch_import import LITERT_TORCH_NOTE
        from mobiledenoise.deploy.torch_import import export_pt2 as convert

        typer.echo(f"note: {LITERT_TORCH_NOTE}", err=True)
    else:
        from mobiledenoise.deploy.onnx_import import export_onnx as convert
    pairs, calibration, details = _calibration(options, progress)
    return _convert(convert, source, options, pairs, calibration, progress, details)


def _calibration(options: ExportOptions, progress: bool):
    """(pairs of --calib or None, int8 calibration patches or None, sidecar details)."""
    from mobiledenoise.data.calibration import CALIB_PATCHES, calibration_pairs, calibration_patches

    pairs = calibration_pairs(options.calib, options.calib_split) if options.calib else None
    if options.precision != "int8":
        return pairs, None, {"calibration": None}
    from rich.progress import track

    patches = track(calibration_patches(pairs, options.size, synthetic=options.calib_synthetic),
                    total=CALIB_PATCHES, description="calibrating int8", transient=True,
                    disable=not progress)
    return pairs, patches, {"calibration": {
        "dir": str(options.calib), "split": options.calib_split, "patches": CALIB_PATCHES,
        "synthetic_fraction": options.calib_synthetic,
        "range_percentile": options.calib_percentile or 100.0, "quantizer": options.quantizer}}


def _convert(convert, source, options: ExportOptions, pairs, calibration, progress,
             details) -> dict:
    from mobiledenoise.data.calibration import verification_pair

    with spinner(f"converting to TFLite {options.precision}", progress and calibration is None):
        return convert(source, options.out, calibration, options.precision, size=options.size,
                       verify_pair=verification_pair(options.verify_image, pairs),
                       int8_io=options.int8_io, range_percentile=options.calib_percentile,
                       quantizer=options.quantizer, overwrite=options.overwrite, details=details)


@contextlib.contextmanager
def spinner(label: str, enabled: bool):
    if not enabled:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(label):
        yield


def render_summary(result: dict) -> str:
    v = result["verification"]
    size = "dynamic" if result["input_size"] is None else "x".join(map(str, result["input_size"]))
    lines = [
        f"wrote {result['path']} ({result['tflite_bytes'] / 1024:.1f} KiB) and its .json sidecar",
        f"model {result['model']}  precision {result['precision']}  input {size} "
        f"{result['input_dtype']} -> {result['output_dtype']}",
        f"verification on {v['image_size'][0]}x{v['image_size'][1]}: max_abs_diff {v['max_abs_diff']:.3g}"
        f"  mean_abs_diff {v['mean_abs_diff']:.3g}  PSNR vs {result.get('reference_runtime', 'keras')}"
        f" {v['psnr_tflite_vs_keras_db']:.2f} dB",
        f"PSNR against {v['psnr_target']}: input {v['psnr_input']:.2f}  keras {v['psnr_keras']:.2f}  "
        f"tflite {v['psnr_tflite']:.2f}  drop {v['psnr_drop_db']:.3f} dB",
        f"MACs {result['macs'] / 1e9:.3f} G  params {result['params']:,}  GPU delegate: "
        + ("all ops supported" if result["gpu_delegate_compatible"] else "NOT compatible (run `mobiledenoise check`)"),
    ]
    return "\n".join(lines)
