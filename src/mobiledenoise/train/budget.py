"""Training to a wall-clock budget: a probe measures the step rate on this machine, which sets
the schedule's length, then the run continues to the budget (the trainer's `time_limit_s`
stops it there if the machine slows down). Used by `benchmarks/table1.py` (equal-budget runs)
and `scripts/gpu/train_until.py` (runs sharing a rented GPU until a deadline)."""

from __future__ import annotations

import math
from pathlib import Path

PROBE_SHARE = 0.2  # of the budget, to measure the step rate


def probe_steps(config, out_dir: str | Path, budget_s: float, *, progress: bool = False) -> int:
    """Train `config` (its recipe's length) for PROBE_SHARE of `budget_s`, then return the
    steps the whole budget holds at the probe's median step time."""
    from mobiledenoise.train.trainer import train

    probe = train(config, out_dir, progress=progress, time_limit_s=PROBE_SHARE * budget_s)
    per_step = probe.step_seconds
    if not math.isfinite(per_step):  # the probe made one step, which also traced
        per_step = PROBE_SHARE * budget_s
    return probe.steps + max(0, int((budget_s - probe.train_seconds) / per_step))
