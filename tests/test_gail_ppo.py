"""gail_ppo.py: the maths (reward forms, GAE with truncation, D's loss and inputs), the demos checks, smoke runs on a
discrete and a continuous env, save/load, and the CartPole learning bar of issue 4."""
import glob
import json
import os

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gail_ppo
from conftest import ROOT


def write_demos(path, env_id, n_episodes=3, seed=0, max_steps=60):
    """A small demos file in the DESIGN.md format from a random policy (episodes cut at max_steps count as truncated)."""
    env = gym.make(env_id, max_episode_steps=max_steps)
    keys = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")
    data, returns = {k: [] for k in keys}, []
    env.action_space.seed(seed)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        done, ret = False, 0.0
        while not done:
            a = env.action_space.sample()
            nxt, r, term, trunc, _ = env.step(a)
            for k, v in zip(keys, (obs, a, r, nxt, term, trunc)):
                data[k].append(v)
            obs, done, ret = nxt, term or trunc, ret + r
        returns.append(ret)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    np.savez(path, observations=np.asarray(data["observations"], np.float32),
             actions=np.asarray(data["actions"], np.int64 if discrete else np.float32),
             rewards=np.asarray(data["rewards"], np.float32),
             next_observations=np.asarray(data["next_observations"], np.float32),
             terminations=np.asarray(data["terminations"], bool), truncations=np.asarray(data["truncations"], bool),
             env_id=np.array(env_id), expert_return_mean=np.float64(max(returns) + 10.0),
             expert_return_std=np.float64(np.std(returns)), random_return_mean=np.float64(np.mean(returns)),
             episode_returns=np.asarray(returns, np.float64))
    return path


def summary(tmp_path):
    files = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return json.load(f)


SMOKE = ("--total-timesteps", "512", "--num-envs", "2", "--num-steps", "128", "--num-minibatches", "2",
         "--update-epochs", "2", "--eval-episodes", "1", "--eval-every", "256", "--num-demos", "2")


# ---------------------------------------------------------------- maths
def test_reward_forms_match_log_sigmoid():
    logits = torch.linspace(-30, 30, 101)
    d = torch.sigmoid(logits.double())
    torch.testing.assert_close(gail_ppo.gail_reward(logits, "log_d").double(), torch.log(d), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gail_ppo.gail_reward(logits, "neg_log_one_minus_d").double(), -torch.log1p(-d).clamp(max=1e9),
                               atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gail_ppo.gail_reward(logits, "logit").double(), torch.log(d) - torch.log1p(-d), atol=1e-4, rtol=1e-4)
    # the survival reward is positive, log D negative, both finite even for a saturated D
    assert (gail_ppo.gail_reward(logits, "neg_log_one_minus_d") > 0).all()
    assert (gail_ppo.gail_reward(logits, "log_d") < 0).all()
    assert torch.isfinite(gail_ppo.gail_reward(torch.tensor([-1e4, 1e4]), "log_d")).all()


def test_gae_hand_computed_with_termination_and_truncation_bootstrap():
    gamma, lam = 0.9, 0.5
    # one env, 3 steps: the episode ends at step 1 (its reward already holds a truncation bootstrap of gamma * 2.0)
    rewards = torch.tensor([[1.0], [2.0 + gamma * 2.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [1.5]])
    ends = torch.tensor([[0.0], [1.0], [0.0]])
    next_value = torch.tensor([4.0])
    adv, ret = gail_ppo.compute_gae(rewards, values, ends, next_value, gamma, lam)
    d2 = 3.0 + gamma * 4.0 - 1.5
    d1 = 2.0 + gamma * 2.0 - 1.0  # no V(s_{t+1}) across the episode end: the bootstrap is in the reward
    d0 = 1.0 + gamma * 1.0 - 0.5
    expected = torch.tensor([[d0 + gamma * lam * d1], [d1], [d2]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)


def test_discriminator_loss_is_bce_and_penalty_is_zero_for_unit_slope():
    torch.manual_seed(0)
    disc = gail_ppo.mlp(3, 1, (16,))
    e, l = torch.randn(64, 3), torch.randn(64, 3) + 1
    loss, bce, gp, e_acc, l_acc = gail_ppo.disc_loss_fn(disc, e, l, gp_coef=0.0)
    expected = -F.logsigmoid(disc(e)).mean() - F.logsigmoid(-disc(l)).mean()
    torch.testing.assert_close(bce, expected)
    assert gp.item() == 0.0 and 0 <= e_acc <= 1 and 0 <= l_acc <= 1
    lin = torch.nn.Linear(3, 1, bias=False)  # a linear D with ||w|| = 1 has unit slope everywhere: no penalty
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.6, 0.8, 0.0]]))
    assert gail_ppo.disc_loss_fn(lin, e, l, gp_coef=10.0)[2].item() < 1e-10


def test_encode_action_one_hot_and_rescaled_box():
    torch.testing.assert_close(gail_ppo.encode_action(np.array([0, 2]), True, 3), torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    low, high = np.array([-2.0], np.float32), np.array([2.0], np.float32)
    enc = gail_ppo.encode_action(np.array([[-2.0], [0.0], [1.0], [7.0]]), False, 1, low, high)
    torch.testing.assert_close(enc, torch.tensor([[-1.0], [0.0], [0.5], [1.0]]))  # D sees the clipped, executed action


def test_running_mean_std_matches_numpy():
    x = np.random.default_rng(0).normal(3.0, 2.0, (1000, 2))
    rms = gail_ppo.RunningMeanStd(x[:100])
    rms.update(x[100:600])
    rms.update(x[600:])
    np.testing.assert_allclose(rms.mean, x.mean(0))
    np.testing.assert_allclose(rms.var, x.var(0))


# ---------------------------------------------------------------- demos checks and refusals
def test_loader_refuses_mismatched_demos(tmp_path):
    path = write_demos(str(tmp_path / "cp.npz"), "CartPole-v1")
    cp, pend = gym.make("CartPole-v1"), gym.make("Pendulum-v1")
    spaces = (cp.observation_space, cp.action_space)
    d = dict(np.load(path))
    np.savez(tmp_path / "cut.npz", **{**d, **{k: d[k][:-3] for k in ("observations", "actions", "terminations", "truncations")}})
    np.savez(tmp_path / "shape.npz", **{**d, "observations": d["observations"][:, :3]})
    np.savez(tmp_path / "kind.npz", **{**d, "actions": d["actions"].astype(np.float32)[:, None]})
    np.savez(tmp_path / "range.npz", **{**d, "actions": d["actions"] + 5})
    np.savez(tmp_path / "nokey.npz", **{k: v for k, v in d.items() if k != "terminations"})
    (tmp_path / "junk.npz").write_text("not a zip")
    cases = [
        ((path, "Pendulum-v1", pend.observation_space, pend.action_space, 1), "holds demonstrations for CartPole-v1, expected Pendulum-v1"),
        ((str(tmp_path / "nope.npz"), "CartPole-v1", *spaces, 1), "found no such file"),
        ((path, "CartPole-v1", *spaces, 50), "episodes in"),
        ((str(tmp_path / "cut.npz"), "CartPole-v1", *spaces, 1), "cut-off episode"),
        ((str(tmp_path / "shape.npz"), "CartPole-v1", *spaces, 1), "expected observations of shape (4,)"),
        ((str(tmp_path / "kind.npz"), "CartPole-v1", *spaces, 1), "expected discrete (N,) integer actions"),
        ((str(tmp_path / "range.npz"), "CartPole-v1", *spaces, 1), "expected actions in [0, 2)"),
        ((str(tmp_path / "nokey.npz"), "CartPole-v1", *spaces, 1), "terminations missing"),
        ((str(tmp_path / "junk.npz"), "CartPole-v1", *spaces, 1), "unreadable file"),
    ]
    for args, msg in cases:
        with pytest.raises(SystemExit) as e:
            gail_ppo.load_demos(*args)
        assert msg in str(e.value) and "\n" not in str(e.value), (msg, str(e.value))
    obs, act, expert_mean, random_mean = gail_ppo.load_demos(path, "CartPole-v1", *spaces, 2)
    ends = np.flatnonzero(d["terminations"] | d["truncations"])
    assert len(obs) == len(act) == ends[1] + 1 and expert_mean > random_mean


def test_refusal_is_one_sentence_without_traceback(tmp_path, run):
    p = run("gail_ppo.py", "--demos", str(tmp_path / "nope.npz"), timeout=120)
    assert p.returncode != 0 and "found no such file" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_wrong_env_id_is_one_sentence(run):
    p = run("gail_ppo.py", "--env-id", "CartPol-v9", timeout=120)
    assert p.returncode != 0 and "not a registered gymnasium environment" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------- smoke
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke(tmp_path, run, env_id):
    demos = write_demos(str(tmp_path / "demos.npz"), env_id)
    p = run("gail_ppo.py", "--env-id", env_id, "--demos", demos, *SMOKE, "--save-model", timeout=120)
    assert p.returncode == 0, p.stderr
    s = summary(tmp_path)
    for k in ("env_id", "algo", "seed", "eval_return_mean", "eval_return_std", "normalized_score", "env_steps",
              "wall_seconds", "sps", "args"):
        assert k in s
    assert s["env_id"] == env_id and s["algo"] == "gail_ppo" and s["env_steps"] == 512
    assert np.isfinite(s["eval_return_mean"]) and np.isfinite(s["normalized_score"])
    # the saved policy loads and evaluates without training
    (model,) = glob.glob(str(tmp_path / "runs" / "*" / "gail_ppo.pt"))
    os.rename(glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))[0], tmp_path / "first.json")
    p = run("gail_ppo.py", "--env-id", env_id, "--demos", demos, "--load-model", model, "--eval-episodes", "1",
            "--num-demos", "2", timeout=120)
    assert p.returncode == 0, p.stderr
    assert summary(tmp_path)["env_steps"] == 0


# ---------------------------------------------------------------- learning (issue 4)
@pytest.mark.slow
def test_learns_cartpole_from_10_demos(tmp_path, run):
    """Mean deterministic return >= 475 from 10 shipped demos within the default budget (150k env steps)."""
    assert os.path.exists(os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz"))
    p = run("gail_ppo.py", "--env-id", "CartPole-v1", "--num-demos", "10", "--seed", "1", timeout=900)
    assert p.returncode == 0, p.stderr
    s = summary(tmp_path)
    assert s["eval_return_mean"] >= 475, s["eval_return_mean"]


def test_bc_warm_start_clones_the_expert(tmp_path, run):
    """--bc-init-steps fits the policy to the shipped CartPole demos before GAIL. With the policy loss off for the whole
    one-iteration run (--critic-warmup), the evaluation measures the clone; without the warm start, the same run does not
    balance the pole."""
    flags = ("--env-id", "CartPole-v1", "--critic-warmup", "10", "--total-timesteps", "2048", "--eval-episodes", "5")
    p = run("gail_ppo.py", *flags, "--bc-init-steps", "0", timeout=300)
    assert p.returncode == 0, p.stderr
    assert summary(tmp_path)["eval_return_mean"] < 200
    for f in glob.glob(str(tmp_path / "runs" / "*" / "summary.json")):
        os.rename(f, tmp_path / "cold.json")
    p = run("gail_ppo.py", *flags, "--bc-init-steps", "2000", timeout=300)
    assert p.returncode == 0, p.stderr
    assert summary(tmp_path)["eval_return_mean"] >= 475
