"""The four scripts run as a user runs them, in a fresh process: for the benchmarks and the tests."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_script(script, *args, cwd=None, check=True, env=None, timeout=None):
    """One of the scripts in the repository root, its output captured as text; with check, a
    failure raises with what it printed. TensorFlow's own log lines are held back."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    result = subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(map(str, args))} failed:\n{result.stdout}\n"
                           f"{result.stderr[-2000:]}")
    return result


def prepare_photos(source, images):
    """cleanup_data.py from source into images, then augment_data.py: a training folder.
    Returns the two scripts' outputs."""
    return [run_script("cleanup_data.py", "--source", source, "--output", images),
            run_script("augment_data.py", "--images", images)]
