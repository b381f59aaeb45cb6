"""Do the finalists' training tricks help the two smallest models? (issue #5)

For `enerzai` (sub-net alone) and `noahtcv`, train the same number of steps on the PolyU
training scenes with and without knowledge distillation from a larger trained model (the
teacher run folder), and with and without synthetic camera-noise augmentation; report the
validation PSNR (held-out scenes) of each run. Prints a table, writes
`benchmarks/results/tricks-<host>.{json,md}`.

    python benchmarks/tricks.py --data ../shared/data/polyu_cropped --teacher runs/baseline-2000 \
        --steps 1500
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from pathlib import Path

from mobiledenoise.errors import ScriptParser

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher", required=True, help="run folder of a larger trained model")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--models", nargs="+", default=["enerzai", "noahtcv"])
    parser.add_argument("--work", default="runs/tricks", help="where the runs go")
    args = parser.parse_args()

    from mobiledenoise.train import config as train_config
    from mobiledenoise.train.trainer import train

    rows = []
    for model, distill, synthetic in itertools.product(args.models, (False, True), (False, True)):
        name = f"{model}{'-kd' if distill else ''}{'-syn' if synthetic else ''}"
        overrides = {"model": model, "data": [args.data], "steps": args.steps, "patch_size": 96,
                     "batch_size": 8, "lr": 1e-3, "lr_min": 1e-5, "schedule": "cosine",
                     "loss": "l1", "val_every": args.steps, "checkpoint_every": args.steps,
                     "teacher": args.teacher if distill else None, "distill_alpha": 0.5,
                     "synthetic_prob": 0.3 if synthetic else 0.0, "seed": 0}
        began = time.time()
        print(f"training {name} ...", flush=True)
        result = train(train_config.resolve(None, overrides), Path(args.work) / name, progress=False)
        rows.append({"model": model, "distillation": distill, "synthetic": synthetic,
                     "steps": args.steps, "val_psnr": round(result.best_val_psnr, 3),
                     "input_psnr": round(result.input_val_psnr, 3),
                     "seconds": round(time.time() - began, 1)})
        print(json.dumps(rows[-1]), flush=True)
    table = ["| model | distillation | synthetic noise | steps | val PSNR (dB) | input PSNR |",
             "|---|---|---|---|---|---|"]
    table += [f"| {r['model']} | {'yes' if r['distillation'] else 'no'} | "
              f"{'yes' if r['synthetic'] else 'no'} | {r['steps']} | {r['val_psnr']:.2f} | "
              f"{r['input_psnr']:.2f} |" for r in rows]
    print("\n".join(table))
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"tricks-{socket.gethostname()}"
    stem.with_suffix(".json").write_text(json.dumps({"teacher": args.teacher, "rows": rows}, indent=2))
    stem.with_suffix(".md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
