"""`mobiledenoise train`: train a registered model from flags or a YAML recipe."""

from __future__ import annotations

from pathlib import Path

import typer

from mobiledenoise.errors import UserError


def train(
    recipe: Path = typer.Argument(None, help="YAML recipe (recipes/<team>.yaml); flags override it."),
    model: str = typer.Option(None, help="Registered model name (see `mobiledenoise zoo list`)."),
    preset: str = typer.Option(None, help="Model preset, e.g. default or tiny."),
    data: list[Path] = typer.Option(None, help="Folder of noisy/clean pairs (repeatable)."),
    val_data: Path = typer.Option(None, help="Validation folder (default: a by-scene split of --data)."),
    steps: int = typer.Option(None, help="Training steps."),
    batch_size: int = typer.Option(None, help="Patches per step."),
    patch_size: int = typer.Option(None, help="Patch side in pixels."),
    loss: str = typer.Option(None, help="Loss, e.g. l1, charbonnier, psnr, l1+0.2*msssim."),
    lr: float = typer.Option(None, help="Peak learning rate."),
    teacher: str = typer.Option(None, help="Run folder or model name to distil from."),
    distribute: str = typer.Option(None, help="none | mirrored | multiworker (tf.distribute)."),
    backend: str = typer.Option(None, help="Keras backend: tensorflow | torch (default: "
                                "$KERAS_BACKEND, else tensorflow)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (resumes if it holds a checkpoint)."),
    set_: list[str] = typer.Option(None, "--set", help="Any recipe key: --set mixup_prob=0.5"),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train a denoiser; killed or interrupted runs resume from the last checkpoint."""
    _select_backend(backend)  # before anything imports keras
    from mobiledenoise.train import config as train_config

    overrides = {"model": model, "preset": preset,
                 "data": [str(d) for d in data] if data else None,
                 "val_data": str(val_data) if val_data else None, "steps": steps,
                 "batch_size": batch_size, "patch_size": patch_size, "loss": loss, "lr": lr,
                 "teacher": teacher, "distribute": distribute}
    overrides.update(train_config.parse_set(set_ or []))
    config = train_config.resolve(recipe, overrides)
    from mobiledenoise.train.trainer import train as run_training

    result = run_training(config, out, progress=not quiet)
    typer.echo(f"trained {config.model} to step {result.steps} in {result.seconds:.0f} s "
               f"(resumed from {result.resumed_from}, {result.replicas} replica(s)); validation PSNR {result.best_val_psnr:.2f} dB "
               f"vs noisy input {result.input_val_psnr:.2f} dB; run folder {result.out_dir}")


def _select_backend(backend: str | None) -> None:
    """Keras reads KERAS_BACKEND once, when it is first imported."""
    import os
    import sys

    if backend is None:
        return
    if backend not in ("tensorflow", "torch"):
        raise UserError(f"expected --backend tensorflow|torch, received {backend!r}")
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        raise UserError(f"expected --backend {backend} before Keras starts, received a process "
                        f"whose Keras already runs on {sys.modules['keras'].backend.backend()}; "
                        f"run `KERAS_BACKEND={backend} mobiledenoise train ...` instead")
    os.environ["KERAS_BACKEND"] = backend


def register(app: typer.Typer) -> None:
    app.command("train")(train)
