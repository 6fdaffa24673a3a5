"""test.py's output folder: each photo's file names, and the manifest (outputs.json) of what a
run wrote there, so that the next run removes those files it does not write again, and nothing
else. No TensorFlow here."""

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

from .config import GALLERY_DIR, GALLERY_FILE, HUE_FILE, METRICS_FILE, OUTPUTS_FILE
from .files import save_text

REPORTS = [GALLERY_FILE, METRICS_FILE, HUE_FILE]  # the page and tables a run may write
# A stem this long (bytes) or longer is cut and given a hash: with "_100.png" or "_original.png"
# after it, a name stays under the 255 bytes most file systems allow.
MAX_STEM_BYTES = 200


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
        base = short(path.stem if counts[path.stem] == 1 else path.name.replace(".", "_"))
        stem, n = base, 1
        while any(sample_name(stem, i) in taken for i in range(samples)):
            n += 1
            stem = f"{base}-{n}"
        taken.update(sample_name(stem, i) for i in range(samples))
        stems.append(stem)
    return stems


def short(stem):
    """stem, or where its bytes reach MAX_STEM_BYTES, a cut of it and a hash of the whole."""
    raw = os.fsencode(stem)
    if len(raw) < MAX_STEM_BYTES:
        return stem
    cut = raw[:MAX_STEM_BYTES - 20].decode("utf-8", errors="ignore")  # whole characters only
    return f"{cut}-{hashlib.sha1(raw).hexdigest()[:8]}"


def photo_files(stem, samples, in_color=True):
    """The names test.py writes for one photo: its samples, its gray and original for the page."""
    return ([sample_name(stem, s) for s in range(samples)] + [f"{GALLERY_DIR}/{stem}_gray.png"]
            + ([f"{GALLERY_DIR}/{stem}_original.png"] if in_color else []))


def read_photo_entries(output_dir):
    """The photos of outputs.json: per photo {"photo", "gray", "samples", "original" (None for a
    grayscale photo)}, names relative to output_dir."""
    return json.loads((Path(output_dir) / OUTPUTS_FILE).read_text(encoding="utf-8"))["photos"]


def entry_files(entry):
    """The files one photo's entry of outputs.json names (None where it has no original)."""
    return (entry["gray"], *entry["samples"], entry["original"])


def read_manifest(output_dir):
    """The files an earlier run of test.py wrote into output_dir, relative to it: an empty set
    where it holds no outputs.json, None where that is not test.py's (then nothing there is
    known to be test.py's)."""
    path = Path(output_dir) / OUTPUTS_FILE
    if not (path.exists() or path.is_symlink()):
        return set()
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(manifest, list):  # before the page and tables were listed: it wrote them all
            manifest = {"photos": manifest, "reports": REPORTS}
        names = {n for e in manifest["photos"] for n in entry_files(e)} | set(manifest["reports"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    # Only plain names inside the folder: an edited list never reaches elsewhere.
    return {n for n in names if isinstance(n, str) and ".." not in Path(n).parts
            and not Path(n).is_absolute()}


def foreign_files(output_dir, names, earlier):
    """Those of names (relative to output_dir) that exist there and that no earlier run of
    test.py wrote (earlier: read_manifest's)."""
    present = [n for n in names if (output_dir / n).exists() or (output_dir / n).is_symlink()]
    return present if earlier is None else [n for n in present if n not in earlier]


def inside(output_dir, name):
    """Whether output_dir / name, links resolved, lies inside output_dir (resolved)."""
    return (Path(output_dir) / name).resolve().is_relative_to(Path(output_dir).resolve())


def write_manifest(output_dir, entries, reports, earlier):
    """Records this run's files (entries: (photo, gray, samples, original) per photo; reports:
    the names of the pages and tables) and removes those of `earlier` it did not write again,
    where they lie inside output_dir whatever links say."""
    photos = [{"photo": title, "gray": gray, "samples": names, "original": original}
              for title, gray, names, original in entries]
    written = {name for e in photos for name in entry_files(e) if name}
    for name in sorted((earlier or set()) - written - set(reports)):
        if inside(output_dir, name):
            (output_dir / name).unlink(missing_ok=True)
    save_text(json.dumps({"photos": photos, "reports": reports}, indent=1),
              output_dir / OUTPUTS_FILE)
