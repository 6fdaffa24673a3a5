"""A user's file is never touched unless this program wrote it; every failure a user can cause
is one line; an interruption leaves a consistent folder. Real files, made here; the released
decoder colors, so no training is needed but where training is what is tested."""

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from PIL import Image

from colorizer import config
from colorizer.outputs import entry_files, read_photo_entries
from conftest import NO_BACKBONE, REPO, TINY, run_script, stderr_lines

RELEASED = config.PRETRAINED_DIR
LONG_STEM = "x" * 230  # a legal name: 234 bytes with ".jpg"


def save_photos(folder, color_photos, names):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(color_photos[i % len(color_photos)][:160, :160]).save(
            os.path.join(os.fsencode(folder), os.fsencode(name)), format="JPEG")
    return folder


def colorize(tmp_path, *args, check=False, umask=None):
    return subprocess.run(
        [sys.executable, str(REPO / "test.py"), "--models", str(RELEASED), *map(str, args)],
        cwd=tmp_path, capture_output=True, text=True, errors="backslashreplace",
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=None if umask is None else (lambda: os.umask(umask)), check=check)


def test_odd_names_links_into_the_output_and_a_private_umask(color_photos, tmp_path):
    names = [b"caf\xe9.jpg", "=SUM(A1).jpg", "-1.jpg", f"{LONG_STEM}.jpg", "plain.jpg"]
    inputs = save_photos(tmp_path / "sel", color_photos, names)
    pics = save_photos(tmp_path / "pics", color_photos[5:], ["cat.png"])  # the user's photo
    before = (pics / "cat.png").read_bytes()
    os.symlink("../pics/cat.png", inputs / "cat.png")
    result = colorize(tmp_path, "--input", inputs, "--output", pics, "--samples", "2",
                      umask=0o077)
    assert result.returncode == 0, result.stderr
    assert (pics / "cat.png").read_bytes() == before  # never replaced by its colorization
    lines = stderr_lines(result)
    assert len(lines) == 1 and "sel/cat.png" in lines[0] and "inside the output folder" in lines[0]
    written = sorted(os.listdir(os.fsencode(pics)))
    assert b"caf\xe9.png" in written and b"caf\xe9_2.png" in written
    assert any(len(n) < 220 and n.startswith(b"x" * 100) for n in written)  # cut, not lost
    for name in written:
        if name != b"cat.png" and (pics / os.fsdecode(name)).is_file():
            assert stat.S_IMODE(os.stat(os.path.join(os.fsencode(pics), name)).st_mode) == 0o600
    with open(pics / config.METRICS_FILE, newline="") as f:
        photos = [row["photo"] for row in csv.DictReader(f)]
    assert "caf\\xe9.jpg" in photos  # the name's bytes, escaped
    assert "'=SUM(A1).jpg" in photos and "'-1.jpg" in photos  # no spreadsheet formula
    page = (pics / config.GALLERY_FILE).read_text(encoding="utf-8")
    assert 'src="caf%E9.png"' in page  # the file's own bytes


def test_a_file_the_program_did_not_write_is_never_replaced(color_photos, tmp_path):
    inputs = save_photos(tmp_path / "in", color_photos, ["a.jpg", "b.jpg"])
    out = tmp_path / "out"
    out.mkdir()
    for name, text in [(config.GALLERY_FILE, "my page"), ("notes.txt", "mine")]:
        (out / name).write_text(text)
    result = colorize(tmp_path, "--input", inputs, "--output", out)
    lines = stderr_lines(result)
    assert result.returncode == 1 and len(lines) == 1, lines
    assert f"{out / config.GALLERY_FILE} was not written by test.py" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == [config.GALLERY_FILE, "notes.txt"]
    assert (out / config.GALLERY_FILE).read_text() == "my page"
    (out / config.GALLERY_FILE).unlink()  # now the folder holds nothing of test.py's names
    assert colorize(tmp_path, "--input", inputs, "--output", out).returncode == 0
    assert (out / config.METRICS_FILE).is_file()
    gray_in = tmp_path / "gray"
    gray_in.mkdir()
    Image.fromarray(color_photos[0]).convert("L").save(gray_in / "g.png")
    assert colorize(tmp_path, "--input", gray_in, "--output", out).returncode == 0
    # Nothing to score this time: the earlier run's tables go, with its photos; the user's stays.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["g.png", "gallery", config.GALLERY_FILE, config.OUTPUTS_FILE, "notes.txt"])


def test_deletions_and_writes_stay_inside_the_output_folder(color_photos, tmp_path):
    inputs = save_photos(tmp_path / "in", color_photos, ["a.jpg"])
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    assert colorize(tmp_path, "--input", inputs, "--output", out).returncode == 0
    save_photos(elsewhere, color_photos, ["keep.jpg"])
    manifest = json.loads((out / config.OUTPUTS_FILE).read_text())
    manifest["photos"][0]["samples"].append("../elsewhere/keep.jpg")  # an edited record
    (out / config.OUTPUTS_FILE).write_text(json.dumps(manifest))
    os.symlink(elsewhere / "keep.jpg", out / "old.png")
    manifest["photos"][0]["samples"].append("old.png")  # a link to a file outside
    (out / config.OUTPUTS_FILE).write_text(json.dumps(manifest))
    assert colorize(tmp_path, "--input", save_photos(tmp_path / "in2", color_photos, ["b.jpg"]),
                    "--output", out).returncode == 0
    assert (elsewhere / "keep.jpg").is_file() and (out / "old.png").is_symlink()
    # A gallery folder that is a link elsewhere: refused before anything is written.
    out2 = tmp_path / "out2"
    out2.mkdir()
    os.symlink(elsewhere, out2 / config.GALLERY_DIR)
    result = colorize(tmp_path, "--input", inputs, "--output", out2)
    assert result.returncode == 1 and len(stderr_lines(result)) == 1
    assert "is a link or a file" in result.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.jpg"]


@pytest.mark.parametrize("build, words", [
    ("keras.Model(g, keras.layers.Conv2D(2, 1)(g))", "takes inputs named (gray)"),
    ("keras.Model([g, z], keras.layers.Conv2D(2, 1)(g))", "takes inputs named (gray, z)"),
    ("keras.Model([z, keras.Input((112, 112, 1), name='grey')], keras.layers.Dense(2)(z))",
     "takes inputs named (z, grey)"),
    ("keras.Model([z, keras.Input((112, 96, 1), name='gray')], keras.layers.Dense(2)(z))",
     "square gray"),
    ("keras.Model([z, g], keras.layers.Conv2D(3, 1)(g))", "its output is (112, 112, 3)"),
    ("keras.Model([z, g, keras.Input((28, 28, 40), name='maps')], keras.layers.Conv2D(2, 1)(g))",
     "its inputs after z and the gray (maps (28, 28, 40)) are no backbone's maps"),
    ("keras.Model([z, g, *(keras.Input(s, name=n) for n, s in [('lite0_stride8', (28, 28, 40)), "
     "('lite0_stride32', (7, 7, 320)), ('lite0_stride16', (14, 14, 112))])], "
     "keras.layers.Conv2D(2, 1)(g))", "are no backbone's maps at 112 px"),
    ("keras.Model([z, g, *(keras.Input(s, name=n) for n, s in [('lite0_stride8', (28, 28, 40)), "
     "('lite0_stride16', (14, 14, 112)), ('lite0_stride32', (7, 7, 32))])], "
     "keras.layers.Conv2D(2, 1)(g))", "lite0_stride32 (7, 7, 32)) are no backbone's maps"),
])
def test_a_model_that_is_not_a_decoder_is_one_line(tmp_path, color_photos, build, words):
    """Inputs in another order, under other names or at other shapes: refused by the Colorizer,
    which alone reads a decoder's inputs."""
    code = ("import sys, keras; z = keras.Input((8,), name='z'); "
            "g = keras.Input((112, 112, 1), name='gray'); "
            f"keras.saving.save_model({build}, sys.argv[1])")
    made = subprocess.run([sys.executable, "-c", code, str(tmp_path / config.DECODER_FILE)],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    inputs = save_photos(tmp_path / "in", color_photos, ["a.jpg"])
    result = run_script("test.py", "--input", inputs, "--models", tmp_path, cwd=tmp_path,
                        check=False)
    lines = stderr_lines(result)
    assert result.returncode == 1 and len(lines) == 1 and "is not a colorizer decoder" in lines[0]
    assert words in lines[0], lines
    assert not (tmp_path / "test_output").exists()


@pytest.mark.parametrize("script, option", [
    ("test.py", "--output"), ("test.py", "--input"), ("test.py", "--models"),
    ("cleanup_data.py", "--source"), ("cleanup_data.py", "--output"),
    ("augment_data.py", "--images"), ("train.py", "--models"), ("train.py", "--images")])
def test_an_empty_path_is_refused_not_taken_as_the_current_folder(tmp_path, script, option):
    (tmp_path / config.GALLERY_FILE).write_text("mine")
    result = run_script(script, option, "", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "must not be empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [config.GALLERY_FILE]


def many_photos(folder, color_photos, n=300):
    return save_photos(folder, color_photos, [f"p{i:03d}.jpg" for i in range(n)])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_leaves_a_folder_that_lists_exactly_what_is_there(color_photos, tmp_path, sig):
    inputs = many_photos(tmp_path / "in", color_photos)
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen([sys.executable, str(REPO / "test.py"), "--models", RELEASED,
                              "--input", inputs, "--output", out, "--samples", "16"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    while not any(out.glob("*_16.png")):  # writing
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = colorize(tmp_path, "--input", inputs, "--output", out)
    assert second.returncode == 1 and stderr_lines(second) == [
        f"test.py: another test.py is writing into {out}/: wait for it to finish or choose "
        "another --output"]
    first.send_signal(sig)
    sent = time.monotonic()
    _, err = first.communicate(timeout=60)
    assert time.monotonic() - sent < 5
    assert first.returncode == 128 + sig and "Traceback" not in err
    (line,) = stderr_lines(subprocess.CompletedProcess([], 0, "", err))
    assert line.startswith(f"test.py: interrupted by {sig.name}: ") and "of 300 photos" in line
    entries = read_photo_entries(out)
    # A color photo's corner can be gray (a black border, the night sky): no original, no scores.
    listed = {n for e in entries for n in entry_files(e) if n is not None}
    present = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert listed == present and 0 < len(entries) < 300
    assert line.split(": ")[2].startswith(f"{len(entries)} of 300 photos")
    with open(out / config.METRICS_FILE) as f:
        assert len(list(csv.DictReader(f))) == sum(e["original"] is not None for e in entries)
    page = (out / config.GALLERY_FILE).read_text()
    assert page.count("<section ") == len(entries)


def peak_rss_mb(tmp_path, *args):
    """test.py with the released decoder in a fresh process; its peak memory, in MB."""
    code = ("import resource, runpy, sys; sys.argv = sys.argv[1:]; "
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    result = subprocess.run([sys.executable, "-c", code, str(REPO / "test.py"), "--models",
                             str(RELEASED), *map(str, args)], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def test_memory_does_not_grow_with_the_samples_at_full_size(color_photos, tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(color_photos[0]).resize((1800, 1200)).save(tmp_path / "in" / "big.jpg")
    few = peak_rss_mb(tmp_path, "--input", tmp_path / "in", "--output", tmp_path / "a",
                      "--samples", "8")
    many = peak_rss_mb(tmp_path, "--input", tmp_path / "in", "--output", tmp_path / "b",
                       "--samples", "16")
    assert many < few + 100, (few, many)  # each sample held would add about 50 MB
    assert len(list((tmp_path / "b").glob("big*.png"))) == 16


def test_a_photo_too_big_for_the_memory_is_named_before_any_work(color_photos, tmp_path):
    from colorizer.images import too_big

    Image.fromarray(color_photos[0]).resize((4000, 3000)).save(tmp_path / "big.jpg")
    reason = too_big(tmp_path / "big.jpg", free=100 * 2**20)
    assert reason.startswith("4000x3000 pixels: coloring it at full size needs about")
    assert reason.endswith("more than the 0.1 GB free; color it with --square")
    assert too_big(tmp_path / "big.jpg", free=16 * 2**30) is None


def test_cleanup_follows_linked_folders_names_loops_and_odd_names(color_photos, tmp_path):
    source, elsewhere = tmp_path / "source", tmp_path / "elsewhere"
    save_photos(source / "n01", color_photos, [b"caf\xe9.jpg", "a.jpg"])
    save_photos(elsewhere / "n02", color_photos[2:], ["b.jpg", "c.jpg"])
    os.symlink(elsewhere / "n02", source / "linked")
    os.symlink(source, source / "n01" / "loop")
    result = run_script("cleanup_data.py", "--source", source, cwd=tmp_path)
    assert "wrote 4 photos" in result.stdout
    assert stderr_lines(result) == [f"cleanup_data.py: skipped {source}/n01/loop: a link to a "
                                    "folder already walked (a loop)"]


def test_cleanup_stops_at_ctrl_c_in_one_line(color_photos, tmp_path):
    source = many_photos(tmp_path / "source" / "n01", color_photos, 1200).parent
    proc = subprocess.Popen([sys.executable, str(REPO / "cleanup_data.py"), "--source", source],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    while not any((tmp_path / "images").glob("*.png")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C: the whole process group
    sent = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 3 and proc.returncode == 130
    (line,) = err.strip().splitlines()
    written = len(list((tmp_path / "images").glob("*.png")))
    assert line.startswith("cleanup_data.py: interrupted by SIGINT: ") and written < 1200
    assert not list((tmp_path / "images").glob(".*.tmp"))  # no half-written file


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the point
def test_a_signal_whose_exception_python_drops_in_a_finalizer_still_stops_the_loop():
    from colorizer.cli import Interrupted, Interruption

    class SignalledWhileFinalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))  # bytecode, where Python runs the handler: its exception is dropped

    with Interruption() as interruption:
        SignalledWhileFinalized()  # collected at once: "Exception ignored in ... __del__"
        with pytest.raises(Interrupted) as raised:
            interruption.raise_if_signalled("what was written")
    assert (raised.value.name, raised.value.outcome) == ("SIGINT", "what was written")


def test_long_names_and_damaged_pngs_are_skipped_by_name(color_photos, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i, img in enumerate(color_photos[:6]):
        Image.fromarray(img).resize((112, 112)).save(images / f"p{i}.png")
    Image.fromarray(color_photos[6]).resize((112, 112)).save(images / f"{'y' * 248}.png")
    Image.fromarray(color_photos[7]).resize((112, 112)).save(images / f"{LONG_STEM}.png")
    damaged = images / "p5.png"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)  # its middle; its end intact
    damaged.write_bytes(bytes(data))
    augment = run_script("augment_data.py", cwd=tmp_path)
    lines = stderr_lines(augment)
    assert len(lines) == 2 and augment.returncode == 0
    assert any("y" * 248 in line and "longer than the 255 bytes" in line for line in lines)
    assert any("p5.png" in line for line in lines)
    assert (images / f"{LONG_STEM}_crop4.png").is_file()  # a long name that fits: augmented
    train = run_script("train.py", *TINY, *NO_BACKBONE, cwd=tmp_path)
    (line,) = stderr_lines(train)
    assert line.startswith("train.py: skipped images/p5.png: damaged (")
    assert "trained 1 epoch " in train.stdout


def test_train_options_and_settings_a_user_gets_wrong_are_one_line(tmp_path, color_photos):
    images = save_photos(tmp_path / "images", color_photos, [])
    for i, img in enumerate(color_photos[:4]):
        Image.fromarray(img).resize((112, 112)).save(images / f"p{i}.png")
    (tmp_path / "file").write_text("")
    models = run_script("train.py", "--models", tmp_path / "file", cwd=tmp_path, check=False)
    assert stderr_lines(models) == [f"train.py: {tmp_path}/file is a file, not a folder: choose "
                                    "another --models"]
    cluster = run_script("train.py", "--strategy", "multiworker", cwd=tmp_path, check=False,
                         env={"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": 0}'})
    (line,) = stderr_lines(cluster)
    assert cluster.returncode == 1 and line.startswith("train.py: TF_CONFIG is malformed (")


@pytest.mark.parametrize("stop", ["timeout", "SIGTERM"])
def test_a_worker_whose_cluster_never_comes_says_so_and_stops(tmp_path, color_photos, stop):
    images = save_photos(tmp_path / "images", color_photos, [])
    for i, img in enumerate(color_photos[:4]):
        Image.fromarray(img).resize((112, 112)).save(images / f"p{i}.png")
    tf_config = {"cluster": {"worker": ["localhost:1", "localhost:2"]},
                 "task": {"type": "worker", "index": 0}}
    env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "3",
           "COLORIZER_WORKER_WAIT": "4" if stop == "timeout" else "120"}
    proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *TINY, "--strategy",
                             "multiworker"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == "train.py: waiting for worker 1 at localhost:2 (TF_CONFIG)\n"
    if stop == "SIGTERM":
        time.sleep(1)
        proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    (line,) = stderr_lines(subprocess.CompletedProcess([], 0, "", err))
    assert line == ("train.py: worker 1 at localhost:2 did not come within 4 s: start train.py on "
                    "every machine of TF_CONFIG, with the same cluster" if stop == "timeout" else
                    "train.py: interrupted by SIGTERM while waiting for worker 1 at localhost:2")


def test_each_error_of_the_disk_is_named_by_its_true_cause(tmp_path):
    import errno

    from colorizer.cli import run
    from colorizer.images import unusable_reason

    assert unusable_reason(tmp_path / "gone.jpg") == "disappeared (deleted or moved during the run)"
    for number, words in [(errno.ENOSPC, "the disk is full: free some space"),
                          (errno.ENOENT, "it disappeared during the run"),
                          (errno.EACCES, "permission denied: choose a folder you can write"),
                          (errno.EIO, "Input/output error")]:
        def fail():
            raise OSError(number, os.strerror(number), "some/file.png")
        with pytest.raises(SystemExit) as stopped:
            run(fail, "x.py")
        assert str(stopped.value.code) == f"x.py: some/file.png: {words}" or \
            str(stopped.value.code).startswith(f"x.py: some/file.png: {words}")
        if number != errno.ENOSPC:
            assert "free some space" not in str(stopped.value.code)


def test_an_earlier_versions_record_still_counts_as_test_pys_own(tmp_path):
    from colorizer.outputs import read_manifest

    entry = {"photo": "a.jpg", "gray": "gallery/a_gray.png", "samples": ["a.png"],
             "original": None}
    (tmp_path / config.OUTPUTS_FILE).write_text(json.dumps([entry]))  # a bare list of photos
    assert read_manifest(tmp_path) == {"gallery/a_gray.png", "a.png", config.GALLERY_FILE,
                                       config.METRICS_FILE, config.HUE_FILE}
    (tmp_path / config.OUTPUTS_FILE).write_text("my notes")
    assert read_manifest(tmp_path) is None  # not test.py's: nothing there is known to be


def test_a_photo_damaged_after_the_check_is_one_line_not_a_hang(color_photos, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i, img in enumerate(color_photos[:6]):
        Image.fromarray(img).resize((112, 112)).save(images / f"p{i}.png")
    damaged = images / "p5.png"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    # As if damaged once training had begun: train.py's own check, run first, finds nothing.
    code = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[2:]; "
            "g = runpy.run_path(sys.argv[0]); module = g['main'].__globals__; "
            "module['training_images'] = lambda folder: sorted(folder.glob('*.png')); "
            "sys.exit(g['run'](g['main'], 'train.py'))")
    result = subprocess.run([sys.executable, "-c", code, str(REPO), str(REPO / "train.py"),
                             "--epochs", "1", "--batch-size", "4", "--width", "8"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    (line,) = [n for n in stderr_lines(result) if n.startswith("train.py")]
    assert result.returncode == 1 and line.startswith(
        "train.py: training stopped: images/p5.png is damaged (")
