"""Training speed of the shipped recipe on Keras' TensorFlow and torch backends, on this CPU.

Each backend runs in its own process (Keras picks its backend once, at import): the recipe's
data, model, loss and batch (recipes/fast.yaml: unet `fast`, 16 patches of 128 px), its
batches made by the same NumPy pipeline, `--warmup` untimed steps (tracing, caches), then
`--steps` timed steps. Reports the median and mean step time and steps per second. Prints a
table, writes `benchmarks/results/backends-<host>.{json,md}`.

    python benchmarks/backends.py --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mobiledenoise.errors import ScriptParser

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BACKENDS = ("tensorflow", "torch")


def time_steps(recipe: Path, warmup: int, steps: int) -> dict:
    """Step times of the recipe on the current backend (run in a child process)."""
    import keras

    from mobiledenoise.data.patches import PatchSampler, prefetched_batches
    from mobiledenoise.train import config as train_config
    from mobiledenoise.train.losses import make_loss
    from mobiledenoise.train.placement import place
    from mobiledenoise.train.steps import build_step
    from mobiledenoise.train.trainer import training_pairs
    from mobiledenoise.train.update import PhaseTrainer

    config = train_config.resolve(recipe, {"steps": warmup + steps})
    placement = place("none", worker_timeout_s=config.worker_timeout_s)
    step = build_step(config, make_loss(config.loss))
    trainer = PhaseTrainer(step, config, placement)
    sampler = PatchSampler(training_pairs(config)[0], config, seed=config.seed)
    times = []
    for batch in prefetched_batches(sampler, 0, warmup + steps):
        began = time.perf_counter()
        trainer(batch)
        times.append(time.perf_counter() - began)
    timed = times[warmup:]
    return {"backend": keras.backend.backend(), "model": f"{config.model} {config.preset}",
            "batch": f"{config.batch_size}x{config.patch_size}x{config.patch_size}",
            "steps": steps, "median_s": statistics.median(timed), "mean_s": statistics.fmean(timed),
            "steps_per_s": 1.0 / statistics.median(timed)}


def main() -> int:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "fast.yaml")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_steps(args.recipe, args.warmup, args.steps)))
        return 0

    rows = []
    for backend in BACKENDS:
        print(f"timing {backend} ...", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "--child", backend, "--recipe", str(args.recipe),
             "--warmup", str(args.warmup), "--steps", str(args.steps)],
            env={**os.environ, "KERAS_BACKEND": backend}, cwd=ROOT, capture_output=True, text=True)
        if child.returncode:
            print(child.stderr[-3000:], file=sys.stderr)
            return child.returncode
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    base = rows[0]["steps_per_s"]
    table = [f"Recipe {args.recipe.relative_to(ROOT)}: {rows[0]['model']}, "
             f"batch {rows[0]['batch']}, {args.steps} timed steps after {args.warmup} warm-up steps, {os.cpu_count()} CPU "
             "cores (shared; compare the ratio).", "",
             "| backend | median step (s) | mean step (s) | steps/s | vs tensorflow |",
             "|---|---|---|---|---|"]
    table += [f"| {r['backend']} | {r['median_s']:.3f} | {r['mean_s']:.3f} | "
              f"{r['steps_per_s']:.2f} | {r['steps_per_s'] / base:.2f}× |" for r in rows]
    print("\n".join(table))
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"backends-{socket.gethostname()}"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    stem.with_suffix(".md").write_text("\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
