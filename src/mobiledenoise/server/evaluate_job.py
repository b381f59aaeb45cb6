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
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mobiledenoise.fileio import write_json_atomically

EXIT_MODEL_ERROR = 3
PUBLIC_KEYS = ("psnr", "ssim", "n", "runtime_ms", "score", "runtime_size",
               "runtime_measured_size", "runtime_scaled", "threads")


def run_job(job: dict) -> dict:
    """Evaluate as the job says; returns only the public aggregate figures."""
    from mobiledenoise.evaluate.runner import evaluate_tflite, measure_runtime

    size = tuple(job.get("runtime_size", (480, 720)))
    threads, runs = int(job.get("threads", 1)), int(job.get("runs", 20))
    if job.get("data") is None:
        from mobiledenoise.deploy.runtime import TFLiteDenoiser

        result = measure_runtime(TFLiteDenoiser(job["model"], threads=threads), size=size, runs=runs)
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
    except UserError as exc:
        write_json_atomically(result_path, {"error": exc.message})
        return EXIT_MODEL_ERROR
    except MemoryError:
        write_json_atomically(result_path, {"error": "the model ran out of memory (MemoryError)"})
        return EXIT_MODEL_ERROR
    except Exception as exc:  # noqa: BLE001 - any failure of a submitted model is its own error
        write_json_atomically(result_path, {"error": f"{type(exc).__name__}: {exc}"})
        return EXIT_MODEL_ERROR
    write_json_atomically(result_path, {"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
