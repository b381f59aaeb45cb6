"""Pack the training data of the `default` recipes small enough to travel to a rented GPU
machine (a 64 MiB upload here), laid out as `../shared/data` so the recipes run unchanged when
that path points at the pack.

What it holds, and what it changes:
- `polyu_cropped/`: copied byte for byte (real pairs; the validation split is made from it).
- `polyu_full/clean/`: the training scenes' clean frames, copied (the validation scenes of
  the recipes' `exclude` list are left out; the recipes exclude them anyway).
- `clean_photos/<set>/`: every set but `kodak24` (validation only). JPEG files are copied;
  PNG and TIFF ones are re-encoded as JPEG at quality 92 with full-resolution chroma (a
  third of their size). These are clean targets that the sampler shrinks (`synthetic_zoom`)
  and then gives synthetic noise and its own JPEG (quality 80-98).
- Not `polyu_full/noisy/` (82 MB of full-size real noisy frames): on the GPU machine run with
  `--set 'train_only=[]'`; real pairs then come from `polyu_cropped` alone.

    python scripts/pack_gpu_data.py --out gpudata   # then carry gpudata to the GPU machine
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from mobiledenoise.errors import ScriptParser, UserError  # noqa: E402

CLEAN_SETS = ["cbsd68", "mcmaster18", "sunhays80", "urban100"]
JPEG_QUALITY = 92


def main(argv=None) -> int:
    import cv2

    from mobiledenoise.data.pairs import is_excluded
    from mobiledenoise.train.config import load_recipe

    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not (args.data / "polyu_cropped").is_dir():
        raise UserError(f"expected the shared data folder, received {args.data} without "
                        "polyu_cropped/; pass --data PATH/TO/shared/data")
    excluded = load_recipe(REPO / "recipes" / "default.yaml")["exclude"]
    shutil.copytree(args.data / "polyu_cropped", args.out / "polyu_cropped", dirs_exist_ok=True)
    clean = args.out / "polyu_full" / "clean"
    clean.mkdir(parents=True, exist_ok=True)
    for frame in sorted((args.data / "polyu_full" / "clean").iterdir()):
        if not is_excluded(frame.stem, excluded):
            shutil.copy2(frame, clean / frame.name)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY,
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    for name in CLEAN_SETS:
        target = args.out / "clean_photos" / name
        target.mkdir(parents=True, exist_ok=True)
        for photo in sorted((args.data / "clean_photos" / name).iterdir()):
            if photo.suffix.lower() in (".jpg", ".jpeg"):
                shutil.copy2(photo, target / photo.name)
                continue
            image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if image is not None:
                cv2.imwrite(str(target / f"{photo.stem}.jpg"), image, params)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"packed {args.out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
