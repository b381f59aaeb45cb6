"""What a training run shows while it runs: `log.csv` + TensorBoard scalars (`RunLog`) and a
progress bar with the loss and validation PSNR (`TrainProgress`).

TensorBoard events are written with the `tensorboard` package's record writer and protos, not
`tf.summary`, so a torch-backend run writes the same files without importing TensorFlow.
"""

from __future__ import annotations

import csv
import socket
import time
from pathlib import Path


class ScalarWriter:
    """An `events.out.tfevents.*` file of scalar summaries (what `tf.summary.scalar` writes)."""

    def __init__(self, folder: Path):
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}"
        self._file = (folder / name).open("wb")
        self._records = RecordWriter(self._file)
        self._records.write(Event(wall_time=time.time(), file_version="brain.Event:2")
                            .SerializeToString())

    def write(self, step: int, values: dict) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=k, simple_value=float(v))
                                 for k, v in values.items()])
        self._records.write(Event(wall_time=time.time(), step=step, summary=summary)
                            .SerializeToString())
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class RunLog:
    """log.csv (truncated to the resume step, so a resumed curve has no duplicates) and
    TensorBoard; `enabled=False` (a non-chief worker) writes nothing."""

    def __init__(self, run, start: int, enabled: bool = True):
        self.enabled = enabled
        self.path = run.log
        if not enabled:
            return
        self.tensorboard = ScalarWriter(run.tensorboard)
        rows = []
        if self.path.exists() and start > 0:
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start]
        self.rows = rows
        self._rewrite()

    def _rewrite(self):
        fields = []
        for row in self.rows:
            fields += [k for k in row if k not in fields]
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields or ["step"])
            writer.writeheader()
            writer.writerows(self.rows)

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        new_fields = [k for k in row if self.rows and k not in self.rows[0]]
        self.rows.append({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        if new_fields or len(self.rows) == 1:
            self._rewrite()
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=list(self.rows[0])).writerow(
                    {k: self.rows[-1].get(k, "") for k in self.rows[0]})
        self.tensorboard.write(row["step"], {k: v for k, v in row.items() if k != "step"})

    def close(self) -> None:
        if self.enabled:
            self._rewrite()
            self.tensorboard.close()


class TrainProgress:
    """A rich progress bar showing loss and validation PSNR (silent when disabled)."""

    def __init__(self, enabled: bool, start: int, total: int, input_psnr: float):
        self.enabled, self.start, self.total, self.input_psnr = enabled, start, total, input_psnr
        self.val = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                TextColumn("{task.fields[info]}"), TimeRemainingColumn())
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total, completed=self.start,
                                          info=f"input {self.input_psnr:.2f} dB")
        return self

    def advance(self, row: dict) -> None:
        if not self.enabled:
            return
        if "val_psnr" in row:
            self.val = row["val_psnr"]
        info = f"loss {row['loss']:.4f}"
        if self.val is not None:
            info += f"  val {self.val:.2f} dB (input {self.input_psnr:.2f})"
        self.bar.update(self.task, advance=1, info=info)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
        return False
