"""Tests of dagger.py: pure functions, clear errors, smoke runs (Discrete and Box), learning on the shipped experts."""
import glob
import json
import os

import numpy as np
import pytest
import torch

import dagger

torch.set_num_threads(1)  # the scripts' default; more threads only contend on a small CI machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ("--total-timesteps", 400, "--steps-per-iteration", 200, "--gradient-steps", 5, "--eval-episodes", 2,
        "--eval-every", 200)


def summary(tmp_path):
    files = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return json.load(f)


def test_beta_schedules():
    assert [dagger.beta_at(i, "exponential", 0.5, 0.5, 10) for i in (1, 2, 3)] == [1.0, 0.5, 0.25]
    assert dagger.beta_at(2, "exponential", 0.0, 0.5, 10) == 0.0  # beta_decay 0: pure learner after iteration 1
    assert [dagger.beta_at(i, "linear", 0.5, 0.5, 10) for i in (1, 3, 6, 9)] == [1.0, 0.6, 0.0, 0.0]


def test_mix_takes_expert_with_probability_beta():
    rng = np.random.default_rng(0)
    expert, learner = np.zeros((10_000, 2)), np.ones((10_000, 2))
    action, used = dagger.mix(expert, learner, 0.3, rng)
    assert abs(used.mean() - 0.3) < 0.02
    assert np.array_equal(action[:, 0] == 0, used) and np.array_equal(action[:, 1] == 0, used)
    _, used = dagger.mix(np.zeros(5, np.int64), np.ones(5, np.int64), 1.0, rng)
    assert used.all()


def test_gaussian_log_prob_sums_dimensions():
    policy = dagger.Policy(3, 2, (8,), discrete=False)
    x, a = torch.randn(4, 3), torch.randn(4, 2)
    d = policy.dist(x)
    ref = torch.distributions.Independent(torch.distributions.Normal(d.mean, d.stddev), 1).log_prob(a)
    assert torch.allclose(policy.log_prob(x, a), ref)


def write_demos(path, env_id="CartPole-v1", truncated=False):
    n = 20
    term = np.zeros(n, bool)
    term[9] = term[19] = not truncated
    np.savez(path, observations=np.zeros((n, 4), np.float32), actions=np.zeros(n, np.int64), terminations=term,
             truncations=np.zeros(n, bool), env_id=np.array(env_id), expert_return_mean=500.0, random_return_mean=20.0)


def test_load_demos_checks(tmp_path):
    write_demos(tmp_path / "ok.npz")
    expert_ret, random_ret, obs, act = dagger.load_demos(str(tmp_path / "ok.npz"), "CartPole-v1", 4, True, 2, 1)
    assert (expert_ret, random_ret, len(obs), len(act)) == (500.0, 20.0, 10, 10)
    write_demos(tmp_path / "trunc.npz", truncated=True)
    cases = [(tmp_path / "missing.npz", "CartPole-v1", 4, True, 0, "no such file"),
             (tmp_path / "ok.npz", "Acrobot-v1", 4, True, 0, "expected Acrobot-v1"),
             (tmp_path / "ok.npz", "CartPole-v1", 6, True, 0, "expected (6,)"),
             (tmp_path / "ok.npz", "CartPole-v1", 4, False, 0, "expected continuous"),
             (tmp_path / "ok.npz", "CartPole-v1", 4, True, 3, "more episodes than the 2"),
             (tmp_path / "trunc.npz", "CartPole-v1", 4, True, 0, "truncated file")]
    for path, env_id, obs_dim, discrete, num_demos, msg in cases:
        with pytest.raises(SystemExit) as e:
            dagger.load_demos(str(path), env_id, obs_dim, discrete, 2, num_demos)
        assert msg in str(e.value), (msg, str(e.value))


def test_load_expert_checks(tmp_path):
    torch.save({"config": {"env_id": "CartPole-v1", "discrete": True, "hidden_sizes": [8]}}, tmp_path / "noq.pt")
    with pytest.raises(SystemExit, match="lacks the 'q' network"):
        dagger.load_expert(str(tmp_path / "noq.pt"), "CartPole-v1", True, 4, 2, "cpu")
    with pytest.raises(SystemExit, match="is an expert for CartPole-v1, expected one for Acrobot-v1"):
        dagger.load_expert(str(tmp_path / "noq.pt"), "Acrobot-v1", True, 6, 3, "cpu")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(SystemExit, match="is not an expert.pt"):
        dagger.load_expert(str(tmp_path / "junk.pt"), "CartPole-v1", True, 4, 2, "cpu")


def test_wrong_env_id_is_one_sentence(run):
    r = run("dagger.py", "--env-id", "NoSuchEnv-v0")
    assert r.returncode != 0 and "is not a registered gymnasium environment" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke(run, tmp_path, env_id):
    r = run("dagger.py", "--env-id", env_id, *FAST, "--save-model")
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["algo"] == "dagger" and s["env_steps"] == 400 and s["expert_labels"] == 400
    for k in ("env_id", "seed", "eval_return_mean", "eval_return_std", "normalized_score", "wall_seconds", "sps", "args"):
        assert k in s
    model = glob.glob(str(tmp_path / "runs" / "*" / "dagger.pt"))[0]
    r = run("dagger.py", "--env-id", env_id, "--load-model", model, "--eval-episodes", 2, "--exp-name", "reload")
    assert r.returncode == 0, r.stderr
    reloaded = json.load(open(glob.glob(str(tmp_path / "runs" / "*reload*" / "summary.json"))[0]))
    assert reloaded["eval_return_mean"] == pytest.approx(s["eval_return_mean"])  # same policy, same eval seeds


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_learns_to_expert_level(run, tmp_path, env_id):
    """Default budget, shipped expert: the deterministic learner reaches 95% of the expert's normalized return."""
    r = run("dagger.py", "--env-id", env_id)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["normalized_score"] >= 0.95, s
