"""The plumbing block (fail, env seeds, flag checks, load_demos, evaluate, the summary, checkpoints) is byte-identical
in every learner, follows the algorithm, and a script copied out of the repository still runs alone."""

import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("sync_plumbing", os.path.join(ROOT, "benchmark", "sync_plumbing.py"))
sync_plumbing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync_plumbing)
LEARNERS = sync_plumbing.LEARNERS


def test_blocks_are_byte_identical():
    blocks = {name: sync_plumbing.block_of(os.path.join(ROOT, name)) for name in LEARNERS}
    reference = blocks["asaf_w.py"]
    differ = [name for name, block in blocks.items() if block != reference]
    assert not differ, f"plumbing blocks differ from asaf_w.py's in {differ}: run benchmark/sync_plumbing.py"


@pytest.mark.parametrize("name", LEARNERS)
def test_block_comes_after_the_algorithm_and_before_main(name):
    text = open(os.path.join(ROOT, name)).read()
    first, last = sync_plumbing.find_block(text, name)
    lines = text.split("\n")
    main = lines.index('if __name__ == "__main__":')
    assert last < main, f"{name}: the block must come before the main section"
    assert any(line.startswith("class ") or line.startswith("def ") for line in lines[:first]), name


def test_env_seeds_are_disjoint_across_purposes_and_seeds():
    import asaf_w

    seen = set()
    for seed in (0, 1, 2, 3, 99_999):
        for purpose in ("train", "eval", "final"):
            s = set(asaf_w.env_seeds(seed, purpose, 10_000))
            assert not s & seen
            seen |= s


def test_two_runs_started_in_the_same_second_get_directories_of_their_own(tmp_path, monkeypatch):
    """The run name carries whole seconds: two runs of one env, exp-name and seed started in the same second (one
    seed under two protocols, say) once shared a directory, and the second's summary and resume.pt overwrote the
    first's."""
    import asaf_w

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(asaf_w.time, "time", lambda: 1_700_000_000.5)
    args = asaf_w.Args(env_id="CartPole-v1")
    names = []
    for _ in range(3):
        name, writer = asaf_w.start_run(args)
        writer.close()
        names.append(name)
    assert len(set(names)) == 3
    assert all((tmp_path / "runs" / name).is_dir() for name in names)
    resumed, writer = asaf_w.start_run(args, names[0])  # a resumed run logs on into its own directory
    writer.close()
    assert resumed == names[0]


@pytest.mark.parametrize("name", ["bc.py", "asaf_w.py"])
def test_script_copied_out_of_the_repository_runs_alone(tmp_path, name):
    shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    demos = os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz")
    cwd = tmp_path / "work"
    cwd.mkdir()
    args = ["--env-id", "CartPole-v1", "--demos", demos, "--eval-every", "0", "--final-eval-episodes", "2"]
    if name == "bc.py":
        args += ["--total-steps", "20"]
    else:
        args += ["--total-timesteps", "400", "--num-envs", "2", "--num-steps", "100", "--window", "1"]
    r = subprocess.run(
        [sys.executable, str(tmp_path / name), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "final return" in r.stdout


TINY_BUDGET = {
    "bc.py": ["--total-steps", "20"],
    "gail_ppo.py": ["--total-timesteps", "512", "--num-envs", "2", "--bc-init-steps", "0"],
    "asaf.py": ["--total-timesteps", "400", "--episodes-per-update", "2"],
    "asaf_w.py": ["--total-timesteps", "400", "--num-envs", "2", "--num-steps", "100"],
    "dagger.py": ["--total-timesteps", "200"],
    "aggrevated.py": ["--total-timesteps", "200"],
}


@pytest.mark.parametrize("flag", ["--eval-episodes", "--final-eval-episodes"])
@pytest.mark.parametrize("name", LEARNERS)
def test_too_many_evaluation_episodes_fail_before_training(run, tmp_path, name, flag):
    """Each evaluation episode needs an env seed of its own (at most 10,000 per purpose): a larger count must end
    in one sentence before the run starts, not after a whole training run (no runs/ directory is left behind)."""
    r = run(name, "--env-id", "CartPole-v1", "--eval-every", "0", *TINY_BUDGET[name], flag, "10001")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert flag in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "runs").exists(), f"{name} started a run before checking {flag}"


def _summary(tmp_path, exp_name):
    (path,) = glob.glob(str(tmp_path / "runs" / f"*__{exp_name}__*" / "summary.json"))
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize("name", LEARNERS)
def test_same_seed_same_run(run, tmp_path, name):
    """A seed reproduces its run: the same flags and seed give the same periodic and final evaluations."""
    flags = ["--env-id", "Pendulum-v1", "--seed", "5", "--eval-every", "200", "--eval-episodes", "2"]
    flags += ["--final-eval-episodes", "3", *TINY_BUDGET[name]]
    for exp_name in ("first", "second"):
        r = run(name, *flags, "--exp-name", exp_name)
        assert r.returncode == 0, r.stderr[-2000:]
    first, second = _summary(tmp_path, "first"), _summary(tmp_path, "second")
    assert first["final_eval"]["returns"] == second["final_eval"]["returns"]
    assert [h["return_mean"] for h in first["history"]] == [h["return_mean"] for h in second["history"]]
    assert first["demos"]["episodes"] == second["demos"]["episodes"]


def test_capture_video_records_the_first_final_episode(run, tmp_path):
    r = run("bc.py", "--env-id", "CartPole-v1", "--capture-video", *TINY_BUDGET["bc.py"], "--final-eval-episodes", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    videos = glob.glob(str(tmp_path / "videos" / "CartPole-v1__bc__*" / "*.mp4"))
    assert len(videos) == 1 and os.path.getsize(videos[0]) > 0


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
@pytest.mark.parametrize("name", [*LEARNERS, "expert.py", "toy_structured_gan.py"])
def test_track_without_wandb_ends_in_one_sentence(run, tmp_path, name):
    flags = ["--track"]
    if name != "toy_structured_gan.py":
        flags += ["--env-id", "CartPole-v1"]
    if name == "expert.py":
        flags += ["--out-dir", str(tmp_path / "expert")]
    r = run(name, *flags)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "--track" in r.stderr.strip().splitlines()[-1]


def test_demo_draw_is_seeded_and_recorded():
    import gymnasium as gym

    import asaf_w

    env = gym.make("CartPole-v1")
    path = os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz")
    a = asaf_w.load_demos(path, "CartPole-v1", env.observation_space, env.action_space, 10, "random", 7)
    b = asaf_w.load_demos(path, "CartPole-v1", env.observation_space, env.action_space, 10, "random", 7)
    c = asaf_w.load_demos(path, "CartPole-v1", env.observation_space, env.action_space, 10, "random", 8)
    first = asaf_w.load_demos(path, "CartPole-v1", env.observation_space, env.action_space, 10, "first", 7)
    assert a["episodes"] == b["episodes"] and a["episodes"] != c["episodes"]
    assert first["episodes"] == list(range(10))
    assert len(a["episodes"]) == 10 and int(a["ends"].sum()) == 10
    returns = np.load(path)["episode_returns"]
    assert a["expert_return"] == pytest.approx(returns[a["episodes"]].mean())
