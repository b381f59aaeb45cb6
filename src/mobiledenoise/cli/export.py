"""`mobiledenoise export`: a run folder or model name -> verified .tflite + JSON sidecar."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from mobiledenoise.errors import UserError


def parse_size(text: str) -> tuple[int, int]:
    """'480x720' -> (480, 720): height x width."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or int(match[1]) == 0 or int(match[2]) == 0:
        raise UserError(f"expected a size as HEIGHTxWIDTH (e.g. 480x720), received {text!r}")
    return int(match[1]), int(match[2])


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        source: str = typer.Argument(..., help="Run folder (from `train --out`) or registered model name."),
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
        int8_io: bool = typer.Option(False, "--int8-io", help="int8 input/output tensors (int8 only)."),
        verify_image: Path = typer.Option(None, "--verify-image", help="Noisy image to verify on."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    ) -> None:
        """Export to TFLite (FP32/FP16/INT8), verify against Keras and audit GPU-delegate ops."""
        from mobiledenoise.deploy.convert import export

        if int8_io and precision != "int8":
            raise UserError(f"expected --int8-io only with --precision int8, received --precision {precision}")
        if calib_percentile is not None and precision != "int8":
            raise UserError("expected --calib-percentile only with --precision int8, received "
                            f"--precision {precision}")
        result = export(source, out, precision=precision, size=None if dynamic else parse_size(size),
                        calib_dir=calib, calib_split=calib_split, weights=weights,
                        calib_synthetic=calib_synthetic, calib_percentile=calib_percentile,
                        overwrite=overwrite, int8_io=int8_io, verify_image=verify_image)
        typer.echo(render_summary(result))


def render_summary(result: dict) -> str:
    v = result["verification"]
    size = "dynamic" if result["input_size"] is None else "x".join(map(str, result["input_size"]))
    lines = [
        f"wrote {result['path']} ({result['tflite_bytes'] / 1024:.1f} KiB) and its .json sidecar",
        f"model {result['model']}  precision {result['precision']}  input {size} "
        f"{result['input_dtype']} -> {result['output_dtype']}",
        f"verification on {v['image_size'][0]}x{v['image_size'][1]}: max_abs_diff {v['max_abs_diff']:.3g}"
        f"  mean_abs_diff {v['mean_abs_diff']:.3g}  PSNR vs Keras {v['psnr_tflite_vs_keras_db']:.2f} dB",
        f"PSNR against {v['psnr_target']}: input {v['psnr_input']:.2f}  keras {v['psnr_keras']:.2f}  "
        f"tflite {v['psnr_tflite']:.2f}  drop {v['psnr_drop_db']:.3f} dB",
        f"MACs {result['macs'] / 1e9:.3f} G  params {result['params']:,}  GPU delegate: "
        + ("all ops supported" if result["gpu_delegate_compatible"] else "NOT compatible (run `mobiledenoise check`)"),
    ]
    return "\n".join(lines)
