"""Plots of `vs_classical.py`: PSNR vs runtime on the timed set, and PSNR per set and method."""

from __future__ import annotations

from pathlib import Path

SKIP = {"bm3d"}  # scored on a cropped subset only: not comparable in the per-set panels


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def psnr_vs_runtime(rows: list, path: Path, title: str) -> None:
    """One labelled point per method/threads: PSNR against ms per megapixel (log x)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {name: f"C{i}" for i, name in enumerate(dict.fromkeys(r.method for r in rows))}
    timed = [r for r in rows if r.method != "identity" and (r.ms_per_mp_photo or r.ms_per_mp)]
    for row in rows:
        if row.method == "identity":
            ax.axhline(row.psnr, color="grey", linestyle="--", linewidth=1)
            ax.annotate("noisy input", (0.01, row.psnr), xycoords=("axes fraction", "data"),
                        fontsize=8, color="grey", va="bottom")
    for row in timed:
        point = (max(row.ms_per_mp_photo or row.ms_per_mp, 1e-3), row.psnr)
        # 1- and 2-thread runs share a PSNR: tell them apart by marker and label side.
        ax.scatter(*point, color=colours[row.method], marker="o" if row.threads == 1 else "^")
        subset = ", subset" if row.n_images < rows[0].n_images else ""
        left = row.threads != 1  # 2-thread labels to the left: the models' points sit close
        ax.annotate(f"{row.method} ({row.threads}t{subset})", point, fontsize=8,
                    xytext=(-5 if left else 5, 3), ha="right" if left else "left",
                    textcoords="offset points")
    ax.set_xscale("log")
    if timed:
        lowest = min((r.ms_per_mp_photo or r.ms_per_mp) for r in timed)
        ax.set_xlim(left=max(lowest, 1e-3) / 8)  # room for labels left of the fastest points
    ax.set(xlabel="milliseconds per megapixel (median, log scale; models: 12 MP photo)",
           ylabel="PSNR (dB)", title=title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _psnr_by_method(rows: list, name: str) -> dict[str, float]:
    out = {}
    for row in rows:
        if row.set == name and row.method not in SKIP and row.method not in out:
            out[row.method] = row.psnr
    if name == "kodak_clean":
        out.pop("identity", None)  # the clean input scores the 100 dB cap against itself
    return out


def psnr_per_set(rows: list, infos: dict[str, dict], path: Path) -> None:
    """A bar panel per real set (own y range), and lines over the synthetic noise levels."""
    plt = _pyplot()
    methods = list(dict.fromkeys(r.method for r in rows if r.method not in SKIP))
    colours = {m: ("grey" if m == "identity" else f"C{i}") for i, m in enumerate(methods)}
    levels = [n for n in infos if n.startswith("kodak_shot")]
    panels = [n for n in infos if n not in levels] + (["levels"] if levels else [])
    cols = min(3, len(panels) + 1)
    n_rows = -(-(len(panels) + 1) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.6 * cols, 3.6 * n_rows), squeeze=False)
    axes = axes.ravel()
    for ax, name in zip(axes, panels):
        if name == "levels":
            for m in methods:
                ys = [_psnr_by_method(rows, n).get(m) for n in levels]
                ax.plot(range(len(levels)), ys, marker="o", color=colours[m],
                        linestyle="--" if m == "identity" else "-")
            ax.set_xticks(range(len(levels)),
                          [f"shot {n.removeprefix('kodak_shot')}\nσ={infos[n]['noise_std']:.1f}"
                           for n in levels], fontsize=8)
            ax.set(title="kodak24 + synthetic camera noise", ylabel="PSNR (dB)")
            ax.grid(True, alpha=0.3)
            continue
        scores = _psnr_by_method(rows, name)
        names = list(scores)
        ax.bar(range(len(names)), [scores[m] for m in names], color=[colours[m] for m in names])
        low, high = min(scores.values()), max(scores.values())
        ax.set_ylim(low - 0.3 * (high - low + 0.5), high + 0.2 * (high - low + 0.5))
        for i, m in enumerate(names):
            ax.annotate(f"{scores[m]:.2f}", (i, scores[m]), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(names)), [])
        ax.set(title=f"{name} (σ={infos[name]['noise_std']:.1f})", ylabel="PSNR (dB)")
        ax.grid(True, axis="y", alpha=0.3)
    legend = axes[len(panels)]
    legend.axis("off")
    legend.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in methods],
                  labels=[m.replace("identity", "noisy input") for m in methods], loc="center",
                  fontsize=9, title="method")
    for ax in axes[len(panels) + 1:]:
        ax.axis("off")
    fig.suptitle("PSNR per validation set (σ: std of noisy − clean, 8-bit)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
