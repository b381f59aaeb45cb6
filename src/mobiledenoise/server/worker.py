"""The evaluation worker: a separate process that drains the submission queue.

`python -m mobiledenoise.server.worker --data HIDDEN --state STATE [--phases FILE]`
(`mobiledenoise serve` starts one; `mobiledenoise serve worker` runs one alone).

Loop: recover stale rows → claim the oldest queued submission (lease) → run
`mobiledenoise.server.evaluate_job` in a CHILD process → record the outcome in one transaction.
Design choices:
- The child runs under `setrlimit` CPU-time (RLIMIT_CPU), address-space (RLIMIT_AS) and no
  core dumps, in its own session, killed by the kernel if this worker dies (PR_SET_PDEATHSIG),
  and killed by us at the wall-time limit. A model that crashes LiteRT, hangs or eats memory
  therefore fails its own submission only; the worker carries on with the next one.
- While the child runs the worker renews its lease every third of the lease time. If the lease
  is lost (the row was requeued), the child is killed and nothing is written.
- A SIGTERM/SIGINT stops the worker between submissions; one in progress is handed back to
  the queue at once (not counted as an attempt).
- Error logs are what the participant sees: the hidden folder's path and the hidden image
  names, the state folder, the job folder and the server's install paths are replaced by
  placeholders before they are stored. A model that dies at the memory limit is told so, with
  the limit (LiteRT's own words there are "fails to load").
- Each child works in `STATE/tmp/jobs/mdn-job-<worker pid>-*`; at start a worker removes the
  folders of workers that are gone (a SIGKILL leaves its folder behind).
- A state fault (SQLite or file-system error: read-only folder, full disk, corrupt database)
  is retried with exponential back-off; after `MAX_STATE_FAULTS` in a row the worker stops
  with one line and exit code `EXIT_STATE_FAULT`, which `serve` does not restart.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mobiledenoise.errors import UserError
from mobiledenoise.server.evaluate_job import EXIT_MODEL_ERROR
from mobiledenoise.server.phases import Limits, Phases, load_phases
from mobiledenoise.server.store import Store, describe_fault, this_worker_id

LOG_TAIL_CHARS = 3000
MAX_STATE_FAULTS = 6  # in a row; back-off 0.5, 1, 2, 4, 8 s in between
EXIT_STATE_FAULT = 4
JOB_PREFIX = "mdn-job-"
_PR_SET_PDEATHSIG = 1


class StateFault(Exception):
    """The state folder kept failing; the worker stops (one line, EXIT_STATE_FAULT)."""


@dataclass(frozen=True)
class Outcome:
    result: dict | None = None
    error: str | None = None
    lease_lost: bool = False


def die_with_parent() -> None:
    """preexec_fn: the kernel kills this child when its parent dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the wall-time kill and the leases still apply
        pass


def _limit_child(limits: Limits):
    """preexec_fn: resource limits, and die with the worker."""
    def apply() -> None:
        cpu = int(limits.cpu_seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        memory = int(limits.memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        die_with_parent()
    return apply


def _child_env() -> dict:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"  # thread pools reserve address space the memory limit would count
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def run_child(job: dict, limits: Limits, *, heartbeat=None, heartbeat_every: float = 10.0,
              stop: threading.Event | None = None, tmp_root: Path | None = None) -> Outcome:
    """Run one evaluate_job child under the limits; classify how it ended."""
    if tmp_root is not None:
        tmp_root.mkdir(parents=True, exist_ok=True)
    job = {**job, "memory_mb": limits.memory_mb}
    with tempfile.TemporaryDirectory(prefix=f"{JOB_PREFIX}{os.getpid()}-", dir=tmp_root) as tmp:
        job_file, result_file, log_file = (Path(tmp) / n for n in ("job.json", "result.json", "log.txt"))
        job_file.write_text(json.dumps(job))
        with open(log_file, "wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "mobiledenoise.server.evaluate_job", str(job_file), str(result_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_child_env(),
                start_new_session=True, preexec_fn=_limit_child(limits))
            ended = _wait(child, limits.wall_seconds, heartbeat, heartbeat_every, stop)
        tail = log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip()
        if ended == "lease_lost" or ended == "stopped":
            return Outcome(lease_lost=True)
        if ended == "timeout":
            return Outcome(error=_with_tail(f"the evaluation exceeded the wall-time limit of "
                                            f"{limits.wall_seconds:g} s (model too slow or hanging)", tail))
        payload = json.loads(result_file.read_text()) if result_file.exists() else {}
        if child.returncode == 0 and "result" in payload:
            return Outcome(result=payload["result"])
        if child.returncode == EXIT_MODEL_ERROR and "error" in payload:
            return Outcome(error=_with_tail(payload["error"], tail))
        return Outcome(error=_with_tail(_describe_exit(child.returncode, limits), tail))


def _wait(child: subprocess.Popen, wall_seconds: float, heartbeat, every: float,
          stop: threading.Event | None) -> str:
    deadline = time.monotonic() + wall_seconds
    next_beat = time.monotonic() + every
    while True:
        try:
            child.wait(timeout=0.2)
            return "exited"
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        reason = ("timeout" if now >= deadline else "stopped" if stop is not None and stop.is_set()
                  else None)
        if reason is None and heartbeat is not None and now >= next_beat:
            next_beat = now + every
            reason = None if heartbeat() else "lease_lost"
        if reason is not None:
            _kill(child)
            return reason


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def _describe_exit(code: int, limits: Limits) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        if -code == signal.SIGXCPU or (-code == signal.SIGKILL):
            return (f"the evaluation was killed by {name}: it exceeded the CPU-time limit of "
                    f"{limits.cpu_seconds} s or the memory limit of {limits.memory_mb} MiB")
        return (f"the model crashed the interpreter ({name}); out-of-memory under the "
                f"{limits.memory_mb} MiB limit ends this way too")
    return f"the evaluation process exited with code {code}"


def _with_tail(message: str, tail: str) -> str:
    return f"{message}\n--- evaluation log (last lines) ---\n{tail}" if tail else message


def redact(text: str, hidden_root: Path, state_dir: Path | None = None) -> str:
    """Replace server paths (hidden data, state, job folders, the install) and the hidden image
    names with placeholders: a participant's log shows none of the server's internals."""
    places = [(hidden_root, "<hidden>")] + ([(state_dir, "<state>")] if state_dir else [])
    places += [(Path(__file__).resolve().parents[2], "<server>"), (Path(sys.prefix), "<python>"),
               (Path(sys.base_prefix), "<python>")]
    for folder, placeholder in places:
        for form in sorted({str(folder.resolve()), str(folder)}, key=len, reverse=True):
            text = text.replace(form, placeholder)
    text = re.sub(r"/\S*?" + JOB_PREFIX + r"[\w-]+", "<job>", text)
    names = {p.stem for p in hidden_root.rglob("*") if p.is_file()}
    for name in sorted(names, key=len, reverse=True):
        if len(name) >= 3:
            text = text.replace(name, "<image>")
    return text


class Worker:
    def __init__(self, store: Store, hidden_root: str | Path, phases: Phases, *,
                 lease_seconds: float = 30.0, poll_seconds: float = 0.5, backoff_seconds: float = 0.5):
        self.store, self.hidden_root, self.phases = store, Path(hidden_root), phases
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds
        self.backoff_seconds = backoff_seconds  # first wait after a state fault; doubles
        self.worker_id = this_worker_id()
        self.stop = threading.Event()

    @property
    def jobs_dir(self) -> Path:
        return self.store.state_dir / "tmp" / "jobs"

    def clean_stale_jobs(self) -> list[str]:
        """Remove job folders left by workers that are gone (a SIGKILL skips the cleanup)."""
        removed = []
        for folder in self.jobs_dir.glob(f"{JOB_PREFIX}*") if self.jobs_dir.is_dir() else ():
            pid = folder.name[len(JOB_PREFIX):].split("-", 1)[0]
            if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed

    def run(self, max_idle_polls: int | None = None) -> None:
        """Process submissions until `stop` is set (or the queue stayed empty long enough).

        Raises StateFault after MAX_STATE_FAULTS state errors in a row (backing off between)."""
        idle = faults = 0
        last_recover = 0.0
        self.clean_stale_jobs()
        while not self.stop.is_set():
            try:
                if time.monotonic() - last_recover > self.lease_seconds / 2:
                    self.store.recover()
                    last_recover = time.monotonic()
                worked = self.process_one()
                faults = 0
            except (sqlite3.Error, OSError) as exc:
                faults += 1
                if faults >= MAX_STATE_FAULTS:
                    raise StateFault(f"the state folder {self.store.state_dir} failed {faults} "
                                     f"times in a row ({describe_fault(exc)})") from None
                delay = self.backoff_seconds * 2 ** (faults - 1)
                print(f"worker: state fault {faults}/{MAX_STATE_FAULTS} ({describe_fault(exc)}); "
                      f"retrying in {delay:g} s", file=sys.stderr, flush=True)
                self.stop.wait(delay)
                continue
            if worked:
                idle = 0
                continue
            idle += 1
            if max_idle_polls is not None and idle >= max_idle_polls:
                return
            self.stop.wait(self.poll_seconds)

    def process_one(self) -> bool:
        """Claim and evaluate one submission; False when the queue is empty."""
        submission = self.store.claim(self.worker_id, self.lease_seconds)
        if submission is None:
            return False
        outcome = self._evaluate(submission)
        if outcome.lease_lost:
            if self.stop.is_set():
                self.store.release(submission["id"], self.worker_id)
            return True
        error = None
        if outcome.error is not None:
            limits = self.phases.limits
            error = redact(outcome.error, self.hidden_root, self.store.state_dir) + (
                f"\n(sandbox limits: CPU {limits.cpu_seconds} s, wall {limits.wall_seconds:g} s, "
                f"memory {limits.memory_mb} MiB)")
        self.store.finish(submission["id"], self.worker_id, result=outcome.result, error_log=error)
        return True

    def _evaluate(self, submission: dict) -> Outcome:
        phase = next((p for p in self.phases.phases if p.name == submission["phase"]), None)
        if phase is None:
            return Outcome(error=f"phase {submission['phase']!r} is not in the phases file any more")
        limits = self.phases.limits
        data = phase.data_dir(self.hidden_root)
        job = {"model": str(self.store.model_path(submission["sha256"])),
               "data": None if data is None else str(data),
               "runtime_size": list(self.phases.runtime_size),
               "threads": limits.threads, "runs": limits.runs}
        beat = lambda: self.store.renew(submission["id"], self.worker_id, self.lease_seconds)  # noqa: E731
        return run_child(job, limits, heartbeat=beat, heartbeat_every=self.lease_seconds / 3,
                         stop=self.stop, tmp_root=self.jobs_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mobiledenoise.server.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="hidden pairs folder")
    parser.add_argument("--state", required=True, type=Path, help="server state folder")
    parser.add_argument("--phases", type=Path, default=None, help="phases YAML (default phases if omitted)")
    parser.add_argument("--lease", type=float, default=30.0, help="lease seconds")
    args = parser.parse_args(argv)
    try:
        worker = Worker(Store(args.state), args.data, load_phases(args.phases), lease_seconds=args.lease)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: worker.stop.set())
        print(f"worker {worker.worker_id} polling {args.state}", flush=True)
        worker.run()
    except (UserError, StateFault) as exc:
        message = exc.message if isinstance(exc, UserError) else str(exc)
        print(f"Error: worker stopped: {message}; fix the state folder and restart the worker",
              file=sys.stderr, flush=True)
        return EXIT_STATE_FAULT
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
