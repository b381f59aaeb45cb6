"""What a search leaves behind: the Pareto front (markdown, CSV, plot), every candidate, the
latency predictor's errors and `best.yaml`, a full-length recipe of the best candidate."""

from __future__ import annotations

import csv
import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from mobiledenoise.fileio import write_json_atomically
from mobiledenoise.resources import recipe_path
from mobiledenoise.search import latency

if TYPE_CHECKING:
    from mobiledenoise.search.evolution import SearchSettings
    from mobiledenoise.search.space import Space



@dataclass(frozen=True)
class CandidateRecord:
    """One evaluated candidate. `status` is `ok` (trained: every figure), `too_slow` (timed,
    not trained) or `rejected` (GPU op audit failed: `reason`); the JSON form in state.json
    holds the fields that are set."""

    candidate: str
    index: int
    status: str
    reason: str | None = None
    psnr: float | None = None
    input_psnr: float | None = None
    runtime_ms: float | None = None
    predicted_ms: float | None = None
    score: float | None = None
    params: int | None = None
    gmacs: float | None = None
    train_s: float | None = None
    resumed_from_step: int | None = None
    folder: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict) -> CandidateRecord:
        return cls(**values)


def best_record(records: list[CandidateRecord]) -> CandidateRecord | None:
    valid = [r for r in records if r.status == "ok"]
    return max(valid, key=lambda r: r.score) if valid else None


def pareto_front(records: list[CandidateRecord]) -> list[CandidateRecord]:
    """Records no other record beats on both PSNR (higher) and runtime (lower), by runtime."""
    valid = [r for r in records if r.status == "ok"]
    front = [r for r in valid if not any(
        o.psnr >= r.psnr and o.runtime_ms <= r.runtime_ms
        and (o.psnr > r.psnr or o.runtime_ms < r.runtime_ms) for o in valid)]
    return sorted(front, key=lambda r: r.runtime_ms)


_COLUMNS = ("index", "candidate", "psnr", "runtime_ms", "predicted_ms", "score", "params", "gmacs")


def write_outputs(out: Path, state: dict, space: Space, settings: SearchSettings,
                  cache: latency.LatencyCache) -> None:
    records = state["records"]
    front = pareto_front(records)
    summary = latency.predictor_summary(cache)
    write_json_atomically(out / "latency.json", {**summary, "online": online_error(records)},
                          indent=1)
    for name, rows in (("front.csv", front), ("candidates.csv", records)):
        with open(out / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=(*_COLUMNS, "status"), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(r.to_dict() for r in rows)
    (out / "front.md").write_text(render_front(state, front, summary, space))
    if front:
        plot_front(records, front, space.seeds()[0], out / "front.png", space.name)
        write_recipe(best_record(records), space, settings, out / "best.yaml")


def online_error(records: list[CandidateRecord]) -> dict:
    """Median relative error of the table's predictions made before each measurement."""
    errors = [abs(r.predicted_ms - r.runtime_ms) / r.runtime_ms for r in records
              if r.runtime_ms and r.predicted_ms is not None]
    return {"samples": len(errors),
            "median_rel_error": statistics.median(errors) if errors else None}


def _row(r: CandidateRecord) -> str:
    return (f"| {r.index} | `{r.candidate}` | {r.psnr:.2f} | {r.runtime_ms:.1f} | "
            f"{r.score:.3g} | {r.params:,} | {r.gmacs:.2f} |")


def _proxy_text(settings: dict) -> str:
    text = (f"{settings['steps']} steps, batch {settings['batch_size']} of "
            f"{settings['patch_size']} px, {settings.get('loss', 'l1')} loss")
    return text + (f", distilled from {settings['teacher']}" if settings.get("teacher") else "")


def render_front(state: dict, front: list[CandidateRecord], summary: dict, space: Space) -> str:
    records = state["records"]
    seed = next((r for r in records
                 if r.candidate == space.seeds()[0] and r.status == "ok"), None)
    best = best_record(records)
    lines = [f"# Search front ({space.name}): PSNR vs runtime", "",
             f"{len(records)} candidates ({sum(r.status == 'rejected' for r in records)} "
             f"rejected by the GPU op audit, {sum(r.status == 'too_slow' for r in records)} "
             f"not trained as > {state['settings']['max_slowdown']:g}× slower than the best), "
             f"{state['elapsed_s'] / 60:.1f} min. PSNR = after a proxy training of "
             f"{_proxy_text(state['settings'])}, on the validation scenes; runtime = "
             "LiteRT FP32 1 thread at 480×720 on this CPU (stand-in for the Mali GPU).", "",
             "| # | candidate | PSNR dB | runtime ms | score | params | GMAC |",
             "|---|---|---|---|---|---|---|", *map(_row, front), ""]
    for label, r in (("preset", seed), ("best", best)):
        if r:
            lines.append(f"- {label}: `{r.candidate}` {r.psnr:.2f} dB, "
                         f"{r.runtime_ms:.1f} ms, score {r.score:.3g}")
    if "loo_median_rel_error" in summary:
        lines.append(f"- latency table: leave-one-out median relative error "
                     f"{summary['loo_median_rel_error']:.1%} over {summary['samples']} "
                     "measurements")
    online = online_error(records)
    if online["samples"]:
        lines.append(f"- latency table, predictions made before each measurement: median relative "
                     f"error {online['median_rel_error']:.1%} over {online['samples']} candidates")
    return "\n".join(lines) + "\n"


def plot_front(records: list[CandidateRecord], front: list[CandidateRecord], preset: str, path: Path,
               space: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    valid = [r for r in records if r.status == "ok"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([r.runtime_ms for r in valid], [r.psnr for r in valid], s=14, c="0.6",
               label="candidates")
    ax.plot([r.runtime_ms for r in front], [r.psnr for r in front], "o-", c="tab:red",
            label="Pareto front")
    for r, marker, label in ((next((r for r in valid if r.candidate == preset), None), "*",
                              f"{space} preset"), (best_record(valid), "D", "best score")):
        if r:
            ax.scatter([r.runtime_ms], [r.psnr], marker=marker, s=120, zorder=3, label=label)
    if valid and valid[0].input_psnr is not None:
        ax.axhline(valid[0].input_psnr, ls="--", c="0.4", lw=1, label="noisy input")
    ax.set_xscale("log")
    ax.set_xlabel("runtime, ms (LiteRT FP32, 1 thread, 480×720, CPU)")
    ax.set_ylabel("proxy validation PSNR, dB")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_recipe(best: CandidateRecord, space: Space, settings: SearchSettings,
                 path: Path) -> None:
    """The family's recipe at full length with the best candidate's architecture."""
    base_file = recipe_path(space.model)
    recipe = yaml.safe_load(base_file.read_text()) if base_file.is_file() else {}
    recipe.update({"model": space.model, "preset": "default",
                   "model_config": space.model_config(best.candidate),
                   "data": [str(Path(settings.data).resolve())], "teacher": settings.teacher})
    header = (f"# Best candidate of `mobiledenoise search --space {space.name}`: "
              f"{best.candidate}\n"
              f"# proxy PSNR {best.psnr:.2f} dB, runtime {best.runtime_ms:.1f} ms, score "
              f"{best.score:.3g}. Full-length settings from recipes/{space.model}.yaml.\n"
              f"# Run: mobiledenoise train {path.name} --out runs/<name>\n")
    path.write_text(header + yaml.safe_dump(recipe, sort_keys=False))
