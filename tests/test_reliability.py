"""Round 4 of what a user's machine and files do to the scripts: a user's model is never replaced,
no photo runs a program, a damaged cache or file is one line, nothing waits forever. Each case
runs the real scripts, or the real function, on real files."""

import contextlib
import io
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorizer import config
from conftest import NO_BACKBONE, REPO, TINY, run_script, stderr_lines

RELEASED = config.PRETRAINED_DIR / config.DECODER_FILE


def save_photos(folder, color_photos, count):
    folder.mkdir(parents=True, exist_ok=True)
    for i, photo in enumerate(color_photos[:count]):
        Image.fromarray(photo).save(folder / f"p{i}.jpg")
    return folder


def training_folder(tmp_path, color_photos, count=6, size=112):
    images = tmp_path / "images"
    images.mkdir()
    for i, photo in enumerate(color_photos[:count]):
        Image.fromarray(photo).resize((size, size)).save(images / f"p{i}.png")
    return images


# -- data a user owns ---------------------------------------------------------------------------
def test_make_demo_writes_only_into_its_own_folder(tmp_path, color_photos):
    """A checkout whose models/ holds a model trained for hours and whose images/ holds the
    user's photos: the demo trains and colors in demo/ and touches neither."""
    checkout = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    save_photos(checkout / "images", color_photos, 2)
    (checkout / "models").mkdir(exist_ok=True)
    shutil.copy(RELEASED, checkout / "models" / config.DECODER_FILE)  # stands for the user's
    before = {p: p.read_bytes() for p in [*(checkout / "images").iterdir(),
                                           *(checkout / "models").iterdir()]}
    # The Makefile's virtual environment stands ready: this test's Python is in it.
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "installed").write_text("")
    result = subprocess.run(["make", "demo", "DEMO_EPOCHS=1", f"VENV={venv}",
                             f"BIN={os.path.dirname(sys.executable)}"], cwd=checkout,
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    after = {p: p.read_bytes() for p in [*(checkout / "images").iterdir(),
                                          *(checkout / "models").iterdir()]}
    assert after == before
    assert not (checkout / "test_output" / config.GALLERY_FILE).exists()
    assert (checkout / "demo" / "models" / config.DECODER_FILE).is_file()
    assert (checkout / "demo" / "test_output" / config.GALLERY_FILE).is_file()


def test_a_second_train_into_the_same_models_folder_is_refused(tmp_path, color_photos):
    training_folder(tmp_path, color_photos)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen([sys.executable, str(REPO / "train.py"), *TINY[2:], *NO_BACKBONE,
                              "--epochs", "1000", "--max-minutes", "1"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in first.stdout:  # its summary line: it holds the folder and trains
            if " training and " in line:
                break
        second = run_script("train.py", *TINY, *NO_BACKBONE, cwd=tmp_path, check=False)
        assert second.returncode == 1
        assert stderr_lines(second) == ["train.py: another train.py is writing into models/: "
                                        "wait for it to finish or choose another --models"]
    finally:
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=120)
    assert "stopped by SIGTERM" in out and (tmp_path / "models" / config.DECODER_FILE).is_file()


@pytest.mark.parametrize("name", [config.HISTORY_CSV, config.MAPS_CACHE_DIR])
def test_a_link_in_the_models_folder_is_never_written_through(tmp_path, color_photos, name):
    training_folder(tmp_path, color_photos)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    (tmp_path / "models").mkdir()
    os.symlink(mine / "notes.txt" if name == config.HISTORY_CSV else mine,
               tmp_path / "models" / name)
    result = run_script("train.py", *TINY, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert stderr_lines(result) == [f"train.py: models/{name} is a link: train.py writes its "
                                    "files there itself, never through a link; move it or "
                                    "choose another --models"]
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "the user's"


# -- no photo runs a program --------------------------------------------------------------------
POSTSCRIPT = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
              b"newpath 0 0 moveto 16 16 lineto stroke showpage\n%%EOF\n")


def test_a_postscript_file_named_as_a_photo_never_runs_ghostscript(tmp_path, color_photos):
    bin_dir, called = tmp_path / "bin", tmp_path / "gs-was-called"
    bin_dir.mkdir()
    (bin_dir / "gs").write_text(f"#!/bin/sh\necho \"$@\" > {called}\nexit 1\n")
    (bin_dir / "gs").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    photos = save_photos(tmp_path / "photos", color_photos, 1)
    (photos / "holiday.jpg").write_bytes(POSTSCRIPT)
    colored = run_script("test.py", "--input", photos, "--output", tmp_path / "out", "--models",
                         config.PRETRAINED_DIR, cwd=tmp_path, env=env)
    cleaned = run_script("cleanup_data.py", "--source", photos, "--output", tmp_path / "images",
                         cwd=tmp_path, env=env)
    for result, script in ((colored, "test.py"), (cleaned, "cleanup_data.py")):
        (line,) = stderr_lines(result)
        assert line.startswith(f"{script}: skipped {photos / 'holiday.jpg'}: not an image in a "
                               "photo format")
    assert not called.exists()
    assert (tmp_path / "out" / "p0.png").is_file() and "wrote 1 photos" in cleaned.stdout


def damaged_avif():
    """An AVIF damaged so that Pillow raises RuntimeError, an error of no kind it documents."""
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    buffer = io.BytesIO()
    photo.save(buffer, "AVIF")
    rng = random.Random(0)
    for _ in range(2000):
        data = bytearray(buffer.getvalue())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
        except RuntimeError:
            return bytes(data)
        except Exception:
            continue
    pytest.skip("no mutation of this AVIF raised RuntimeError with this Pillow")


def test_a_photo_pillow_fails_on_with_any_error_is_skipped_by_name(tmp_path, color_photos):
    photos = save_photos(tmp_path / "photos", color_photos, 2)
    (photos / "broken.avif").write_bytes(damaged_avif())
    colored = run_script("test.py", "--input", photos, "--output", tmp_path / "out", "--models",
                         config.PRETRAINED_DIR, cwd=tmp_path)
    cleaned = run_script("cleanup_data.py", "--source", photos, "--output", tmp_path / "images",
                         cwd=tmp_path)
    for result, script in ((colored, "test.py"), (cleaned, "cleanup_data.py")):
        (line,) = stderr_lines(result)
        assert line.startswith(f"{script}: skipped {photos / 'broken.avif'}: ")
    assert "colorized 2 photos" in colored.stdout and "wrote 2 photos" in cleaned.stdout


def bomb(path, inflated=300 * 2**20):
    """A .keras file (a zip) whose config.json inflates to `inflated` bytes of spaces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("config.json", "w", force_zip64=True) as member:
            for _ in range(inflated // 2**20):
                member.write(b" " * 2**20)


def test_a_model_file_that_inflates_is_refused_before_it_is_read(tmp_path, color_photos):
    from colorizer.files import inflation_problem

    bomb(tmp_path / config.DECODER_FILE)
    assert (tmp_path / config.DECODER_FILE).stat().st_size < 2**20
    assert inflation_problem(RELEASED) is None
    photos = save_photos(tmp_path / "photos", color_photos, 1)
    result = run_script("test.py", "--input", photos, "--models", tmp_path, cwd=tmp_path,
                        check=False)
    (line,) = stderr_lines(result)
    assert result.returncode == 1 and line.startswith(
        f"test.py: {tmp_path / config.DECODER_FILE} is not a loadable Keras model (its "
        "config.json inflates to 0.3 GB from ")
    assert line.endswith("MB, a decompression bomb); run train.py again")


def test_backbone_weights_changed_or_crafted_are_one_error(tmp_path, monkeypatch):
    from colorizer.backbone import WeightsError, read_state_dict, read_weights, weights_path
    from test_backbone import Storage, write_legacy

    packaged = Path(weights_path())
    copy = tmp_path / packaged.name  # its name carries the first digits of its SHA-256
    data = bytearray(packaged.read_bytes())
    data[len(data) // 2] ^= 0x10  # one bit of one weight
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256 begins .*: the file is damaged"):
        read_weights(copy)
    assert read_weights(packaged).keys() == read_state_dict(packaged).keys()

    # A stride of 0 over a huge shape would allocate petabytes; a damaged element count
    # overflows the read.
    write_legacy(tmp_path / "w.pth", {"w": (Storage("1", np.zeros(4)), 0, (2**40, 2**20), (0, 0))},
                 monkeypatch)
    with pytest.raises(WeightsError, match="outside its storage"):
        read_state_dict(tmp_path / "w.pth")
    write_legacy(tmp_path / "w.pth", {"w": (Storage("1", np.zeros(4)), 0, (4,), (1,))},
                 monkeypatch)
    data = bytearray((tmp_path / "w.pth").read_bytes())
    data[-24:-16] = struct.pack("<q", 2**62)  # the storage's element count
    (tmp_path / "w.pth").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="not a state dict"):
        read_state_dict(tmp_path / "w.pth")


# -- one damaged thing is one line, and the run goes on or rebuilds -----------------------------
def test_a_damaged_map_cache_is_made_again(color_photos, tmp_path):
    from colorizer.backbone import backbone_model
    from colorizer.data import backbone_maps, cache_folder

    size = 32
    paths = [tmp_path / f"image{i}.png" for i in range(3)]
    for photo, path in zip(color_photos, paths):
        Image.fromarray(photo[:size, :size]).save(path)
    backbone = backbone_model("efficientnet-lite0", size)
    in_memory = backbone_maps(backbone, paths, size)
    cache = cache_folder(tmp_path / "cache", backbone, paths, size)
    backbone_maps(backbone, paths, size, cache)
    first = cache / "lite0_stride8.npy"
    damages = {"cut short": lambda: first.write_bytes(first.read_bytes()[:200]),
               "not .npy": lambda: first.write_bytes(b"not a numpy file"),
               "wrong shape": lambda: np.save(first, np.zeros((2, 4, 4, 40), np.int8)),
               "float16, as before": lambda: np.save(first, np.zeros((3, 4, 4, 40), np.float16)),
               "no scales": (cache / "lite0_stride8.scale.npy").unlink,
               "gone": first.unlink}
    for damage in damages.values():
        damage()
        told = []
        maps = backbone_maps(backbone, paths, size, cache, log=told.append)
        assert len(told) == 1 and told[0].startswith(f"the backbone's maps in {cache}/ are damaged")
        assert told[0].endswith("): it reads the 3 images again")
        assert all(np.array_equal(in_memory[name].codes, m.codes) for name, m in maps.items())
        told.clear()
        backbone_maps(backbone, paths, size, cache, log=told.append)  # whole again
        assert told == [f"the backbone's maps of the 3 images are an earlier run's, in {cache}/"]


@contextlib.contextmanager
def small_disk(folder, size="1m"):
    """A tmpfs of `size` mounted at folder (root only); skips the test where none can be."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small disk here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def test_a_disk_that_fills_while_the_maps_are_written_is_an_error_naming_the_file(tmp_path):
    from colorizer.data import _write_cache

    filled = []
    with small_disk(tmp_path / "disk") as disk:
        folder = disk / "backbone_maps" / "maps-0123456789abcdef"
        with pytest.raises(OSError) as raised:  # 2 MB of maps on a 1 MB disk
            _write_cache(folder, {"lite0_stride8": (1000, 2048)},
                         {"lite0_stride8": np.ones(2048, np.float32)}, filled.append)
        assert raised.value.errno == 28 and "lite0_stride8.npy" in raised.value.filename
        assert filled == [] and list(folder.parent.iterdir()) == []  # nothing half-written


def test_a_dead_runs_temporary_maps_under_this_process_id_are_no_obstacle(tmp_path):
    from colorizer.data import _write_cache

    folder = tmp_path / "backbone_maps" / "maps-0123456789abcdef"
    stale = folder.with_name(f"{folder.name}.tmp{os.getpid()}")  # as PID 1 in a container
    stale.mkdir(parents=True)
    (stale / "lite0_stride8.npy").write_bytes(b"half")
    _write_cache(folder, {"lite0_stride8": (2, 3)}, {"lite0_stride8": np.ones(3, np.float32)},
                 lambda maps: maps)
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


# -- signals, waits and memory ------------------------------------------------------------------
def test_an_interruption_is_never_taken_for_an_error():
    from colorizer.cli import Interrupted

    with pytest.raises(Interrupted):
        try:
            raise Interrupted("SIGINT")
        except Exception:  # as around a model's loading: it must not catch Ctrl-C
            pytest.fail("an `except Exception` caught an interruption")


@contextlib.contextmanager
def silent_proxy():
    """A proxy on localhost that accepts every connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def download(tmp_path, proxy, stall):
    env = {**os.environ, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "HOME": str(tmp_path),
           "KAGGLE_USERNAME": "someone", "KAGGLE_KEY": "0" * 32, "PYTHONUNBUFFERED": "1",
           config.DOWNLOAD_STALL_VARIABLE: str(stall), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, str(REPO / "cleanup_data.py"), "--download"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_download_that_never_answers_gives_up_in_one_line(tmp_path):
    with silent_proxy() as proxy:
        start = time.monotonic()
        out, err = download(tmp_path, proxy, stall=3).communicate(timeout=120)
    assert time.monotonic() - start < 60
    assert err.strip().splitlines()[-1].startswith(
        f"cleanup_data.py: could not download {config.KAGGLE_DATASET} (nothing arrived for 3 s: "
        "a stalled network or proxy?)")


def test_ctrl_c_during_a_download_is_an_interruption_not_a_failure(tmp_path):
    with silent_proxy() as proxy:
        proc = download(tmp_path, proxy, stall=60)
        time.sleep(4)  # kagglehub imported, its first request waiting on the proxy
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "cleanup_data.py: interrupted by SIGINT"


def fake_machine(tmp_path, version, limit, usage, inactive, available=16 * 2**30):
    """A /proc and a cgroup tree as a container shows them: its own group at the mount's root."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text(f"MemTotal: 33554432 kB\nMemAvailable: {available // 1024} kB\n")
    group = tmp_path / "cgroup"
    group.mkdir()
    if version == 2:
        (proc / "self" / "cgroup").write_text("0::/\n")
        mount = f"35 30 0:31 / {group} rw - cgroup2 cgroup2 rw\n"
        files = {"memory.max": limit, "memory.current": usage,
                 "memory.stat": f"anon 1\ninactive_file {inactive}\n"}
    else:
        (proc / "self" / "cgroup").write_text("4:memory:/docker/abc\n3:cpu:/docker/abc\n")
        mount = f"36 30 0:32 /docker/abc {group} rw - cgroup cgroup rw,memory\n"
        files = {"memory.limit_in_bytes": limit, "memory.usage_in_bytes": usage,
                 "memory.stat": f"cache 1\ntotal_inactive_file {inactive}\n"}
    (proc / "self" / "mountinfo").write_text(mount)
    for name, value in files.items():
        (group / name).write_text(f"{value}\n")
    return proc


@pytest.mark.parametrize("version", [1, 2])
def test_the_memory_free_is_a_containers_not_the_hosts(tmp_path, version):
    from colorizer.cli import available_memory

    proc = fake_machine(tmp_path, version, limit=3 * 2**30, usage=2**30, inactive=2**29)
    assert available_memory(str(proc)) == 2 * 2**30 + 2**29
    unlimited = "max" if version == 2 else 2**63 - 4096
    proc = fake_machine(tmp_path / "free", version, limit=unlimited, usage=2**30, inactive=0)
    assert available_memory(str(proc)) == 16 * 2**30


@contextlib.contextmanager
def memory_group(limit):
    """A cgroup v1 memory group limited to `limit` bytes, as a container is (root only)."""
    folder = f"/sys/fs/cgroup/memory/colorizer-test-{os.getpid()}"
    try:
        os.mkdir(folder)
        with open(f"{folder}/memory.limit_in_bytes", "w") as f:
            f.write(str(limit))
    except OSError:
        pytest.skip("cannot make a memory control group here")
    try:
        yield f"echo $$ > {folder}/cgroup.procs && exec"
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def test_a_container_limit_is_named_before_any_work(tmp_path, color_photos):
    from colorizer.images import split_by_original

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(color_photos[0]).resize((8000, 6000)).save(photos / "big.jpg")
    images = training_folder(tmp_path, color_photos, size=1024)
    train, _ = split_by_original(sorted(images.iterdir()), config.RunConfig.val_fraction,
                                 config.RunConfig.seed)
    with memory_group(2 * 2**30) as enter:
        colored = subprocess.run(
            ["sh", "-c", f'{enter} "$0" "$@"', sys.executable, str(REPO / "test.py"), "--input",
             str(photos), "--output", str(tmp_path / "out")], cwd=tmp_path,
            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        trained = subprocess.run(
            ["sh", "-c", f'{enter} "$0" "$@"', sys.executable, str(REPO / "train.py"), "--epochs",
             "1"], cwd=tmp_path, capture_output=True, text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert colored.returncode == 1
    assert [line for line in stderr_lines(colored) if "big.jpg" in line][0].startswith(
        f"test.py: skipped {photos / 'big.jpg'}: 8000x6000 pixels: coloring it at full size "
        "needs about")
    (line,) = stderr_lines(trained)
    assert trained.returncode == 1 and line.startswith(
        f"train.py: training on 1024-px images in batches of {len(train)} needs about ")
    assert line.endswith("GB free here: use smaller images (cleanup_data.py --size 112) or a "
                         "smaller --batch-size")


def test_photos_added_later_never_move_a_photo_across_the_split():
    from colorizer.images import split_by_original

    names = [f"photo{i}.png" for i in range(200)]
    train, val = split_by_original(names[:100], 0.1, 1337)
    more_train, more_val = split_by_original(names, 0.1, 1337)
    assert set(val) == set(more_val) & set(names[:100]) and set(train) <= set(more_train)
    assert 5 <= len(val) <= 20 and 10 <= len(more_val) <= 40
    crops = [f"photo{i}_crop{c}.png" for i in range(3) for c in range(1, 5)]
    train, val = split_by_original([*names[:3], *crops], 0.1, 1337)  # a crop with its photo
    assert val and train and {n.split("_")[0].removesuffix(".png") for n in val}.isdisjoint(
        n.split("_")[0].removesuffix(".png") for n in train)
