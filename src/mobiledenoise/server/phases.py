"""Challenge phases, read from a small YAML file.

The report's three phases are three kinds:
- `development`: the runtime check only — the model runs on a synthetic input of
  `runtime_size`; no hidden pair is read, no fidelity score is given;
- `validation`: PSNR, SSIM, runtime and Final Score on the `split` sub-folder of the hidden
  data; the leaderboard is public and ranks each team's best submission;
- `test`: the same evaluation on the test split, but every figure stays hidden until the
  organiser runs `mobiledenoise serve publish`; each team's latest submission is its final one.

The same file holds the worker's sandbox `limits` (CPU seconds, wall seconds, memory MiB,
timing runs, threads) so one file describes a whole challenge run.

One phase is `active` at a time: uploads go to it. Limits (`submissions_per_day`, counted per
UTC day, and `max_submissions` per phase) count only submissions that did not fail, so a model
that crashes does not cost a team its final attempt. `DEFAULT_PHASES` is used when no file is
given; a phase file may override any field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mobiledenoise.errors import UserError
from mobiledenoise.evaluate.metrics import CHALLENGE_SIZE

KINDS = ("development", "validation", "test")

DEFAULT_PHASES_YAML = """\
# Phases of a challenge run with `mobiledenoise serve`. Hidden pairs of a phase live in
# HIDDEN_DIR/<split>/noisy + clean (split "." = HIDDEN_DIR itself).
active: validation
runtime_size: [480, 720]     # H, W of the runtime measurement (the report's 720x480)
limits:                      # per evaluation, enforced on the worker's child process
  cpu_seconds: 900
  wall_seconds: 1200
  memory_mb: 4096
  runs: 20                   # timed runs for the runtime median
  threads: 1
phases:
  - name: development
    kind: development        # runtime check only, no hidden data used
    submissions_per_day: 50
  - name: validation
    kind: validation
    split: validation
    submissions_per_day: 5
  - name: test
    kind: test
    split: test
    submissions_per_day: 1
    max_submissions: 1       # the final submission of each team
"""


@dataclass(frozen=True)
class Phase:
    name: str
    kind: str
    split: str | None = None
    submissions_per_day: int = 5
    max_submissions: int | None = None

    @property
    def scores_hidden(self) -> bool:
        """Test-phase figures are hidden until the organiser publishes them."""
        return self.kind == "test"

    @property
    def uses_hidden_data(self) -> bool:
        return self.kind != "development"

    def data_dir(self, hidden_root: Path) -> Path | None:
        if not self.uses_hidden_data:
            return None
        return hidden_root if self.split in (None, "", ".") else hidden_root / self.split


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 900
    wall_seconds: float = 1200.0
    memory_mb: int = 4096
    runs: int = 20
    threads: int = 1


@dataclass(frozen=True)
class Phases:
    phases: tuple[Phase, ...]
    active: str
    runtime_size: tuple[int, int] = CHALLENGE_SIZE
    limits: Limits = Limits()

    def get(self, name: str) -> Phase:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise UserError(f"expected a phase name ({', '.join(p.name for p in self.phases)}), "
                        f"received {name!r}; check the phases file")

    @property
    def current(self) -> Phase:
        return self.get(self.active)


def load_phases(path: str | Path | None = None) -> Phases:
    """Read a phases YAML file (or the defaults) and check it."""
    if path is None:
        text, origin = DEFAULT_PHASES_YAML, "the default phases"
    else:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"expected a phases YAML file, received {path} which does not exist")
        text, origin = path.read_text(), str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"expected valid YAML in {origin}, received a parse error: {exc}") from None
    return parse_phases(raw, origin)


def parse_phases(raw, origin: str = "the phases file") -> Phases:
    if not isinstance(raw, dict) or not isinstance(raw.get("phases"), list) or not raw["phases"]:
        raise UserError(f"expected a mapping with a non-empty `phases:` list in {origin}, "
                        f"received {type(raw).__name__}; see DEFAULT_PHASES_YAML")
    phases = tuple(_parse_phase(item, origin) for item in raw["phases"])
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise UserError(f"expected unique phase names in {origin}, received {names}")
    active = raw.get("active", names[0])
    size = raw.get("runtime_size", list(CHALLENGE_SIZE))
    if (not isinstance(size, list | tuple) or len(size) != 2
            or not all(isinstance(v, int) and v > 0 for v in size)):
        raise UserError(f"expected runtime_size: [H, W] of positive integers in {origin}, "
                        f"received {size!r}")
    result = Phases(phases, str(active), (int(size[0]), int(size[1])), _parse_limits(raw, origin))
    result.get(result.active)  # the active phase must exist
    return result


def _parse_limits(raw: dict, origin: str) -> Limits:
    values = raw.get("limits") or {}
    known = set(Limits.__dataclass_fields__)
    if not isinstance(values, dict) or set(values) - known:
        raise UserError(f"expected `limits:` with keys {', '.join(sorted(known))} in {origin}, "
                        f"received {values!r}")
    if not all(isinstance(v, int | float) and v > 0 for v in values.values()):
        raise UserError(f"expected positive numbers under `limits:` in {origin}, received {values!r}")
    return Limits(**values)


def _parse_phase(item, origin: str) -> Phase:
    if not isinstance(item, dict) or "name" not in item or "kind" not in item:
        raise UserError(f"expected each phase in {origin} to have `name` and `kind`, received {item!r}")
    unknown = set(item) - {"name", "kind", "split", "submissions_per_day", "max_submissions"}
    if unknown:
        raise UserError(f"expected phase keys name, kind, split, submissions_per_day, "
                        f"max_submissions in {origin}, received unknown {sorted(unknown)}")
    if item["kind"] not in KINDS:
        raise UserError(f"expected a phase kind of {', '.join(KINDS)} in {origin}, "
                        f"received {item['kind']!r} for phase {item['name']!r}")
    per_day = item.get("submissions_per_day", 5)
    if not isinstance(per_day, int) or per_day < 1:
        raise UserError(f"expected submissions_per_day >= 1 for phase {item['name']!r}, received {per_day!r}")
    if item["kind"] != "development" and not item.get("split"):
        raise UserError(f"expected a `split` (sub-folder of the hidden data) for phase "
                        f"{item['name']!r} in {origin}; add e.g. `split: validation`")
    split = item.get("split")
    if split and (Path(str(split)).is_absolute() or ".." in Path(str(split)).parts):
        raise UserError(f"expected `split` to be a sub-folder name, received {split!r}")
    return Phase(str(item["name"]), item["kind"], split and str(split), per_day,
                 item.get("max_submissions"))


def check_hidden_data(phase: Phase, hidden_root: Path) -> None:
    """Fail early (at start-up) when the active phase's hidden pairs are missing."""
    from mobiledenoise.data.pairs import find_pairs

    folder = phase.data_dir(hidden_root)
    if folder is None:
        return
    if not folder.is_dir():
        raise UserError(f"expected hidden pairs for phase {phase.name!r} in {folder}, which does "
                        f"not exist; create {folder}/noisy and {folder}/clean")
    find_pairs(folder)
