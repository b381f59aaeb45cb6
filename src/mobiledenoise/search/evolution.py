"""Hardware-aware architecture search with the challenge's Final Score as the objective.

`run_search(settings, out)` evolves candidate strings of a search space (`space.py`):

1. Each candidate is decoded to a zoo model, exported to FP32 TFLite at 480×720 and audited
   against the GPU-delegate rule table; incompatible candidates are rejected BEFORE training.
2. Its latency is measured with LiteRT (1 thread, median; `latency.py`), cached by candidate
   string; the per-op latency table fitted on earlier measurements predicts it first, so each
   record carries an honest held-out prediction next to the measurement. A candidate more
   than `max_slowdown` times slower than the best so far is not trained (hardware-aware pruning).
3. Fidelity = validation PSNR (by-scene split of `--data`, seed 0) after a short proxy
   training with the same recipe for every candidate (optionally distilled from a teacher).
4. Objective = Final Score 2^(2·PSNR) / (2^64 · runtime_ms), with CPU runtime standing in
   for the challenge's Mali GPU.

Strategy: regularized (aging) evolution. The hand-designed preset of the family is evaluated
first (the baseline to beat, under the same proxy training), then random candidates until
the population is full; afterwards each child is a one-decision mutation of the best of a
random tournament among the `population` most recent candidates, and the oldest one ages out.
Random draws come from `Random(f"{seed}-{n_evaluated}")`, so a resumed search continues as
the uninterrupted one would.

Resume: `OUT/state.json` is written atomically before and after every candidate; the budget
counts search time across restarts (up to the last save); finished candidates are never
re-run; the candidate that was running is resumed first, and its training continues from
its checkpoint (`OUT/candidates/NNN/`). Outputs, rewritten after every candidate: `front.md`,
`front.csv` (Pareto front, PSNR vs runtime), `front.png`, `candidates.csv`, `latency.json`
(predictor fit + leave-one-out error) and `best.yaml` (a full-length `mobiledenoise train`
recipe of the best candidate), written by `report.py`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from mobiledenoise.errors import UserError
from mobiledenoise.fileio import write_json_atomically
from mobiledenoise.search import latency
from mobiledenoise.search.report import CandidateRecord, best_record, write_outputs
from mobiledenoise.search.space import DEFAULT_SPACE, Space, get_space

# Settings that define what a search measures: a resumed search must keep them.
_IDENTITY = ("space", "data", "steps", "patch_size", "batch_size", "lr", "loss", "val_crop",
             "teacher", "tiny", "seed", "bench_size")


@dataclass
class SearchSettings:
    space: str = DEFAULT_SPACE
    data: str = ""
    budget_minutes: float = 60.0
    max_candidates: int | None = None  # stop after this many evaluated (incl. rejected) in total
    steps: int = 600  # proxy training; at 64 px patches 1,200 steps still left the preset at
    patch_size: int = 96  # identity (= input PSNR) on PolyU, 600 steps at 96 px gained ~1 dB
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "l1"
    val_crop: int = 256
    teacher: str | None = None
    distill_alpha: float = 0.5
    population: int = 10
    max_slowdown: float = 4.0  # skip training candidates this many times slower than the best
    tournament: int = 3
    tiny: bool = False
    seed: int = 0
    bench_size: tuple[int, int] = latency.BENCH_SIZE
    bench_runs: int = 5


# --- state --------------------------------------------------------------------------------------

def load_state(out: Path, settings: SearchSettings) -> dict:
    """The search state: settings, elapsed seconds, the pending candidate and the records
    (`CandidateRecord`s; state.json holds their JSON form)."""
    path = out / "state.json"
    fresh = {"settings": _jsonable(settings), "elapsed_s": 0.0, "pending": None, "records": []}
    if not path.is_file():
        return fresh
    import json

    state = json.loads(path.read_text())
    for key in _IDENTITY:
        if state["settings"].get(key) != _jsonable(settings)[key]:
            raise UserError(f"expected the same {key} as the search being resumed in {out} "
                            f"({state['settings'].get(key)!r}), received "
                            f"{_jsonable(settings)[key]!r}; use a new --out folder")
    return {**state, "records": [CandidateRecord.from_dict(r) for r in state["records"]]}


def _jsonable(settings: SearchSettings) -> dict:
    values = dataclasses.asdict(settings)
    values["bench_size"] = list(settings.bench_size)
    return values


def _save(out: Path, state: dict) -> None:
    records = [r.to_dict() for r in state["records"]]
    write_json_atomically(out / "state.json", {**state, "records": records}, indent=1)


# --- strategy -----------------------------------------------------------------------------------

def next_candidate(state: dict, space: Space, settings: SearchSettings) -> str:
    """The pending candidate, else the preset, else a random one, else an evolved child."""
    if state["pending"]:
        return state["pending"]
    seen = {r.candidate for r in state["records"]}
    rng = random.Random(f"{settings.seed}-{len(state['records'])}")
    for seed in space.seeds():
        if seed not in seen:
            return seed
    valid = [r for r in state["records"] if r.status == "ok"]
    for _ in range(200):
        if len(valid) < settings.population:
            child = space.sample(rng)
        else:
            population = valid[-settings.population:]
            contenders = rng.sample(population, min(settings.tournament, len(population)))
            parent = max(contenders, key=lambda r: r.score)
            child = space.mutate(parent.candidate, rng)
        if child not in seen:
            return child
    raise RuntimeError("the search space is exhausted: 200 draws gave only seen candidates")


def evaluate(candidate: str, index: int, space: Space, settings: SearchSettings, out: Path,
             cache: latency.LatencyCache, best_ms: float | None = None) -> CandidateRecord:
    """Audit + latency (cached) + proxy training of one candidate; the record for state.json.

    A candidate slower than `max_slowdown` × `best_ms` (the best score's runtime) is not
    trained: it would need +log4(slowdown) dB over the best to beat it, which a mutation of
    one decision does not deliver in a proxy run.
    """
    import keras

    from mobiledenoise.evaluate.metrics import final_score
    from mobiledenoise.models import build_model

    entry = cache.get(candidate) or _measure(build_model(space.model, space.decode(candidate)),
                                             settings, cache, candidate)
    if not entry["compatible"]:
        keras.backend.clear_session()
        return CandidateRecord(candidate, index, "rejected", reason=entry["reason"])
    if best_ms is not None and entry["median_ms"] > settings.max_slowdown * best_ms:
        keras.backend.clear_session()
        return CandidateRecord(candidate, index, "too_slow", runtime_ms=entry["median_ms"],
                               predicted_ms=entry.get("predicted_ms"), params=entry["params"],
                               gmacs=entry["gmacs"])
    folder = out / "candidates" / f"{index:03d}"
    result = _proxy_train(candidate, space, settings, folder)
    keras.backend.clear_session()
    psnr = result.best_val_psnr
    score = final_score(psnr, entry["median_ms"]) if math.isfinite(psnr) else 0.0
    return CandidateRecord(candidate, index, "ok", psnr=psnr, input_psnr=result.input_val_psnr,
                           runtime_ms=entry["median_ms"], predicted_ms=entry.get("predicted_ms"),
                           score=score, params=entry["params"], gmacs=entry["gmacs"],
                           train_s=result.seconds, resumed_from_step=result.resumed_from,
                           folder=str(folder.relative_to(out)))


def _measure(model, settings: SearchSettings, cache: latency.LatencyCache, candidate: str) -> dict:
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.opaudit import audit

    data = to_tflite(model, precision="fp32", size=tuple(settings.bench_size))
    report = audit(data)
    if not report.compatible:
        reasons = "; ".join(f"{f.op}: {f.reason}" for f in report.failures[:3])
        entry = {"compatible": False, "reason": reasons}
    else:
        features = latency.graph_features(report)
        table = latency.fit_cached(cache)
        entry = {"compatible": True, "features": features, "params": report.params,
                 "gmacs": report.macs / 1e9,
                 "predicted_ms": table.predict(features) if table else None,
                 "median_ms": latency.measure(data, runs=settings.bench_runs,
                                              size=tuple(settings.bench_size))}
    cache.put(candidate, entry)
    return entry


def proxy_config(candidate: str, space: Space, settings: SearchSettings):
    from mobiledenoise.train.config import resolve

    return resolve(None, {
        "model": space.model, "model_config": space.model_config(candidate),
        "data": [settings.data], "steps": settings.steps, "patch_size": settings.patch_size,
        "batch_size": settings.batch_size, "lr": settings.lr, "loss": settings.loss,
        "schedule": "cosine",
        "val_every": settings.steps, "checkpoint_every": max(1, settings.steps // 4),
        "log_every": max(1, settings.steps // 10), "val_crop": settings.val_crop,
        "teacher": settings.teacher, "distill_alpha": settings.distill_alpha, "seed": 0})


def _proxy_train(candidate: str, space: Space, settings: SearchSettings, folder: Path):
    from mobiledenoise.train.trainer import train

    return train(proxy_config(candidate, space, settings), folder, progress=False)


# --- the loop -----------------------------------------------------------------------------------

def run_search(settings: SearchSettings, out: str | Path, *, progress: bool = True) -> dict:
    """Run (or resume) the search into `out`; returns the final state."""
    out = Path(out)
    space = get_space(settings.space, settings.tiny)
    _check_settings(settings)
    out.mkdir(parents=True, exist_ok=True)
    state = load_state(out, settings)
    state["settings"] = _jsonable(settings)  # budget / candidate limit may change on resume
    cache = latency.LatencyCache(out / "latency_cache.json")
    began, base = time.time(), state["elapsed_s"]
    budget_s = settings.budget_minutes * 60.0
    with _Progress(progress, budget_s, base) as bar:
        while _may_continue(state, settings, base + time.time() - began, budget_s):
            candidate = next_candidate(state, space, settings)
            state["pending"], state["elapsed_s"] = candidate, base + time.time() - began
            _save(out, state)
            best = best_record(state["records"])
            record = evaluate(candidate, len(state["records"]), space, settings, out, cache,
                              best.runtime_ms if best else None)
            state["records"].append(record)
            state["pending"], state["elapsed_s"] = None, base + time.time() - began
            _save(out, state)
            write_outputs(out, state, space, settings, cache)
            bar.update(state, record)
    write_outputs(out, state, space, settings, cache)
    return state


def _check_settings(settings: SearchSettings) -> None:
    if not settings.data or not Path(settings.data).is_dir():
        raise UserError(f"expected --data to be a folder of noisy/ + clean/ pairs, received "
                        f"{settings.data!r}; point it at e.g. ../shared/data/polyu_cropped")
    if settings.budget_minutes <= 0 or settings.steps < 1 or settings.population < 2:
        raise UserError(f"expected a positive budget, steps >= 1 and population >= 2, received "
                        f"budget={settings.budget_minutes}, steps={settings.steps}, "
                        f"population={settings.population}")


def _may_continue(state: dict, settings: SearchSettings, elapsed: float, budget_s: float) -> bool:
    if settings.max_candidates is not None and len(state["records"]) >= settings.max_candidates:
        return False
    return elapsed < budget_s


class _Progress:
    """A rich bar over the time budget, plus one printed line per candidate."""

    def __init__(self, enabled: bool, budget_s: float, elapsed_s: float):
        self.enabled, self.budget_s, self.elapsed_s = enabled, budget_s, elapsed_s

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
            self.bar.start()
            self.task = self.bar.add_task("search", total=self.budget_s, completed=self.elapsed_s)
        return self

    def update(self, state: dict, record: CandidateRecord) -> None:
        if not self.enabled:
            return
        best = best_record(state["records"])
        what = (f"{record.psnr:.2f} dB {record.runtime_ms:.1f} ms score "
                f"{record.score:.3g}" if record.status == "ok" else record.status)
        self.bar.console.print(f"#{record.index:03d} {record.candidate}: {what}")
        self.bar.update(self.task, completed=min(state["elapsed_s"], self.budget_s),
                        description=f"{len(state['records'])} candidates, best score "
                                    f"{best.score:.3g}" if best else "search")

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()
