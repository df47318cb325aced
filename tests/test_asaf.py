"""ASAF (asaf.py) and ASAF-w / ASAF-1 (asaf_w.py): the structured discriminator's maths, windows, smoke and learning."""
import glob
import json
import math
import os

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import asaf
import asaf_w


def write_demos(path, env_name, n_episodes=3, ep_len=20, seed=0, **overrides):
    """A small synthetic demos file in the DESIGN.md format (random actions; enough for smoke runs and loader tests)."""
    env = gym.make(env_name)
    rng = np.random.default_rng(seed)
    n = n_episodes * ep_len
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    ends = np.zeros(n, bool)
    ends[ep_len - 1 :: ep_len] = True
    data = dict(
        observations=rng.normal(size=(n, *env.observation_space.shape)).astype(np.float32),
        actions=rng.integers(0, env.action_space.n, n) if discrete
        else rng.uniform(-1, 1, (n, *env.action_space.shape)).astype(np.float32),
        rewards=np.ones(n, np.float32), next_observations=np.zeros((n, *env.observation_space.shape), np.float32),
        terminations=ends, truncations=np.zeros(n, bool), env_id=np.array(env_name), expert_return_mean=np.float64(100.0),
        expert_return_std=np.float64(0.0), random_return_mean=np.float64(0.0), episode_returns=np.full(n_episodes, 100.0),
    )
    data.update(overrides)
    np.savez_compressed(path, **data)
    return path


# ---------------------------------------------------------------- the structured discriminator's loss (Eq. 12)

@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_loss_equals_bce_of_sigmoid_log_ratio_hand_example(mod):
    # expert window: pi_tilde probs (0.5, 0.4), pi_G probs (0.25, 0.2) -> q_tilde = 0.2, q_G = 0.05, D = 0.8
    # learner window: pi_tilde probs (0.1, 0.3), pi_G probs (0.3, 0.5) -> q_tilde = 0.03, q_G = 0.15, D = 1/6
    new = torch.tensor([math.log(0.5) + math.log(0.4), math.log(0.1) + math.log(0.3)])
    old = torch.tensor([math.log(0.25) + math.log(0.2), math.log(0.3) + math.log(0.5)])
    y = torch.tensor([1.0, 0.0])
    hand = -(math.log(0.8) + math.log(1 - 1 / 6)) / 2
    loss = mod.asaf_loss(new, old, y)
    assert loss.item() == pytest.approx(hand, rel=1e-6)
    assert loss.item() == pytest.approx(F.binary_cross_entropy(torch.sigmoid(new - old), y).item(), rel=1e-6)


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_loss_finite_with_finite_gradients_on_1000_step_windows(mod):
    torch.manual_seed(0)
    for discrete, obs_dim, act_dim in ((True, 4, 2), (False, 3, 1)):
        pi_tilde, pi_g = mod.Policy(obs_dim, act_dim, (32,), discrete), mod.Policy(obs_dim, act_dim, (32,), discrete)
        obs = torch.randn(2, 1000, obs_dim)
        act = torch.randint(0, act_dim, (2, 1000)) if discrete else 5.0 * torch.randn(2, 1000, act_dim)
        new = pi_tilde.log_prob(obs, act).sum(-1)  # sum of 1000 log-probs: the product itself would underflow to 0
        with torch.no_grad():
            old = pi_g.log_prob(obs, act).sum(-1)
        loss = mod.asaf_loss(new, old, torch.tensor([1.0, 0.0]))
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in pi_tilde.parameters())
    # extreme log-ratios saturate without overflow
    big = torch.tensor([-5000.0, 3000.0], requires_grad=True)
    loss = mod.asaf_loss(big, torch.tensor([-1000.0, -1000.0]), torch.tensor([1.0, 0.0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_loss_is_log2_when_pi_tilde_equals_pi_g(mod):
    torch.manual_seed(0)
    pi = mod.Policy(3, 2, (16,), discrete=False)
    obs, act = torch.randn(6, 50, 3), torch.randn(6, 50, 2)
    logp = pi.log_prob(obs, act).sum(-1)
    assert torch.allclose(torch.sigmoid(logp - logp.detach()), torch.full((6,), 0.5))  # D = 1/2 everywhere
    y = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert mod.asaf_loss(logp, logp.detach(), y).item() == pytest.approx(math.log(2), rel=1e-6)


def test_policy_log_probs_match_torch_distributions():
    torch.manual_seed(0)
    cat = asaf_w.Policy(4, 3, (16,), discrete=True)
    obs, act = torch.randn(10, 4), torch.randint(0, 3, (10,))
    ref = torch.distributions.Categorical(logits=cat.net(obs)).log_prob(act)
    assert torch.allclose(cat.log_prob(obs, act), ref, atol=1e-6)
    gauss = asaf.Policy(4, 2, (16,), discrete=False)
    act = 3.0 * torch.randn(10, 2)
    mean, log_std = gauss(obs)
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(act).sum(-1)
    assert torch.allclose(gauss.log_prob(obs, act), ref, atol=1e-5)
    assert (log_std >= gauss.log_std_min).all() and (log_std <= asaf.LOG_STD_MAX).all()


# ---------------------------------------------------------------- windows and episodes

def test_windows_respect_episode_ends():
    ends = np.array([False, False, True, False, True, True])  # episodes [0, 1, 2], [3, 4], [5]
    idx, mask = asaf_w.make_windows(ends, window=2, stride=2)
    assert idx.tolist() == [[0, 1], [2, 2], [3, 4], [5, 5]]
    assert mask.tolist() == [[True, True], [True, False], [True, True], [True, False]]
    idx, mask = asaf_w.make_windows(ends, window=2, stride=1)  # overlapping windows, still cut at each end
    assert idx[:, 0].tolist() == [0, 1, 2, 3, 4, 5] and mask.sum(1).tolist() == [2, 2, 1, 2, 1, 1]
    idx, mask = asaf_w.make_windows(ends, window=1, stride=1)  # ASAF-1: every transition alone
    assert idx.ravel().tolist() == list(range(6)) and mask.all()


def test_window_and_episode_log_probs_are_segment_sums():
    torch.manual_seed(0)
    pi = asaf.Policy(3, 2, (16,), discrete=True)
    obs, act = torch.randn(6, 3), torch.randint(0, 2, (6,))
    ends = np.array([False, False, True, False, True, True])
    per_step = pi.log_prob(obs, act)
    starts, lengths = asaf.episode_bounds(ends)
    assert starts.tolist() == [0, 3, 5] and lengths.tolist() == [3, 2, 1]
    expected = torch.stack([per_step[:3].sum(), per_step[3:5].sum(), per_step[5:].sum()])
    assert torch.allclose(asaf.episode_logp(pi, obs, act, starts, lengths), expected, atol=1e-6)
    idx, mask = asaf_w.make_windows(ends, window=3, stride=3)
    assert torch.allclose(asaf_w.window_logp(pi, obs, act, torch.as_tensor(idx), torch.as_tensor(mask)), expected, atol=1e-6)


# ---------------------------------------------------------------- the demos loader's one-sentence errors

@pytest.mark.parametrize("overrides, message", [
    (dict(env_id=np.array("Acrobot-v1")), "expected demonstrations for CartPole-v1"),
    (dict(observations=np.zeros((60, 5), np.float32)), "expected observations of shape"),
    (dict(actions=np.zeros((60, 1), np.float32)), "expected discrete actions"),
    (dict(terminations=np.zeros(60, bool)), "found a truncated file"),
])
def test_loader_rejects_mismatched_demos(run, tmp_path, overrides, message):
    path = write_demos(tmp_path / "bad.npz", "CartPole-v1", **overrides)
    for script in ("asaf.py", "asaf_w.py"):
        r = run(script, "--env-id", "CartPole-v1", "--demos", path, "--num-demos", "3", timeout=120)
        assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_loader_rejects_missing_file_too_few_episodes_and_wrong_env(run, tmp_path):
    path = write_demos(tmp_path / "d.npz", "CartPole-v1")
    for args, message in (((("--demos", tmp_path / "none.npz")), "found no such file"),
                          (("--demos", path, "--num-demos", "10"), "found 3"),
                          (("--env-id", "NoSuchEnv-v0"), "not a registered gymnasium environment"),
                          (("--demos", path, "--num-demos", "3", "--window", "5000"), "found --window 5000")):
        r = run("asaf_w.py", *(("--env-id", "CartPole-v1") if "--env-id" not in args else ()), *args, timeout=120)
        assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---------------------------------------------------------------- smoke runs (seconds)

def summary(tmp_path):
    files = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(files) == 1
    with open(files[0]) as f:
        return json.load(f)


@pytest.mark.parametrize("script, extra", [("asaf.py", ("--episodes-per-update", "2", "--batch-size", "1",
                                                        "--hidden-sizes", "16", "16")),
                                           ("asaf_w.py", ("--window", "4", "--num-envs", "2", "--num-steps", "50")),
                                           ("asaf_w.py", ("--window", "1", "--num-envs", "2", "--num-steps", "50",
                                                          "--hidden-sizes", "16", "16"))])
def test_smoke_cartpole_save_and_load(run, tmp_path, script, extra):
    """The reloaded policy (network shape read from the file, not from the flags) repeats the final evaluation."""
    r = run(script, "--env-id", "CartPole-v1", "--total-timesteps", "300", "--eval-every", "200", "--eval-episodes", "2",
            "--num-demos", "2", "--save-model", *extra, timeout=180)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    for key in ("env_id", "algo", "seed", "eval_return_mean", "eval_return_std", "normalized_score", "env_steps",
                "wall_seconds", "sps", "args"):
        assert key in s
    os.rename(tmp_path / "runs", tmp_path / "train_runs")  # so that the evaluation's summary is the only one in runs/
    model = glob.glob(str(tmp_path / "train_runs" / "*" / "*.pt"))[0]
    r = run(script, "--env-id", "CartPole-v1", "--num-demos", "2", "--eval-episodes", "2", "--load-model", model, timeout=180)
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path)["eval_return_mean"] == s["eval_return_mean"]  # same weights, same start states


@pytest.mark.parametrize("script, extra", [("asaf.py", ("--episodes-per-update", "2", "--batch-size", "1")),
                                           ("asaf_w.py", ("--window", "8", "--num-envs", "2", "--num-steps", "50"))])
def test_smoke_pendulum(run, tmp_path, script, extra):
    path = write_demos(tmp_path / "pendulum.npz", "Pendulum-v1", ep_len=200)
    r = run(script, "--env-id", "Pendulum-v1", "--demos", path, "--num-demos", "3", "--total-timesteps", "400",
            "--eval-every", "400", "--eval-episodes", "1", *extra, timeout=180)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["env_id"] == "Pendulum-v1" and np.isfinite(s["eval_return_mean"])


# ---------------------------------------------------------------- learning (shipped demos, default budget)

@pytest.mark.slow
def test_asaf1_learns_cartpole_from_10_demos(run, tmp_path):
    r = run("asaf_w.py", "--env-id", "CartPole-v1", "--window", "1", "--num-demos", "10", timeout=600)
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path)["eval_return_mean"] >= 475


@pytest.mark.slow
def test_asaf1_learns_pendulum_from_10_demos(run, tmp_path):
    """Continuous actions: the state-independent log-std is what makes this pass (a state-dependent one scored ~0)."""
    r = run("asaf_w.py", "--env-id", "Pendulum-v1", "--window", "1", "--num-demos", "10", timeout=900)
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path)["normalized_score"] >= 0.9
