"""One evaluation, run as a child process of the worker:
`python -m mobiledenoise.server.evaluate_job JOB.json RESULT.json`.

The job file says which model to run, on which hidden folder (none in the development phase)
and how to time it. The evaluation is the CLI's own: `evaluate.runner.evaluate_tflite`, or
`evaluate.runner.measure_runtime` alone for the development phase's runtime check. No
TensorFlow is imported here — only LiteRT, numpy and the metrics.

The result file receives only the aggregate figures (never per-image names or values), so
nothing about individual hidden images reaches the database. A bad model ends as
`{"error": ...}` with exit code 3; a crash of the interpreter kills this process, which the
worker reads from the exit status. The worker sets the resource limits before this starts.

Errors are worded for the participant: a stored model or hidden folder that is missing is a
server fault (no path, no "check the path" advice meant for the operator), and a model whose
declared tensors do not fit the memory limit (`memory_mb` in the job) is told that, with the
limit, instead of LiteRT's "fails to load".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mobiledenoise.fileio import write_json_atomically

EXIT_MODEL_ERROR = 3
PUBLIC_KEYS = ("psnr", "ssim", "n", "runtime_ms", "score", "runtime_size",
               "runtime_measured_size", "runtime_scaled", "threads")


class ServerFault(Exception):
    """Something the organiser must fix, not the model."""


def run_job(job: dict) -> dict:
    """Evaluate as the job says; returns only the public aggregate figures."""
    from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE
    from mobiledenoise.evaluate.runner import evaluate_tflite, measure_runtime

    if not Path(job["model"]).is_file():
        raise ServerFault("the server cannot find its stored copy of this model (a server "
                          "fault, not the model's); upload it again or ask the organiser")
    if job.get("data") is not None and not Path(job["data"]).is_dir():
        raise ServerFault("the server's hidden data is unavailable (a server fault, not the "
                          "model's); ask the organiser")

    size = tuple(job.get("runtime_size", CHALLENGE_SIZE))
    threads, runs = int(job.get("threads", 1)), int(job.get("runs", 20))
    if job.get("data") is None:
        from mobiledenoise.deploy.runtime import TFLiteDenoiser

        result = measure_runtime(TFLiteDenoiser(job["model"], threads=threads), size=size,
                                 runs=runs).to_dict()
    else:
        result = evaluate_tflite(job["model"], job["data"], threads=threads, runtime_size=size,
                                 runs=runs, progress=False)
    public = {key: result[key] for key in PUBLIC_KEYS if key in result}
    if "n" in public:
        public["n_images"] = public.pop("n")
    return public


def main(argv: list[str]) -> int:
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text())
    from mobiledenoise.errors import UserError

    try:
        result = run_job(job)
    except ServerFault as exc:
        write_json_atomically(result_path, {"error": str(exc)})
        return EXIT_MODEL_ERROR
    except UserError as exc:
        write_json_atomically(result_path, {"error": _memory_reason(job, exc.message) or exc.message})
        return EXIT_MODEL_ERROR
    except MemoryError:
        write_json_atomically(result_path, {"error": f"the model ran out of the memory limit of "
                                                     f"{job.get('memory_mb', '?')} MiB (MemoryError)"})
        return EXIT_MODEL_ERROR
    except Exception as exc:  # noqa: BLE001 - any failure of a submitted model is its own error
        write_json_atomically(result_path, {"error": f"{type(exc).__name__}: {exc}"})
        return EXIT_MODEL_ERROR
    write_json_atomically(result_path, {"result": result})
    return 0


def _memory_reason(job: dict, message: str) -> str | None:
    """When LiteRT 'fails to load' a model whose declared tensors outgrow the memory limit,
    say that (the limit turns the allocation into an opaque load failure)."""
    limit_mb = job.get("memory_mb")
    if not limit_mb or "fails to load" not in message:
        return None
    from mobiledenoise.deploy.contract import declared_bytes
    from mobiledenoise.deploy.tflite_graph import read_graph

    try:
        graph = read_graph(job["model"])
    except UserError:
        return None
    needed = declared_bytes(graph) + _vm_size()
    if needed < 0.8 * limit_mb * 1024**2:
        return None
    return (f"the model ran out of the memory limit of {limit_mb} MiB while loading: its "
            f"tensors declare {declared_bytes(graph) / 1024**2:,.0f} MiB of activations; reduce "
            "them (fewer channels at full resolution)")


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
