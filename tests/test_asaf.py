"""ASAF (asaf.py) and ASAF-w / ASAF-1 (asaf_w.py): the structured discriminator's maths, windows, the log-std bound,
the update diagnostics, flag and loader errors, smoke runs and learning."""

import glob
import json
import math
import os
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import asaf
import asaf_w


def write_demos(path, env_name, n_episodes=3, ep_len=20, seed=0, **overrides):
    """A small synthetic demos file in the docs/design.md format (random actions; enough for smoke and loader tests)."""
    env = gym.make(env_name)
    rng = np.random.default_rng(seed)
    n = n_episodes * ep_len
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    ends = np.zeros(n, bool)
    ends[ep_len - 1 :: ep_len] = True
    if discrete:
        actions = rng.integers(0, env.action_space.n, n)
    else:
        actions = rng.uniform(-1, 1, (n, *env.action_space.shape)).astype(np.float32)
    data = dict(
        observations=rng.normal(size=(n, *env.observation_space.shape)).astype(np.float32),
        actions=actions,
        rewards=np.ones(n, np.float32),
        next_observations=np.zeros((n, *env.observation_space.shape), np.float32),
        terminations=ends,
        truncations=np.zeros(n, bool),
        env_id=np.array(env_name),
        expert_return_mean=np.float64(100.0),
        expert_return_std=np.float64(0.0),
        random_return_mean=np.float64(0.0),
        episode_returns=np.full(n_episodes, 100.0),
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
        pi_tilde = mod.Policy(obs_dim, act_dim, (32,), discrete)
        pi_g = mod.Policy(obs_dim, act_dim, (32,), discrete)
        obs = torch.randn(2, 1000, obs_dim)
        if discrete:
            act = torch.randint(0, act_dim, (2, 1000))
        else:
            act = 5.0 * torch.randn(2, 1000, act_dim)
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
    assert torch.isfinite(loss)
    assert torch.isfinite(big.grad).all()


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_loss_is_log2_when_pi_tilde_equals_pi_g(mod):
    torch.manual_seed(0)
    pi = mod.Policy(3, 2, (16,), discrete=False)
    obs, act = torch.randn(6, 50, 3), torch.randn(6, 50, 2)
    logp = pi.log_prob(obs, act).sum(-1)
    assert torch.allclose(torch.sigmoid(logp - logp.detach()), torch.full((6,), 0.5))  # D = 1/2 everywhere
    y = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert mod.asaf_loss(logp, logp.detach(), y).item() == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_policy_log_probs_match_torch_distributions(mod):
    torch.manual_seed(0)
    cat = mod.Policy(4, 3, (16,), discrete=True)
    obs, act = torch.randn(10, 4), torch.randint(0, 3, (10,))
    ref = torch.distributions.Categorical(logits=cat.net(obs)).log_prob(act)
    assert torch.allclose(cat.log_prob(obs, act), ref, atol=1e-6)
    gauss = mod.Policy(4, 2, (16,), discrete=False)
    with torch.no_grad():
        gauss.log_std.copy_(torch.tensor([-0.7, 0.4]))
    act = 3.0 * torch.randn(10, 2)
    mean, log_std = gauss(obs)
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(act).sum(-1)
    assert torch.allclose(gauss.log_prob(obs, act), ref, atol=1e-5)


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_censored_log_prob_is_the_density_inside_and_the_tail_mass_at_the_bounds(mod):
    low = torch.tensor([-1.0, -2.0, -math.inf])
    high = torch.tensor([1.0, 2.0, math.inf])
    mu = torch.tensor([[0.3, 2.5, 40.0]], requires_grad=True)
    log_std = torch.tensor([[-0.5, -1.0, 0.2]], requires_grad=True)
    act = torch.tensor([[0.1, 3.7, 41.0]])  # inside; beyond the upper bound; unbounded dimension
    lp = mod.censored_log_prob(act, mu, log_std, low, high)
    normal = torch.distributions.Normal(mu, log_std.exp())
    assert torch.allclose(lp[0, 0], normal.log_prob(act)[0, 0], atol=1e-5)  # the density inside the box
    assert torch.allclose(lp[0, 1], torch.log(1 - normal.cdf(high))[0, 1], atol=1e-5)  # P(sample >= 2)
    assert torch.allclose(lp[0, 2], normal.log_prob(act)[0, 2], atol=1e-5)  # infinite bounds: never hit
    lp.sum().backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(log_std.grad).all()
    # far beyond the bound with a tiny std, in log space: finite, and the lower tail too
    far = mod.censored_log_prob(torch.tensor([-50.0]), torch.tensor([30.0]), torch.tensor([-5.0]), low[:1], high[:1])
    assert torch.isfinite(far).all() and far.item() < -1e6


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_learner_term_rewards_a_runaway_mean_beyond_the_box_only_without_censoring(mod):
    """In a state only the learner visits, Eq. 12 keeps its learner term alone, whose minimum is a pi_tilde away from
    pi_G's samples. With pi_G's mean beyond the bound, the plain density keeps rewarding a pi_tilde whose mean runs
    further out, although the env, which clips, sees no difference; censored, every such sample is the bound, and
    running further out changes nothing (docs/asaf.md, "What changes before a drop")."""
    low = torch.tensor([-1.0])
    high = torch.tensor([1.0])
    log_std = torch.tensor([-1.0])
    mu_g = torch.tensor([3.0])
    act = mu_g + log_std.exp() * torch.linspace(-2, 2, 41).unsqueeze(-1)  # pi_G's samples, all beyond the bound
    labels = torch.zeros(len(act))  # learner windows only
    for censored in (False, True):
        if censored:
            old = mod.censored_log_prob(act, mu_g, log_std, low, high).sum(-1)
        else:
            old = torch.distributions.Normal(mu_g, log_std.exp()).log_prob(act).sum(-1)
        losses = []
        for shift in (0.0, 1.0, 2.0):  # pi_tilde's mean further out than pi_G's
            mu = mu_g + shift
            if censored:
                new = mod.censored_log_prob(act, mu, log_std, low, high).sum(-1)
            else:
                new = torch.distributions.Normal(mu, log_std.exp()).log_prob(act).sum(-1)
            losses.append(mod.asaf_loss(new, old, labels).item())
        assert losses[0] == pytest.approx(math.log(2), abs=1e-6)
        if censored:
            assert losses[1] == pytest.approx(math.log(2), abs=1e-5)
            assert losses[2] == pytest.approx(math.log(2), abs=1e-5)
        else:
            assert losses[1] < math.log(2) - 0.05 and losses[2] < losses[1]


# ---------------------------------------------------------------- the log-std bound keeps a gradient


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_log_std_driven_to_its_floor_comes_back_when_the_loss_asks(mod):
    """Regression test of the log-std bound. With the clamp inside forward, a log-std pushed below the floor got no
    gradient there while Adam's momentum carried the raw value further down: sigma stayed frozen at the floor whatever
    the loss asked. Clamping the parameter after each optimizer step keeps the gradient, so sigma comes back."""
    torch.manual_seed(0)
    floor = -2.0
    policy = mod.Policy(3, 2, (8,), discrete=False, log_std_min=floor)
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.1)
    obs = torch.randn(64, 3)

    def train_step(offset):
        """One step of maximum likelihood on actions `offset` away from the mean, as the scripts take it."""
        mean = policy(obs)[0].detach()
        loss = -policy.log_prob(obs, mean + offset).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        policy.bound_log_std_()

    def log_std():
        with torch.no_grad():
            return policy(obs)[1]

    # 1) actions at the mean: the likelihood wants sigma -> 0, so 40 Adam steps of 0.1 drive the log-std to the floor
    for _ in range(40):
        train_step(0.0)
        assert (log_std() >= floor - 1e-6).all()
    assert torch.allclose(log_std(), torch.full_like(log_std(), floor), atol=1e-6)
    # 2) actions 3 away from the mean: the likelihood wants sigma ~ 3; sigma must leave the floor within a few steps
    steps_to_leave = None
    for step in range(1, 11):
        train_step(3.0)
        if (log_std() > floor + 0.05).all():
            steps_to_leave = step
            break
    assert steps_to_leave is not None, f"sigma stayed at the floor: log-std {log_std()[0].tolist()}"
    for _ in range(30):
        train_step(3.0)
    assert (log_std() > floor + 1.0).all()
    assert (log_std() <= mod.LOG_STD_MAX + 1e-6).all()


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_log_std_bound_is_a_projection_onto_its_range(mod):
    policy = mod.Policy(3, 3, (8,), discrete=False, log_std_min=-2.0)
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-7.0, 0.5, 9.0]))
    policy.bound_log_std_()
    assert policy.log_std.tolist() == [-2.0, 0.5, mod.LOG_STD_MAX]
    assert policy.log_std.requires_grad
    mod.Policy(3, 2, (8,), discrete=True).bound_log_std_()  # no log-std: nothing to bound


def test_log_std_floor_follows_the_demos_action_spread():
    """With --std-floor-spread, asaf.py's floor is --log-std-min where the demos' actions vary widely, a fraction of
    their spread where they vary less than that, and never below LOG_STD_BOTTOM (a dimension the expert never moves)."""
    rng = np.random.default_rng(0)
    fraction = 1 / 3  # docs/asaf.md's setting for Reacher-v5
    wide = rng.normal(0.0, 0.5, size=(5000, 1))  # Hopper-like: a third of its spread is above sigma 0.135
    narrow = rng.normal(0.0, 0.08, size=(5000, 1))  # Reacher-like: 0.083
    still = np.zeros((5000, 1))
    actions = np.concatenate([wide, narrow, still], axis=1)
    assert 0.5 * fraction > np.exp(-2.0) > 0.08 * fraction  # keeps the first floor, lowers the second
    floor = asaf.log_std_floor(actions, -2.0, fraction)
    assert floor.dtype == np.float32 and floor.shape == (3,)
    assert floor[0] == np.float32(-2.0)
    assert abs(float(floor[1]) - np.log(0.08 * fraction)) < 0.05
    assert floor[2] == np.float32(asaf.LOG_STD_BOTTOM)
    assert asaf.log_std_floor(actions, -2.0, 0.0).tolist() == [-2.0, -2.0, -2.0]  # the rule turned off
    # a floor per dimension is what the projection keeps
    policy = asaf.Policy(3, 3, (8,), discrete=False, log_std_min=floor)
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-7.0, -7.0, -7.0]))
    policy.bound_log_std_()
    assert torch.allclose(policy.log_std, torch.as_tensor(floor))
    assert policy.log_std.requires_grad


# ---------------------------------------------------------------- the update diagnostics


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_policy_kl_is_zero_for_the_same_policy_and_matches_torch(mod):
    torch.manual_seed(0)
    obs = torch.randn(32, 4)
    # Gaussian: pi_G is `old`, pi_tilde is `new`, with other weights and another log-std
    old, new = mod.Policy(4, 2, (16,), False), mod.Policy(4, 2, (16,), False)
    with torch.no_grad():
        old.log_std.copy_(torch.tensor([-0.5, 0.3]))
        new.log_std.copy_(torch.tensor([0.2, -1.0]))
        old_out, old_log_std = old(obs)
        assert mod.policy_kl(old, obs, old_out, old_log_std).item() == pytest.approx(0.0, abs=1e-6)
        new_out, new_log_std = new(obs)
        ref = torch.distributions.kl_divergence(
            torch.distributions.Normal(old_out, old_log_std.exp()),
            torch.distributions.Normal(new_out, new_log_std.exp()),
        )
        kl = mod.policy_kl(new, obs, old_out, old_log_std)
    assert kl.item() > 0.1
    assert kl.item() == pytest.approx(ref.sum(-1).mean().item(), rel=1e-5)
    # categorical
    old, new = mod.Policy(4, 3, (16,), True), mod.Policy(4, 3, (16,), True)
    with torch.no_grad():
        old_out, _ = old(obs)
        assert mod.policy_kl(old, obs, old_out, None).item() == pytest.approx(0.0, abs=1e-6)
        ref = torch.distributions.kl_divergence(
            torch.distributions.Categorical(logits=old.net(obs)), torch.distributions.Categorical(logits=new.net(obs))
        )
        kl = mod.policy_kl(new, obs, old_out, None)
    assert kl.item() > 0.0
    assert kl.item() == pytest.approx(ref.mean().item(), rel=1e-5)


# ---------------------------------------------------------------- windows and episodes


def test_windows_respect_episode_ends():
    ends = np.array([False, False, True, False, True, True])  # episodes [0, 1, 2], [3, 4], [5]
    idx, mask = asaf_w.make_windows(ends, window=2, stride=2)
    assert idx.tolist() == [[0, 1], [2, 2], [3, 4], [5, 5]]
    assert mask.tolist() == [[True, True], [True, False], [True, True], [True, False]]
    idx, mask = asaf_w.make_windows(ends, window=2, stride=1)  # overlapping windows, still cut at each end
    assert idx[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert mask.sum(1).tolist() == [2, 2, 1, 2, 1, 1]
    idx, mask = asaf_w.make_windows(ends, window=1, stride=1)  # ASAF-1: every transition alone
    assert idx.ravel().tolist() == list(range(6))
    assert mask.all()


def test_window_and_episode_log_probs_are_segment_sums():
    torch.manual_seed(0)
    pi = asaf.Policy(3, 2, (16,), discrete=True)
    obs, act = torch.randn(6, 3), torch.randint(0, 2, (6,))
    ends = np.array([False, False, True, False, True, True])
    per_step = pi.log_prob(obs, act)
    starts, lengths = asaf.episode_bounds(ends)
    assert starts.tolist() == [0, 3, 5]
    assert lengths.tolist() == [3, 2, 1]
    expected = torch.stack([per_step[:3].sum(), per_step[3:5].sum(), per_step[5:].sum()])
    assert torch.allclose(asaf.episode_logp(pi, obs, act, starts, lengths), expected, atol=1e-6)
    idx, mask = asaf_w.make_windows(ends, window=3, stride=3)
    windows = asaf_w.window_logp(pi, obs, act, torch.as_tensor(idx), torch.as_tensor(mask))
    assert torch.allclose(windows, expected, atol=1e-6)


def test_training_episodes_start_from_the_train_seeds_then_continue_each_env():
    torch.manual_seed(0)
    policy = asaf.Policy(4, 2, (8,), discrete=True)
    seeds = asaf.env_seeds(3, "train", 2)
    envs = [gym.make("CartPole-v1") for _ in seeds]
    obs, act, ends, returns, lengths = asaf.run_episodes(policy, envs, "cpu", seeds)
    firsts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for first, seed in zip(firsts, seeds):
        assert np.allclose(obs[first], gym.make("CartPole-v1").reset(seed=seed)[0])
    assert len(obs) == len(act) == len(ends) == lengths.sum()
    assert np.flatnonzero(ends).tolist() == (np.cumsum(lengths) - 1).tolist()
    assert returns.tolist() == lengths.tolist()  # CartPole: reward 1 per step
    later = asaf.run_episodes(policy, envs, "cpu")[0]  # seed=None: each env goes on with its own random stream
    assert not np.allclose(later[0], obs[0])


# ---------------------------------------------------------------- bad flags and files end in one sentence


def assert_one_sentence(r, script, *fragments):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: expected") and last.endswith("."), r.stderr[-2000:]
    for fragment in fragments:
        assert fragment in last, last


COMMON_BAD_FLAGS = [
    (("--learning-rate=-0.001",), "expected --learning-rate > 0, found -0.001"),
    (("--learning-rate", "nan"), "expected --learning-rate to be a finite number, found nan"),
    (("--hidden-sizes", "0"), "expected --hidden-sizes to be one or more layer sizes >= 1, found [0]"),
    (("--num-demos", "0"), "expected --num-demos >= 1, found 0"),
    (("--num-demos", "26"), "found 26"),  # the shipped CartPole-v1 file holds 25 episodes
    (("--log-std-min", "2"), "expected --log-std-min below 2.0, found 2.0"),
]
BAD_FLAGS = [(script, *case) for script in ("asaf.py", "asaf_w.py") for case in COMMON_BAD_FLAGS]
BAD_FLAGS += [
    ("asaf.py", ("--episodes-per-update", "0"), "expected --episodes-per-update >= 1, found 0"),
    ("asaf.py", ("--batch-episodes=-1",), "expected --batch-episodes >= 1, found -1"),
    ("asaf.py", ("--std-floor-spread", "1.5"), "expected --std-floor-spread in [0, 1], found 1.5"),
    ("asaf_w.py", ("--window", "0"), "expected --window >= 1, found 0"),
    ("asaf_w.py", ("--num-envs", "0"), "expected --num-envs >= 1, found 0"),
]


@pytest.mark.parametrize("mod", [asaf, asaf_w])
def test_check_args_names_every_numeric_flag(mod):
    """Each int or float flag is checked by check_args (the seed by check_args itself, the log-std floor on its own)."""
    with open(mod.__file__) as f:
        main = f.read().split('if __name__ == "__main__":')[1]
    call = main[main.index("check_args(") : main.index("\n    )\n", main.index("check_args("))]
    numeric = [name for name, field in mod.Args.__dataclass_fields__.items() if field.type in (int, float)]
    unchecked = [name for name in numeric if f'"{name}"' not in call and name not in ("seed", "log_std_min")]
    assert not unchecked


@pytest.mark.parametrize("script, flags, message", BAD_FLAGS)
def test_bad_flags_end_in_one_sentence(run, tmp_path, script, flags, message):
    r = run(script, "--env-id", "CartPole-v1", *flags, timeout=120)
    assert_one_sentence(r, script, message)
    assert not (tmp_path / "runs").exists()  # checked before anything is written


@pytest.mark.parametrize("script", ["asaf.py", "asaf_w.py"])
def test_load_model_of_a_demos_file_or_another_script_ends_in_one_sentence(run, tmp_path, script):
    demos = write_demos(tmp_path / "d.npz", "CartPole-v1")
    r = run(script, "--env-id", "CartPole-v1", "--load-model", demos, timeout=120)
    assert_one_sentence(r, script, "found a file torch cannot read")
    other = tmp_path / "bc.pt"
    torch.save({"config": {"script": "bc.py", "env_id": "CartPole-v1", "hidden_sizes": [64, 64]}, "policy": {}}, other)
    r = run(script, "--env-id", "CartPole-v1", "--load-model", other, timeout=120)
    assert_one_sentence(r, script, "found a checkpoint of bc.py")
    r = run(script, "--env-id", "CartPole-v1", "--load-model", tmp_path / "none.pt", timeout=120)
    assert_one_sentence(r, script, "found no such file")


# ---------------------------------------------------------------- the demos loader's one-sentence errors


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(env_id=np.array("Acrobot-v1")), "expected demonstrations for CartPole-v1"),
        (dict(observations=np.zeros((60, 5), np.float32)), "expected observations of shape"),
        (dict(actions=np.zeros((60, 1), np.float32)), "expected integer actions of shape (N,)"),
        (dict(terminations=np.zeros(60, bool)), "found it cut short"),
    ],
)
def test_loader_rejects_mismatched_demos(run, tmp_path, overrides, message):
    path = write_demos(tmp_path / "bad.npz", "CartPole-v1", **overrides)
    for script in ("asaf.py", "asaf_w.py"):
        r = run(script, "--env-id", "CartPole-v1", "--demos", path, "--num-demos", "3", timeout=120)
        assert_one_sentence(r, script, message)


def test_loader_rejects_missing_file_too_few_episodes_and_wrong_env(run, tmp_path):
    path = write_demos(tmp_path / "d.npz", "CartPole-v1")
    for args, message in (
        (("--env-id", "CartPole-v1", "--demos", tmp_path / "none.npz"), "found no such file"),
        (("--env-id", "CartPole-v1", "--demos", path, "--num-demos", "10"), "found 10"),
        (("--env-id", "NoSuchEnv-v0"), "a registered gymnasium environment"),
        (("--env-id", "CartPole-v1", "--demos", path, "--num-demos", "3", "--window", "5000"), "found --window 5000"),
    ):
        r = run("asaf_w.py", *args, timeout=120)
        assert_one_sentence(r, "asaf_w.py", message)


# ---------------------------------------------------------------- smoke runs (seconds)


def summary(tmp_path):
    files = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(files) == 1
    with open(files[0]) as f:
        return json.load(f)


SMOKE = ("--env-id", "CartPole-v1", "--num-demos", "2", "--final-eval-episodes", "2")


@pytest.mark.parametrize(
    "script, extra",
    [
        ("asaf.py", ("--episodes-per-update", "2", "--batch-episodes", "1", "--hidden-sizes", "16", "16")),
        ("asaf_w.py", ("--window", "4", "--num-envs", "2", "--num-steps", "50")),
        ("asaf_w.py", ("--window", "1", "--num-envs", "2", "--num-steps", "50", "--hidden-sizes", "16", "16")),
        ("asaf_w.py", ("--window", "1", "--num-envs", "2", "--num-steps", "50", "--norm-obs")),
    ],
)
def test_smoke_cartpole_save_and_load(run, tmp_path, script, extra):
    """The reloaded policy (network shape read from the file, not from the flags) repeats the final evaluation."""
    flags = ("--total-timesteps", "300", "--eval-every", "200", "--eval-episodes", "2", "--save-model")
    r = run(script, *SMOKE, *flags, *extra, timeout=180)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    for key in ("env_id", "algo", "seed", "eval_return_mean", "normalized_score", "env_steps", "wall_seconds", "args"):
        assert key in s
    assert s["env_steps"] >= 300
    assert len(s["demos"]["episodes"]) == 2
    assert s["final_eval"]["env_seeds"] == asaf.env_seeds(1, "final", 2)
    assert s["history"][-1]["step"] == s["env_steps"]  # the curve ends at the end of training
    if script == "asaf_w.py":  # --update-epochs 0 (the default): 5 for ASAF-1, 30 for longer windows
        assert s["update_epochs"] == {"1": 5, "4": 30}[extra[1]]
    os.rename(tmp_path / "runs", tmp_path / "train_runs")  # so that the evaluation's summary is the only one in runs/
    model = glob.glob(str(tmp_path / "train_runs" / "*" / "*.pt"))[0]
    r = run(script, *SMOKE, "--load-model", model, timeout=180)
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path)["eval_return_mean"] == s["eval_return_mean"]  # same weights, same start states


@pytest.mark.parametrize(
    "script, extra",
    [
        ("asaf.py", ("--episodes-per-update", "2", "--batch-episodes", "1")),
        ("asaf_w.py", ("--window", "8", "--num-envs", "2", "--num-steps", "50", "--norm-obs")),
        ("asaf_w.py", ("--window", "1", "--num-envs", "2", "--num-steps", "50", "--no-censored")),
    ],
)
def test_smoke_pendulum(run, tmp_path, script, extra):
    path = write_demos(tmp_path / "pendulum.npz", "Pendulum-v1", ep_len=200)
    flags = ("--total-timesteps", "400", "--eval-every", "400", "--eval-episodes", "1", "--final-eval-episodes", "2")
    r = run(script, "--env-id", "Pendulum-v1", "--demos", path, "--num-demos", "3", *flags, *extra, timeout=180)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["env_id"] == "Pendulum-v1"
    assert np.isfinite(s["eval_return_mean"])


# ---------------------------------------------------------------- --resume: a run interrupted by a session's end

RESUMABLE = [
    ("asaf.py", asaf, ("--episodes-per-update", "2", "--update-epochs", "2", "--total-timesteps", "30000")),
    ("asaf_w.py", asaf_w, ("--window", "1", "--num-envs", "2", "--num-steps", "50", "--total-timesteps", "20000")),
]
RESUME_FLAGS = ("--env-id", "CartPole-v1", "--eval-every", "1000", "--eval-episodes", "2", "--final-eval-episodes", "2")


def kill_after_first_save(script, flags, cwd):
    """Start `python script flags` and kill it as soon as it has saved a resume.pt; return that run's directory."""
    cmd = [sys.executable, os.path.join(os.path.dirname(asaf.__file__), script), *flags]
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    try:
        while not glob.glob(str(cwd / "runs" / "*" / "resume.pt")):
            assert proc.poll() is None, f"the run ended before it saved a resume.pt: {proc.stderr.read()[-2000:]}"
            assert time.time() < deadline
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.communicate()
    return os.path.dirname(glob.glob(str(cwd / "runs" / "*" / "resume.pt"))[0])


@pytest.mark.parametrize("script, mod, extra", RESUMABLE)
def test_resume_goes_on_from_the_last_evaluation_of_a_killed_run(run, tmp_path, script, mod, extra):
    run_dir = kill_after_first_save(script, RESUME_FLAGS + extra, tmp_path)
    saved = torch.load(os.path.join(run_dir, "resume.pt"), weights_only=True)
    assert 0 < saved["global_step"] < int(extra[-1])
    # the saved policy is the one its last periodic evaluation scored (same weights, same start states)
    policy = mod.Policy(4, 2, (64, 64), discrete=True)
    policy.load_state_dict(saved["policy"])
    returns, _ = mod.evaluate(
        lambda o: policy.act(torch.as_tensor(o), deterministic=True).numpy(),
        "CartPole-v1",
        mod.env_seeds(1, "eval", 2),
    )
    assert returns.mean() == saved["history"][-1]["return_mean"]

    r = run(script, *RESUME_FLAGS, *extra, "--resume", os.path.relpath(run_dir, tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resumed runs/{os.path.basename(run_dir)} at step {saved['global_step']}" in r.stdout
    s = summary(tmp_path)  # one run directory: the resumed run wrote its summary into the interrupted one's
    assert s["resumed_at"] == [saved["global_step"]]
    assert s["env_steps"] >= int(extra[-1])
    steps = [h["step"] for h in s["history"]]
    assert s["history"][: len(saved["history"])] == saved["history"]  # the curve goes on, nothing lost or repeated
    assert steps == sorted(set(steps)) and steps[-1] == s["env_steps"]
    assert len(steps) > len(saved["history"])
    assert s["wall_seconds"] >= saved["train_seconds"]  # training time counts across the interruption
    assert not os.path.exists(os.path.join(run_dir, "resume.pt"))  # finished: nothing left to resume

    r = run(script, *RESUME_FLAGS, *extra, "--resume", os.path.relpath(run_dir, tmp_path), timeout=120)
    assert_one_sentence(r, script, "found", "finished (it holds summary.json)")


@pytest.mark.parametrize("script, mod, extra", RESUMABLE)
def test_resume_with_other_flags_or_without_a_saved_run_ends_in_one_sentence(run, tmp_path, script, mod, extra):
    run_dir = os.path.relpath(kill_after_first_save(script, RESUME_FLAGS + extra, tmp_path), tmp_path)
    r = run(script, *RESUME_FLAGS, *extra, "--learning-rate", "0.01", "--resume", run_dir, timeout=120)
    assert_one_sentence(r, script, "{'learning_rate': 0.001}", "found {'learning_rate': 0.01}")
    r = run(script, *RESUME_FLAGS, *extra, "--resume", "runs/no_such_run", timeout=120)
    assert_one_sentence(r, script, "a run directory runs/<run_name>")
    torch.save({"config": {}}, tmp_path / run_dir / "resume.pt")
    r = run(script, *RESUME_FLAGS, *extra, "--resume", run_dir, timeout=120)
    assert_one_sentence(r, script, "another kind of file")
    assert len(os.listdir(tmp_path / "runs")) == 1  # no new run directory was started


# ---------------------------------------------------------------- learning (shipped demos, default budget)


@pytest.mark.slow
def test_asaf1_learns_cartpole_from_10_demos(run, tmp_path):
    r = run("asaf_w.py", "--env-id", "CartPole-v1", "--window", "1", "--num-demos", "10", timeout=600)
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path)["eval_return_mean"] >= 475


@pytest.mark.slow
def test_asaf1_learns_pendulum_from_10_demos(run, tmp_path):
    """Continuous actions at the default budget (300k env steps): the state-independent log-std is what makes this
    pass (a state-dependent one scored ~0); at 100k two of five tuning seeds read 0.50-0.52 (docs/asaf.md)."""
    r = run("asaf_w.py", "--env-id", "Pendulum-v1", "--window", "1", "--num-demos", "10", timeout=900)
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path)["normalized_score"] >= 0.9


def test_asaf_w_policy_reads_observations_standardised_by_the_demos():
    """--norm-obs: the network sees (obs - mean) / std of the demos, clipped to [-10, 10], and the
    statistics travel in the state dict, so a saved policy acts as it learned."""
    rng = np.random.default_rng(0)
    demo_obs = (rng.normal(size=(500, 3)) * np.array([0.1, 1.0, 8.0]) + np.array([1.0, 0.0, -3.0])).astype(np.float32)
    mean, std = asaf_w.demo_obs_stats(demo_obs)
    assert np.allclose(mean, demo_obs.mean(0)) and np.allclose(std, demo_obs.std(0), rtol=1e-4)
    torch.manual_seed(0)
    pi = asaf_w.Policy(3, 2, (16,), False, obs_stats=(mean, std))
    obs = torch.tensor([[1.0, 0.0, -3.0], [1.5, 2.0, 5.0], [-9.0, 0.0, 0.0]])
    z = ((obs - torch.as_tensor(mean)) / torch.as_tensor(std)).clamp(-10, 10)
    assert z[2, 0] == -10.0  # 100 stds below the demos' mean: clipped
    assert torch.allclose(pi(obs)[0], pi.net(z), atol=1e-6)
    raw = asaf_w.Policy(3, 2, (16,), False)
    raw.net.load_state_dict(pi.net.state_dict())
    assert not torch.allclose(raw(obs)[0], pi(obs)[0])  # --no-norm-obs feeds the raw observation
    assert {"obs_mean", "obs_std"} <= set(pi.state_dict())
    assert "obs_mean" not in raw.state_dict()


def test_asaf_w_resumes_a_run_saved_before_norm_obs_existed(tmp_path, monkeypatch):
    """A resume.pt whose flags lack norm_obs was written by a script that read raw observations: it resumes with the
    default (--no-norm-obs) and is refused, in one sentence, with --norm-obs."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("runs/old_run")
    args = asaf_w.Args()
    flags = asaf_w.training_flags(args)
    del flags["norm_obs"]
    torch.save({"script": "asaf_w.py", "flags": flags}, "runs/old_run/resume.pt")
    run_name, state = asaf_w.load_resume("runs/old_run", args)
    assert run_name == "old_run" and "norm_obs" not in state["flags"]
    args.norm_obs = True
    with pytest.raises(SystemExit, match="norm_obs"):
        asaf_w.load_resume("runs/old_run", args)
