"""Train RECIPE into OUT so that its cosine schedule ends by a wall-clock deadline (a rented
GPU machine held for a fixed time, several runs sharing it).

A short probe (`--probe-steps`, its own short schedule) measures the step time on the shared
machine, then the run resumes with `steps` set to what fits before the deadline, and the
trainer's `time_limit_s` stops it there if the machine slows down.

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
from mobiledenoise.errors import ScriptParser, UserError, at_least_one  # noqa: E402

FINAL_VALIDATION_S = 25  # the last validation and checkpoint, after the deadline's last step


def main(argv=None) -> int:
    from mobiledenoise.train.config import parse_set, resolve
    from mobiledenoise.train.trainer import train

    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--deadline", type=float, required=True,
                        help="when training must end, in seconds since the epoch (date +%%s)")
    parser.add_argument("--probe-steps", type=at_least_one, default=40)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="any recipe key, as for `mobiledenoise train --set`")
    args = parser.parse_args(argv)
    if args.deadline <= time.time():
        raise UserError(f"expected a deadline in the future, received {args.deadline:.0f} "
                        f"(now is {time.time():.0f}); pass e.g. $(( $(date +%s) + 600 ))")
    overrides = parse_set(args.overrides)
    config = resolve(args.recipe, {**overrides, "steps": args.probe_steps})
    began = time.time()
    probe = train(config, args.out, progress=False)
    left = args.deadline - time.time() - FINAL_VALIDATION_S
    steps = args.probe_steps + max(int(left / (probe.step_seconds * 1.08)), 10)
    print(json.dumps({"run": str(args.out), "probe_s": round(time.time() - began, 1),
                      "step_s": probe.step_seconds, "steps": steps}), flush=True)
    config = dataclasses.replace(config, steps=steps)
    result = train(config, args.out, progress=False, time_limit_s=probe.train_seconds + left)
    print(json.dumps({"run": str(args.out), "steps": result.steps,
                      "best_val_psnr": result.best_val_psnr,
                      "input_val_psnr": result.input_val_psnr, "step_s": result.step_seconds,
                      "train_s": result.train_seconds}), flush=True)
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
