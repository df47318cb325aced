"""benchmark/run.py: commands, resuming, and the report built from the committed summaries alone."""

import glob
import importlib.util
import json
import os
import subprocess
import time

import numpy as np
import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("benchmark_run", os.path.join(ROOT, "benchmark", "run.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def fake_result(results_dir, env, algo, protocol, seed, score, curve):
    """A results file as run_one writes it: the script's summary.json plus the protocol and the command."""
    path = bench.result_path(results_dir, env, algo, protocol, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    summary = dict(
        env_id=env, algo=algo, seed=seed, eval_return_mean=500.0 * score, normalized_score=score, env_steps=1000,
        wall_seconds=10.0, sps=100.0, protocol=protocol, command=f"python x.py --seed {seed}",
        final_eval=dict(env_seeds=[2_000_000_000 + 10_000 * seed + i for i in range(50)], returns=[500.0 * score] * 50,
                        lengths=[1000] * 50),
        demos=dict(episodes=list(range(10)), return_mean=500.0, random_return_mean=0.0),
        history=[dict(step=s, normalized_score=v) for s, v in curve],
    )  # fmt: skip
    with open(path, "w") as f:
        json.dump(summary, f)


def test_command_carries_algorithm_protocol_budget_and_exceptions():
    cmd = bench.command("asaf_1", "LunarLander-v3", 2)
    assert cmd[1].endswith("asaf_w.py")
    assert cmd[cmd.index("--seed") + 1] == "2" and cmd[cmd.index("--window") + 1] == "1"
    assert cmd[cmd.index("--num-demos") + 1] == "10"
    # the ASAF family's default budget covers the classic and held-out envs, as GAIL's does
    for algo in ("asaf", "asaf_w", "asaf_1", "gail_ppo"):
        for env in bench.CLASSIC:
            assert "--total-timesteps" not in bench.command(algo, env, 2), (algo, env)
        for env in bench.HELDOUT:
            assert "--total-timesteps" not in bench.command(algo, env, 2, "heldout"), (algo, env)
    paper = bench.command("asaf_1", "Hopper-v5", 1, "paper25")
    assert paper[paper.index("--num-demos") + 1] == "25" and paper[paper.index("--total-timesteps") + 1] == "2000000"
    assert "--num-demos" not in bench.command("dagger", "CartPole-v1", 1)


def test_suite_commands_pass_nothing_but_budget_and_network_size():
    """The defaults hold across the suite: every flag beyond the algorithm's own, the protocol's --num-demos and the
    seed is a budget, an evaluation interval or the MuJoCo network size."""
    allowed = {"--total-timesteps", "--eval-every", "--hidden-sizes", "--num-demos", "--window"}
    for algo in bench.ALGOS:
        for env in bench.CLASSIC + bench.MUJOCO:
            for protocol in ("demos10", "paper25"):
                cmd = bench.command(algo, env, 1, protocol)
                flags = {w for w in cmd[cmd.index("--exp-name") + 2 :] if w.startswith("--")}
                assert flags <= allowed, (algo, env, protocol, flags - allowed)


def test_heldout_commands_read_the_heldout_expert_and_display_relative_paths():
    cmd = bench.command("dagger", "Acrobot-v1", 1, "heldout")
    assert cmd[cmd.index("--expert") + 1] == os.path.join(bench.HELDOUT_DIR, "Acrobot-v1", "expert.pt")
    assert cmd[cmd.index("--demos") + 1] == os.path.join(bench.HELDOUT_DIR, "Acrobot-v1", "demos.npz")
    shown = bench.display(bench.command("bc", "Reacher-v5", 2, "heldout"))
    assert (
        shown.startswith("python bc.py --env-id Reacher-v5 --seed 2")
        and "--demos benchmark/heldout/Reacher-v5/" in shown
    )
    assert "--out-dir benchmark/heldout/Reacher-v5" in bench.display(bench.expert_command("Reacher-v5"))


def test_finished_run_is_skipped(tmp_path):
    fake_result(str(tmp_path), "CartPole-v1", "bc", "demos10", 1, 1.0, [(0, 0.0), (10, 1.0)])
    msg = bench.run_one("bc", "CartPole-v1", 1, "demos10", str(tmp_path), str(tmp_path / "runs"))
    assert msg.startswith("skip")


def test_run_dir_is_the_one_the_script_names_not_the_newest(tmp_path):
    """Two protocols of one (env, algo, seed) may run at once: each run's summary is read from the directory its own
    log names, whichever directory is newer."""
    log = tmp_path / "Ant-v5__asaf__demos10__1.log"
    log.write_text(
        "step=50000 eval_return=1.0\n"
        "asaf Ant-v5 seed=1: final return 2.0 +- 0.1 over 50 episodes, normalized 0.9, 1000000 env steps in 10.0s "
        "(100 SPS) -> runs/Ant-v5__asaf__1__1796150904_2\n"
    )
    assert bench.run_dir_of(str(log)) == "runs/Ant-v5__asaf__1__1796150904_2"
    empty = tmp_path / "empty.log"
    empty.write_text("Traceback\n")
    with pytest.raises(RuntimeError, match="expected a line naming the run directory"):
        bench.run_dir_of(str(empty))


def test_unfinished_run_is_the_newest_interrupted_run_of_the_same_command(tmp_path):
    torch = pytest.importorskip("torch")
    cmd = bench.command("asaf_1", "Hopper-v5", 2)
    runs = tmp_path / "runs"

    def saved_run(name, argv, finished=False, age=0):
        d = runs / f"Hopper-v5__asaf_1__2__{name}"
        d.mkdir(parents=True)
        torch.save({"argv": argv}, d / "resume.pt")
        if finished:
            (d / "summary.json").write_text("{}")
        os.utime(d / "resume.pt", (time.time() - age, time.time() - age))
        return str(d)

    assert bench.unfinished_run(str(tmp_path), "Hopper-v5", "asaf_1", 2, cmd) is None
    older = saved_run("1", cmd[2:], age=100)
    saved_run("2", cmd[2:], finished=True)  # newer, but finished
    saved_run("3", bench.command("asaf_1", "Hopper-v5", 2, "paper25")[2:])  # newer, another protocol
    assert bench.unfinished_run(str(tmp_path), "Hopper-v5", "asaf_1", 2, cmd) == older
    resumed_once = saved_run("4", cmd[2:] + ["--resume", "runs/Hopper-v5__asaf_1__2__1"], age=50)
    assert bench.unfinished_run(str(tmp_path), "Hopper-v5", "asaf_1", 2, cmd) == resumed_once
    (runs / "Hopper-v5__asaf_1__2__5").mkdir()
    (runs / "Hopper-v5__asaf_1__2__5" / "resume.pt").write_text("cut short by a kill")
    assert bench.unfinished_run(str(tmp_path), "Hopper-v5", "asaf_1", 2, cmd) == resumed_once


def test_interrupted_run_resumes_and_its_results_file_records_the_plain_command(tmp_path):
    """run_one continues a killed run from its resume.pt (in the same run directory) instead of starting afresh."""
    budget = [
        "--total-timesteps",
        "20000",
        "--eval-every",
        "1000",
        "--eval-episodes",
        "2",
        "--final-eval-episodes",
        "2",
    ]
    budget += ["--num-envs", "2", "--num-steps", "50"]
    bench.BUDGETS["asaf_1", "CartPole-v1", "demos10"] = budget
    runs_dir = tmp_path / "bench_runs"
    runs_dir.mkdir()
    try:
        cmd = bench.command("asaf_1", "CartPole-v1", 3)
        proc = subprocess.Popen(cmd, cwd=runs_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while not glob.glob(str(runs_dir / "runs" / "*" / "resume.pt")) and proc.poll() is None:
            assert time.time() < deadline
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        assert glob.glob(str(runs_dir / "runs" / "*" / "resume.pt")), "the run ended before it saved a resume.pt"
        msg = bench.run_one("asaf_1", "CartPole-v1", 3, "demos10", str(tmp_path / "results"), str(runs_dir))
    finally:
        del bench.BUDGETS["asaf_1", "CartPole-v1", "demos10"]
    assert msg.startswith("ok"), msg
    assert len(os.listdir(runs_dir / "runs")) == 1  # the killed run's directory, finished
    s = json.load(open(bench.result_path(str(tmp_path / "results"), "CartPole-v1", "asaf_1", "demos10", 3)))
    assert len(s["resumed_at"]) == 1 and s["env_steps"] == 20000
    assert "--resume" not in s["command"] and s["command"] == bench.display(cmd)


def test_interval_and_iqm():
    mean, half = bench.interval([1.0, 0.8])
    assert mean == pytest.approx(0.9) and half == pytest.approx(12.706 * np.std([1.0, 0.8], ddof=1) / np.sqrt(2))
    assert bench.iqm([0.0, 1.0, 1.0, 5.0]) == pytest.approx(1.0)


def test_report_reads_only_the_results_files(tmp_path):
    results, docs = str(tmp_path / "results"), str(tmp_path / "docs")
    fake_result(results, "CartPole-v1", "bc", "demos10", 1, 1.0, [(0, 0.0), (10, 1.0)])
    fake_result(results, "CartPole-v1", "bc", "demos10", 2, 0.8, [(0, 0.0), (10, 0.8)])
    fake_result(results, "CartPole-v1", "asaf_1", "demos10", 1, 0.6, [(0, 0.1), (10, 0.6)])
    bench.report(results, docs)
    text = open(os.path.join(docs, "results.md")).read()
    row = next(line for line in text.splitlines() if line.startswith("| CartPole-v1 | bc | demos10 |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3] == "2" and cells[4].startswith("0.900 +- ")
    glance = next(line for line in text.splitlines() if line.startswith("| CartPole-v1 | ") and "(2)" in line)
    assert "0.90 (2)" in glance and "0.60 (1)" in glance
    assert "| Walker2d-v5 |  |  |" in text  # a suite env with no run yet is a blank row, not a missing one
    assert "`python x.py --seed 1`" in text
    assert os.path.getsize(os.path.join(docs, "img", "CartPole-v1.png")) > 0


def test_report_lists_each_seeds_last_five_evaluations_of_the_asaf_family_on_mujoco(tmp_path):
    results, docs = str(tmp_path / "results"), str(tmp_path / "docs")
    steady = [(50_000 * i, v) for i, v in enumerate([0.2, 1.0, 1.0, 0.9, 1.0, 0.9, 1.2])]  # last five: 1.0
    swinging = [(50_000 * i, v) for i, v in enumerate([0.9, 1.0, 0.2, 1.0, 0.3, 1.0, 0.5])]  # last five: 0.6
    fake_result(results, "Hopper-v5", "asaf_1", "paper25", 1, 0.99, steady)
    fake_result(results, "Hopper-v5", "asaf_1", "paper25", 2, 0.95, swinging)
    fake_result(results, "Hopper-v5", "bc", "demos10", 1, 0.97, steady)
    fake_result(results, "CartPole-v1", "asaf_1", "demos10", 1, 1.0, steady)
    bench.report(results, docs)
    text = open(os.path.join(docs, "results.md")).read()
    row = next(
        line for line in text.splitlines() if line.startswith("| Hopper-v5 | asaf_1 | paper25 |") and "s1" in line
    )
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3] == "0.990 (s1), 0.950 (s2)"
    assert cells[4] == "1.000, 0.600" and cells[5] == "0.600"
    per_seed = [line for line in text.splitlines() if "(s1)" in line]
    assert len(per_seed) == 1  # BC and the classic envs are not in this table
    assert bench.last_five(dict(history=[dict(step=s, normalized_score=v) for s, v in steady[:4]])) is None


def test_same_draw_rows_compare_learners_on_one_seeds_demos(tmp_path):
    results = str(tmp_path / "results")
    for algo, score in (("bc", 0.99), ("asaf_1", 0.91), ("dagger", 0.98)):
        fake_result(results, "LunarLander-v3", algo, "demos10", 1, score, [(0, 0.5)])
    groups = bench.load_results(results)
    for (env, algo, protocol), ss in groups.items():
        ss[0]["demos"] = dict(episodes=[] if algo == "dagger" else [2, 5, 7])
    lines = bench.same_draw_lines(groups, "LunarLander-v3", "demos10", ["bc", "asaf_1", "dagger"])
    assert lines[2] == "| 1 | 2 5 7 | 0.990 | 0.910 | 0.980 (no demos) |"
    groups["LunarLander-v3", "bc", "demos10"][0]["demos"] = dict(episodes=[1, 5, 7])
    lines = bench.same_draw_lines(groups, "LunarLander-v3", "demos10", ["bc", "asaf_1", "dagger"])
    assert "2 different draws" in lines[2]


def test_falls_count_episodes_cut_before_the_time_limit_and_score_the_others():
    fell, score = bench.falls_and_upright_score([100.0, 900.0, 700.0], [120, 1000, 1000], 1000, 1000.0, 0.0)
    assert fell == 1 and score == pytest.approx(0.8)
    fell, score = bench.falls_and_upright_score([10.0, 20.0], [30, 40], 1000, 1000.0, 0.0)
    assert fell == 2 and np.isnan(score)
    groups = {
        ("Hopper-v5", "asaf_w", "demos10"): [
            dict(
                seed=1,
                demos=dict(return_mean=1000.0, random_return_mean=0.0),
                final_eval=dict(returns=[100.0, 950.0], lengths=[80, 1000]),
            )
        ]
    }
    expert = {"Hopper-v5__seed1__final": dict(returns=[990.0, 1010.0], lengths=[1000, 1000], demos_return_mean=1000.0)}
    lines = bench.falls_lines(groups, ["Hopper-v5"], expert)
    assert lines[2] == "| Hopper-v5 | expert | demos10 | 0 | 1.00 |"
    assert lines[3] == "| Hopper-v5 | asaf_w | demos10 | 1 | 0.95 |"


def test_report_refuses_seeds_that_share_start_states(tmp_path):
    results = str(tmp_path / "results")
    fake_result(results, "CartPole-v1", "bc", "demos10", 1, 1.0, [(10, 1.0)])
    fake_result(results, "CartPole-v1", "bc", "demos10", 2, 1.0, [(10, 1.0)])
    path = bench.result_path(results, "CartPole-v1", "bc", "demos10", 2)
    s = json.load(open(path))
    s["final_eval"]["env_seeds"][0] = 2_000_010_000  # one start state of seed 1
    json.dump(s, open(path, "w"))
    with pytest.raises(SystemExit, match="disjoint"):
        bench.report(results, str(tmp_path / "docs"))


def test_committed_results_have_disjoint_start_states_per_cell():
    assert bench.check_disjoint_starts(bench.load_results(bench.RESULTS)) == []


def test_one_real_run_lands_in_the_results_file(tmp_path):
    """run_one runs the script and copies its summary, with the command, to the results layout."""
    bench.BUDGETS["bc", "CartPole-v1", "demos10"] = ["--total-steps", "50", "--final-eval-episodes", "2"]
    try:
        msg = bench.run_one("bc", "CartPole-v1", 3, "demos10", str(tmp_path / "results"), str(tmp_path / "runs"))
    finally:
        del bench.BUDGETS["bc", "CartPole-v1", "demos10"]
    assert msg.startswith("ok"), msg
    s = json.load(open(bench.result_path(str(tmp_path / "results"), "CartPole-v1", "bc", "demos10", 3)))
    assert s["protocol"] == "demos10" and s["command"].startswith("python bc.py --env-id CartPole-v1 --seed 3")
    assert len(s["demos"]["episodes"]) == 10 and len(s["final_eval"]["returns"]) == 2


def test_runs_on_a_local_ray_instance_land_in_the_results_files(tmp_path):
    """--ray-address local: run_one travels to the Ray workers by value and writes the files a local run writes."""
    import ray

    results, runs = str(tmp_path / "results"), str(tmp_path / "runs")
    tiny = "--total-steps 50 --final-eval-episodes 2 --eval-every 0"
    bench.BUDGETS["bc", "CartPole-v1", "demos10"] = tiny.split()
    try:
        jobs = [("bc", "CartPole-v1", seed, "demos10") for seed in (3, 4)]
        msgs = list(bench.run_on_ray(jobs, "local", results, runs, workers=2))
    finally:
        del bench.BUDGETS["bc", "CartPole-v1", "demos10"]
        ray.shutdown()
    assert len(msgs) == 2 and all(m.startswith("ok") for m in msgs), msgs
    assert not ray.is_initialized()
    for seed in (3, 4):
        s = json.load(open(bench.result_path(results, "CartPole-v1", "bc", "demos10", seed)))
        assert s["protocol"] == "demos10" and s["seed"] == seed
        assert s["command"].startswith(f"python bc.py --env-id CartPole-v1 --seed {seed} --exp-name bc")
        assert s["command"].endswith(tiny)
