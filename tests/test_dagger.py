"""Tests of dagger.py: pure functions, the expert loader, one-sentence errors on bad input, smoke runs (Discrete and
Box) with a save / load round trip, learning on the shipped experts."""

import glob
import json
import os

import numpy as np
import pytest
import torch

import dagger
from conftest import ROOT

torch.set_num_threads(1)  # the scripts' default; more threads only contend on a small CI machine

FAST = (
    "--total-timesteps", 400, "--steps-per-iteration", 200, "--gradient-steps", 5, "--eval-episodes", 2,
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


def test_policy_acts_with_the_argmax_or_the_mean():
    x = torch.randn(4, 3)
    policy = dagger.Policy(3, 2, (8,), discrete=False)
    assert torch.equal(policy.act(x), policy.net(x)[:, :2])  # the mean half of the Gaussian head's outputs
    policy = dagger.Policy(3, 4, (8,), discrete=True)
    assert torch.equal(policy.act(x), policy.net(x).argmax(-1))


def test_load_expert_rebuilds_the_shipped_experts():
    act = dagger.load_expert(CARTPOLE_EXPERT, "CartPole-v1", True, 4, 2, "cpu")
    a = act(torch.zeros(3, 4))
    assert a.shape == (3,) and a.dtype == torch.int64
    act = dagger.load_expert(PENDULUM_EXPERT, "Pendulum-v1", False, 3, 1, "cpu")
    a = act(torch.randn(5, 3))
    assert a.shape == (5, 1) and (a.abs() <= 2.0).all()  # the SAC mean action, inside the box


def test_load_expert_refuses_other_files(tmp_path):
    def refused(path, env_id, discrete, obs_dim, act_dim, match):
        with pytest.raises(SystemExit) as e:
            dagger.load_expert(str(path), env_id, discrete, obs_dim, act_dim, "cpu")
        assert "expected" in str(e.value) and match in str(e.value), str(e.value)

    torch.save({"config": {"env_id": "CartPole-v1", "discrete": True, "hidden_sizes": [8]}}, tmp_path / "noq.pt")
    refused(tmp_path / "noq.pt", "CartPole-v1", True, 4, 2, "Discrete expert's q network")
    refused(
        tmp_path / "noq.pt", "Acrobot-v1", True, 6, 3, "expected an expert for Acrobot-v1, found one for CartPole-v1"
    )
    refused(tmp_path / "none.pt", "CartPole-v1", True, 4, 2, "found no such file")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    refused(tmp_path / "junk.pt", "CartPole-v1", True, 4, 2, "found a file torch cannot read")
    refused(CARTPOLE_DEMOS, "CartPole-v1", True, 4, 2, "found a file torch cannot read")
    learner = {"config": {"env_id": "CartPole-v1", "hidden_sizes": [8], "script": "bc.py"}, "policy": {}}
    torch.save(learner, tmp_path / "bc.pt")
    refused(tmp_path / "bc.pt", "CartPole-v1", True, 4, 2, "found a checkpoint of bc.py")
    ckpt = torch.load(CARTPOLE_EXPERT, weights_only=True)
    ckpt["config"]["hidden_sizes"] = [64]  # the config no longer matches the saved networks
    torch.save(ckpt, tmp_path / "shape.pt")
    refused(tmp_path / "shape.pt", "CartPole-v1", True, 4, 2, "found another")


def test_expert_given_a_demos_file_is_one_sentence(run):
    r = run("dagger.py", "--env-id", "CartPole-v1", "--expert", CARTPOLE_DEMOS, timeout=120)
    assert_one_sentence(r, "--expert", "demos.npz")


def test_wrong_env_id_is_one_sentence(run):
    r = run("dagger.py", "--env-id", "NoSuchEnv-v0", timeout=120)
    assert_one_sentence(r, "registered gymnasium environment")


@pytest.mark.parametrize(
    "flags, words",
    [
        (("--num-envs", "0"), ("--num-envs",)),
        (("--gradient-steps", "-1"), ("--gradient-steps",)),
        (("--total-timesteps", "0"), ("--total-timesteps",)),
        (("--final-eval-episodes", "0"), ("--final-eval-episodes",)),
        (("--num-demos", "-1"), ("--num-demos",)),
        (("--learning-rate", "nan"), ("--learning-rate",)),
        (("--learning-rate", "-0.001"), ("--learning-rate",)),
        (("--beta-decay", "1.5"), ("--beta-decay",)),
        (("--hidden-sizes", "0"), ("--hidden-sizes",)),
        (("--steps-per-iteration", "2"), ("--steps-per-iteration",)),
        (("--num-demos", "1000"), ("--num-demos",)),
        (("--load-model", CARTPOLE_DEMOS), ("--load-model", "demos.npz")),
    ],
)
def test_bad_flags_are_one_sentence(run, flags, words):
    r = run("dagger.py", "--env-id", "CartPole-v1", *flags, timeout=120)
    assert_one_sentence(r, *words)


def test_load_model_of_another_script_is_one_sentence(run, tmp_path):
    path = str(tmp_path / "asaf_w.pt")
    torch.save({"config": {"env_id": "CartPole-v1", "hidden_sizes": [16], "script": "asaf_w.py"}, "policy": {}}, path)
    r = run("dagger.py", "--env-id", "CartPole-v1", "--load-model", path, timeout=120)
    assert_one_sentence(r, "asaf_w.py", "asaf_w.pt")


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_save_and_load(run, tmp_path, env_id):
    """Short run, then --load-model with other --hidden-sizes: the saved shape is rebuilt, the final return repeats."""
    r = run("dagger.py", "--env-id", env_id, *FAST, "--hidden-sizes", 32, 32, "--save-model", timeout=300)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["algo"] == "dagger" and s["env_steps"] == 400 and s["expert_labels"] == 400
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
    assert s["final_eval"]["env_seeds"] == dagger.env_seeds(1, "final", 2)  # not the periodic evaluation's starts
    assert s["demos"]["episodes"] == []  # --num-demos 0: the file only gives the score's reference
    model = glob.glob(str(tmp_path / "runs" / "*" / "dagger.pt"))[0]
    r = run("dagger.py", "--env-id", env_id, "--load-model", model, "--final-eval-episodes", 2, "--exp-name", "reload")
    assert r.returncode == 0, r.stderr
    reloaded = summary(tmp_path, "*__reload__*")
    assert reloaded["eval_return_mean"] == s["eval_return_mean"]  # same policy, same final start states


def test_smoke_demos_start_the_data_set(run, tmp_path):
    r = run(
        "dagger.py", *FAST, "--num-demos", 2, "--demo-draw", "first", "--eval-every", 0, "--select", "last", timeout=300
    )
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    d = np.load(CARTPOLE_DEMOS)
    two_episodes = int(np.flatnonzero(d["terminations"] | d["truncations"])[1]) + 1
    assert s["demos"]["episodes"] == [0, 1] and s["expert_labels"] == 400 + two_episodes
    assert s["history"] == []  # --eval-every 0: only the final evaluation


def test_select_best_returns_the_learner_of_the_best_validation(run, tmp_path):
    """--select best (Alg. 3.1 line 10) keeps the learner of the highest periodic evaluation, --select last the last
    one; the two are the same training run, so where they pick different learners the final returns differ."""
    flags = ("--total-timesteps", 1200, "--steps-per-iteration", 200, "--gradient-steps", 3, "--eval-episodes", 3)
    flags += ("--eval-every", 200, "--final-eval-episodes", 5, "--hidden-sizes", 16, "--learning-rate", 0.01)
    r = run("dagger.py", *flags, "--exp-name", "best", timeout=300)
    assert r.returncode == 0, r.stderr
    best = summary(tmp_path, "*__best__*")
    r = run("dagger.py", *flags, "--select", "last", "--exp-name", "last", timeout=300)
    assert r.returncode == 0, r.stderr
    last = summary(tmp_path, "*__last__*")
    scores = [h["normalized_score"] for h in best["history"]]
    assert scores == [h["normalized_score"] for h in last["history"]]  # the same training run
    assert best["selected_step"] == best["history"][int(np.argmax(scores))]["step"]
    assert last["selected_step"] == 1200 and best["validation_episodes"] == 6 * 3 and best["validation_env_steps"] > 0
    assert best["selected_step"] != 1200  # this seed's best learner is not the last (else the test shows nothing)
    assert best["final_eval"]["returns"] != last["final_eval"]["returns"]


def test_select_best_needs_periodic_evaluations(run):
    r = run("dagger.py", "--eval-every", 0, timeout=120)
    assert_one_sentence(r, "--eval-every", "--select best")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_learns_to_expert_level(run, tmp_path, env_id):
    """Default budget, shipped expert: the deterministic learner reaches 95% of the expert's normalized return."""
    r = run("dagger.py", "--env-id", env_id)
    assert r.returncode == 0, r.stderr
    s = summary(tmp_path)
    assert s["normalized_score"] >= 0.95, s
