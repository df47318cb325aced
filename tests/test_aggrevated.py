"""Tests of aggrevated.py: the AggreVaTeD loss, the natural-gradient step, clear errors, smoke runs (Discrete and Box,
both update rules), learning on the shipped experts."""
import glob
import json

import numpy as np
import pytest
import torch

import aggrevated

torch.set_num_threads(1)  # the scripts' default; more threads only contend on a small CI machine

FAST = ("--total-timesteps", 400, "--steps-per-iteration", 200, "--gradient-steps", 3, "--eval-episodes", 2,
        "--eval-every", 200)


def summary(tmp_path, pattern="*"):
    files = glob.glob(str(tmp_path / "runs" / pattern / "summary.json"))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return json.load(f)


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
        old = torch.distributions.Categorical(probs=d.probs) if discrete else torch.distributions.Normal(d.mean, d.stddev)
    before = loss_fn().item()
    aggrevated.natural_gradient_step(policy, obs, loss_fn, max_kl=0.01)
    with torch.no_grad():
        kl = torch.distributions.kl_divergence(old, policy.base_dist(obs))
        kl = (kl if discrete else kl.sum(-1)).mean().item()
        after = loss_fn().item()
    assert 0.002 < kl < 0.03  # second-order step: KL close to max_kl
    assert after < before


def test_expert_without_q_network_is_refused(tmp_path):
    cfg = {"env_id": "Pendulum-v1", "discrete": False, "hidden_sizes": [8], "action_low": [-2.0], "action_high": [2.0]}
    torch.save({"config": cfg, "actor": {}}, tmp_path / "noq.pt")
    with pytest.raises(SystemExit, match="lacks the expert's q1 and q2 network"):
        aggrevated.load_expert(str(tmp_path / "noq.pt"), "Pendulum-v1", False, 3, 1, "cpu")
    with pytest.raises(SystemExit, match="is an expert for Pendulum-v1, expected one for CartPole-v1"):
        aggrevated.load_expert(str(tmp_path / "noq.pt"), "CartPole-v1", True, 4, 2, "cpu")


def test_wrong_expert_file_is_one_sentence(run):
    r = run("aggrevated.py", "--env-id", "Pendulum-v1", "--expert", f"{aggrevated.ROOT}/experts/CartPole-v1/expert.pt")
    assert r.returncode != 0 and "is an expert for CartPole-v1, expected one for Pendulum-v1" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke(run, tmp_path, env_id):
    r = run("aggrevated.py", "--env-id", env_id, *FAST, "--save-model")
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["algo"] == "aggrevated" and s["env_steps"] == 400
    for k in ("env_id", "seed", "eval_return_mean", "eval_return_std", "normalized_score", "wall_seconds", "sps", "args"):
        assert k in s
    r = run("aggrevated.py", "--env-id", env_id, *FAST, "--update", "natural", "--no-aggregate", "--exp-name", "nat")
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path, "*__nat__*")["args"]["update"] == "natural"
    model = glob.glob(str(tmp_path / "runs" / "*__aggrevated__*" / "aggrevated.pt"))[0]
    r = run("aggrevated.py", "--env-id", env_id, "--load-model", model, "--eval-episodes", 2, "--exp-name", "reload")
    assert r.returncode == 0, r.stderr
    assert summary(tmp_path, "*__reload__*")["eval_return_mean"] == pytest.approx(s["eval_return_mean"])


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_learns_to_expert_level(run, tmp_path, env_id):
    """Default budget, shipped expert: the deterministic learner reaches 95% of the expert's normalized return."""
    r = run("aggrevated.py", "--env-id", env_id)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["normalized_score"] >= 0.95, s
