"""File helpers: names, crops, the split by original photo."""

from pathlib import Path

from PIL import Image

from colorizer.images import (corner_crops, crop_name, is_crop, open_rgb, original_stem,
                              photo_name, sample_photo_paths, split_by_original, square)


def test_photo_names_are_unique_flat_and_safe():
    a = photo_name(Path("n01/n01_dog.JPEG"))
    b = photo_name(Path("n02/n01_dog.JPEG"))
    odd = photo_name(Path("n03/../../ét é/x y.jpg"))
    assert a != b and a.startswith("n01_dog-") and a.endswith(".png")
    assert "/" not in odd and " " not in odd and odd.isascii()


def test_crops_name_back_to_their_original():
    original = Path("images/n01_dog-0123abcd.png")
    crops = [Path("images") / crop_name(original, i) for i in range(1, 5)]
    assert len(set(crops)) == 4
    assert all(is_crop(c) and original_stem(c) == original.stem for c in crops)
    assert not is_crop(original) and original_stem(original) == original.stem


def test_split_keeps_crops_of_one_photo_together():
    paths = [Path(f"p{i}-00000000.png") for i in range(20)]
    paths += [Path(crop_name(p, k)) for p in paths for k in range(1, 5)]
    train, val = split_by_original(paths, 0.1, seed=3)
    assert len(train) + len(val) == len(paths) and val
    assert not {original_stem(p) for p in train} & {original_stem(p) for p in val}
    assert split_by_original(paths, 0.1, seed=3) == (train, val)


def test_square_and_corner_crops_of_a_real_photo():
    img_sq = square(open_rgb(sample_photo_paths()[1]), 112)  # chelsea, 451x300
    assert img_sq.size == (112, 112) and img_sq.mode == "RGB"
    crops = corner_crops(img_sq)
    assert [c.size for c in crops] == [(112, 112)] * 4
    assert len({c.tobytes() for c in crops}) == 4


def test_transparent_png_is_flattened_on_white(tmp_path):
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert open_rgb(tmp_path / "clear.png").getpixel((5, 5)) == (255, 255, 255)


def test_output_stems_never_share_a_file():
    from colorizer.outputs import output_stems, sample_name

    paths = [Path(n) for n in ("cat.jpg", "cat_2.jpg", "cat.png", "cat_2-2.jpg", "dog.jpg")]
    for samples in (1, 2, 3):
        stems = output_stems(paths, samples)
        names = [sample_name(s, i) for s in stems for i in range(samples)]
        assert len(names) == len(set(names)) == len(paths) * samples
    assert output_stems(paths, 1)[-1] == "dog"  # a free stem stays as it is
    assert output_stems([Path("cat.jpg"), Path("cat_2.jpg")], 2) == ["cat", "cat_2-2"]


def test_whole_pngs_tell_from_cut_ones(tmp_path):
    from colorizer.files import save_png
    from colorizer.images import is_whole_png

    save_png(Image.new("RGB", (20, 20), "red"), tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-20])
    (tmp_path / "empty.png").write_bytes(b"")
    assert is_whole_png(tmp_path / "whole.png")
    assert not any(is_whole_png(tmp_path / n) for n in ("cut.png", "empty.png", "missing.png"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries
    assert (tmp_path / "whole.png").stat().st_mode & 0o777 == 0o644


def test_png_encoding_keeps_every_pixel_of_gray_and_color():
    import io

    import numpy as np
    import pytest

    from colorizer.files import encode_png

    rng = np.random.default_rng(0)
    photo = np.asarray(square(open_rgb(sample_photo_paths()[0], 112), 112))
    for pixels in (photo, photo[..., 1], rng.integers(0, 256, (7, 5, 3), np.uint8),
                   np.full((1, 1), 255, np.uint8)):
        with Image.open(io.BytesIO(encode_png(pixels))) as img:
            assert img.mode == ("RGB" if pixels.ndim == 3 else "L")
            assert np.array_equal(np.asarray(img), pixels)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(Image.fromarray(photo))))),
                          photo)
    for bad in (photo.astype(np.float32), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(ValueError):
            encode_png(bad)
