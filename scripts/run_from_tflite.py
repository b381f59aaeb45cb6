"""Rebuild a run folder from an exported FP32 `.tflite` of a registry model, so that a model
whose training run is gone (e.g. a shipped file) can be fine-tuned again with `init_from`.

    python scripts/run_from_tflite.py src/mobiledenoise/weights/fast_fp32.tflite --out runs/shipped-fast

The sidecar JSON beside the file names the model and its config (the deployed form, e.g.
unet's `up: depth_to_space`). Each Keras layer's kernel and bias are the file's constant
tensors whose names carry the layer's name (TFLite stores conv kernels OHWI, Keras HWIO). The
result is checked: the rebuilt Keras model must reproduce the file's output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import typer

from mobiledenoise.cli.errors import UserErrorCommand
from mobiledenoise.errors import UserError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


def tflite_constants(path: Path) -> dict[str, np.ndarray]:
    """{tensor name: value} of every constant (weight) tensor in the file."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    constants = {}
    for detail in interpreter.get_tensor_details():
        try:
            constants[detail["name"]] = interpreter.get_tensor(detail["index"])
        except ValueError:  # activations have no data before invoke
            continue
    return constants


def _find(constants: dict[str, np.ndarray], pattern: str, what: str) -> np.ndarray:
    found = [v for k, v in constants.items() if re.search(pattern, k)]
    if len(found) != 1:
        raise UserError(f"expected one {what} tensor matching {pattern!r} in the .tflite, "
                        f"received {len(found)}; is it an FP32 export of this model?")
    return found[0]


@app.command(cls=UserErrorCommand)
def main(tflite: Path = typer.Argument(..., help="An FP32 .tflite with its .json sidecar."),
         out: Path = typer.Option(..., "--out", help="Run folder to create.")) -> None:
    import keras

    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.models import build_model
    from mobiledenoise.train import runs

    sidecar = tflite.with_suffix(".json")
    if not tflite.is_file() or not sidecar.is_file():
        raise UserError(f"expected a .tflite with its .json sidecar, received {tflite}; "
                        "export with `mobiledenoise export`")
    identity = json.loads(sidecar.read_text())
    if identity.get("precision") != "fp32":
        raise UserError(f"expected an FP32 export, received {identity.get('precision')}")
    if out.exists():
        raise UserError(f"expected a new run folder, received {out} which exists")
    model = build_model(identity["model"], identity["config"], input_shape=(None, None, 3))
    constants = tflite_constants(tflite)
    for layer in model.layers:
        if not layer.weights:
            continue
        name = re.escape(layer.name)
        kernel = _find(constants, rf"/{name}(_\d+)?/convolution$", f"{layer.name} kernel")
        bias = _find(constants, rf"/{name}(_\d+)?/BiasAdd", f"{layer.name} bias")
        layer.set_weights([np.transpose(kernel, (1, 2, 3, 0)), bias])
    denoiser = TFLiteDenoiser(tflite)
    height, width = denoiser.input_size
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    reference = denoiser.run_patch(image)
    rebuilt = keras.ops.convert_to_numpy(model(image[None], training=False))[0]
    diff = float(np.abs(rebuilt - reference).max())
    if diff > 1e-4:
        raise UserError(f"expected the rebuilt model to match the .tflite, received a max "
                        f"difference of {diff:.2g}; the file's tensor names do not map")
    out.mkdir(parents=True)
    run = runs.RunFolder(out)
    run.write_identity({"model": identity["model"], "config": identity["config"]})
    model.save_weights(run.best_weights)
    typer.echo(f"wrote {out} (max difference to the .tflite {diff:.2g})")


if __name__ == "__main__":
    app()
