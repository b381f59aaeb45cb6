"""Results of `table1.py`: the CSV (one row per model), the markdown beside the report's
Table 1 (`models.zoo_reference.TABLE1`, MAI 2021 Real Image Denoising report, Table 1) with
Spearman rank correlations and one paragraph per disagreement, and the PSNR-vs-runtime plot
with each Pareto front. Everything is computed from the rows `table1.py` measured."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from types import SimpleNamespace

from mobiledenoise.evaluate.metrics import final_score
from mobiledenoise.models.zoo_reference import TABLE1
from mobiledenoise.search.report import pareto_front

REPORT = ("Ignatov et al., \"Fast Camera Image Denoising on Mobile GPUs with Deep Learning, "
          "Mobile AI 2021 Challenge: Report\", Table 1 (../shared/seed/"
          "mai2021-real-image-denoising-report.txt)")
COLUMNS = ("model", "run", "steps", "wall_s", "cpu_s", "psnr", "ssim", "psnr_sidd", "ssim_sidd",
           "cpu_ms", "cpu_ms_int8", "cpu_ms_min", "cpu_ms_int8_min", "score", "rank", "psnr_rank",
           "size_kb", "size_kb_int8",
           "params", "gmac", "gpu_ops_ok", "int8_drop_db", "report_psnr", "report_ssim",
           "report_size_kb", "report_ms", "report_score", "report_rank")


def table_rows(rows: list[dict]) -> list[dict]:
    """Flat CSV rows: measured figures, ranks (ties share the better rank) and the report's."""
    from scipy.stats import rankdata

    ranks = rankdata([-r["score"] for r in rows], method="min")
    psnr_ranks = rankdata([-r["psnr"] for r in rows], method="min")
    flat = []
    for row, rank, psnr_rank in zip(rows, ranks, psnr_ranks):
        fp32, int8 = row["exports"]["fp32"], row["exports"]["int8"]
        ref = TABLE1.get(row["model"])
        flat.append({
            **{k: row[k] for k in ("model", "run", "steps", "wall_s", "cpu_s", "psnr", "ssim",
                                   "psnr_sidd", "ssim_sidd", "cpu_ms", "cpu_ms_int8",
                                   "cpu_ms_min", "cpu_ms_int8_min", "score")},
            "rank": int(rank), "psnr_rank": int(psnr_rank),
            "size_kb": fp32["tflite_bytes"] / 1024, "size_kb_int8": int8["tflite_bytes"] / 1024,
            "params": fp32["params"], "gmac": fp32["macs"] / 1e9,
            "gpu_ops_ok": fp32["gpu_delegate_compatible"] and int8["gpu_delegate_compatible"],
            "int8_drop_db": int8["verification"]["psnr_drop_db"],
            "report_psnr": ref and ref.psnr, "report_ssim": ref and ref.ssim,
            "report_size_kb": ref and ref.size_kb, "report_ms": ref and ref.mali_ms,
            "report_score": ref and ref.score, "report_rank": ref and ref.rank,
        })
    return flat


def spearman(flat: list[dict]) -> dict:
    """Rank correlation with the report over the finalists: PSNR with PSNR, score with score."""
    from scipy.stats import spearmanr

    finalists = [r for r in flat if r["report_psnr"] is not None]
    if len(finalists) < 3:
        return {"psnr": math.nan, "score": math.nan, "n": len(finalists)}
    return {"psnr": float(spearmanr([r["psnr"] for r in finalists],
                                    [r["report_psnr"] for r in finalists]).statistic),
            "score": float(spearmanr([r["score"] for r in finalists],
                                     [r["report_score"] for r in finalists]).statistic),
            "n": len(finalists)}


def write_results(rows: list[dict], setup: dict, stem: Path) -> list[Path]:
    from mobiledenoise.fileio import write_text_atomically

    flat = table_rows(rows)
    for r in flat:  # every score recomputes from its own row
        assert math.isclose(r["score"], final_score(r["psnr"], r["cpu_ms"]), rel_tol=1e-9)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".png")]
    plot(flat, setup, paths[2])
    write_text_atomically(paths[0], _csv_text(flat))
    write_text_atomically(paths[1], markdown(flat, rows, setup, paths[2].name))
    return paths


def _csv_text(flat: list[dict]) -> str:
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in flat:
        writer.writerow({k: "" if r[k] is None else (f"{r[k]:.6g}" if isinstance(r[k], float)
                                                     else r[k]) for k in COLUMNS})
    return out.getvalue()


def _f(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def markdown(flat: list[dict], rows: list[dict], setup: dict, png: str) -> str:
    rho = spearman(flat)
    lines = [f"# Table 1 re-run on `{setup['host']}`: equal data, budget {setup['budget']}", "",
             f"Every model trained for {setup['budget']} (`benchmarks/table1.py`) on the shipped "
             "`fast` model's data (recipes/fast.yaml's data keys) with its team's recipe and trick. "
             f"PSNR/SSIM: the exported weights in Keras FP32 (the FP32 `.tflite` is verified "
             f"equal), images whole, {setup['polyu_pairs']} PolyU validation pairs (noisy "
             f"input {setup['input_psnr']:.2f} dB) and sidd_mini ({setup['sidd_pairs']} pairs, "
             f"input {setup['input_psnr_sidd']:.2f} dB). CPU ms: LiteRT, 1 thread, 720×480, "
             f"median of {setup['timing_runs']}. Score = 2^(2·PSNR) / (2^64 · CPU ms). "
             f"Report columns: {REPORT} (its PSNR/SSIM on the challenge's phone test set, its ms "
             "on the Exynos 2100's Mali-G78 GPU).", "",
             "| model | steps | train s (CPU s) | PSNR | SSIM | PSNR sidd | CPU ms | INT8 ms "
             "| KB | params | GMAC | score | rank | report PSNR | report SSIM | report KB "
             "| Mali ms | report score | report rank |",
             "|" + "---|" * 19]
    for r in flat:
        lines.append(
            f"| {r['model']} | {r['steps']} | {r['wall_s']:.0f} ({r['cpu_s']:.0f}) "
            f"| {r['psnr']:.2f} | {r['ssim']:.4f} | {r['psnr_sidd']:.2f} | {r['cpu_ms']:.1f} "
            f"| {r['cpu_ms_int8']:.1f} | {r['size_kb']:.0f} | {r['params']:,} | {r['gmac']:.2f} "
            f"| {r['score']:.3g} | {r['rank']} | {_f(r['report_psnr'], '.2f')} "
            f"| {_f(r['report_ssim'], '.4f')} | {_f(r['report_size_kb'], '.0f')} "
            f"| {_f(r['report_ms'], '.0f')} | {_f(r['report_score'], '.2f')} "
            f"| {_f(r['report_rank'], 'd')} |")
    lines += ["", f"Spearman rank correlation with the report over its {rho['n']} models: PSNR "
              f"{rho['psnr']:.2f}, Final Score {rho['score']:.2f} (scipy.stats.spearmanr).", "",
              f"![PSNR against runtime]({png})", "", *checks(flat, setup), "",
              "## Where this table and the report's disagree", "", *disagreements(flat, rows, setup),
              "", "## Rebuilding the run folders", "",
              "Run folders (`runs/table1/`, not in git) are rebuilt by these commands; a killed "
              "command resumes when run again:", "", "```bash",
              *sorted({r["command"] for r in rows}), "```", ""]
    return "\n".join(lines)


def checks(flat: list[dict], setup: dict) -> list[str]:
    """The issue's targets, checked on the rows."""
    below = [r["model"] for r in flat if r["report_psnr"] is not None and
             (r["psnr"] <= setup["input_psnr"] or r["psnr_sidd"] <= setup["input_psnr_sidd"])]
    best = min(flat, key=lambda r: r["rank"])
    ours = next((r for r in flat if r["model"] == "default"), None)
    unfinished = setup.get("unfinished", [])
    lines = ["Targets:",
             f"- rows: {len(flat)}; every score recomputes from its row's PSNR and CPU ms."
             + "".join(f" Not finished in this run: {m} (resume: `{command}`)."
                       for m, command in unfinished),
             "- every finalist above its noisy input on both sets: "
             + ("yes." if not below else f"no: {', '.join(below)} not above it.")]
    if ours:
        lines.append("- our `default` has the best Final Score: " + (
            "yes." if ours["rank"] == 1 else
            f"no: rank {ours['rank']}, beaten by {', '.join(r['model'] for r in flat if r['rank'] < ours['rank'])} "
            f"(best: {best['model']}, {best['psnr']:.2f} dB at {best['cpu_ms']:.1f} ms)."))
    return lines


def disagreements(flat: list[dict], rows: list[dict], setup: dict) -> list[str]:
    """One paragraph per finalist whose score rank or PSNR rank among the finalists differs
    from the report's, with the facts that explain it: budget, CPU vs Mali, data."""
    finalists = [r for r in flat if r["report_psnr"] is not None]
    order = {k: _order(finalists, k) for k in ("score", "report_score", "psnr", "report_psnr",
                                                "cpu_ms", "report_ms")}
    fastest = min(finalists, key=lambda r: r["cpu_ms"], default=None)
    recipe_steps = {r["model"]: r.get("recipe_steps") for r in rows}
    text = []
    for r in finalists:
        m = r["model"]
        if order["score"][m] == order["report_score"][m] and abs(order["psnr"][m] - order["report_psnr"][m]) < 2:
            continue
        parts = [f"**{m}**: score {order['score'][m]} of {len(finalists)} here, "
                 f"{order['report_score'][m]} in the report; PSNR {order['psnr'][m]} here "
                 f"({r['psnr']:.2f} dB), {order['report_psnr'][m]} there ({r['report_psnr']:.2f} dB)."]
        gain = r["psnr"] - setup["input_psnr"]
        parts.append(f"Budget: {r['steps']} steps ({r['wall_s']:.0f} s, {r['cpu_s']:.0f} CPU s), "
                     f"{100 * r['steps'] / recipe_steps[m]:.0f} % of its recipe's already scaled-down "
                     f"{recipe_steps[m]:,}; {gain:+.2f} dB over the noisy input"
                     + (" (barely off the identity)." if gain < 0.3 else "."))
        if order["cpu_ms"][m] != order["report_ms"][m]:
            parts.append(f"CPU vs Mali: {r['cpu_ms']:.1f} ms here is {r['cpu_ms'] / fastest['cpu_ms']:.1f}× "
                         f"the fastest ({fastest['model']}), on the Mali GPU "
                         f"{r['report_ms']:.0f} ms was {r['report_ms'] / fastest['report_ms']:.1f}× it "
                         f"(runtime rank {order['cpu_ms'][m]} here, {order['report_ms'][m]} there).")
        parts.append("Data: the report scored full training on the challenge's phone photos; "
                     "here every model sees the same DSLR pairs and synthetic noise.")
        text += [" ".join(parts), ""]
    return text or ["None: every finalist keeps its report rank."]


def _order(rows: list[dict], key: str) -> dict[str, int]:
    """1 = best: highest PSNR/score, lowest ms."""
    reverse = not key.endswith("ms")
    ranked = sorted(rows, key=lambda r: r[key], reverse=reverse)
    return {r["model"]: ranked.index(r) + 1 for r in rows}


def plot(flat: list[dict], setup: dict, path: Path) -> None:
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = ((axes[0], flat, "cpu_ms", "psnr", f"here: {setup['budget']} each, CPU (1 thread)",
               "PolyU validation PSNR, dB", setup["input_psnr"]),
              (axes[1], [r for r in flat if r["report_psnr"] is not None], "report_ms",
               "report_psnr", "report: full training, Mali-G78 GPU", "test-set PSNR, dB", None))
    for ax, rows, x, y, title, ylabel, noisy in panels:
        points = [SimpleNamespace(status="ok", psnr=r[y], runtime_ms=r[x], model=r["model"])
                  for r in rows]  # what the search's pareto_front reads
        front = pareto_front(points)
        ax.scatter([p.runtime_ms for p in points], [p.psnr for p in points], c="tab:blue")
        names = {}  # rows at one point (default = fast) share a label
        for p in points:
            names.setdefault((p.runtime_ms, p.psnr), []).append(p.model)
        for (ms, psnr), models in names.items():
            ax.annotate(" = ".join(models), (ms, psnr), fontsize=8, xytext=(4, 3),
                        textcoords="offset points")
        ax.plot([p.runtime_ms for p in front], [p.psnr for p in front], "--", c="tab:red",
                label="Pareto front")
        if noisy is not None:
            ax.axhline(noisy, ls=":", c="0.4", label="noisy input")
        ax.set_xscale("log")
        ax.set_xlabel("runtime at 720×480, ms (log)")
        ax.set_ylabel(ylabel)
        ax.set_title(textwrap.fill(title, 55), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
