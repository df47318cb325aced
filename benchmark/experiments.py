"""The two experiments of the project's notes, run and reported from their logs (docs/experiments.md).

    python benchmark/experiments.py                       # both experiments, then the report
    python benchmark/experiments.py --only levels         # imitation follows the expert's level
    python benchmark/experiments.py --only compression    # large expert -> small students
    python benchmark/experiments.py --report-only

1. Expert level ("levels"): expert.py trains a CartPole-v1 DQN and saves demonstrations from the first checkpoints
   whose evaluation reaches 100 and 250 (`--demo-at-returns 100 250`, evaluated every 500 steps so the levels are
   caught before the next jump) and from the final expert (500). ASAF-1 and BC imitate each level from 10 demos. If
   imitation follows the expert, the learner's return tracks the demos' return rather than the task's maximum: its
   normalized score, computed against the return of the demos it used, stays near 1 for every level.
2. Compression ("compression"): the shipped Pendulum-v1 SAC expert has (256, 256) hidden layers. BC and ASAF-1
   students with `--hidden-sizes` 4 / 16 / 32 32 / 64 64 / 256 256 imitate it from 10 demos.

Runs land in benchmark/runs_experiments/<experiment>/ (one summary.json each; existing ones are skipped).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNS = os.path.join(HERE, "runs_experiments")
LEVEL_ENV, LEVELS = "CartPole-v1", (100, 250)
LEVEL_DIR = os.path.join(HERE, "levels", LEVEL_ENV)
EXPERT_CMD = [
    "expert.py",
    "--env-id",
    LEVEL_ENV,
    "--total-timesteps",
    "150000",
    "--learning-rate",
    "2.5e-4",
    "--batch-size",
    "128",
    "--buffer-size",
    "50000",
    "--learning-starts",
    "5000",
    "--exploration-fraction",
    "0.3",
    "--eval-every",
    "500",
    "--eval-episodes",
    "10",
    "--stop-at-return",
    "500",
    "--num-demo-episodes",
    "25",
    "--out-dir",
    LEVEL_DIR,
    "--demo-at-returns",
    *map(str, LEVELS),
]
STUDENTS = {"bc": ["bc.py"], "asaf_1": ["asaf_w.py", "--window", "1"]}
SIZES = [["4"], ["16"], ["32", "32"], ["64", "64"], ["256", "256"]]
COMPRESSION_ENV, COMPRESSION_FLAGS = "Pendulum-v1", {"asaf_1": ["--total-timesteps", "100000"], "bc": []}


def level_demos():
    return {R: os.path.join(LEVEL_DIR, f"demos_at_{R}.npz") for R in LEVELS} | {
        "final": os.path.join(LEVEL_DIR, "demos.npz")
    }


def expert_params():
    import torch

    ckpt = torch.load(
        os.path.join(ROOT, "experts", COMPRESSION_ENV, "expert.pt"), map_location="cpu", weights_only=False
    )
    return sum(v.numel() for k, v in ckpt["actor"].items() if k.startswith("trunk")) if "actor" in ckpt else "?"


def jobs(only, seeds):
    out = []
    if only in (None, "levels"):
        for level, path in level_demos().items():
            for algo, cmd in STUDENTS.items():
                for s in seeds:
                    out.append(("levels", f"{algo}_at_{level}", s, [*cmd, "--env-id", LEVEL_ENV, "--demos", path]))
    if only in (None, "compression"):
        for size in SIZES:
            for algo, cmd in STUDENTS.items():
                for s in seeds:
                    out.append(
                        (
                            "compression",
                            f"{algo}_h{'x'.join(size)}",
                            s,
                            [*cmd, "--env-id", COMPRESSION_ENV, "--hidden-sizes", *size, *COMPRESSION_FLAGS[algo]],
                        )
                    )
    return out


def run(job):
    exp, name, seed, cmd = job
    cwd = os.path.join(RUNS, exp)
    os.makedirs(cwd, exist_ok=True)
    if glob.glob(os.path.join(cwd, "runs", f"*__{name}__{seed}__*", "summary.json")):
        return f"skip {exp} {name} {seed}"
    full = [sys.executable, os.path.join(ROOT, cmd[0]), *cmd[1:], "--seed", str(seed), "--exp-name", name]
    with open(os.path.join(cwd, f"{name}__{seed}.log"), "w") as log:
        rc = subprocess.call(full, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    return f"{'ok  ' if rc == 0 else 'FAIL'} {exp} {name} seed {seed}"


def pm(x, digits):
    """mean +- std over seeds, or the single value for one seed"""
    return f"{x.mean():.{digits}f}" + (f" +- {x.std():.{digits}f}" if len(x) > 1 else "")


def report():
    lines = [
        "# Experiments",
        "",
        "Built by `python benchmark/experiments.py` from the summaries in "
        "`benchmark/runs_experiments/` (see its docstring for the design). 10 demos, final deterministic "
        "evaluation, mean +- std over seeds. Machine: 2-core CPU, torch 1 thread.",
        "",
    ]
    rows = {}
    for path in sorted(glob.glob(os.path.join(RUNS, "*", "runs", "*", "summary.json"))):
        s = json.load(open(path))
        exp, name = path.split(os.sep)[-4], os.path.basename(os.path.dirname(path)).split("__")[1]
        rows.setdefault((exp, name), []).append(s)
    lines += [
        "## 1. Imitation follows the expert's level (CartPole-v1)",
        "",
        f"Expert and demos: `python {' '.join(EXPERT_CMD).replace(ROOT + os.sep, '')}`.",
        "",
        "| demos from | demos' return | student | student return | normalized (vs the demos) | seeds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for level, path in level_demos().items():
        demo_ret = float(np.load(path)["expert_return_mean"]) if os.path.exists(path) else float("nan")
        for algo in STUDENTS:
            ss = rows.get(("levels", f"{algo}_at_{level}"), [])
            if ss:
                r, n = np.array([s["eval_return_mean"] for s in ss]), np.array([s["normalized_score"] for s in ss])
                if level == "final":
                    source = "final expert"
                else:
                    source = f"first checkpoint >= {level}"
                lines.append(f"| {source} | {demo_ret:.1f} | {algo} | {pm(r, 1)} | {pm(n, 3)} | {len(ss)} |")
    lines += [
        "",
        f"## 2. Compression: students of a (256, 256) SAC expert ({COMPRESSION_ENV})",
        "",
        "| student | hidden sizes | parameters | return | normalized | seeds | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in SIZES:
        for algo in STUDENTS:
            ss = rows.get(("compression", f"{algo}_h{'x'.join(size)}"), [])
            if ss:
                h = [3, *map(int, size), 1]
                params = sum(a * b + b for a, b in zip(h[:-1], h[1:]))
                r, n = np.array([s["eval_return_mean"] for s in ss]), np.array([s["normalized_score"] for s in ss])
                wall = np.mean([s["wall_seconds"] for s in ss])
                lines.append(
                    f"| {algo} | {', '.join(size)} | {params} | {pm(r, 1)} | {pm(n, 3)} | {len(ss)} | {wall:.0f} |"
                )
    lines += [
        "",
        "Student commands: `python bc.py` / `python asaf_w.py --window 1` with `--env-id ENV --seed SEED` and "
        "`--demos <level file>` (levels) or `--hidden-sizes H...` plus, for ASAF-1, "
        f"`{' '.join(COMPRESSION_FLAGS['asaf_1'])}` (compression).",
        f"Parameters count the mean network only (obs -> hidden -> action); the expert's actor has {expert_params()}.",
    ]
    with open(os.path.join(ROOT, "docs", "experiments.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["levels", "compression"], help="run one experiment (default: both)")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="seeds per cell")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel runs")
    p.add_argument("--report-only", action="store_true", help="only rebuild docs/experiments.md")
    a = p.parse_args()
    if not a.report_only:
        if a.only in (None, "levels") and not all(os.path.exists(f) for f in level_demos().values()):
            subprocess.check_call([sys.executable, os.path.join(ROOT, EXPERT_CMD[0]), *EXPERT_CMD[1:], "--overwrite"])
        with ThreadPoolExecutor(a.workers) as pool:
            for msg in pool.map(run, jobs(a.only, a.seeds)):
                print(msg, flush=True)
    report()
