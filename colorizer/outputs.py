"""test.py's output folder: each photo's file names, and the manifest (outputs.json) of what a
run wrote there, so that the next run removes those files it does not write again, and nothing
else. No TensorFlow here."""

import json
from collections import Counter
from pathlib import Path

from .config import OUTPUTS_FILE
from .files import save_text


def sample_name(stem, index):
    """test.py's file name for the index-th (0-based) colorization of the photo with this stem."""
    return f"{stem}.png" if index == 0 else f"{stem}_{index + 1}.png"


def output_stems(paths, samples):
    """test.py's output stem per photo: its own stem where that is free, else its whole name,
    else that with a number, so that no two photos' samples share a file (cat.jpg's second
    sample and cat_2.jpg's first would both be cat_2.png)."""
    counts = Counter(Path(p).stem for p in paths)
    taken, stems = set(), []
    for path in map(Path, paths):
        base = path.stem if counts[path.stem] == 1 else path.name.replace(".", "_")
        stem, n = base, 1
        while any(sample_name(stem, i) in taken for i in range(samples)):
            n += 1
            stem = f"{base}-{n}"
        taken.update(sample_name(stem, i) for i in range(samples))
        stems.append(stem)
    return stems


def read_photo_entries(output_dir):
    """The photos of outputs.json: per photo {"photo", "gray", "samples", "original" (None for a
    grayscale photo)}, names relative to output_dir."""
    return json.loads((Path(output_dir) / OUTPUTS_FILE).read_text(encoding="utf-8"))["photos"]


def read_manifest(output_dir):
    """The files an earlier run of test.py wrote into output_dir, relative to it."""
    try:
        manifest = json.loads((output_dir / OUTPUTS_FILE).read_text(encoding="utf-8"))
        names = {n for e in manifest["photos"] for n in (e["gray"], *e["samples"], e["original"])}
        names |= set(manifest["reports"])
    except (OSError, ValueError, TypeError, KeyError):  # none yet, or damaged: clear nothing
        return set()
    # Only plain names inside the folder: an edited list never reaches elsewhere.
    return {n for n in names if isinstance(n, str) and ".." not in Path(n).parts
            and not Path(n).is_absolute()}


def write_manifest(output_dir, entries, reports, earlier):
    """Records this run's files (entries: (photo, gray, samples, original) per photo; reports:
    the names of the pages and tables) and removes those of `earlier` it did not write again."""
    photos = [{"photo": title, "gray": gray, "samples": names, "original": original}
              for title, gray, names, original in entries]
    written = {name for e in photos for name in (e["gray"], *e["samples"], e["original"]) if name}
    for name in earlier - written - set(reports):
        (output_dir / name).unlink(missing_ok=True)
    save_text(json.dumps({"photos": photos, "reports": reports}, indent=1),
              output_dir / OUTPUTS_FILE)
