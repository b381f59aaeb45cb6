"""INT8 loss of every zoo family before and after the TRANSPOSE_CONV -> conv + DEPTH_TO_SPACE
deploy rewrite (models/transforms.py).

    python benchmarks/deploy_rewrite.py [--steps 300] [--data ../shared/data/polyu_cropped]
        [--models enerzai unet:fast ...]   (NAME or NAME:PRESET; default: every family's default)

Method (a small budget, so the figures are indicative, not a study):
- Each family's default preset trains for `--steps` steps (Adam 1e-3, L1, batches of 8 noisy
  64×64 crops of the PolyU train scenes, the same seed for every model).
- Both forms are converted with the same INT8 settings (full-integer, float I/O, the
  converter's min/max ranges) at 256×256, calibrated on 16 train-scene crops: "before" is the
  trained model with only its other deploy transforms (mier: ACNet fused) and its transposed
  convs kept; "after" is `registry.deployable(model)`.
- Loss = PSNR of the Keras FP32 output minus PSNR of the INT8 output, against the clean image,
  on the centre 256×256 crops of the validation scenes (8-bit outputs, mean over images).
Families whose default preset has no transposed conv (up-sampling by resize) export the same
graph either way and are listed without a measurement. `unet:fast` (the shipped model's
architecture) is the case the rewrite was made for: a stride-2 transposed exit feeding the
residual ADD.
Writes benchmarks/results/deploy-rewrite-<hostname>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from pathlib import Path

import numpy as np

from mobiledenoise.errors import ScriptParser

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIZE = 256
PATCH = 64
BATCH = 8
CALIB = 16


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/polyu_cropped"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--models", nargs="+", default=None,
                        help="NAME or NAME:PRESET (default: every family, default preset)")
    parser.add_argument("--merge", type=Path, default=None,
                        help="a JSON of earlier rows to keep (rows of the same model are replaced)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return parser.parse_args(argv)


def centre(image: np.ndarray, size: int) -> np.ndarray:
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top:top + size, left:left + size]


def train(model, pairs, steps: int, seed: int = 0) -> None:
    import keras

    rng = np.random.default_rng(seed)
    noisy, clean = [], []
    for _ in range(steps * BATCH):
        a, b = pairs[rng.integers(len(pairs))]
        y, x = rng.integers(a.shape[0] - PATCH), rng.integers(a.shape[1] - PATCH)
        noisy.append(a[y:y + PATCH, x:x + PATCH])
        clean.append(b[y:y + PATCH, x:x + PATCH])
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
    model.fit(np.stack(noisy), np.stack(clean), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)


def int8_tflite(model, calib: list[np.ndarray]) -> bytes:
    """Full-integer INT8 with float I/O: the converter settings `mobiledenoise export` uses."""
    import tensorflow as tf

    from mobiledenoise.models.transforms import rebuild

    fixed = rebuild(model, input_shape=(SIZE, SIZE, 3), batch_size=1)
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([patch[None]] for patch in calib)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.float32
    return converter.convert()


def run_tflite(tflite: bytes, image: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]


def mean_psnr(outputs, targets) -> float:
    from mobiledenoise.data.imageio import from_float
    from mobiledenoise.evaluate.metrics import psnr

    return float(np.mean([psnr(from_float(o), from_float(t)) for o, t in zip(outputs, targets)]))


def has_transposed_conv(model) -> bool:
    import keras

    return any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in model.layers)


def measure(entry: str, train_pairs, val_pairs, calib, steps: int) -> dict:
    import keras

    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import deployable

    name, _, preset = entry.partition(":")
    model = build_model(name, preset=preset or None)
    if not has_transposed_conv(model):
        return {"model": entry, "transposed_convs": False}
    began = time.time()
    train(model, train_pairs, steps)
    before = model
    if name == "mier":  # its other deploy transform, kept in both forms
        from mobiledenoise.models.mier import fuse

        before = fuse(model)
    after = deployable(model)
    noisy = [n for n, _ in val_pairs]
    clean = [c for _, c in val_pairs]
    fp32 = [keras.ops.convert_to_numpy(model(n[None], training=False))[0] for n in noisy]
    row = {"model": entry, "transposed_convs": True, "steps": steps,
           "psnr_input": mean_psnr(noisy, clean), "psnr_fp32": mean_psnr(fp32, clean)}
    for form, deployed in (("before", before), ("after", after)):
        tflite = int8_tflite(deployed, calib)
        row[f"psnr_int8_{form}"] = mean_psnr([run_tflite(tflite, n) for n in noisy], clean)
        row[f"loss_db_{form}"] = row["psnr_fp32"] - row[f"psnr_int8_{form}"]
    row["seconds"] = time.time() - began
    return row


def to_markdown(rows: list[dict], args) -> str:
    lines = [f"# Deploy rewrite: INT8 loss before / after (TRANSPOSE_CONV -> conv + DEPTH_TO_SPACE)",
             "", f"Host {socket.gethostname()}; each default preset trained {args.steps} steps "
             f"(batch {BATCH}, {PATCH}×{PATCH} crops of {args.data.name} train scenes); INT8 at "
             f"{SIZE}×{SIZE}, min/max ranges, {CALIB} calibration crops; PSNR on the centre "
             f"{SIZE}×{SIZE} of the validation scenes. Loss = FP32 PSNR − INT8 PSNR (dB).", "",
             "| model | input | FP32 | INT8 before | INT8 after | loss before | loss after |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if not r["transposed_convs"]:
            lines.append(f"| {r['model']} | – | – | – | – | no transposed conv: same graph | |")
            continue
        lines.append(f"| {r['model']} | {r['psnr_input']:.2f} | {r['psnr_fp32']:.2f} | "
                     f"{r['psnr_int8_before']:.2f} | {r['psnr_int8_after']:.2f} | "
                     f"{r['loss_db_before']:.2f} | {r['loss_db_after']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    from mobiledenoise.data.imageio import to_float
    from mobiledenoise.data.pairs import find_pairs, load_pair, split_by_scene
    from mobiledenoise.models import list_models

    train_split, val_split = split_by_scene(find_pairs(args.data))
    train_pairs = [tuple(to_float(a) for a in load_pair(p)) for p in train_split]
    val_pairs = [tuple(centre(to_float(a), SIZE) for a in load_pair(p)) for p in val_split]
    rng = np.random.default_rng(1)
    calib = [centre(train_pairs[i][0], SIZE) for i in rng.choice(len(train_pairs), CALIB, replace=False)]
    rows = json.loads(args.merge.read_text()) if args.merge else []
    for entry in args.models or list_models():
        rows = [r for r in rows if r["model"] != entry]
        rows.append(measure(entry, train_pairs, val_pairs, calib, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"deploy-rewrite-{socket.gethostname()}"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    markdown = to_markdown(rows, args)
    stem.with_suffix(".md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
