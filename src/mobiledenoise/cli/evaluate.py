"""`mobiledenoise evaluate`: PSNR/SSIM (and, for a .tflite, runtime and Final Score) on pairs.

MODEL is resolved by `resolve_denoiser`, shared with `mobiledenoise denoise`:
- a `.tflite` file -> LiteRT (`deploy.runtime.TFLiteDenoiser`), no TensorFlow imported;
- a run folder or a registered model name -> Keras (`train.runs.load_model`), imported lazily.
  The image is reflect-padded to the model's `denoiser_config.multiple`, run, and cropped.
  The Keras path measures no runtime (that is the deployed .tflite's business): it reports
  PSNR/SSIM only;
- `default` or `fast`, or nothing -> a shipped model (`weights.shipped_model_path()`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from mobiledenoise.errors import UserError


class KerasDenoiser:
    """A Keras denoiser with the `denoise(image, tile, overlap)` interface of TFLiteDenoiser."""

    def __init__(self, source: str):
        from mobiledenoise.models.registry import required_multiple
        from mobiledenoise.train.runs import load_model

        self.model = load_model(source, input_shape=(None, None, 3), batch_size=1)
        self.multiple = required_multiple(self.model)
        self.name = str(source)

    def _run(self, image: np.ndarray) -> np.ndarray:
        import keras

        output = self.model(image[None].astype(np.float32), training=False)
        return np.asarray(keras.ops.convert_to_numpy(output))[0]

    def run_padded(self, image: np.ndarray) -> np.ndarray:
        from mobiledenoise.deploy.tiling import run_padded

        return run_padded(self._run, image, self.multiple)

    def denoise(self, image: np.ndarray, tile: int | tuple[int, int] | None = None,
                overlap: int = 32, *, on_tile=None) -> np.ndarray:
        from mobiledenoise.deploy.tiling import as_float, denoise_tiled, round_up_tile

        if tile is None:
            return self.run_padded(as_float(image))
        return denoise_tiled(self.run_padded, image, round_up_tile(tile, self.multiple), overlap,
                             on_tile=on_tile)


def resolve_denoiser(model: str | None, *, threads: int = 1, precision: str = "fp32"):
    """A TFLiteDenoiser or KerasDenoiser for MODEL (see the module docstring); `precision`
    picks the file of a shipped model (default, fast)."""
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.weights import SHIPPED, shipped_model_path

    if model is None or model in SHIPPED:
        return TFLiteDenoiser(shipped_model_path(model or "default", precision), threads=threads)
    if precision != "fp32":
        raise UserError(f"expected --precision only with a shipped model ({', '.join(SHIPPED)}), "
                        f"received --precision {precision} with {model}; drop --precision")
    path = Path(model)
    if path.suffix.lower() == ".tflite" or path.is_file():
        return TFLiteDenoiser(path, threads=threads)
    return KerasDenoiser(model)


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
        result = runner.score_denoiser(denoiser, pairs, runs=runs, progress=not json_out)
    else:
        result = runner.evaluate_pairs(denoiser.denoise, pairs, progress=not json_out).to_dict()
    result.update(model=denoiser.name, data=str(data))
    if json_out:
        typer.echo(report.to_json(result))
    else:
        report.print_eval(result, per_image=per_image)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
