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
SMOKE = ["--total-steps", 60, "--eval-every", 30, "--eval-episodes", 2, "--final-eval-episodes", 2, "--num-demos", 2]


def _summaries(tmp_path, pattern="*"):
    paths = sorted(glob.glob(str(tmp_path / "runs" / pattern / "summary.json")))
    return [json.load(open(p)) for p in paths]


def _summary(tmp_path):
    summaries = _summaries(tmp_path)
    assert len(summaries) == 1, len(summaries)
    return summaries[0]


def _fails_in_one_sentence(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last, last
    return last


def test_discrete_loss_is_cross_entropy():
    torch.manual_seed(0)
    policy = bc.Policy(4, 3, (16,), True, torch.zeros(4), torch.ones(4))
    obs, act = torch.randn(32, 4), torch.randint(0, 3, (32,))
    expected = -torch.distributions.Categorical(logits=policy(obs)).log_prob(act).mean()
    assert torch.allclose(bc.bc_loss(policy, obs, act), expected, atol=1e-6)
    assert torch.equal(policy.act(obs), policy(obs).argmax(-1))


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


def test_policy_standardises_observations_with_its_buffers():
    torch.manual_seed(0)
    mean, std = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, 2.0, 10.0])
    policy = bc.Policy(3, 2, (16,), True, mean, std)
    obs = torch.randn(8, 3)
    assert torch.allclose(policy(obs), policy.net((obs - mean) / std))
    state = policy.state_dict()
    assert torch.equal(state["obs_mean"], mean) and torch.equal(state["obs_std"], std)


def test_loader_keeps_the_first_episodes():
    env = gym.make("CartPole-v1")
    d = bc.load_demos(CARTPOLE, "CartPole-v1", env.observation_space, env.action_space, 2, "first", 1)
    raw = np.load(CARTPOLE)
    ends = np.flatnonzero(raw["terminations"] | raw["truncations"])
    assert len(d["observations"]) == ends[1] + 1 and d["episodes"] == [0, 1]
    assert np.array_equal(d["actions"], raw["actions"][: ends[1] + 1])


def test_loader_rejects_wrong_action_size_in_one_sentence():
    env = gym.make("Pendulum-v1")
    bad_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    with pytest.raises(SystemExit) as e:
        bc.load_demos(PENDULUM, "Pendulum-v1", env.observation_space, bad_space, 1, "random", 1)
    msg = str(e.value)
    assert msg.startswith("bc.py: expected actions of shape (2,)") and "found (1,)" in msg


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_save_and_load_give_the_same_final_return(run, tmp_path, env_id):
    r = run("bc.py", "--env-id", env_id, *SMOKE, "--hidden-sizes", 32, 32, "--save-model")
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert s["algo"] == "bc" and s["env_id"] == env_id
    assert s["env_steps"] == 0 and s["grad_steps"] == 60 and s["grad_steps_per_second"] > 0
    assert [h["step"] for h in s["history"]] == [30, 60]  # gradient steps, the last one included
    assert s["final_eval"]["episodes"] == 2 and len(s["final_eval"]["returns"]) == 2
    assert len(s["demos"]["episodes"]) == 2 and s["demos"]["draw"] == "random"
    for key in ("eval_return_mean", "eval_return_std", "normalized_score", "wall_seconds", "sps", "args"):
        assert key in s
    model = glob.glob(str(tmp_path / "runs" / "*" / "bc.pt"))[0]
    ckpt = torch.load(model, weights_only=True)
    assert ckpt["config"]["hidden_sizes"] == [32, 32] and "obs_mean" in ckpt["policy"]
    # --hidden-sizes is ignored with --load-model: the checkpoint's config rebuilds the network
    flags = f"--env-id {env_id} --load-model {model} --final-eval-episodes 2 --num-demos 2 --hidden-sizes 8"
    r = run("bc.py", *flags.split(), "--exp-name", "bc_eval")
    assert r.returncode == 0, r.stderr
    evals = _summaries(tmp_path, "*bc_eval*")
    assert len(evals) == 1 and evals[0]["grad_steps"] == 0 and evals[0]["history"] == []
    assert evals[0]["final_eval"]["env_seeds"] == s["final_eval"]["env_seeds"]
    assert evals[0]["final_eval"]["returns"] == s["final_eval"]["returns"]


def test_smoke_mse_loss_and_first_draw(run, tmp_path):
    flags = "--env-id Pendulum-v1 --loss mse --total-steps 20 --eval-every 0 --final-eval-episodes 1 --num-demos 1"
    r = run("bc.py", *flags.split(), "--demo-draw", "first")
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert s["args"]["loss"] == "mse" and s["history"] == [] and s["demos"]["episodes"] == [0]


def test_wrong_env_id_is_one_sentence(run):
    r = run("bc.py", "--env-id", "NoSuchEnv-v0")
    assert "NoSuchEnv-v0" in _fails_in_one_sentence(r)


@pytest.mark.parametrize(
    "flags, flag",
    [
        (["--total-steps", 0], "--total-steps"),
        (["--batch-size", -1], "--batch-size"),
        (["--num-demos", 0], "--num-demos"),
        (["--eval-episodes", 0], "--eval-episodes"),
        (["--final-eval-episodes", 0], "--final-eval-episodes"),
        (["--threads", 0], "--threads"),
        (["--eval-every", -1], "--eval-every"),
        (["--learning-rate", "nan"], "--learning-rate"),
        (["--learning-rate", -1e-3], "--learning-rate"),
        (["--learning-rate", 0], "--learning-rate"),
        (["--weight-decay", -0.1], "--weight-decay"),
        (["--weight-decay", "inf"], "--weight-decay"),
        (["--nll-beta", "nan"], "--nll-beta"),
        (["--val-fraction", 1.5], "--val-fraction"),
        (["--val-fraction", -0.1], "--val-fraction"),
        (["--val-fraction", 1.0], "--val-fraction"),  # in [0, 1] but leaves nothing to train on
        (["--hidden-sizes", 0], "--hidden-sizes"),
        (["--seed", -1], "--seed"),
        (["--num-demos", 26], "--num-demos"),  # the file holds 25 episodes
    ],
)
def test_bad_flags_end_in_one_sentence(run, tmp_path, flags, flag):
    last = _fails_in_one_sentence(run("bc.py", *flags))
    assert flag in last
    assert not (tmp_path / "runs").exists()  # checked before the run starts


def test_load_model_of_a_demos_file_or_no_file_is_one_sentence(run, tmp_path):
    assert "--load-model" in _fails_in_one_sentence(run("bc.py", "--load-model", CARTPOLE))
    assert "nope.pt" in _fails_in_one_sentence(run("bc.py", "--load-model", tmp_path / "nope.pt"))


def _checkpoint(path, script, env_id, hidden_sizes):
    """A checkpoint as save_checkpoint writes it, of a CartPole-sized bc Policy with one hidden layer of 16 units."""
    policy = bc.Policy(4, 2, (16,), True, torch.zeros(4), torch.ones(4))
    config = {"env_id": env_id, "hidden_sizes": hidden_sizes, "script": script}
    torch.save({"config": config, "policy": policy.state_dict()}, path)
    return path


def test_load_model_of_another_script_or_env_is_one_sentence(run, tmp_path):
    other = _checkpoint(tmp_path / "asaf_w.pt", "asaf_w.py", "CartPole-v1", [16])
    assert "asaf_w.py" in _fails_in_one_sentence(run("bc.py", "--load-model", other))
    pendulum = _checkpoint(tmp_path / "pendulum.pt", "bc.py", "Pendulum-v1", [16])
    assert "Pendulum-v1" in _fails_in_one_sentence(run("bc.py", "--load-model", pendulum))
    wrong_shape = _checkpoint(tmp_path / "wrong_shape.pt", "bc.py", "CartPole-v1", [32])
    assert "another" in _fails_in_one_sentence(run("bc.py", "--load-model", wrong_shape))


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
