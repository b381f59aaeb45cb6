"""Train RECIPE into OUT so that its schedule ends by a wall-clock deadline (a rented GPU
machine held for a fixed time, several runs sharing it): `train/budget.py`'s probe sets the
schedule's length from the step rate measured on the shared machine.

    python scripts/gpu/train_until.py RECIPE OUT --deadline EPOCH_SECONDS [--set KEY=VALUE ...]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
from mobiledenoise.errors import ScriptParser, UserError  # noqa: E402

FINAL_VALIDATION_S = 25  # the last validation and checkpoint, after the deadline's last step


def main(argv=None) -> int:
    from mobiledenoise.train.budget import probe_steps
    from mobiledenoise.train.config import parse_set, resolve
    from mobiledenoise.train.trainer import train

    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--deadline", type=float, required=True,
                        help="when training must end, in seconds since the epoch (date +%%s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="any recipe key, as for `mobiledenoise train --set`")
    args = parser.parse_args(argv)
    budget_s = args.deadline - time.time() - FINAL_VALIDATION_S
    if budget_s <= 0:
        raise UserError(f"expected a deadline more than {FINAL_VALIDATION_S} s ahead, received "
                        f"{args.deadline:.0f} (now is {time.time():.0f}); pass e.g. "
                        "$(( $(date +%s) + 600 ))")
    config = resolve(args.recipe, parse_set(args.overrides))
    steps = probe_steps(config, args.out, budget_s)
    print(json.dumps({"run": str(args.out), "planned_steps": steps}), flush=True)
    result = train(dataclasses.replace(config, steps=steps), args.out, progress=False,
                   time_limit_s=budget_s)
    print(json.dumps({"run": str(args.out), "steps": result.steps,
                      "best_val_psnr": result.best_val_psnr,
                      "input_val_psnr": result.input_val_psnr, "step_s": result.step_seconds,
                      "train_s": result.train_seconds}), flush=True)
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
