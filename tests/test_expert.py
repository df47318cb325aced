"""expert.py: smoke runs into a temp dir, the saved files, refusals; and the shipped experts and demonstrations."""

import glob
import json
import os
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

import expert
from conftest import ROOT, run_script

DEMO_KEYS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminations",
    "truncations",
    "env_id",
    "expert_return_mean",
    "expert_return_std",
    "random_return_mean",
    "episode_returns",
)
STRENGTH_KEYS = ("reward_threshold", "weak_expert")  # in every file expert.py writes now (not in the shipped ones)
# deterministic expert, mean over the 25 shipped episodes (issue 2)
TARGETS = {
    "CartPole-v1": 500.0,
    "LunarLander-v3": 250.0,
    "Pendulum-v1": -170.0,
    "LunarLanderContinuous-v3": 250.0,
    "HalfCheetah-v5": 5000.0,
    "Hopper-v5": 3000.0,
    "Walker2d-v5": 3500.0,
    "Ant-v5": 3000.0,
}
# --seed of the expert.py run that recorded them: episode i was reset with seed + i (experts/README.md)
RECORD_SEEDS = {
    "CartPole-v1": 1,
    "LunarLander-v3": 2,
    "Pendulum-v1": 1,
    "LunarLanderContinuous-v3": 1,
    "HalfCheetah-v5": 1,
    "Hopper-v5": 1,
    "Walker2d-v5": 1,
    "Ant-v5": 1,
}


def check_demos(path, env_id, n_episodes):
    """The demonstrations format of DESIGN.md, checked against the env's spaces."""
    d = np.load(path)
    assert set(DEMO_KEYS) <= set(d.files)
    env = gym.make(env_id)
    n = len(d["observations"])
    assert str(d["env_id"]) == env_id
    assert d["observations"].shape == (n, *env.observation_space.shape) and d["observations"].dtype == np.float32
    assert d["next_observations"].shape == d["observations"].shape
    if isinstance(env.action_space, gym.spaces.Discrete):
        assert d["actions"].shape == (n,) and d["actions"].dtype == np.int64
        assert d["actions"].min() >= 0 and d["actions"].max() < env.action_space.n
    else:
        assert d["actions"].shape == (n, *env.action_space.shape) and d["actions"].dtype == np.float32
        assert np.all(d["actions"] >= env.action_space.low) and np.all(d["actions"] <= env.action_space.high)
    assert d["terminations"].dtype == bool and d["truncations"].dtype == bool and d["rewards"].shape == (n,)
    ends = np.flatnonzero(d["terminations"] | d["truncations"])
    assert len(ends) == n_episodes and ends[-1] == n - 1, "episodes must be contiguous and complete"
    # episodes chain: the next observation of step t is the observation of step t+1 inside an episode
    inside = np.setdiff1d(np.arange(n - 1), ends)
    np.testing.assert_array_equal(d["next_observations"][inside], d["observations"][inside + 1])
    returns = np.add.reduceat(d["rewards"].astype(np.float64), np.r_[0, ends[:-1] + 1])
    np.testing.assert_allclose(returns, d["episode_returns"], rtol=1e-4, atol=1e-3)
    assert np.isclose(d["expert_return_mean"], np.mean(d["episode_returns"]))
    return d


def check_strength(path, env_id):
    """A demos file written now says whether its expert is weak, by the rule of expert.expert_strength."""
    d = np.load(path)
    assert set(STRENGTH_KEYS) <= set(d.files)
    assert d["weak_expert"].dtype == bool and d["reward_threshold"].dtype == np.float64
    np.testing.assert_equal(float(d["reward_threshold"]), expert.registered_threshold(env_id))  # NaN == NaN here
    weak, _ = expert.expert_strength(
        float(d["expert_return_mean"]), float(d["random_return_mean"]), float(d["reward_threshold"])
    )
    assert bool(d["weak_expert"]) == weak
    return bool(d["weak_expert"])


def rebuild(path, env_id):
    """Rebuild the deterministic expert from expert.pt with the small classes only (as other scripts do); expert.pt
    holds plain CPU tensors, so it loads with weights_only=True."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    c = ckpt["config"]
    assert c["env_id"] == env_id
    if c["discrete"]:
        q = expert.QNetwork(c["obs_dim"], c["act_dim"], c["hidden_sizes"])
        q.load_state_dict(ckpt["q"])
        return c, None, q
    actor = expert.Actor(
        c["obs_dim"], c["act_dim"], c["hidden_sizes"], np.array(c["action_low"]), np.array(c["action_high"])
    )
    actor.load_state_dict(ckpt["actor"])
    for k in ("q1", "q2"):
        expert.QNetwork(c["obs_dim"] + c["act_dim"], 1, c["hidden_sizes"]).load_state_dict(ckpt[k])
    return c, actor, None


def deterministic(c, actor, q):
    """The expert's deterministic action: argmax Q (Discrete) or the tanh-squashed mean (Box)."""

    def act(obs):
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
            return int(q(x).argmax(-1)) if c["discrete"] else actor.deterministic(x)[0].numpy()

    return act


@pytest.mark.parametrize("env_id,steps", [("CartPole-v1", 1500), ("Pendulum-v1", 400)])
def test_smoke_train_and_record(run, tmp_path, env_id, steps):
    out = tmp_path / "exp"
    r = run(
        "expert.py",
        "--env-id",
        env_id,
        "--total-timesteps",
        steps,
        "--learning-starts",
        steps // 2,
        "--eval-every",
        steps // 2,
        "--eval-episodes",
        1,
        "--num-demo-episodes",
        3,
        "--out-dir",
        out,
        "--demo-at-returns",
        -1e9,
        "--random-action-repeat",
        7,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    check_demos(out / "demos.npz", env_id, 3)
    check_demos(out / "demos_at_-1e+09.npz", env_id, 3)
    weak = check_strength(out / "demos.npz", env_id)
    check_strength(out / "demos_at_-1e+09.npz", env_id)
    if env_id == "CartPole-v1":
        # a few hundred learning steps: far below the registered 475 and not even above the random policy's 22.3
        assert weak
        warnings = [line for line in r.stderr.splitlines() if line.startswith("WARNING: WEAK EXPERT")]
        assert len(warnings) == 2, r.stderr[-3000:]  # demos_at_-1e+09.npz and demos.npz
        assert "22.3 for a random policy" in warnings[-1] and "475 registered as solving CartPole-v1" in warnings[-1]
    else:
        assert np.isnan(np.load(out / "demos.npz")["reward_threshold"])  # Pendulum-v1 registers no threshold
    c, actor, q = rebuild(out / "expert.pt", env_id)
    env = gym.make(env_id)
    returns, _ = expert.run_episodes(env, deterministic(c, actor, q), 3, 1)
    d = np.load(out / "demos.npz")
    np.testing.assert_allclose(returns, d["episode_returns"], rtol=1e-4)  # same seeds, same deterministic expert
    summary = json.load(open(glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))[0]))
    for k in (
        "env_id",
        "algo",
        "seed",
        "eval_return_mean",
        "eval_return_std",
        "normalized_score",
        "env_steps",
        "wall_seconds",
        "sps",
        "args",
        "reward_threshold",
        "weak_expert",
    ):
        assert k in summary
    assert summary["weak_expert"] == weak

    # an existing expert is never overwritten silently
    r = run("expert.py", "--env-id", env_id, "--total-timesteps", 10, "--out-dir", out)
    assert r.returncode != 0 and "already exists" in r.stderr and "Traceback" not in r.stderr
    # --record-only: N more episodes from the saved expert, into a new file
    r = run("expert.py", "--env-id", env_id, "--record-only", "--num-demo-episodes", 2, "--out-dir", out, "--seed", 7)
    assert r.returncode == 0, r.stderr[-3000:]
    check_demos(out / "demos_seed7.npz", env_id, 2)
    check_strength(out / "demos_seed7.npz", env_id)
    # an expert for another env is refused in one sentence
    other = "Acrobot-v1" if env_id == "CartPole-v1" else "MountainCarContinuous-v0"
    r = run("expert.py", "--env-id", other, "--record-only", "--out-dir", out)
    assert r.returncode != 0 and "Traceback" not in r.stderr and f"expected an expert for {other}" in r.stderr


def test_interrupted_run_resumes(tmp_path):
    """A run killed after its first evaluation continues from resume.pt with --resume and finishes normally."""
    out = tmp_path / "exp"
    flags = [
        "--env-id",
        "CartPole-v1",
        "--total-timesteps",
        6000,
        "--learning-starts",
        500,
        "--eval-every",
        1000,
        "--eval-episodes",
        1,
        "--num-demo-episodes",
        2,
        "--out-dir",
        out,
    ]
    cmd = [sys.executable, os.path.join(ROOT, "expert.py"), *map(str, flags)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "resume.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert (out / "resume.pt").exists(), "the first evaluation should have written resume.pt"
    r = run_script("expert.py", *flags, cwd=tmp_path)  # without --resume an existing expert is not replaced
    assert r.returncode != 0 and "--resume" in r.stderr and "Traceback" not in r.stderr
    r = run_script("expert.py", *flags, "--resume", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed" in r.stdout and not (out / "resume.pt").exists()
    check_demos(out / "demos.npz", "CartPole-v1", 2)
    summaries = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(glob.glob(str(tmp_path / "runs" / "*"))) == 1, "a resumed run logs into the run it continues"
    assert json.load(open(summaries[0]))["env_steps"] == 6000


def test_init_from_starts_at_the_given_expert(tmp_path):
    """--init-from: the first evaluation, after 100 updates at tiny learning rates, plays the shipped Pendulum-v1
    expert (-137.6 over its demos), not the random networks of a fresh run (about -1250)."""
    out = tmp_path / "cont"
    shipped = os.path.join(ROOT, "experts", "Pendulum-v1", "expert.pt")
    flags = ["--env-id", "Pendulum-v1", "--init-from", shipped, "--total-timesteps", 300, "--learning-starts", 200]
    flags += ["--learning-rate", 1e-6, "--policy-lr", 1e-6, "--eval-every", 300, "--eval-episodes", 3]
    r = run_script("expert.py", *flags, "--num-demo-episodes", 1, "--out-dir", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    first_eval = float(r.stdout.split("eval_return=")[1].split()[0])
    assert first_eval > -400.0, r.stdout
    check_demos(out / "demos.npz", "Pendulum-v1", 1)


def test_init_from_refuses_another_envs_expert(run, tmp_path):
    shipped = os.path.join(ROOT, "experts", "CartPole-v1", "expert.pt")
    r = run("expert.py", "--env-id", "Pendulum-v1", "--init-from", shipped, "--out-dir", tmp_path / "x")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "found one for CartPole-v1" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run("expert.py", "--env-id", "Pendulum-v1", "--init-from", shipped, "--resume", "--out-dir", tmp_path / "x")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "--init-from and --resume" in r.stderr


def test_resume_without_a_saved_run_is_one_sentence(run, tmp_path):
    r = run("expert.py", "--env-id", "CartPole-v1", "--out-dir", tmp_path / "none", "--resume")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "resume.pt" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_wrong_env_id_is_one_sentence(run):
    r = run("expert.py", "--env-id", "NoSuchEnv-v0")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "NoSuchEnv-v0" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("env_id", sorted(TARGETS))
def test_shipped_expert_and_demos(env_id):
    path = os.path.join(ROOT, "experts", env_id)
    d = check_demos(os.path.join(path, "demos.npz"), env_id, 25)
    assert d["expert_return_mean"] >= TARGETS[env_id]
    assert d["random_return_mean"] < d["expert_return_mean"]
    # the shipped expert.pt reproduces its demonstrations (same reset seeds)
    c, actor, q = rebuild(os.path.join(path, "expert.pt"), env_id)
    returns, _ = expert.run_episodes(gym.make(env_id), deterministic(c, actor, q), 2, RECORD_SEEDS[env_id])
    np.testing.assert_allclose(returns, d["episode_returns"][:2], rtol=1e-3, atol=1e-2)


def test_weak_expert_rule():
    """Weak: not clear of random + WEAK_MARGIN x max(|random|, 1), or below the registered threshold (NaN: none)."""
    nan = float("nan")
    assert expert.WEAK_MARGIN == 0.5
    assert expert.expert_strength(500.0, 22.3, 475.0) == (False, 22.3 + 0.5 * 22.3)
    assert expert.expert_strength(400.0, 22.3, 475.0)[0]  # far above random, below the threshold
    assert expert.expert_strength(30.0, 22.3, nan)[0]  # above random, but not by the margin
    assert not expert.expert_strength(-137.6, -1252.8, nan)[0]  # the shipped Pendulum-v1 expert
    assert expert.expert_strength(-800.0, -1252.8, nan)[0]  # floor -626.4
    assert expert.expert_strength(0.4, 0.0, nan) == (True, 0.5)  # |random| < 1: the margin is 0.5 reward
    assert np.isnan(expert.registered_threshold("Pendulum-v1"))
    assert expert.registered_threshold("CartPole-v1") == 475.0


def test_shipped_experts_by_the_weak_rule():
    """experts/README.md: by the rule, the shipped Hopper-v5 and Ant-v5 experts are weak (below gymnasium's registered
    3800 and 6000), the others are not."""
    weak = set()
    for env_id in TARGETS:
        d = np.load(os.path.join(ROOT, "experts", env_id, "demos.npz"))
        threshold = expert.registered_threshold(env_id)
        if expert.expert_strength(float(d["expert_return_mean"]), float(d["random_return_mean"]), threshold)[0]:
            weak.add(env_id)
    assert weak == {"Hopper-v5", "Ant-v5"}


BAD_FLAGS = [
    ("--total-timesteps", "0"),
    ("--eval-episodes", "-3"),
    ("--num-demo-episodes", "0"),
    ("--target-network-frequency", "0"),
    ("--learning-starts", "-1"),
    ("--random-action-repeat", "0"),
    ("--train-frequency", "-1"),
    ("--learning-rate", "nan"),
    ("--policy-lr", "-1e-3"),
    ("--gamma", "1.5"),
    ("--exploration-fraction", "nan"),
    ("--tau", "0"),
    ("--alpha", "-0.1"),
    ("--hidden-sizes", "0"),
    ("--hidden-sizes", "64", "-1"),
    ("--seed", "-1"),
    ("--demo-at-returns", "100", "inf"),
    ("--stop-at-return", "nan"),
    ("--end-e", "0.9", "--start-e", "0.5"),
]


@pytest.mark.parametrize("flags", BAD_FLAGS, ids=lambda f: " ".join(f))
def test_bad_numeric_flag_is_one_sentence(run, tmp_path, flags):
    r = run("expert.py", "--out-dir", tmp_path / "out", *flags)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last and "found" in last, r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_record_only_refuses_a_file_that_is_not_an_expert(run, tmp_path):
    """--record-only reads <out-dir>/expert.pt: a demos .npz or a learner's checkpoint there is one sentence."""
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "expert.pt", "wb") as f:  # a demos file under the expert's name (np.savez to a path adds .npz)
        np.savez(f, observations=np.zeros((3, 4), np.float32))
    r = run("expert.py", "--record-only", "--out-dir", out)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "expected" in r.stderr.strip().splitlines()[-1] and "expert.pt written by expert.py" in r.stderr
    torch.save({"config": {"env_id": "CartPole-v1", "script": "bc.py"}, "policy": {}}, out / "expert.pt")
    r = run("expert.py", "--record-only", "--out-dir", out)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "expected" in r.stderr.strip().splitlines()[-1]
