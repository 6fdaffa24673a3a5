"""cleanup_data.py on a messy folder of real photos: every good photo once, every bad file named."""

import numpy as np
import pytest
from PIL import Image

from colorizer.images import photo_name
from conftest import make_messy_folder, run_script, tree_snapshot


@pytest.fixture(scope="module")
def messy(tmp_path_factory, color_photos):
    """The messy archive, cleaned twice; returns what each run saw and printed."""
    source = tmp_path_factory.mktemp("messy") / "images"
    good, gray, bad = make_messy_folder(source, color_photos[:12])
    before = tree_snapshot(source)
    work = tmp_path_factory.mktemp("work")
    first = run_script("cleanup_data.py", "--source", source, cwd=work)
    after_first = tree_snapshot(work / "images")
    second = run_script("cleanup_data.py", "--source", source, cwd=work)
    return dict(source=source, work=work, good=good, gray=gray, bad=bad, before=before,
                first=first, second=second, after_first=after_first)


def test_each_good_photo_lands_exactly_once(messy):
    written = sorted(p.name for p in (messy["work"] / "images").iterdir())
    assert written == sorted(photo_name(rel) for rel in messy["good"])
    for path in (messy["work"] / "images").glob("*.png"):
        with Image.open(path) as img:
            assert img.size == (112, 112) and img.mode == "RGB"
    assert f"wrote {len(messy['good'])} photos" in messy["first"].stdout
    assert "skipped 1 grayscale and 5 unreadable" in messy["first"].stdout


def test_each_bad_file_is_named_with_its_reason(messy):
    lines = messy["first"].stderr.strip().splitlines()
    assert len(lines) == len(messy["bad"])
    for rel in messy["bad"]:
        assert any(str(messy["source"] / rel) in line for line in lines), rel
    text = messy["first"].stderr
    assert "empty file" in text and "decompression bomb" in text and "truncated" in text
    assert "Traceback" not in text


def test_source_is_unchanged_and_a_second_run_changes_nothing(messy):
    assert tree_snapshot(messy["source"]) == messy["before"]
    assert tree_snapshot(messy["work"] / "images") == messy["after_first"]
    assert "wrote 0 photos" in messy["second"].stdout
    assert f"{len(messy['good'])} already done" in messy["second"].stdout


def test_exif_rotation_and_formats_keep_the_picture(messy, color_photos):
    out = messy["work"] / "images"
    load = lambda rel: np.asarray(Image.open(out / photo_name(rel)), float)
    by_name = {rel.name: rel for rel in messy["good"]}
    upright, rotated = load(by_name["upright.jpg"]), load(by_name["rotated.jpg"])
    assert np.abs(upright - rotated).mean() < 3
    sideways = np.rot90(upright)
    assert np.abs(sideways - rotated).mean() > 10
    deep = load(by_name["deep16.png"])  # 16-bit is scaled down, not clipped to white
    png = load(by_name["photo.png"])
    assert 20 < deep.mean() < 235 and 20 < png.mean() < 235


def test_force_redoes_everything(messy):
    again = run_script("cleanup_data.py", "--source", messy["source"], "--force", cwd=messy["work"])
    assert f"wrote {len(messy['good'])} photos" in again.stdout
    assert tree_snapshot(messy["work"] / "images") == messy["after_first"]


def test_a_second_source_adds_its_photos_and_keeps_the_first_ones(tmp_path, color_photos):
    for source, folder, photo in [("a", "forest", 0), ("b", "beach", 1), ("b", "", 2)]:
        (tmp_path / source / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(color_photos[photo]).save(tmp_path / source / folder / f"p{photo}.jpg")
    run_script("cleanup_data.py", "--source", tmp_path / "a", cwd=tmp_path)
    result = run_script("cleanup_data.py", "--source", tmp_path / "b", cwd=tmp_path)
    assert "wrote 2 photos" in result.stdout
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(
        photo_name(rel) for rel in ("forest/p0.jpg", "beach/p1.jpg", "p2.jpg"))
