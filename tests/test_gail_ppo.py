"""gail_ppo.py: the maths (reward forms, GAE with truncation, D's loss and inputs, PPO's losses, the log-std bound),
the demos checks, one-sentence refusals of bad flags and checkpoints, smoke runs on a discrete and a continuous env with
a save/load round trip, the BC warm start, and the CartPole learning bar of issue 4."""

import glob
import json
import math
import os

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gail_ppo
from conftest import ROOT


def write_demos(path, env_id, n_episodes=3, seed=0, max_steps=60):
    """A small demos file in the DESIGN.md format from a random policy (episodes cut at max_steps count as truncated).
    Its random_return_mean sits below every episode's return, so any draw of episodes beats it."""
    env = gym.make(env_id, max_episode_steps=max_steps)
    keys = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")
    data = {k: [] for k in keys}
    returns = []
    env.action_space.seed(seed)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        ret = 0.0
        while not done:
            a = env.action_space.sample()
            nxt, r, term, trunc, _ = env.step(a)
            for k, v in zip(keys, (obs, a, r, nxt, term, trunc)):
                data[k].append(v)
            obs = nxt
            done = term or trunc
            ret += r
        returns.append(ret)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    np.savez(
        path,
        observations=np.asarray(data["observations"], np.float32),
        actions=np.asarray(data["actions"], np.int64 if discrete else np.float32),
        rewards=np.asarray(data["rewards"], np.float32),
        next_observations=np.asarray(data["next_observations"], np.float32),
        terminations=np.asarray(data["terminations"], bool),
        truncations=np.asarray(data["truncations"], bool),
        env_id=np.array(env_id),
        expert_return_mean=np.float64(np.mean(returns)),
        expert_return_std=np.float64(np.std(returns)),
        random_return_mean=np.float64(min(returns) - 10.0),
        episode_returns=np.asarray(returns, np.float64),
    )
    return path


def summary(tmp_path):
    files = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return json.load(f)


SMOKE = (
    "--bc-init-steps",
    "50",
    "--total-timesteps",
    "512",
    "--num-envs",
    "2",
    "--num-steps",
    "128",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "2",
    "--eval-episodes",
    "1",
    "--eval-every",
    "256",
    "--num-demos",
    "2",
    "--final-eval-episodes",
    "2",
)


# ---------------------------------------------------------------- maths
def test_reward_forms_match_log_sigmoid():
    logits = torch.linspace(-30, 30, 101)
    d = torch.sigmoid(logits.double())
    log_d = gail_ppo.gail_reward(logits, "log_d").double()
    torch.testing.assert_close(log_d, torch.log(d), atol=1e-5, rtol=1e-4)
    survival = gail_ppo.gail_reward(logits, "neg_log_one_minus_d").double()
    torch.testing.assert_close(survival, -torch.log1p(-d).clamp(max=1e9), atol=1e-5, rtol=1e-4)
    logit = gail_ppo.gail_reward(logits, "logit").double()
    torch.testing.assert_close(logit, torch.log(d) - torch.log1p(-d), atol=1e-4, rtol=1e-4)
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
    e = torch.randn(64, 3)
    learner = torch.randn(64, 3) + 1
    loss, bce, gp, e_acc, l_acc = gail_ppo.disc_loss_fn(disc, e, learner, gp_coef=0.0)
    expected = -F.logsigmoid(disc(e)).mean() - F.logsigmoid(-disc(learner)).mean()
    torch.testing.assert_close(bce, expected)
    assert gp.item() == 0.0 and 0 <= e_acc <= 1 and 0 <= l_acc <= 1
    lin = torch.nn.Linear(3, 1, bias=False)  # a linear D with ||w|| = 1 has unit slope everywhere: no penalty
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.6, 0.8, 0.0]]))
    assert gail_ppo.disc_loss_fn(lin, e, learner, gp_coef=10.0)[2].item() < 1e-10


def test_encode_action_one_hot_and_rescaled_box():
    one_hot = gail_ppo.encode_action(np.array([0, 2]), True, 3)
    torch.testing.assert_close(one_hot, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
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


def test_ppo_losses_at_ratio_one():
    """Before any update the ratio is 1: the surrogate is -mean(advantage), nothing is clipped, the KL is 0, and the
    value loss is half the squared error (the clipped value equals the unclipped one)."""
    torch.manual_seed(0)
    agent = gail_ppo.Agent(3, 2, True, (8,))
    obs = torch.randn(16, 3)
    with torch.no_grad():
        actions, logp, entropy, values = agent.get_action_and_value(obs)
    advantages = torch.randn(16)
    returns = values + torch.randn(16)
    pg_loss, v_loss, ent, kl, clipfrac = gail_ppo.ppo_losses(
        agent, obs, actions, logp, advantages, returns, values, 0.2, True, False
    )
    torch.testing.assert_close(pg_loss, -advantages.mean())
    torch.testing.assert_close(v_loss, 0.5 * ((values - returns) ** 2).mean())
    torch.testing.assert_close(ent, entropy.mean())
    assert abs(kl.item()) < 1e-6 and clipfrac.item() == 0.0


def test_log_std_comes_back_from_the_floor():
    """The shared log-std is projected into its bounds after each optimizer step, not clamped inside `dist`: driven to
    the floor, sigma rises again within a few steps once the loss asks for more noise. (A clamp inside `dist` zeroed
    its gradient below the floor, Adam's momentum carried the raw value further down, and sigma stayed frozen there.)"""
    torch.manual_seed(0)
    agent = gail_ppo.Agent(3, 2, False, (8,))
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.1)
    x = torch.randn(32, 3)
    floor = math.exp(gail_ppo.LOG_STD_MIN)

    def entropy():  # a Gaussian's entropy is sum(log sigma) + a constant: its gradient on the log-std is 1
        return agent.get_action_and_value(x)[2].mean()

    for _ in range(100):  # loss = entropy: each step pushes sigma down, past the floor
        gail_ppo.gradient_step(agent, optimizer, entropy())
    sigma = agent.dist(x).stddev
    torch.testing.assert_close(sigma, torch.full_like(sigma, floor))
    for _ in range(20):  # loss = -entropy: each step pushes sigma up
        gail_ppo.gradient_step(agent, optimizer, -entropy())
    assert (agent.dist(x).stddev > 1.5 * floor).all(), agent.dist(x).stddev
    # the ceiling holds too, and a Discrete agent has nothing to bound
    with torch.no_grad():
        agent.actor_logstd.fill_(10.0)
    agent.bound_log_std_()
    torch.testing.assert_close(agent.actor_logstd.data, torch.full((2,), gail_ppo.LOG_STD_MAX))
    gail_ppo.Agent(3, 2, True, (8,)).bound_log_std_()


# ---------------------------------------------------------------- demos checks and refusals
def test_loader_refuses_mismatched_demos(tmp_path):
    path = write_demos(str(tmp_path / "cp.npz"), "CartPole-v1")
    cp, pend = gym.make("CartPole-v1"), gym.make("Pendulum-v1")
    spaces = (cp.observation_space, cp.action_space)
    d = dict(np.load(path))
    flat = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")
    np.savez(tmp_path / "cut.npz", **{**d, **{k: d[k][:-3] for k in flat}})
    np.savez(tmp_path / "shape.npz", **{**d, "observations": d["observations"][:, :3]})
    np.savez(tmp_path / "kind.npz", **{**d, "actions": d["actions"].astype(np.float32)[:, None]})
    np.savez(tmp_path / "range.npz", **{**d, "actions": d["actions"] + 5})
    np.savez(tmp_path / "nokey.npz", **{k: v for k, v in d.items() if k != "terminations"})
    (tmp_path / "junk.npz").write_text("not a zip")
    cases = [
        ((path, "Pendulum-v1", pend.observation_space, pend.action_space, 1), "found demonstrations for CartPole-v1"),
        ((str(tmp_path / "nope.npz"), "CartPole-v1", *spaces, 1), "found no such file"),
        ((path, "CartPole-v1", *spaces, 50), "expected --num-demos at most 3"),
        ((str(tmp_path / "cut.npz"), "CartPole-v1", *spaces, 1), "found it cut short"),
        ((str(tmp_path / "shape.npz"), "CartPole-v1", *spaces, 1), "expected observations of shape (4,)"),
        ((str(tmp_path / "kind.npz"), "CartPole-v1", *spaces, 1), "expected integer actions of shape (N,)"),
        ((str(tmp_path / "range.npz"), "CartPole-v1", *spaces, 1), "expected actions within the action space"),
        ((str(tmp_path / "nokey.npz"), "CartPole-v1", *spaces, 1), "to hold"),
        ((str(tmp_path / "junk.npz"), "CartPole-v1", *spaces, 1), "found a file numpy cannot read"),
    ]
    for loader_args, msg in cases:
        with pytest.raises(SystemExit) as e:
            gail_ppo.load_demos(*loader_args, "first", 1)
        assert msg in str(e.value) and "\n" not in str(e.value), (msg, str(e.value))
    demos = gail_ppo.load_demos(path, "CartPole-v1", *spaces, 2, "first", 1)
    ends = np.flatnonzero(d["terminations"] | d["truncations"])
    assert len(demos["observations"]) == len(demos["actions"]) == ends[1] + 1
    assert demos["expert_return"] > demos["random_return"]


def test_refusal_is_one_sentence_without_traceback(tmp_path, run):
    p = run("gail_ppo.py", "--demos", str(tmp_path / "nope.npz"), timeout=120)
    assert p.returncode != 0 and "found no such file" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_wrong_env_id_is_one_sentence(run):
    p = run("gail_ppo.py", "--env-id", "CartPol-v9", timeout=120)
    assert p.returncode != 0 and "registered gymnasium environment" in p.stderr and "Traceback" not in p.stderr


def assert_refused(p, *must_name):
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert "expected" in last, last
    for name in must_name:
        assert name in last, last


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--num-envs", "0"),  # counts >= 1
        ("--disc-updates", "-1"),
        ("--eval-every", "-1"),  # counts >= 0
        ("--learning-rate", "nan"),  # rates: finite and > 0
        ("--disc-lr", "-0.001"),
        ("--gamma", "1.5"),  # fractions
        ("--ent-coef", "-0.1"),  # this script's own checks
        ("--gp-coef", "-1"),
        ("--num-minibatches", "100000"),
        ("--hidden-sizes", "0"),
    ],
)
def test_bad_flag_is_one_sentence(run, flag, value):
    assert_refused(run("gail_ppo.py", flag, value, timeout=120), flag)


def test_load_model_of_demos_or_another_script_is_one_sentence(run, tmp_path):
    demos = os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz")
    assert_refused(run("gail_ppo.py", "--load-model", demos, timeout=120), "demos.npz")
    other = str(tmp_path / "other.pt")  # what asaf_w.py --save-model writes
    config = {"env_id": "CartPole-v1", "hidden_sizes": [64, 64], "window": 1, "script": "asaf_w.py"}
    torch.save({"config": config, "policy": {}}, other)
    assert_refused(run("gail_ppo.py", "--load-model", other, timeout=120), "other.pt")


# ---------------------------------------------------------------- smoke
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_save_and_load(tmp_path, run, env_id):
    """A tiny run logs its periodic evaluations and the summary; the saved policy, reloaded with its observation
    statistics (the network shape read from the file, not from the flags), repeats the final evaluation."""
    demos = write_demos(str(tmp_path / "demos.npz"), env_id)
    p = run("gail_ppo.py", "--env-id", env_id, "--demos", demos, *SMOKE, "--hidden-sizes", "32", "--save-model")
    assert p.returncode == 0, p.stderr
    s = summary(tmp_path)
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
        "history",
        "final_eval",
        "args",
    ):
        assert k in s
    assert s["env_id"] == env_id and s["algo"] == "gail_ppo" and s["env_steps"] == 512
    assert [h["step"] for h in s["history"]] == [256, 512]
    assert len(s["final_eval"]["returns"]) == 2 and len(s["demos"]["episodes"]) == 2
    assert np.isfinite(s["eval_return_mean"]) and np.isfinite(s["normalized_score"])
    os.rename(tmp_path / "runs", tmp_path / "train_runs")  # so that the evaluation's summary is the only one in runs/
    (model,) = glob.glob(str(tmp_path / "train_runs" / "*" / "gail_ppo.pt"))
    ckpt = torch.load(model, weights_only=True)
    assert ckpt["obs_mean"].shape == ckpt["obs_var"].shape == gym.make(env_id).observation_space.shape
    p = run(
        "gail_ppo.py",
        "--env-id",
        env_id,
        "--demos",
        demos,
        "--load-model",
        model,
        "--num-demos",
        "2",
        "--final-eval-episodes",
        "2",
    )
    assert p.returncode == 0, p.stderr
    reloaded = summary(tmp_path)
    assert reloaded["env_steps"] == 0 and reloaded["history"] == []
    assert reloaded["final_eval"]["returns"] == s["final_eval"]["returns"]  # same weights, statistics, start states


@pytest.mark.parametrize("max_steps,expected", [(200, "logit"), (8, "neg_log_one_minus_d")])
def test_auto_reward_follows_how_the_demos_end(tmp_path, run, max_steps, expected):
    """--reward-type auto: the neutral logit when the expert's episodes end in terminations (a random CartPole policy
    drops the pole within 200 steps), the survival reward -log(1-D) when they reach the time limit (cut at 8 steps)."""
    demos = write_demos(str(tmp_path / "demos.npz"), "CartPole-v1", max_steps=max_steps)
    p = run("gail_ppo.py", "--env-id", "CartPole-v1", "--demos", demos, *SMOKE, "--hidden-sizes", "8")
    assert p.returncode == 0, p.stderr
    assert summary(tmp_path)["reward_type"] == expected


def test_bc_warm_start_clones_the_expert(tmp_path, run):
    """--bc-init-steps fits the policy to the shipped CartPole demos before GAIL. With the policy loss off for the whole
    one-iteration run (--critic-warmup), the evaluation measures the clone; without the warm start, the same run does
    not balance the pole."""
    flags = (
        "--env-id",
        "CartPole-v1",
        "--critic-warmup",
        "10",
        "--total-timesteps",
        "2048",
        "--eval-every",
        "0",
        "--final-eval-episodes",
        "5",
    )
    p = run("gail_ppo.py", *flags, "--bc-init-steps", "0", timeout=300)
    assert p.returncode == 0, p.stderr
    assert summary(tmp_path)["eval_return_mean"] < 200
    os.rename(tmp_path / "runs", tmp_path / "cold_runs")
    p = run("gail_ppo.py", *flags, "--bc-init-steps", "2000", timeout=300)
    assert p.returncode == 0, p.stderr
    assert summary(tmp_path)["eval_return_mean"] >= 475


# ---------------------------------------------------------------- learning (issue 4)
@pytest.mark.slow
def test_learns_cartpole_from_10_demos(tmp_path, run):
    """Mean deterministic return >= 475 from 10 shipped demos within the default budget (150k env steps)."""
    assert os.path.exists(os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz"))
    p = run("gail_ppo.py", "--env-id", "CartPole-v1", "--num-demos", "10", "--seed", "1", timeout=900)
    assert p.returncode == 0, p.stderr
    s = summary(tmp_path)
    assert s["eval_return_mean"] >= 475, s["eval_return_mean"]
