"""Run algorithms x envs x seeds in parallel worker processes, then build docs/results.md and docs/img/<env>.png.

    python benchmark/run.py                                   # every algorithm, the classic-control suite, 3 seeds
    python benchmark/run.py --algos bc asaf_1 --envs CartPole-v1 --seeds 1 2 3 --workers 2
    python benchmark/run.py --report-only                      # only rebuild the table and plots from benchmark/runs

Each run is `python <script> --env-id ENV --seed SEED --exp-name ALGO [extra flags]` with its working directory in
benchmark/, so its TensorBoard log and summary.json land in benchmark/runs/<env>__<algo>__<seed>__<time>/. A run whose
summary.json already exists is skipped, so an interrupted benchmark resumes where it stopped. Every number in the
report is read from those files: nothing is typed in by hand.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# name in the table -> (script, extra flags)
ALGOS = {
    "bc": ("bc.py", []),
    "gail_ppo": ("gail_ppo.py", []),
    "asaf": ("asaf.py", []),
    "asaf_w": ("asaf_w.py", []),
    "asaf_1": ("asaf_w.py", ["--window", "1"]),
    "dagger": ("dagger.py", []),
    "aggrevated": ("aggrevated.py", []),
}
ENVS = ["CartPole-v1", "LunarLander-v3", "Pendulum-v1", "LunarLanderContinuous-v3"]
# (algo, env) -> flags added to the algorithm's own: budgets for envs where a script's default budget is too small
ENV_FLAGS = {
    **{(a, "Pendulum-v1"): ["--total-timesteps", "100000"] for a in ("asaf", "asaf_w", "asaf_1")},
    **{(a, "LunarLanderContinuous-v3"): ["--total-timesteps", "200000", "--eval-every", "20000"]
       for a in ("asaf", "asaf_w", "asaf_1")},
    **{(a, "LunarLander-v3"): ["--total-timesteps", "300000", "--eval-every", "25000"] for a in ("asaf", "asaf_w", "asaf_1")},
}
# GAIL on the landers and Pendulum: warm start by BC, then a stronger D (penalty 1, 10 steps) on the neutral logit
# reward; the default from-scratch GAIL stays below 0.95 there (docs/gail_ppo.md)
GAIL_WARM = ["--bc-init-steps", "10000", "--critic-warmup", "10", "--reward-type", "logit", "--gp-coef", "1",
             "--disc-updates", "10", "--eval-every", "25000"]
ENV_FLAGS["gail_ppo", "LunarLander-v3"] = GAIL_WARM + ["--total-timesteps", "300000"]
ENV_FLAGS["gail_ppo", "LunarLanderContinuous-v3"] = GAIL_WARM + ["--total-timesteps", "300000"]
ENV_FLAGS["gail_ppo", "Pendulum-v1"] = GAIL_WARM + ["--total-timesteps", "200000", "--gamma", "0.9", "--num-envs", "4",
                                                    "--num-steps", "512", "--num-minibatches", "32"]
# MuJoCo (issue 8): 1M env steps for the learners that interact, and (256, 256) networks like BC's default
MUJOCO = ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"]
for env in MUJOCO:
    for a in ("gail_ppo", "asaf", "asaf_w", "asaf_1"):
        ENV_FLAGS[a, env] = ["--total-timesteps", "1000000", "--eval-every", "50000", "--hidden-sizes", "256", "256"]
# GAIL on MuJoCo: the same warm start and sharper D, with the default positive reward (its survival bonus suits
# experts that stay up until the time limit) and PPO's lr at 1e-4 (it held the clone on Walker2d); from scratch:
# Walker2d 0.66, HalfCheetah 0.90; warm with lr 3e-4: Walker2d 0.82 (docs/gail_ppo.md)
for env in MUJOCO:
    ENV_FLAGS["gail_ppo", env] += ["--bc-init-steps", "10000", "--critic-warmup", "10", "--gp-coef", "1",
                                   "--disc-updates", "10", "--learning-rate", "1e-4"]
# The landers: 50 evaluation episodes instead of 10. A lander either lands (~270) or crashes (~-100), so 10 episodes
# are too few: one ASAF-w policy read 0.63 on one set of 10 start states and 0.98 on another (docs/asaf.md)
for a in ALGOS:
    for env in ("LunarLander-v3", "LunarLanderContinuous-v3"):
        ENV_FLAGS[a, env] = ENV_FLAGS.get((a, env), []) + ["--eval-episodes", "50"]
# ASAF-1 on LunarLander-v3: 4000 transitions per update and 10 epochs of 200 (200 gradient steps per update instead of
# 600 on 2000): the default setting scored 0.81, 0.75, 0.81 there; this one 0.975, 0.975, 0.970 (docs/asaf.md). It does
# not suit ASAF-w (w = 32: LunarLander 0.87, 0.93, 0.82; Pendulum ~0.1), so it is not the script's default.
# The same setting on LunarLanderContinuous-v3: 0.968 on fresh start states over 12 seeds (the default: 0.933 over 9),
# and 3x faster (docs/asaf.md).
for env in ("LunarLander-v3", "LunarLanderContinuous-v3"):
    ENV_FLAGS["asaf_1", env] += ["--num-envs", "16", "--update-epochs", "10", "--batch-size", "200"]
# ASAF-w (w = 32) does better with a lower log-std floor than ASAF-1's default -2 (Pendulum: 0.98 vs 0.82; docs/asaf.md)
for env in ("Pendulum-v1", "LunarLanderContinuous-v3"):
    ENV_FLAGS["asaf_w", env] = ENV_FLAGS["asaf_w", env] + ["--log-std-min", "-5"]
# ASAF-w on LunarLanderContinuous-v3: 10 windows per minibatch (320 transitions) instead of 3 (the default 100
# transitions): 0.990, 0.976, 0.978 instead of 1.000, 0.840, 0.944 (docs/asaf.md)
ENV_FLAGS["asaf_w", "LunarLanderContinuous-v3"] += ["--batch-size", "320"]


def summaries(runs_dir):
    """(env, algo) -> list of summary dicts, one per seed (the newest run of a seed wins)."""
    by_seed = {}
    for path in sorted(glob.glob(os.path.join(runs_dir, "*", "summary.json"))):
        s = json.load(open(path))
        algo = os.path.basename(os.path.dirname(path)).split("__")[1]
        s["run_dir"] = os.path.dirname(path)
        by_seed[(s["env_id"], algo, s["seed"])] = s
    out = defaultdict(list)
    for (env, algo, _), s in sorted(by_seed.items()):
        out[(env, algo)].append(s)
    return out


def command(algo, env, seed):
    script, extra = ALGOS[algo]
    return [sys.executable, os.path.join(ROOT, script), "--env-id", env, "--seed", str(seed), "--exp-name", algo, *extra,
            *ENV_FLAGS.get((algo, env), [])]


def run_one(algo, env, seed, runs_dir, log_dir):
    done = {(e, a, s["seed"]) for (e, a), ss in summaries(runs_dir).items() for s in ss}
    if (env, algo, seed) in done:
        return f"skip {algo} {env} {seed} (summary exists)"
    t = time.time()
    with open(os.path.join(log_dir, f"{env}__{algo}__{seed}.log"), "w") as log:
        rc = subprocess.call(command(algo, env, seed), cwd=HERE, stdout=log, stderr=subprocess.STDOUT)
    return f"{'ok  ' if rc == 0 else 'FAIL'} {algo} {env} seed {seed}: {time.time() - t:.0f}s"


def eval_curve(run_dir):
    """(steps, returns) of eval/episodic_return from a run's TensorBoard log."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    if "eval/episodic_return" not in acc.Tags()["scalars"]:
        return None
    ev = acc.Scalars("eval/episodic_return")
    return np.array([e.step for e in ev]), np.array([e.value for e in ev])


def expert_return(env):
    path = os.path.join(ROOT, "experts", env, "demos.npz")
    return float(np.load(path)["expert_return_mean"]) if os.path.exists(path) else float("nan")


def report(runs_dir, docs_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = summaries(runs_dir)
    lines = ["# Results", "", "Built by `python benchmark/run.py` from the summaries in `benchmark/runs/`: final "
             "deterministic evaluation (10 episodes; 50 on the landers, whose episodes either land or crash), mean "
             "+- std over seeds. Normalized score = (R - R_random) / (R_expert - R_random). Machine: 2-core CPU, "
             "torch 1 thread, runs in parallel workers, often beside other training jobs (wall time is per run and an "
             "upper bound: about 3-4x an idle machine for the ASAF rows). The final evaluation of seed S starts its "
             "episode i from env seed S + c + i (c a constant of each script), so the seeds of a cell share most of "
             "their start states: a fixed test set, not independent samples. On LunarLander-v3 that set holds half "
             "the usual share of starts pushed hard to the right, which none of the 10 demos shows and where the "
             "crashes of ASAF-1 happen: it reads 0.973 here and 0.913 on 200 other start states per seed (12 "
             "seeds; docs/asaf.md). The other learners read high there too: on such fresh start states ASAF-w "
             "reads 0.919 (9 seeds), BC 0.944 (12 seeds), GAIL 0.915 (6 seeds) and DAgger, which asks the expert, 0.985 "
             "(6 seeds). On LunarLanderContinuous-v3, ASAF-1 reads 0.968 on "
             "fresh start states and ASAF-w 0.953 (12 seeds).", "",
             "| env | algo | expert | return | normalized | seeds | env steps | wall s | SPS |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (env, algo), ss in sorted(groups.items()):
        r = np.array([s["eval_return_mean"] for s in ss])
        n = np.array([s["normalized_score"] for s in ss])
        f = lambda k: np.mean([s[k] for s in ss])
        lines.append(f"| {env} | {algo} | {expert_return(env):.1f} | {r.mean():.1f} +- {r.std():.1f} | "
                     f"{n.mean():.3f} +- {n.std():.3f} | {len(ss)} | {f('env_steps'):.0f} | {f('wall_seconds'):.0f} | "
                     f"{f('sps'):.0f} |")
    algos = [a for a in ALGOS if any(a == g for _, g in groups)]
    lines += ["", "Normalized score at a glance (mean over seeds):", "", "| env | " + " | ".join(algos) + " |",
              "| --- |" + " --- |" * len(algos)]
    for env in sorted({e for e, _ in groups}):
        cell = lambda a: f"{np.mean([s['normalized_score'] for s in groups[env, a]]):.2f}" if (env, a) in groups else ""
        lines.append(f"| {env} | " + " | ".join(cell(a) for a in algos) + " |")
    lines += ["", "Commands (one per seed; `--seed` varies):", ""]
    for algo in sorted({a for _, a in groups}):
        cmd = " ".join(["python", ALGOS[algo][0], "--env-id ENV --seed SEED --exp-name", algo, *ALGOS[algo][1]])
        envs = sorted(e for e, a in groups if a == algo and (a, e) in ENV_FLAGS)
        lines.append(f"- {algo}: `{cmd}`" + "".join(f"; on {e} add `{' '.join(ENV_FLAGS[algo, e])}`" for e in envs))
    os.makedirs(os.path.join(docs_dir, "img"), exist_ok=True)
    for env in sorted({e for e, _ in groups}):
        fig, ax = plt.subplots(figsize=(6, 4))
        for (e, algo), ss in sorted(groups.items()):
            curves = [c for c in (eval_curve(s["run_dir"]) for s in ss) if c is not None and len(c[0])]
            if e != env or not curves:
                continue
            steps = curves[0][0]
            ys = np.array([np.interp(steps, c[0], c[1]) for c in curves])
            ax.plot(steps, ys.mean(0), label=algo)
            ax.fill_between(steps, ys.min(0), ys.max(0), alpha=0.2)
        ax.axhline(expert_return(env), ls="--", c="k", label="expert")
        ax.set(title=env, xlabel="env steps (BC: gradient steps)", ylabel="eval return")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(docs_dir, "img", f"{env}.png"), dpi=100)
        plt.close(fig)
    with open(os.path.join(docs_dir, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS), help="algorithms to run")
    p.add_argument("--envs", nargs="+", default=ENVS, help="gymnasium env ids")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds per (algo, env)")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel runs (default: as many as cores)")
    p.add_argument("--report-only", action="store_true", help="skip the runs, only rebuild results.md and plots")
    p.add_argument("--runs-dir", default=os.path.join(HERE, "runs"), help="where the runs' logs are")
    p.add_argument("--docs-dir", default=os.path.join(ROOT, "docs"), help="where results.md and img/ go")
    a = p.parse_args()
    if not a.report_only:
        log_dir = os.path.join(HERE, "logs")
        os.makedirs(log_dir, exist_ok=True)
        jobs = [(algo, env, seed) for env in a.envs for algo in a.algos for seed in a.seeds]
        with ThreadPoolExecutor(a.workers) as pool:
            for msg in pool.map(lambda j: run_one(*j, a.runs_dir, log_dir), jobs):
                print(msg, flush=True)
    report(a.runs_dir, a.docs_dir)
