"""Ranking submissions into a leaderboard like Table 1 of the MAI 2021 report, and its plot.

One row per team:
- validation: the team's best scored submission (highest Final Score);
- test: the team's final submission (its latest one that did not fail), shown only once the
  organiser has published the phase;
- development: the team's fastest runtime (no fidelity figures exist in that phase).
Rows are ranked by Final Score (runtime in development), ties broken by the earlier upload.
"""

from __future__ import annotations

import io

from mobiledenoise.server.phases import Phase

COLUMNS = ("rank", "team", "submission_id", "filename", "size_kb", "psnr", "ssim", "runtime_ms",
           "score", "submitted_at")


def rank(phase: Phase, submissions: list[dict]) -> list[dict]:
    """Leaderboard rows of one phase from all of its submissions (any team, any status)."""
    chosen: dict[str, dict] = {}
    for sub in submissions:
        team = sub["team"]
        if phase.kind == "test":
            if sub["status"] != "failed" and (team not in chosen or sub["id"] > chosen[team]["id"]):
                chosen[team] = sub
        elif sub["status"] == "scored" and (team not in chosen or _better(phase, sub, chosen[team])):
            chosen[team] = sub
    rows = [s for s in chosen.values() if s["status"] == "scored"]
    rows.sort(key=lambda s: (_key(phase, s), s["id"]))
    return [_row(i + 1, s) for i, s in enumerate(rows)]


def _key(phase: Phase, sub: dict) -> float:
    if phase.kind == "development":
        return sub["runtime_ms"]
    return -(sub["score"] if sub["score"] is not None else float("-inf"))


def _better(phase: Phase, a: dict, b: dict) -> bool:
    return _key(phase, a) < _key(phase, b)


def _row(rank_: int, sub: dict) -> dict:
    return {"rank": rank_, "team": sub["team"], "submission_id": sub["id"],
            "filename": sub["filename"], "size_kb": round(sub["size_bytes"] / 1024),
            "psnr": sub["psnr"], "ssim": sub["ssim"], "runtime_ms": sub["runtime_ms"],
            "score": sub["score"], "submitted_at": sub["created_at"]}


def plot_png(rows: list[dict], title: str) -> bytes:
    """PSNR against runtime (log scale), one labelled point per team, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    axes = figure.subplots()
    points = [r for r in rows if r["psnr"] is not None and r["runtime_ms"]]
    for row in points:
        axes.scatter(row["runtime_ms"], row["psnr"], color="tab:blue")
        axes.annotate(row["team"], (row["runtime_ms"], row["psnr"]), textcoords="offset points",
                      xytext=(5, 4), fontsize=8)
    if points:
        axes.set_xscale("log")
    else:
        axes.text(0.5, 0.5, "no scored submission yet", ha="center", va="center",
                  transform=axes.transAxes)
    axes.set_xlabel("runtime at 720x480, ms (log)")
    axes.set_ylabel("PSNR, dB")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
