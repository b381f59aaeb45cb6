"""Presenting evaluation and benchmark results: rich tables for people, JSON for programs.

The evaluation tables take the JSON form of `evaluate.runner`'s results (what the server's
job files and `--json` hold), the benchmark table `deploy.bench`'s timings, so the CLI, the
server and benchmark scripts print the same figures the same way. JSON keeps the records'
own key order and turns NaN/inf into null, so it is strict JSON any parser reads.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE

if TYPE_CHECKING:  # deploy.bench loads LiteRT; the tables only read the records
    from mobiledenoise.deploy.bench import PatchTiming, PhotoTiming


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(result: dict, *, indent: int | None = 2) -> str:
    """Strict JSON text of a result dict (NaN/inf -> null)."""
    return json.dumps(_finite(result), indent=indent, allow_nan=False)


def eval_table(result: dict, *, per_image: bool = True, title: str = "Evaluation") -> Table:
    """Per-image rows (name, PSNR, SSIM, ms) and a mean row; runtime/score when present."""
    table = Table(title=title)
    table.add_column("image")
    table.add_column("PSNR (dB)", justify="right")
    table.add_column("SSIM", justify="right")
    table.add_column("ms", justify="right")
    images = result.get("images", [])
    if per_image:
        for row in images:
            table.add_row(row["name"], f"{row['psnr']:.2f}", f"{row['ssim']:.4f}", f"{row['ms']:.0f}")
        table.add_section()
    mean_ms = sum(r["ms"] for r in images) / len(images) if images else float("nan")
    table.add_row(f"mean of {result['n']}", f"{result['psnr']:.2f}", f"{result['ssim']:.4f}",
                  f"{mean_ms:.0f}", style="bold")
    return table


def score_table(result: dict) -> Table:
    """The challenge figures: PSNR, SSIM, runtime at 720×480 and Final Score."""
    table = Table(title="Challenge figures")
    for column in ("PSNR (dB)", "SSIM", "runtime (ms)", "threads", "Final Score"):
        table.add_column(column, justify="right")
    size = result.get("runtime_size", CHALLENGE_SIZE)
    note = f" ({size[1]}x{size[0]}{', scaled' if result.get('runtime_scaled') else ''})"
    table.add_row(f"{result['psnr']:.2f}", f"{result['ssim']:.4f}",
                  f"{result['runtime_ms']:.1f}{note}", str(result.get("threads", "")),
                  f"{result['score']:.2f}")
    return table


def bench_table(result: PatchTiming, full_res: PhotoTiming | None = None) -> Table:
    """One patch's median/min/max/mean ms; the full-resolution tiled pass when given."""
    h, w = result.size
    table = Table(title=f"LiteRT benchmark, {result.threads} thread(s)")
    table.add_column("what")
    table.add_column("median ms", justify="right")
    table.add_column("min ms", justify="right")
    table.add_column("max ms", justify="right")
    table.add_column("mean ms", justify="right")
    table.add_column("peak RSS MiB", justify="right")
    table.add_row(f"{w}x{h} patch, {result.runs} runs", f"{result.median_ms:.2f}",
                  f"{result.min_ms:.2f}", f"{result.max_ms:.2f}", f"{result.mean_ms:.2f}",
                  f"{result.peak_rss_mb:.0f}")
    if full_res:
        fh, fw = full_res.size
        th, tw = full_res.tile
        table.add_row(f"{fw}x{fh} photo, {full_res.tiles} tiles of {tw}x{th}",
                      f"{full_res.ms:.0f}", "", "", "", f"{full_res.peak_rss_mb:.0f}")
    return table


def print_eval(result: dict, *, per_image: bool = True, console: Console | None = None) -> None:
    console = console or Console()
    console.print(eval_table(result, per_image=per_image))
    if "score" in result:
        console.print(score_table(result))


def print_bench(result: PatchTiming, full_res: PhotoTiming | None = None, *,
                console: Console | None = None) -> None:
    (console or Console()).print(bench_table(result, full_res))
