"""Tests of aggrevated.py: the AggreVaTeD loss, the natural-gradient step, the expert loader, one-sentence errors on
bad input, smoke runs (Discrete and Box, both update rules) with a save / load round trip, learning on the shipped
experts."""

import glob
import json
import os

import numpy as np
import pytest
import torch

import aggrevated
from conftest import ROOT

torch.set_num_threads(1)  # the scripts' default; more threads only contend on a small CI machine

FAST = (
    "--total-timesteps", 400, "--steps-per-iteration", 200, "--gradient-steps", 3, "--eval-episodes", 2,
    "--eval-every", 200, "--final-eval-episodes", 2,
)  # fmt: skip
CARTPOLE_DEMOS = os.path.join(ROOT, "experts", "CartPole-v1", "demos.npz")
CARTPOLE_EXPERT = os.path.join(ROOT, "experts", "CartPole-v1", "expert.pt")
PENDULUM_EXPERT = os.path.join(ROOT, "experts", "Pendulum-v1", "expert.pt")


def summary(tmp_path, pattern="*"):
    files = glob.glob(str(tmp_path / "runs" / pattern / "summary.json"))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return json.load(f)


def assert_one_sentence(r, *must_contain):
    """The run stopped with one sentence on stderr's last line: no traceback, 'expected' and the given words in it."""
    assert r.returncode != 0, r.stdout[-2000:]
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last, last
    for word in must_contain:
        assert word in last, (word, last)


def test_discrete_loss_is_the_exact_expected_advantage():
    torch.manual_seed(0)
    policy = aggrevated.Policy(3, 4, (64,), discrete=True)
    obs, q = torch.randn(5, 3), torch.randn(5, 4)
    q[torch.arange(5), torch.tensor([0, 1, 2, 3, 0])] = q.max(-1).values + 2.0  # a clear best action in every state
    probs = torch.softmax(policy.net(obs), -1)
    expected = -(probs * (q - q.max(-1, keepdim=True).values)).sum(-1).mean()  # Eq. 6 with V* = max_a Q*
    loss = aggrevated.aggrevated_loss(policy, obs, lambda x, a=None: q, None)
    assert torch.allclose(loss, expected)
    assert loss >= 0  # the greedy expert is optimal for its own Q*: no policy has a negative expected disadvantage
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        aggrevated.aggrevated_loss(policy, obs, lambda x, a=None: q, None).backward()
        opt.step()
    with torch.no_grad():  # descending the loss makes the learner greedy with respect to Q*, i.e. the expert
        assert torch.equal(policy.act(obs, deterministic=True), q.argmax(-1))
        assert aggrevated.aggrevated_loss(policy, obs, lambda x, a=None: q, None) < 0.01


def test_box_loss_is_reparameterised_and_stays_in_the_box():
    torch.manual_seed(0)
    low, high = np.array([-2.0, -1.0]), np.array([2.0, 1.0])
    policy = aggrevated.Policy(3, 2, (16,), False, low, high)
    seen = []

    def q_star(x, a):  # a concave Q* peaked at a = (1, 0.5)
        seen.append(a.detach())
        return -((a - torch.tensor([1.0, 0.5])) ** 2).sum(-1)

    obs = torch.randn(64, 3)
    loss = aggrevated.aggrevated_loss(policy, obs, q_star, lambda x: torch.zeros(len(x), 2))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())  # gradient through Q*(s, a)
    a = torch.cat(seen)
    assert (a.abs() <= torch.tensor([2.0, 1.0])).all()
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        aggrevated.aggrevated_loss(policy, obs, q_star, lambda x: torch.zeros(len(x), 2)).backward()
        opt.step()
    with torch.no_grad():
        assert torch.allclose(policy.act(obs, deterministic=True).mean(0), torch.tensor([1.0, 0.5]), atol=0.05)


def test_saturated_pre_tanh_mean_comes_back():
    """A mean pushed far past the tanh's responsive range gets (almost) no gradient from Q*; the hinge beyond
    MEAN_BOUND brings it back, and inside the bound the loss is Q*'s alone. On the old loss this test fails."""
    torch.manual_seed(0)
    low, high = np.array([-2.0]), np.array([2.0])
    policy = aggrevated.Policy(3, 1, (16,), False, low, high)
    obs = torch.randn(64, 3)

    def q_star(x, a):  # best action 0: a saturated learner at +2 should come back
        return -(a**2).sum(-1)

    def expert(x):
        return torch.zeros(len(x), 1)

    with torch.no_grad():
        policy.net[-1].bias[0] = 40.0  # pre-tanh mean ~ 40: tanh' ~ 1e-34
    opt = torch.optim.Adam(policy.parameters(), lr=5e-2)
    for _ in range(600):
        opt.zero_grad()
        aggrevated.aggrevated_loss(policy, obs, q_star, expert).backward()
        opt.step()
    with torch.no_grad():
        mean = policy.base_dist(obs).mean
        assert mean.abs().max() < aggrevated.MEAN_BOUND + 0.5
        assert policy.act(obs, deterministic=True).abs().mean() < 1.0  # on its way to the best action 0
    policy = aggrevated.Policy(3, 1, (16,), False, low, high)  # a fresh one: its means sit inside the bound,
    with torch.no_grad():
        assert policy.base_dist(obs).mean.abs().max() < aggrevated.MEAN_BOUND
    torch.manual_seed(1)  # where the loss is Q*'s alone
    loss = aggrevated.aggrevated_loss(policy, obs, q_star, expert)
    torch.manual_seed(1)
    q_only = -(q_star(obs, policy.squash(policy.base_dist(obs).rsample())) - q_star(obs, expert(obs))).mean()
    assert torch.allclose(loss, q_only)


def test_conjugate_gradient_solves_spd_system():
    torch.manual_seed(0)
    m = torch.randn(6, 6, dtype=torch.float64)
    f, b = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    x = aggrevated.conjugate_gradient(lambda v: f @ v, b, iters=20)
    assert torch.allclose(f @ x, b, atol=1e-6)


@pytest.mark.parametrize("discrete", [True, False])
def test_natural_step_moves_the_policy_by_max_kl_and_lowers_the_loss(discrete):
    torch.manual_seed(0)
    policy = aggrevated.Policy(3, 2, (32,), discrete, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    obs = torch.randn(512, 3)
    if discrete:
        q = torch.stack([obs[:, 0], -obs[:, 0]], -1)
        q_star = lambda x, a=None: q  # noqa: E731
        loss_fn = lambda: aggrevated.aggrevated_loss(policy, obs, q_star, None)  # noqa: E731
    else:
        torch.manual_seed(1)
        q_star = lambda x, a: -((a - 0.5) ** 2).sum(-1)  # noqa: E731
        eps_fixed = torch.randn(512, 2)  # common random numbers: the same loss before and after the step

        def loss_fn():
            d = policy.base_dist(obs)
            return -q_star(obs, policy.squash(d.mean + d.stddev * eps_fixed)).mean()

    with torch.no_grad():
        d = policy.base_dist(obs)
        old = (
            torch.distributions.Categorical(probs=d.probs) if discrete else torch.distributions.Normal(d.mean, d.stddev)
        )
    before = loss_fn().item()
    aggrevated.natural_gradient_step(policy, obs, loss_fn, max_kl=0.01)
    with torch.no_grad():
        kl = torch.distributions.kl_divergence(old, policy.base_dist(obs))
        kl = (kl if discrete else kl.sum(-1)).mean().item()
        after = loss_fn().item()
    assert 0.002 < kl < 0.03  # second-order step: KL close to max_kl
    assert after < before


def test_load_expert_rebuilds_q_star_of_the_shipped_experts():
    act, q_star = aggrevated.load_expert(CARTPOLE_EXPERT, "CartPole-v1", True, 4, 2, "cpu")
    obs = torch.randn(3, 4)
    assert q_star(obs).shape == (3, 2) and torch.equal(act(obs), q_star(obs).argmax(-1))  # the DQN expert is greedy
    act, q_star = aggrevated.load_expert(PENDULUM_EXPERT, "Pendulum-v1", False, 3, 1, "cpu")
    obs = torch.randn(5, 3)
    a = act(obs)
    assert a.shape == (5, 1) and (a.abs() <= 2.0).all() and not a.requires_grad  # the expert's actor is frozen
    a = a.clone().requires_grad_(True)
    q_star(obs, a).sum().backward()  # Q*(s, a) passes a gradient to the action only
    assert q_star(obs, a).shape == (5,) and a.grad is not None and a.grad.abs().sum() > 0


def test_load_expert_refuses_other_files(tmp_path):
    def refused(path, env_id, discrete, obs_dim, act_dim, match):
        with pytest.raises(SystemExit) as e:
            aggrevated.load_expert(str(path), env_id, discrete, obs_dim, act_dim, "cpu")
        assert "expected" in str(e.value) and match in str(e.value), str(e.value)

    cfg = {"env_id": "Pendulum-v1", "discrete": False, "hidden_sizes": [8], "action_low": [-2.0], "action_high": [2.0]}
    torch.save({"config": cfg, "actor": {}}, tmp_path / "noq.pt")  # an actor without the critics Q* comes from
    refused(tmp_path / "noq.pt", "Pendulum-v1", False, 3, 1, "Box expert's actor, q1, q2 networks")
    refused(
        tmp_path / "noq.pt", "CartPole-v1", True, 4, 2, "expected an expert for CartPole-v1, found one for Pendulum-v1"
    )
    refused(tmp_path / "none.pt", "CartPole-v1", True, 4, 2, "found no such file")
    refused(CARTPOLE_DEMOS, "CartPole-v1", True, 4, 2, "found a file torch cannot read")
    learner = {"config": {"env_id": "CartPole-v1", "hidden_sizes": [8], "script": "dagger.py"}, "policy": {}}
    torch.save(learner, tmp_path / "dagger.pt")
    refused(tmp_path / "dagger.pt", "CartPole-v1", True, 4, 2, "found a checkpoint of dagger.py")
    ckpt = torch.load(PENDULUM_EXPERT, weights_only=True)
    ckpt["config"]["hidden_sizes"] = [64]  # the config no longer matches the saved networks
    torch.save(ckpt, tmp_path / "shape.pt")
    refused(tmp_path / "shape.pt", "Pendulum-v1", False, 3, 1, "found another")


def test_expert_given_a_demos_file_is_one_sentence(run):
    r = run("aggrevated.py", "--env-id", "CartPole-v1", "--expert", CARTPOLE_DEMOS, timeout=120)
    assert_one_sentence(r, "--expert", "demos.npz")


def test_expert_of_another_env_is_one_sentence(run):
    r = run("aggrevated.py", "--env-id", "Pendulum-v1", "--expert", CARTPOLE_EXPERT, timeout=120)
    assert_one_sentence(r, "expected an expert for Pendulum-v1, found one for CartPole-v1")


@pytest.mark.parametrize(
    "flags, words",
    [
        (("--num-envs", "0"), ("--num-envs",)),
        (("--gradient-steps", "0"), ("--gradient-steps",)),
        (("--total-timesteps", "0"), ("--total-timesteps",)),
        (("--batch-size", "-4"), ("--batch-size",)),
        (("--final-eval-episodes", "0"), ("--final-eval-episodes",)),
        (("--num-demos", "-1"), ("--num-demos",)),
        (("--learning-rate", "nan"), ("--learning-rate",)),
        (("--max-kl", "-0.01"), ("--max-kl",)),
        (("--max-kl", "inf"), ("--max-kl",)),
        (("--beta-fraction", "-0.5"), ("--beta-fraction",)),
        (("--hidden-sizes", "0"), ("--hidden-sizes",)),
        (("--steps-per-iteration", "2"), ("--steps-per-iteration",)),
        (("--load-model", CARTPOLE_DEMOS), ("--load-model", "demos.npz")),
    ],
)
def test_bad_flags_are_one_sentence(run, flags, words):
    r = run("aggrevated.py", "--env-id", "CartPole-v1", *flags, timeout=120)
    assert_one_sentence(r, *words)


def test_load_model_of_another_script_is_one_sentence(run, tmp_path):
    path = str(tmp_path / "dagger.pt")
    torch.save({"config": {"env_id": "CartPole-v1", "hidden_sizes": [16], "script": "dagger.py"}, "policy": {}}, path)
    r = run("aggrevated.py", "--env-id", "CartPole-v1", "--load-model", path, timeout=120)
    assert_one_sentence(r, "dagger.py", "dagger.pt")


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke(run, tmp_path, env_id):
    """Both update rules, then --load-model with other --hidden-sizes: the saved shape (and, for Box actions, the
    env's action bounds) is rebuilt and the final return repeats."""
    r = run("aggrevated.py", "--env-id", env_id, *FAST, "--hidden-sizes", 32, 32, "--save-model", timeout=300)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["algo"] == "aggrevated" and s["env_steps"] == 400 and s["expert_queried_states"] == 400
    for k in (
        "env_id",
        "seed",
        "eval_return_mean",
        "eval_return_std",
        "normalized_score",
        "wall_seconds",
        "sps",
        "args",
    ):
        assert k in s
    assert [h["step"] for h in s["history"]] == [200, 400]  # the curve ends at the end of training
    assert s["final_eval"]["env_seeds"] == aggrevated.env_seeds(1, "final", 2)  # not the periodic evaluation's starts
    r = run("aggrevated.py", "--env-id", env_id, *FAST, "--update", "natural", "--no-aggregate", "--exp-name", "nat")
    assert r.returncode == 0, r.stderr
    nat = summary(tmp_path, "*__nat__*")
    assert nat["args"]["update"] == "natural" and np.isfinite(nat["eval_return_mean"])
    model = glob.glob(str(tmp_path / "runs" / "*__aggrevated__*" / "aggrevated.pt"))[0]
    r = run(
        "aggrevated.py", "--env-id", env_id, "--load-model", model, "--final-eval-episodes", 2, "--exp-name", "reload"
    )
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path, "*__reload__*")["eval_return_mean"] == s["eval_return_mean"]


def test_select_best_returns_the_learner_of_the_best_validation(run, tmp_path):
    """--select best keeps the learner of the highest periodic evaluation (the best hypothesis on validation),
    --select last the last one; the two are the same training run, so where they pick different learners the final
    returns differ."""
    flags = ("--total-timesteps", 1200, "--steps-per-iteration", 200, "--gradient-steps", 3, "--eval-episodes", 3)
    flags += ("--eval-every", 200, "--final-eval-episodes", 5, "--hidden-sizes", 16, "--seed", 2)
    r = run("aggrevated.py", *flags, "--exp-name", "best", timeout=300)
    assert r.returncode == 0, r.stderr
    best = summary(tmp_path, "*__best__*")
    r = run("aggrevated.py", *flags, "--select", "last", "--exp-name", "last", timeout=300)
    assert r.returncode == 0, r.stderr
    last = summary(tmp_path, "*__last__*")
    scores = [h["normalized_score"] for h in best["history"]]
    assert scores == [h["normalized_score"] for h in last["history"]]  # the same training run
    assert best["selected_step"] == best["history"][int(np.argmax(scores))]["step"]
    assert last["selected_step"] == 1200 and best["validation_episodes"] == 6 * 3 and best["validation_env_steps"] > 0
    assert best["selected_step"] != 1200  # this seed's best learner is not the last (else the test shows nothing)
    assert best["final_eval"]["returns"] != last["final_eval"]["returns"]


def test_select_best_needs_periodic_evaluations(run):
    r = run("aggrevated.py", "--eval-every", 0, timeout=120)
    assert_one_sentence(r, "--eval-every", "--select best")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_learns_to_expert_level(run, tmp_path, env_id):
    """Default budget, shipped expert: the deterministic learner reaches 95% of the expert's normalized return."""
    r = run("aggrevated.py", "--env-id", env_id)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["env_steps"] == {"CartPole-v1": 15_000, "Pendulum-v1": 10_000}[env_id]  # 30 time limits, >= 10k
    assert s["normalized_score"] >= 0.95, s
