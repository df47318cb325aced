"""benchmark/run.py: commands, skipping finished runs, and the report built from the runs' files."""
import importlib.util
import json
import os

import numpy as np
from torch.utils.tensorboard import SummaryWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("benchmark_run", os.path.join(ROOT, "benchmark", "run.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def fake_run(runs_dir, env, algo, seed, stamp, score, curve):
    """A run folder as the scripts write it: summary.json plus a TensorBoard log with eval/episodic_return."""
    d = os.path.join(runs_dir, f"{env}__{algo}__{seed}__{stamp}")
    os.makedirs(d)
    w = SummaryWriter(d)
    for step, r in curve:
        w.add_scalar("eval/episodic_return", r, step)
    w.close()
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(dict(env_id=env, seed=seed, eval_return_mean=500.0 * score, normalized_score=score, env_steps=1000,
                       wall_seconds=10.0, sps=100.0), f)


def test_command_carries_the_algorithm_and_env_flags():
    cmd = bench.command("asaf_1", "LunarLander-v3", 2)
    assert cmd[1].endswith("asaf_w.py")
    assert cmd[cmd.index("--seed") + 1] == "2" and cmd[cmd.index("--window") + 1] == "1"
    assert cmd[cmd.index("--eval-episodes") + 1] == "50"
    assert "--eval-episodes" not in bench.command("bc", "CartPole-v1", 1)


def test_finished_run_is_skipped(tmp_path):
    fake_run(str(tmp_path), "CartPole-v1", "bc", 1, 100, 1.0, [(0, 20.0), (10, 500.0)])
    msg = bench.run_one("bc", "CartPole-v1", 1, str(tmp_path), str(tmp_path))
    assert msg.startswith("skip")


def test_report_reads_the_newest_run_of_each_seed(tmp_path):
    runs, docs = str(tmp_path / "runs"), str(tmp_path / "docs")
    fake_run(runs, "CartPole-v1", "bc", 1, 100, 0.2, [(0, 20.0), (10, 100.0)])  # superseded by the next one
    fake_run(runs, "CartPole-v1", "bc", 1, 200, 1.0, [(0, 20.0), (10, 500.0)])
    fake_run(runs, "CartPole-v1", "bc", 2, 200, 0.8, [(0, 20.0), (10, 400.0)])
    fake_run(runs, "CartPole-v1", "asaf_1", 1, 300, 0.6, [(0, 30.0), (10, 300.0)])
    bench.report(runs, docs)
    text = open(os.path.join(docs, "results.md")).read()
    row = next(line for line in text.splitlines() if line.startswith("| CartPole-v1 | bc |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3] == "450.0 +- 50.0" and cells[4] == f"{np.mean([1.0, 0.8]):.3f} +- {np.std([1.0, 0.8]):.3f}"
    assert cells[5] == "2"  # two seeds, not three runs
    glance = next(line for line in text.splitlines() if line.startswith("| CartPole-v1 | ") and "+-" not in line)
    assert "0.90" in glance and "0.60" in glance
    assert "python asaf_w.py --env-id ENV --seed SEED --exp-name asaf_1 --window 1" in text
    assert os.path.getsize(os.path.join(docs, "img", "CartPole-v1.png")) > 0


def test_lander_starts_reports_hard_start_shares_and_a_policy(run, tmp_path):
    """The documented shares of hard LunarLander-v3 starts (docs/asaf.md), and a saved ASAF-1 policy's crash rates."""
    r = run("asaf_w.py", "--env-id", "LunarLander-v3", "--window", "1", "--total-timesteps", "200", "--num-envs", "2",
            "--num-steps", "50", "--num-demos", "2", "--eval-episodes", "1", "--save-model", timeout=300)
    assert r.returncode == 0, r.stderr
    model = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "runs") for f in fs if f.endswith(".pt")][0]
    r = run(os.path.join("benchmark", "lander_starts.py"), model, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "(20001-20050): 10% hard" in r.stdout and "(10001-10050): 26% hard" in r.stdout, r.stdout
    assert "(100000-101999): 22% hard" in r.stdout and "crashes on hard starts" in r.stdout, r.stdout


def test_demo_draws_writes_whole_episodes_that_the_scripts_read(run, tmp_path):
    """A draw holds exactly the picked episodes of the source file, and asaf_w.py trains from it with --demos."""
    r = run(os.path.join("benchmark", "demo_draws.py"), "--env-id", "LunarLander-v3", "--num-demos", "3", "--seeds",
            "1", "2", "--out-dir", tmp_path / "draws")
    assert r.returncode == 0, r.stderr
    src = np.load(os.path.join(ROOT, "experts", "LunarLander-v3", "demos.npz"))
    ends = np.flatnonzero(src["terminations"] | src["truncations"])
    starts = np.concatenate([[0], ends[:-1] + 1])
    for seed in (1, 2):
        pick = np.sort(np.random.default_rng(seed).choice(len(ends), 3, replace=False))
        assert f"seed {seed}: episodes {pick.tolist()}" in r.stdout, r.stdout
        d = np.load(tmp_path / "draws" / f"demos_LunarLander-v3_n3_s{seed}.npz")
        rows = np.concatenate([np.arange(starts[i], ends[i] + 1) for i in pick])
        assert np.array_equal(d["observations"], src["observations"][rows])
        assert np.array_equal(d["actions"], src["actions"][rows]) and (d["terminations"] | d["truncations"]).sum() == 3
        assert float(d["expert_return_mean"]) == float(src["expert_return_mean"])
    r = run("asaf_w.py", "--env-id", "LunarLander-v3", "--window", "1", "--total-timesteps", "200", "--num-envs", "2",
            "--num-steps", "50", "--num-demos", "3", "--eval-episodes", "1",
            "--demos", tmp_path / "draws" / "demos_LunarLander-v3_n3_s1.npz", timeout=300)
    assert r.returncode == 0, r.stderr
    r = run(os.path.join("benchmark", "demo_draws.py"), "--num-demos", "26", "--out-dir", tmp_path / "d2")
    assert r.returncode != 0 and "between 1 and the 25 episodes" in r.stderr and "Traceback" not in r.stderr
    r = run(os.path.join("benchmark", "demo_draws.py"), "--env-id", "CartPole-v1", "--out-dir", tmp_path / "d3",
            "--demos", os.path.join(ROOT, "experts", "LunarLander-v3", "demos.npz"))
    assert r.returncode != 0 and "expected demonstrations for CartPole-v1" in r.stderr and "Traceback" not in r.stderr
