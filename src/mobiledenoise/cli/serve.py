"""`mobiledenoise serve`: run a denoising challenge on your own hidden data.

    mobiledenoise serve --data HIDDEN_DIR --state STATE_DIR [--phases phases.yaml] [--host --port]
    mobiledenoise serve add-team NAME --state STATE_DIR      # prints the team's token once
    mobiledenoise serve publish --state STATE_DIR [--phase test]
    mobiledenoise serve worker --data HIDDEN_DIR --state STATE_DIR
    mobiledenoise serve backup --state STATE_DIR -o server-backup.sqlite3   # safe while serving

`serve` starts the web server (uvicorn, 127.0.0.1 by default) and one worker process, which it
restarts if it dies; the worker is killed with the server. Heavy imports happen in the commands.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import typer

from mobiledenoise.errors import UserError


def register(app: typer.Typer) -> None:
    serve_app = typer.Typer(help="Run the challenge server (uploads, worker, leaderboard).",
                            invoke_without_command=True, no_args_is_help=False)
    serve_app.callback(invoke_without_command=True)(serve)
    serve_app.command("add-team")(add_team)
    serve_app.command("publish")(publish)
    serve_app.command("worker")(worker)
    serve_app.command("backup")(backup)
    app.add_typer(serve_app, name="serve")


def serve(ctx: typer.Context,
          data: Path = typer.Option(None, "--data", help="Hidden pairs: <split>/noisy + clean."),
          state: Path = typer.Option(None, "--state", help="Server state folder (SQLite, models)."),
          phases: Path = typer.Option(None, "--phases", help="Phases YAML (default phases if omitted)."),
          host: str = typer.Option("127.0.0.1", help="Address to bind; keep loopback unless proxied."),
          port: int = typer.Option(8000, help="TCP port.")) -> None:
    """Start the web server and the evaluation worker."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None or state is None:
        raise UserError("expected --data HIDDEN_DIR and --state STATE_DIR, received "
                        f"{'neither' if data is None and state is None else 'only one'}; "
                        "e.g. mobiledenoise serve --data hidden --state state")
    import uvicorn

    from mobiledenoise.server.app import create_app
    from mobiledenoise.server.phases import check_hidden_data, load_phases

    loaded = load_phases(phases)
    check_hidden_data(loaded.current, data)
    server_app = create_app(state, data, loaded)
    stop = threading.Event()
    supervisor = threading.Thread(target=_supervise_worker, args=(data, state, phases, stop), daemon=True)
    supervisor.start()
    typer.echo(f"serving phase {loaded.active!r} on http://{host}:{port} (state {state})")
    try:
        uvicorn.run(server_app, host=host, port=port, log_level="info")
    finally:
        stop.set()
        supervisor.join(timeout=10)


def _worker_command(data: Path, state: Path, phases: Path | None) -> list[str]:
    command = [sys.executable, "-m", "mobiledenoise.server.worker", "--data", str(data), "--state", str(state)]
    return command + (["--phases", str(phases)] if phases else [])


def _supervise_worker(data: Path, state: Path, phases: Path | None, stop: threading.Event,
                      max_quick_failures: int = 5) -> None:
    """Keep one worker process alive while the server runs; stop it with the server.

    A worker that stops on a state fault (EXIT_STATE_FAULT) is not restarted: the folder needs
    the operator. Other exits are restarted with back-off (1, 2, 4 ... 60 s); after
    `max_quick_failures` exits in a row within a minute of starting, the supervisor gives up."""
    import time

    from mobiledenoise.server.worker import EXIT_STATE_FAULT, die_with_parent

    quick_failures = 0
    while not stop.is_set():
        started = time.monotonic()
        process = subprocess.Popen(_worker_command(data, state, phases), preexec_fn=die_with_parent,
                                   stderr=_real_stderr())
        while process.poll() is None and not stop.wait(0.5):
            pass
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return
        if process.returncode == EXIT_STATE_FAULT:
            typer.echo("Error: the evaluation worker stopped on a state fault (see above); "
                       "uploads are not evaluated until the state folder is fixed and the "
                       "server restarted", err=True)
            return
        quick_failures = quick_failures + 1 if time.monotonic() - started < 60 else 1
        if quick_failures >= max_quick_failures:
            typer.echo(f"Error: the evaluation worker exited {quick_failures} times in a row "
                       f"(last code {process.returncode}); not restarting it, see its log above",
                       err=True)
            return
        delay = min(60.0, 2.0 ** (quick_failures - 1))
        typer.echo(f"worker exited with code {process.returncode}; restarting it in {delay:g} s",
                   err=True)
        stop.wait(delay)


def _real_stderr():
    """Python's sys.stderr when it is a real file (`cli.quiet` keeps it on the terminal while
    fd 2 goes to /dev/null); None (inherit fd 2) when it is an in-memory stream."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


def add_team(name: str = typer.Argument(..., help="Team name (letters, digits, ' _.-')."),
             state: Path = typer.Option(..., "--state", help="Server state folder.")) -> None:
    """Create a team and print its API token (shown only once)."""
    from mobiledenoise.server.store import Store

    token = Store(state).add_team(name)
    typer.echo(token)


def publish(state: Path = typer.Option(..., "--state", help="Server state folder."),
            phase: str = typer.Option("test", help="Phase whose hidden scores to reveal."),
            phases: Path = typer.Option(None, "--phases", help="Phases YAML of the server.")) -> None:
    """Reveal the scores of a test phase on the leaderboard and in the API."""
    from mobiledenoise.server.phases import load_phases
    from mobiledenoise.server.store import DB_NAME, Store

    if not (state / DB_NAME).is_file():
        raise UserError(f"expected a server state folder, received {state} without {DB_NAME}; "
                        "pass the --state of your server")
    load_phases(phases).get(phase)  # a typo is an error, not a silent no-op
    Store(state).publish(phase)
    typer.echo(f"published phase {phase!r}")


def worker(data: Path = typer.Option(..., "--data", help="Hidden pairs folder."),
           state: Path = typer.Option(..., "--state", help="Server state folder."),
           phases: Path = typer.Option(None, "--phases", help="Phases YAML.")) -> None:
    """Run the evaluation worker alone (the server's own worker does the same)."""
    from mobiledenoise.server.worker import main

    raise typer.Exit(main(_worker_command(data, state, phases)[3:]))


def backup(state: Path = typer.Option(..., "--state", help="Server state folder."),
           out: Path = typer.Option(..., "-o", "--out", help="Backup file to write (new).")) -> None:
    """Copy the server database with SQLite's online backup (consistent while serving)."""
    from mobiledenoise.server.store import DB_NAME, Store

    if not (state / DB_NAME).is_file():
        raise UserError(f"expected a server state folder, received {state} without {DB_NAME}; "
                        "pass the --state of your server")
    if out.exists():
        raise UserError(f"expected a new backup path, received {out} which exists; choose another")
    Store(state).backup(out)
    typer.echo(f"backed up {state / DB_NAME} to {out}; copy {state / 'models'} beside it "
               "(files are immutable, any copy tool will do)")
