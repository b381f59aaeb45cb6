"""`mobiledenoise evaluate`: PSNR/SSIM (and, for a .tflite, runtime and Final Score) on pairs.

MODEL is resolved by `deploy.resolve.resolve_denoiser`, shared with `mobiledenoise denoise`
and `mobiledenoise.denoise()`:
- a `.tflite` file -> LiteRT (`deploy.runtime.TFLiteDenoiser`), no TensorFlow imported;
- a run folder or a registered model name -> Keras (`deploy.keras_denoiser.KerasDenoiser`),
  imported lazily. The Keras path measures no runtime (that is the deployed .tflite's
  business): it reports PSNR/SSIM only;
- `default` or `fast`, or nothing -> a shipped model (`weights.shipped_model_path()`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mobiledenoise.deploy.resolve import resolve_denoiser


def evaluate(
    model: str | None = typer.Argument(None, help="A .tflite, a run folder or a registered "
                                       "model name; default: the shipped default model."),
    data: Path = typer.Option(..., "--data", help="Folder of noisy/clean pairs."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    threads: int = typer.Option(1, help="LiteRT CPU threads (.tflite only)."),
    val_only: bool = typer.Option(False, "--val-only",
                                  help="Only the validation split (by scene) of DATA."),
    runs: int = typer.Option(20, help="Timed runs for the 720×480 runtime (.tflite only)."),
    per_image: bool = typer.Option(True, "--per-image/--mean-only", help="Per-image rows."),
) -> None:
    """Score MODEL on DATA: PSNR, SSIM; runtime at 720×480 and Final Score for a .tflite."""
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate import report, runner

    denoiser = resolve_denoiser(model, threads=threads)
    pairs = runner.select_pairs(data, val_only=val_only)
    if isinstance(denoiser, TFLiteDenoiser):
        result = runner.score_denoiser(denoiser, pairs, runs=runs, progress=not json_out).to_dict()
    else:
        result = runner.evaluate_pairs(denoiser.denoise, pairs, progress=not json_out).to_dict()
    result.update(model=denoiser.name, data=str(data))
    if json_out:
        typer.echo(report.to_json(result))
    else:
        report.print_eval(result, per_image=per_image)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
