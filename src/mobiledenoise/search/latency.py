"""Candidate latency: measured through LiteRT (cached by candidate string) and predicted by a
per-op latency table fitted on the measurements.

Design choices:
- Measurement = the challenge's runtime set-up on this machine: FP32 .tflite at 480×720,
  LiteRT + XNNPACK, 1 thread (single-thread medians are the stable figure on a shared
  machine), median of a few runs after warm-up. This CPU time stands in for the Mali GPU of
  the challenge; it ranks ops differently (e.g. depthwise convs are relatively cheaper here).
- The cache is a JSON file mapping candidate string -> {median_ms, features}; a cache hit
  never converts or runs anything, so a resumed search re-measures nothing.
- Features per graph (from the GPU op audit): MACs per op type (CONV_2D, DEPTHWISE_CONV_2D,
  TRANSPOSE_CONV, ...) in G, plus the output elements of all ops in M (memory traffic:
  activations, pooling, adds, resizes, concatenations), plus the op count (dispatch cost).
  The table is fitted by non-negative least squares (costs cannot be negative, and NNLS
  stays sane with few measurements); its error is reported as the median relative error of
  leave-one-out predictions.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE
from mobiledenoise.fileio import write_json_atomically

BENCH_SIZE = CHALLENGE_SIZE


def graph_features(report) -> dict[str, float]:
    """Latency features of an `opaudit.AuditReport` (see module docstring)."""
    features: dict[str, float] = defaultdict(float)
    for finding in report.ops:
        if finding.macs:
            features[f"gmacs:{finding.op}"] += finding.macs / 1e9
        features["m_elements"] += sum(int(np.prod(s)) for s in finding.output_shapes) / 1e6
    features["ops"] = float(len(report.ops))
    return dict(features)


class LatencyCache:
    """Measured latencies by candidate string, persisted as JSON after every new entry."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[str, dict] = (json.loads(self.path.read_text())
                                         if self.path.is_file() else {})

    def get(self, candidate: str) -> dict | None:
        return self.entries.get(candidate)

    def put(self, candidate: str, entry: dict) -> None:
        self.entries[candidate] = entry
        write_json_atomically(self.path, self.entries, indent=1)


def measure(tflite_bytes: bytes, *, runs: int = 5, warmup: int = 2, threads: int = 1,
            size: tuple[int, int] = BENCH_SIZE) -> float:
    """Median LiteRT runtime in ms of one `size` patch."""
    from mobiledenoise.deploy.bench import benchmark

    timing = benchmark(tflite_bytes, size=size, threads=threads, runs=runs, warmup=warmup)
    return float(timing.median_ms)


@dataclass
class LatencyTable:
    """ms ≈ intercept + Σ cost[feature] · value, fitted by non-negative least squares."""

    columns: list[str] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    intercept: float = 0.0

    @classmethod
    def fit(cls, samples: list[tuple[dict[str, float], float]]) -> LatencyTable:
        from scipy.optimize import nnls

        columns = sorted({key for features, _ in samples for key in features})
        x = np.array([[f.get(c, 0.0) for c in columns] + [1.0] for f, _ in samples])
        y = np.array([ms for _, ms in samples])
        scale = np.maximum(np.abs(x).max(axis=0), 1e-12)  # NNLS is scale-sensitive
        solution, _ = nnls(x / scale, y)
        solution = solution / scale
        return cls(columns, [float(v) for v in solution[:-1]], float(solution[-1]))

    def predict(self, features: dict[str, float]) -> float:
        return self.intercept + sum(cost * features.get(key, 0.0)
                                    for key, cost in zip(self.columns, self.costs))

    def to_dict(self) -> dict:
        return {"intercept_ms": self.intercept, "ms_per_unit": dict(zip(self.columns, self.costs))}


def leave_one_out_errors(samples: list[tuple[dict[str, float], float]]) -> list[float]:
    """|predicted - measured| / measured per sample, predicted by a table fitted on the rest."""
    errors = []
    for i, (features, ms) in enumerate(samples):
        table = LatencyTable.fit(samples[:i] + samples[i + 1:])
        errors.append(abs(table.predict(features) - ms) / ms)
    return errors


def _measured(cache: LatencyCache) -> list[tuple[dict[str, float], float]]:
    """(features, median ms) of every cache entry that holds a measurement."""
    return [(e["features"], e["median_ms"]) for e in cache.entries.values() if "median_ms" in e]


def fit_cached(cache: LatencyCache, min_samples: int = 4) -> LatencyTable | None:
    """The table fitted on every measured cache entry, or None with too few of them."""
    samples = _measured(cache)
    return LatencyTable.fit(samples) if len(samples) >= min_samples else None


def predictor_summary(cache: LatencyCache, min_samples: int = 4) -> dict:
    """The table fitted on every cached measurement and its leave-one-out median error."""
    samples = _measured(cache)
    if len(samples) < min_samples:
        return {"samples": len(samples), "note": f"fewer than {min_samples} measurements, no fit"}
    errors = leave_one_out_errors(samples)
    return {"samples": len(samples), "loo_median_rel_error": statistics.median(errors),
            "loo_p90_rel_error": float(np.percentile(errors, 90)),
            "table": LatencyTable.fit(samples).to_dict()}
