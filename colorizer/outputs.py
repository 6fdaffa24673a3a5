"""test.py's output folder (OutputFolder): kept apart from the photos, one run at a time, each
photo's file names, and the manifest (outputs.json) of what a run wrote there, so that the next
run removes those files it does not write again, and nothing else. No TensorFlow here."""

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

from . import UserError
from .config import GALLERY_DIR, GALLERY_FILE, HUE_FILE, METRICS_FILE, OUTPUTS_FILE
from .files import folder_lock, save_png, save_text
from .images import folders_overlap

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


class OutputFolder:
    """The folder test.py writes into, the one owner of what it holds: it never lies where the
    photos are (a photo.png would be overwritten by its colors), takes one run at a time, never
    replaces a file test.py did not write, and lists what it wrote (outputs.json)."""

    def __init__(self, path, input_path):
        """UserError where path cannot be the output folder for the photos at input_path."""
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path} is a file, not a folder: choose another --output")
        gallery = self.path / GALLERY_DIR
        if gallery.is_symlink() or (gallery.exists() and not gallery.is_dir()):
            raise UserError(f"{gallery} is a link or a file, not test.py's folder: test.py "
                            "writes only inside its output folder; move it or choose another "
                            "--output")
        if Path(input_path).is_file():
            folder = Path(input_path).resolve().parent
            clash = folder in (self.path.resolve(), gallery.resolve())
        else:
            folder, clash = input_path, folders_overlap(input_path, self.path)
        if clash:
            raise UserError(f"--output {self.path} and the photos' folder {folder} are the same "
                            "or inside one another: choose an output folder apart from the photos")
        self.earlier = set()

    def holds(self, path):
        """Whether path, links resolved, lies inside this folder (its colors would replace it)."""
        return Path(path).resolve().is_relative_to(self.path.resolve())

    def lock(self):
        """The folder to this run alone: a second test.py into it is refused in one line."""
        return folder_lock(self.path, f"another test.py is writing into {self.path}/: wait for "
                                      "it to finish or choose another --output")

    def claim(self, paths, samples):
        """Each photo's output stem, once no name this run writes holds a file that test.py did
        not write there (outputs.json lists what it wrote): such a file is never replaced."""
        self.earlier = read_manifest(self.path)
        stems = output_stems(paths, samples)
        names = [n for stem in stems for n in photo_files(stem, samples)] + REPORTS
        if self.earlier is None:
            names.append(OUTPUTS_FILE)
        if foreign := foreign_files(self.path, names, self.earlier):
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise UserError(f"{self.path / foreign[0]}{more} was not written by test.py (it is "
                            f"not in {self.path / OUTPUTS_FILE}), and test.py never replaces a "
                            "file of yours: move it or choose another --output")
        return stems

    def save_png(self, name, img):
        (self.path / name).parent.mkdir(exist_ok=True)  # the gallery's folder
        save_png(img, self.path / name)

    def write_reports(self, entries, reports):
        """Writes the reports ({name: text}: the page and tables) and the manifest of this run's
        files (entries: (photo, gray, samples, original) per photo); removes the files of the
        run before that this one did not write again."""
        for name, text in reports.items():
            save_text(text, self.path / name)
        write_manifest(self.path, entries, list(reports), self.earlier)
