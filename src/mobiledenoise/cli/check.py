"""`mobiledenoise check`: the challenge server's upload check, run locally (no TensorFlow import).

It prints the GPU-delegate op audit, then applies the server's model contract
(`deploy.contract`: one 1×H×W×3 input and output, float32/int8/uint8, sane declared sizes) and
loads the model with LiteRT, as the server's worker will. The parse is the server's own
bounded one (`deploy.tflite_graph`), so a hostile file is refused, not expanded.

Exit codes: 0 the server would accept it, 1 some op misses the GPU delegate (the error log
says which), 2 the file is not a readable TFLite model, breaks the contract or does not load.
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
        """Check a .tflite as the challenge server will: contract, ops, size, MACs, loading."""
        from mobiledenoise.deploy.contract import check_contract
        from mobiledenoise.deploy.opaudit import audit_graph
        from mobiledenoise.deploy.tflite_graph import read_graph

        graph = read_graph(model)
        report = audit_graph(graph)
        typer.echo(report.to_json() if as_json else report.render())
        check_contract(graph)  # UserError: one line, exit 2
        if not report.compatible:
            raise typer.Exit(1)
        _check_loads(model)


def _check_loads(model: Path) -> None:
    """LiteRT builds and allocates the interpreter (the worker's first step), or UserError."""
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    TFLiteDenoiser(model, threads=1)
