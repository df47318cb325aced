"""benchmark/peers: the side-by-side with the `imitation` library gets our demonstrations, our final start states and
our score, and its report is built from the results files alone. Runs without the peer venv (CI installs only
requirements.txt); one tiny peer run is made when benchmark/peers/.venv exists."""

import importlib.util
import json
import os
import subprocess

import gymnasium as gym
import numpy as np
import pytest

from bc import env_seeds, load_demos, normalized_score
from bc import evaluate as our_evaluate
from conftest import ROOT

PEERS = os.path.join(ROOT, "benchmark", "peers")


def load(name):
    spec = importlib.util.spec_from_file_location(f"peers_{name}", os.path.join(PEERS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peers = load("run_peers")
worker = load("imitation_worker")


def our_demos(env_id, seed, num_demos=10):
    """load_demos as our scripts call it (the benchmark's --num-demos 10 --demo-draw random)."""
    path = os.path.join(ROOT, "experts", env_id, "demos.npz")
    probe = gym.make(env_id)
    demos = load_demos(path, env_id, probe.observation_space, probe.action_space, num_demos, "random", seed)
    probe.close()
    return demos


def fake_result(results_dir, env, lib, algo, seed, score, wall, env_steps=1000, grad_steps=None, cpu=None, run=None):
    """A small results file as run_ours / run_peer write it."""
    path = peers.result_path(results_dir, env, lib, algo, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    record = dict(
        lib=lib,
        algo=algo,
        env_id=env,
        seed=seed,
        normalized_score=score,
        eval_return_mean=500.0 * score,
        env_steps=env_steps,
        grad_steps=grad_steps,
        wall_seconds=wall,
        process_cpu_seconds=cpu,
        process_wall_seconds=run,
        same_demos=True,
        same_final_env_seeds=True,
        same_start_states=True,
    )
    with open(path, "w") as f:
        json.dump(record, f)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_peer_gets_the_demo_episodes_and_final_seeds_our_scripts_use(env_id):
    for seed in range(1, 6):
        demos = our_demos(env_id, seed)
        assert peers.expected_episodes(seed, 10, demos["file_episodes"]) == demos["episodes"]
        assert worker.final_env_seeds(seed, 50) == env_seeds(seed, "final", 50)
    ours = dict(
        algo="gail", env_id=env_id, seed=5, demos_file=f"experts/{env_id}/demos.npz", demo_episodes=demos["episodes"],
        budget=200000, final_eval=dict(env_seeds=env_seeds(5, "final", 50)),
    )  # fmt: skip
    cmd = peers.peer_command(ours, "out.json")
    start = cmd.index("--episodes") + 1
    assert [int(e) for e in cmd[start : start + 10]] == demos["episodes"]
    assert cmd[cmd.index("--seed") + 1] == "5" and cmd[cmd.index("--budget") + 1] == "200000"
    assert cmd[cmd.index("--final-eval-episodes") + 1] == "50"
    args = worker.parse_args(cmd[2:])
    assert worker.final_env_seeds(args.seed, args.final_eval_episodes) == env_seeds(5, "final", 50)


def test_dagger_peer_gets_no_demos_and_the_whole_file_as_reference():
    ours = dict(
        algo="dagger", env_id="CartPole-v1", seed=1, demos_file="experts/CartPole-v1/demos.npz", demo_episodes=[],
        budget=10000, final_eval=dict(env_seeds=env_seeds(1, "final", 50)),
    )  # fmt: skip
    cmd = peers.peer_command(ours, "out.json")
    assert "--episodes" not in cmd
    peer = worker.read_demos(os.path.join(ROOT, ours["demos_file"]), "CartPole-v1", [])
    assert peer["expert_return"] == pytest.approx(our_demos("CartPole-v1", 1, num_demos=0)["expert_return"])


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_worker_reads_the_same_transitions_and_normalizes_like_ours(env_id):
    demos = our_demos(env_id, 3)
    peer = worker.read_demos(os.path.join(ROOT, "experts", env_id, "demos.npz"), env_id, demos["episodes"])
    obs = np.concatenate([o[:-1] for o, _, _ in peer["trajectories"]])
    acts = np.concatenate([a for _, a, _ in peer["trajectories"]])
    np.testing.assert_array_equal(obs, demos["observations"])
    np.testing.assert_array_equal(acts, demos["actions"])
    assert peer["expert_return"] == pytest.approx(demos["expert_return"])
    assert peer["random_return"] == pytest.approx(demos["random_return"])
    for ret in (-1000.0, -150.0, 100.0, 480.0):
        assert worker.normalized_score(ret, peer["expert_return"], peer["random_return"]) == pytest.approx(
            normalized_score(ret, demos)
        )


def test_worker_evaluates_like_our_plumbing():
    seeds = env_seeds(2, "final", 3)

    def act_fn(obs):
        return np.clip(-2.0 * obs[:, 2:3], -2.0, 2.0)  # a deterministic Pendulum controller, clipped or not

    ours, our_lengths = our_evaluate(act_fn, "Pendulum-v1", seeds)
    theirs, lengths, start_obs = worker.evaluate(act_fn, "Pendulum-v1", seeds)
    np.testing.assert_allclose(theirs, ours)
    np.testing.assert_array_equal(lengths, our_lengths)
    assert peers.start_states_match("Pendulum-v1", seeds, start_obs)
    assert not peers.start_states_match("Pendulum-v1", seeds, start_obs + 0.1)


def test_report_builds_the_table_from_fabricated_files(tmp_path):
    for seed, (ours, theirs) in enumerate([(1.0, 0.5), (0.9, 0.6), (0.8, 0.4)], start=1):
        fake_result(
            tmp_path, "CartPole-v1", "ours", "gail", seed, ours, wall=10.0 * seed, env_steps=150000, cpu=30, run=60
        )
        fake_result(tmp_path, "CartPole-v1", "imitation", "gail", seed, theirs, wall=40, env_steps=147456, cpu=45.0)
    doc = tmp_path / "peers.md"
    doc.write_text(f"# Peers\n\n{peers.BEGIN}\nold table\n{peers.END}\n\nprose stays\n")
    peers.report(str(tmp_path), str(doc))
    text = doc.read_text()
    assert "old table" not in text and text.endswith("prose stays\n")
    # ours: mean 0.9, half-width t(0.975, 2) * 0.1 / sqrt(3) = 4.303 * 0.0577 = 0.248; imitation: 0.5 +- 0.248
    assert "| CartPole-v1 | gail | ours | 3 | 0.900 +- 0.248 | 450.0 | 150000 | - | 20.0 | 30 | 50% |" in text
    assert "| CartPole-v1 | gail | imitation | 3 | 0.500 +- 0.248 | 250.0 | 147456 | - | 40.0 | 45 | - |" in text
    tie = "tie: the 95% intervals overlap (0.90 ours, 0.50 imitation)"
    assert f"| CartPole-v1 | gail | {tie} | ours, 2.0x less (20 s vs 40 s) | ours, 1.5x less (30 s vs 45 s) |" in text
    assert "3 of 3 imitation runs" in text


def test_report_names_the_winner_when_intervals_do_not_overlap(tmp_path):
    for seed, (ours, theirs) in enumerate([(0.99, 0.5), (1.0, 0.52), (0.98, 0.48)], start=1):
        fake_result(tmp_path, "Pendulum-v1", "ours", "bc", seed, ours, wall=40.0, env_steps=0, grad_steps=10000)
        fake_result(tmp_path, "Pendulum-v1", "imitation", "bc", seed, theirs, wall=20.0, env_steps=0, grad_steps=10000)
    lines = peers.report_lines(peers.load_results(str(tmp_path)))
    assert "| Pendulum-v1 | bc | ours higher (0.99 vs 0.50) | imitation, 2.0x less (20 s vs 40 s) | - |" in lines


def test_existing_results_are_skipped(tmp_path):
    fake_result(tmp_path, "CartPole-v1", "ours", "bc", 1, 1.0, wall=1.0)
    fake_result(tmp_path, "CartPole-v1", "imitation", "bc", 1, 1.0, wall=1.0)
    assert peers.run_ours("CartPole-v1", "bc", 1, str(tmp_path), str(tmp_path / "runs")).startswith("skip")
    assert peers.run_peer("CartPole-v1", "bc", 1, str(tmp_path), str(tmp_path / "runs")).startswith("skip")


@pytest.mark.skipif(not os.path.isfile(peers.VENV_PYTHON), reason="no peer venv (benchmark/peers/requirements.txt)")
def test_tiny_peer_run(tmp_path):
    demos = our_demos("CartPole-v1", 1)
    out = tmp_path / "bc.json"
    ours = dict(
        algo="bc", env_id="CartPole-v1", seed=1, demos_file="experts/CartPole-v1/demos.npz",
        demo_episodes=demos["episodes"], budget=50, final_eval=dict(env_seeds=env_seeds(1, "final", 3)),
    )  # fmt: skip
    cmd = peers.peer_command(ours, str(out), log_dir=str(tmp_path / "log"))
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["lib"] == "imitation" and result["grad_steps"] == 50 and result["env_steps"] == 0
    assert result["demo_episodes"] == demos["episodes"]
    assert result["final_eval"]["env_seeds"] == env_seeds(1, "final", 3)
    assert peers.start_states_match("CartPole-v1", result["final_eval"]["env_seeds"], result["final_eval"]["start_obs"])
    returns = np.array(result["final_eval"]["returns"])
    assert result["normalized_score"] == pytest.approx(normalized_score(returns.mean(), demos))


def test_times_within_ten_percent_read_as_even():
    assert peers.faster(30.0, 31.0, "s") == "about even (30 s ours, 31 s imitation)"
    assert peers.faster(10.0, 20.0, "s") == "ours, 2.0x less (10 s vs 20 s)"
    assert peers.faster(20.0, 10.0, "s") == "imitation, 2.0x less (10 s vs 20 s)"
