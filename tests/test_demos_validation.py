"""Every learner checks its demonstrations file, its flags and its --load-model file, and stops with one clear sentence
(expected ..., found ...), never a traceback or a silent NaN."""

import os

import numpy as np
import pytest

from conftest import ROOT

LEARNERS = ["bc.py", "gail_ppo.py", "asaf.py", "asaf_w.py"]
ALL_LEARNERS = LEARNERS + ["dagger.py", "aggrevated.py"]
CARTPOLE = os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz")


def write_variant(path, **changes):
    d = dict(np.load(CARTPOLE))
    d.update(changes)
    np.savez(path, **d)
    return path


def with_value(array, value):
    out = array.copy()
    out.flat[3] = value
    return out


def cut(d, n):
    return {k: (v[:n] if v.ndim and len(v) == len(d["observations"]) else v) for k, v in d.items()}


def variants(tmp_path):
    d = dict(np.load(CARTPOLE))
    n = len(d["observations"])
    first_end = int(np.flatnonzero(d["terminations"] | d["truncations"])[0])
    return {
        "missing file": ("CartPole-v1", str(tmp_path / "nope.npz"), "nope.npz"),
        "not an npz": ("CartPole-v1", str(tmp_path / "bad.npz"), None),
        "another env": ("Acrobot-v1", CARTPOLE, "CartPole-v1"),
        "observation shape": (
            "CartPole-v1",
            write_variant(
                tmp_path / "obs.npz",
                observations=np.zeros((n, 5), np.float32),
                next_observations=np.zeros((n, 5), np.float32),
            ),
            None,
        ),
        "action type": (
            "CartPole-v1",
            write_variant(tmp_path / "act.npz", actions=d["actions"].astype(np.float32)[:, None]),
            None,
        ),
        "truncated file": ("CartPole-v1", str(tmp_path / "cut.npz"), None),
        "too few episodes": ("CartPole-v1", str(tmp_path / "one.npz"), None),
        "NaN observation": (
            "CartPole-v1",
            write_variant(tmp_path / "nan.npz", observations=with_value(d["observations"], np.nan)),
            "NaN",
        ),
        "infinite return": (
            "CartPole-v1",
            write_variant(tmp_path / "inf.npz", episode_returns=with_value(d["episode_returns"], np.inf)),
            "infinite",
        ),
        "action out of range": (
            "CartPole-v1",
            write_variant(tmp_path / "range.npz", actions=with_value(d["actions"], 7)),
            "action space",
        ),
    }, first_end


@pytest.mark.parametrize("script", LEARNERS)
@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "not an npz",
        "another env",
        "observation shape",
        "action type",
        "truncated file",
        "too few episodes",
        "NaN observation",
        "infinite return",
        "action out of range",
    ],
)
def test_bad_demos_end_in_one_sentence(run, tmp_path, script, case):
    cases, first_end = variants(tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"this is not a zip file")
    d = dict(np.load(CARTPOLE))
    np.savez(tmp_path / "cut.npz", **cut(d, first_end + 10))  # second episode cut in the middle
    np.savez(tmp_path / "one.npz", **cut(d, first_end + 1))  # exactly one episode, 10 asked for
    env_id, demos, must_name = cases[case]
    r = run(script, "--env-id", env_id, "--demos", demos, "--num-demos", 10, timeout=120)
    assert r.returncode != 0, f"{script} accepted {case}"
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last.lower(), last
    if must_name:
        assert must_name in last, last


@pytest.mark.parametrize("script", LEARNERS)
@pytest.mark.parametrize("num_demos", [0, -1, 26])
def test_num_demos_outside_the_file_is_one_sentence(run, script, num_demos):
    r = run(script, "--env-id", "CartPole-v1", "--num-demos", num_demos, timeout=120)
    assert r.returncode != 0, f"{script} accepted --num-demos {num_demos}"
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last and "--num-demos" in last, last


@pytest.mark.parametrize("script", ALL_LEARNERS)
@pytest.mark.parametrize(
    "flag, value",
    [
        ("--eval-episodes", 0),
        ("--final-eval-episodes", -1),
        ("--learning-rate", "nan"),
        ("--learning-rate", -0.1),
        ("--hidden-sizes", 0),
        ("--seed", -1),
    ],
)
def test_numeric_flags_out_of_range_are_one_sentence(run, script, flag, value):
    r = run(script, "--env-id", "CartPole-v1", flag, value, timeout=120)
    assert r.returncode != 0, f"{script} accepted {flag} {value}"
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last and flag in last, last


@pytest.mark.parametrize("script", ALL_LEARNERS)
def test_load_model_given_a_demos_file_is_one_sentence(run, script):
    r = run(script, "--env-id", "CartPole-v1", "--load-model", CARTPOLE, timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected --load-model" in last and "demos.npz" in last, last


@pytest.mark.parametrize("script", ALL_LEARNERS)
def test_missing_load_model_is_one_sentence(run, tmp_path, script):
    r = run(script, "--env-id", "CartPole-v1", "--load-model", str(tmp_path / "nope.pt"), timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected --load-model" in last and "nope.pt" in last, last


@pytest.mark.parametrize("script", ALL_LEARNERS)
def test_load_model_of_another_script_is_one_sentence(run, tmp_path, script):
    import torch

    path = str(tmp_path / "other.pt")  # a checkpoint with a config for this env but nobody's network in it
    torch.save({"config": {"env_id": "CartPole-v1", "hidden_sizes": [16]}, "policy": {}, "env_id": "CartPole-v1"}, path)
    r = run(script, "--env-id", "CartPole-v1", "--load-model", path, timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last and "other.pt" in last, last
