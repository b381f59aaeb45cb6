"""`mobiledenoise score`: the challenge's Final Score from PSNR and runtime."""

from __future__ import annotations

import typer


def score(
    psnr: float = typer.Option(..., help="PSNR in dB."),
    runtime_ms: float = typer.Option(..., help="Runtime at 720×480 in milliseconds."),
) -> None:
    """Final Score = 2^(2·PSNR) / (2^64 · runtime_ms), as in MAI 2021 Table 1."""
    from mobiledenoise.evaluate.metrics import final_score

    typer.echo(f"{final_score(psnr, runtime_ms):.2f}")


def register(app: typer.Typer) -> None:
    app.command("score")(score)
