import glob
import json
import os

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bc
from conftest import ROOT

CARTPOLE = os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz")
PENDULUM = os.path.join(ROOT, "experts", "Pendulum-v1", "demos.npz")


def _summary(tmp_path):
    paths = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return json.load(f)


def test_discrete_loss_is_cross_entropy():
    torch.manual_seed(0)
    policy = bc.Policy(4, 3, (16,), True, torch.zeros(4), torch.ones(4))
    obs, act = torch.randn(32, 4), torch.randint(0, 3, (32,))
    expected = -torch.distributions.Categorical(logits=policy(obs)).log_prob(act).mean()
    assert torch.allclose(bc.bc_loss(policy, obs, act), expected, atol=1e-6)


def test_continuous_nll_matches_torch_distributions_and_mse():
    torch.manual_seed(0)
    policy = bc.Policy(3, 2, (16,), False, torch.zeros(3), torch.ones(3))
    obs, act = torch.randn(32, 3), torch.randn(32, 2)
    mean, log_std = policy(obs)
    expected = -torch.distributions.Normal(mean, log_std.exp()).log_prob(act).sum(-1).mean()
    assert torch.allclose(bc.bc_loss(policy, obs, act, "nll"), expected, atol=1e-5)
    assert torch.allclose(bc.bc_loss(policy, obs, act, "mse"), F.mse_loss(mean, act, reduction="sum") / 32, atol=1e-5)
    assert torch.allclose(policy.act(obs), mean)


def test_beta_nll_weights_each_sample_by_detached_variance():
    torch.manual_seed(0)
    policy = bc.Policy(3, 2, (16,), False, torch.zeros(3), torch.ones(3))
    obs, act = torch.randn(32, 3), torch.randn(32, 2)
    mean, log_std = policy(obs)
    nll = -torch.distributions.Normal(mean, log_std.exp()).log_prob(act)
    expected = ((2 * 0.5 * log_std).exp().detach() * nll).sum(-1).mean()
    assert torch.allclose(bc.bc_loss(policy, obs, act, "nll", beta=0.5), expected, atol=1e-5)


def test_loader_keeps_the_first_episodes():
    env = gym.make("CartPole-v1")
    d = bc.load_demos(CARTPOLE, "CartPole-v1", env.observation_space, env.action_space, 2)
    raw = np.load(CARTPOLE)
    ends = np.flatnonzero(raw["terminations"] | raw["truncations"])
    assert len(d["observations"]) == ends[1] + 1 and d["episodes"] == 2
    assert np.array_equal(d["actions"], raw["actions"][: ends[1] + 1])


def test_loader_rejects_wrong_action_size_in_one_sentence(tmp_path):
    env = gym.make("Pendulum-v1")
    bad_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    with pytest.raises(SystemExit) as e:
        bc.load_demos(PENDULUM, "Pendulum-v1", env.observation_space, bad_space, 1)
    msg = str(e.value)
    assert msg.startswith("bc.py: expected actions of shape (2,)") and "found (1,)" in msg


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_save_and_load(run, tmp_path, env_id):
    r = run("bc.py", "--env-id", env_id, "--total-steps", 60, "--eval-every", 30, "--eval-episodes", 2,
            "--num-demos", 2, "--hidden-sizes", 32, 32, "--save-model")
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert s["algo"] == "bc" and s["env_id"] == env_id and s["env_steps"] == 0 and s["grad_steps"] == 60
    for key in ("eval_return_mean", "eval_return_std", "normalized_score", "wall_seconds", "sps", "args"):
        assert key in s
    model = glob.glob(str(tmp_path / "runs" / "*" / "bc.pt"))[0]
    r = run("bc.py", "--env-id", env_id, "--load-model", model, "--eval-episodes", 2, "--num-demos", 2,
            "--exp-name", "bc_eval")
    assert r.returncode == 0, r.stderr
    evals = [json.load(open(p)) for p in glob.glob(str(tmp_path / "runs" / "*bc_eval*" / "summary.json"))]
    assert len(evals) == 1 and evals[0]["grad_steps"] == 0


def test_smoke_mse_loss(run, tmp_path):
    r = run("bc.py", "--env-id", "Pendulum-v1", "--loss", "mse", "--total-steps", 20, "--eval-episodes", 1,
            "--num-demos", 1)
    assert r.returncode == 0, r.stderr
    assert _summary(tmp_path)["args"]["loss"] == "mse"


def test_wrong_env_id_is_one_sentence(run):
    r = run("bc.py", "--env-id", "NoSuchEnv-v0")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "NoSuchEnv-v0" in r.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_cartpole_reaches_475_from_shipped_demos(run, tmp_path):
    r = run("bc.py", "--env-id", "CartPole-v1")
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert s["eval_return_mean"] >= 475, s["eval_return_mean"]


@pytest.mark.slow
def test_pendulum_reaches_normalized_0_9_from_shipped_demos(run, tmp_path):
    r = run("bc.py", "--env-id", "Pendulum-v1")
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert s["normalized_score"] >= 0.9, (s["normalized_score"], s["eval_return_mean"])
