"""Tests of benchmark/experiments.py: the runs it asks for and the report it builds from result files alone."""

import json
import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmark"))
import experiments  # noqa: E402


def test_jobs_draw_10_demos_from_each_level_file_and_pass_only_budgets():
    jobs = experiments.jobs("levels", ["InvertedDoublePendulum-v5"], [1, 2, 3])
    assert len(jobs) == 3 * 2 * 3  # two levels and the final expert, two students, three seeds
    for exp, env, name, seed, cmd in jobs:
        assert exp == "levels" and env == "InvertedDoublePendulum-v5"
        assert cmd[cmd.index("--num-demos") + 1] == "10"
        level = name.split("__at_")[1]
        assert cmd[cmd.index("--demos") + 1] == experiments.level_files(env)[level]
        flags = [c for c in cmd if c.startswith("--")]
        budget = {"--total-timesteps", "--total-steps", "--eval-every"}
        assert set(flags) <= {"--window", "--env-id", "--demos", "--num-demos", *budget}
    sizes = {name for _, _, name, _, _ in experiments.jobs("compression", ["Pendulum-v1"], [1])}
    assert "asaf_1__h256x256" in sizes and "bc__h4" in sizes
    ant = experiments.jobs("compression", ["Ant-v5"], [1, 2, 3], students=["bc"])
    names = {name for _, _, name, _, _ in ant}
    assert names == {f"bc__h{h}x{h}" for h in (16, 32, 64, 128, 150, 200, 256)}  # one depth, down from the expert's
    assert len(ant) == 7 * 3
    ant_asaf = experiments.jobs("compression", ["Ant-v5"], [1], students=["asaf_1"])
    assert all(cmd[cmd.index("--total-timesteps") + 1] == "1000000" for *_, cmd in ant_asaf)


def test_levels_of_an_expert_trained_by_hand_run_for_the_files_present(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "HERE", str(tmp_path))
    assert "Ant-v5" in experiments.LONG_EXPERTS  # hours of SAC: never started by the script
    assert experiments.jobs("levels", ["Ant-v5"], [1, 2, 3]) == []  # no level reached yet: nothing to run
    os.makedirs(tmp_path / "levels" / "Ant-v5")
    (tmp_path / "levels" / "Ant-v5" / "demos_at_1500.npz").write_bytes(b"")
    jobs = experiments.jobs("levels", ["Ant-v5"], [1, 2, 3])
    assert {name for _, _, name, _, _ in jobs} == {"bc__at_1500", "asaf_1__at_1500"} and len(jobs) == 6
    for *_, cmd in jobs:  # the benchmark's MuJoCo network for both students
        assert cmd[cmd.index("--hidden-sizes") + 1 :][:2] == ["256", "256"]


def fake_summary(env, demo_returns, ret, score, history):
    return dict(
        env_id=env,
        eval_return_mean=ret,
        normalized_score=score,
        wall_seconds=10.0,
        demos=dict(return_mean=sum(demo_returns) / len(demo_returns), episode_returns=demo_returns),
        history=[dict(step=1000 * (i + 1), normalized_score=h) for i, h in enumerate(history)],
    )


def test_report_is_built_from_the_result_files_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(experiments, "DOCS", str(tmp_path / "docs"))
    os.makedirs(tmp_path / "docs" / "img")
    env = "CartPole-v1"
    for seed, score in ((1, 0.9), (2, 1.0)):
        path = experiments.result_path("levels", env, "bc__at_100", seed)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(fake_summary(env, [150.0, 250.0], 190.0, score, [0.5, 0.9, 0.9, 1.0, 0.8, 0.9]), f)
        for name in ("asaf_1__h32x32", "bc__h32x32", "bc__h256x256"):  # bc also at the expert's own size
            path = experiments.result_path("compression", "Pendulum-v1", name, seed)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump(fake_summary("Pendulum-v1", [-150.0, -140.0], -145.0, score, [0.2, 0.8]), f)
    experiments.report()
    text = (tmp_path / "docs" / "experiments.md").read_text()
    # demos' return 200, their spread 50, the student's return, the interval over the two seeds, the last five's std
    assert "| first checkpoint >= 100 | bc | 2 | 200.0 | 50.0 | 190.0 | 0.950 +- 0.635 | 0.063 |" in text
    # 3*32+32 + 32*32+32 + 32+1, plus the shared log-std: the network asaf_w.Policy builds
    assert "| asaf_1 | 32, 32 | 1218 | 2 | -145.0 | 0.950 +- 0.635 | 10 |" in text
    # the findings are computed: bc's mean at its one level is 0.95 (follows), spread 50 in both runs -> rho 0
    assert "bc follows every level (normalized 0.9-1.1 at each): mean normalized 0.95" in text
    assert "Spearman correlation of +0.00" in text
    # the level files are described from the files themselves (the shipped CartPole-v1 levels)
    assert "final expert: 25 episodes, 500.0 +- 0.0, 0 terminated." in text
    # without the expert's own size (256, 256) there is nothing to compare against: no verdict on the claim
    assert "asaf_1: only (32, 32) 0.95 so far, the larger sizes not run yet, no conclusion." in text
    # bc: 0.95 at (256, 256) and at (32, 32), the smallest size run, so it matches down to there
    assert "bc matches down to (32, 32);" in text
    assert (tmp_path / "docs" / "img" / "levels_CartPole-v1.png").exists()
    assert (tmp_path / "docs" / "img" / "compression_Pendulum-v1.png").exists()


def test_shipped_expert_is_a_further_level_read_from_the_benchmark_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(experiments, "BENCH_RESULTS", str(tmp_path / "bench"))
    monkeypatch.setattr(experiments, "DOCS", str(tmp_path / "docs"))
    monkeypatch.setattr(experiments, "HERE", str(tmp_path))
    os.makedirs(tmp_path / "docs" / "img")
    env = "Ant-v5"
    assert env in experiments.SHIPPED_LEVEL
    path = experiments.result_path("levels", env, "bc__at_1500", 1)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        json.dump(fake_summary(env, [1000.0, 2000.0], 1200.0, 0.8, [0.7, 0.8]), f)
    os.makedirs(tmp_path / "bench" / env)
    for seed, score in ((1, 0.9), (2, 1.1)):
        with open(tmp_path / "bench" / env / f"bc__demos10__seed{seed}.json", "w") as f:
            json.dump(fake_summary(env, [3000.0, 4000.0], 3500.0, score, [0.9, 1.0]), f)
    experiments.report()
    text = (tmp_path / "docs" / "experiments.md").read_text()
    shipped = "shipped expert (experts/Ant-v5, another SAC run)"
    assert f"| {shipped} | bc | 2 | 3500.0 | 500.0 | 3500.0 | 1.000 +- 1.271 |" in text
    assert f"mean normalized 0.80, 1.00 with the demos of first checkpoint >= 1500, {shipped}" in text
    # better demos, better student in both runs: the demos' return and the student's rank alike
    assert "the demos' return and the student's have a Spearman correlation of +1.00" in text
    assert f"{shipped}: 25 episodes" in text  # the shipped demos file described like the level files
    assert "final expert: not recorded" in text  # HERE has no level files: each one missing is said so
