"""`mobiledenoise check`: GPU-delegate op audit of a .tflite file (no TensorFlow import).

Exit codes: 0 every op runs on the GPU delegate, 1 some do not (the error log says which),
2 the file is not a readable TFLite model.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_command(
        model: Path = typer.Argument(..., help="The .tflite file to audit."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Audit a .tflite model: ops, size, MACs; exit 1 if any op misses the GPU delegate."""
        from mobiledenoise.deploy.opaudit import audit

        report = audit(model)
        typer.echo(report.to_json() if as_json else report.render())
        if not report.compatible:
            raise typer.Exit(1)
