import contextlib
import io
import os
import runpy
import subprocess
import sys
import traceback

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("MPLBACKEND", "Agg")
# Scripts run in the test process by default (runpy, as `python script.py ...` would run them, without paying for a
# fresh interpreter and torch import each time); IMITATION_TESTS_SUBPROCESS=1 runs each in its own process instead.
SUBPROCESS = os.environ.get("IMITATION_TESTS_SUBPROCESS") == "1"


def run_script(script, *args, cwd, timeout=600):
    """Run one of the project's scripts as a user would, in `cwd` (runs/ lands there); return the CompletedProcess."""
    cmd = [sys.executable, os.path.join(ROOT, script), *map(str, args)]
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_in_process(script, *args, cwd):
    """`python script args` inside this process: the same exit code, stdout and stderr (an uncaught exception prints
    its traceback to stderr, as the interpreter would), as a CompletedProcess."""
    path = os.path.join(ROOT, script)
    argv = [path, *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    code = 0
    try:
        sys.argv = argv
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as e:
                if e.code is None:
                    code = 0
                elif isinstance(e.code, int):
                    code = e.code
                else:
                    print(e.code, file=sys.stderr)
                    code = 1
            except BaseException:  # what the interpreter would print before exiting with 1
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


@pytest.fixture
def run(tmp_path):
    def _run(script, *args, timeout=600):
        if SUBPROCESS:
            return run_script(script, *args, cwd=tmp_path, timeout=timeout)
        return run_in_process(script, *args, cwd=tmp_path)

    return _run
