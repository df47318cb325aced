"""Every Python file passes `ruff format --check` and `ruff check` (line length 120, ruff.toml)."""

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def ruff(*args):
    exe = shutil.which("ruff")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "ruff", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("args", [("format", "--check", "."), ("check", ".")])
def test_ruff(args):
    r = ruff(*args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
