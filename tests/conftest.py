import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def run_script(script, *args, cwd, timeout=600):
    """Run one of the project's scripts as a user would, in `cwd` (runs/ lands there); return the CompletedProcess."""
    cmd = [sys.executable, os.path.join(ROOT, script), *map(str, args)]
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def run(tmp_path):
    def _run(script, *args, timeout=600):
        return run_script(script, *args, cwd=tmp_path, timeout=timeout)

    return _run
