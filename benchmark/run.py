"""Run algorithms x envs x seeds, keep one small summary per run, and build docs/results.md and the plots from them.

    python benchmark/run.py                                    # every algorithm, the classic suite, seeds 1-5
    python benchmark/run.py --algos bc asaf_1 --envs CartPole-v1 --seeds 1 2 3 --workers 2
    python benchmark/run.py --envs Hopper-v5 --protocol paper25 --algos asaf_1
    python benchmark/run.py --report-only                      # rebuild results.md and plots from benchmark/results
    python benchmark/run.py --protocol heldout --envs Acrobot-v1 --seeds 1 2 3   # an env outside the suite

Each run is `python <script> --env-id ENV --seed SEED --exp-name ALGO [flags of the protocol]`, started in
benchmark/runs/ (its TensorBoard log lands there, not committed). When it ends, its summary.json is copied, with the
exact command added, to benchmark/results/<env_id>/<algo>__<protocol>__seed<S>.json: small JSON files that are
committed, and the only input of the report. A run whose results file exists is skipped, so an interrupted
benchmark resumes where it stopped; an interrupted asaf / asaf_w / asaf_1 run goes on from its last periodic
evaluation (`--resume` with the resume.pt it left, when the command is the same).

    python benchmark/run.py --algos bc --envs CartPole-v1 --ray-address local --workers 2   # a local Ray instance
    python benchmark/run.py --envs Hopper-v5 --ray-address auto                             # a `ray start` cluster

With --ray-address (Ray is in requirements.txt) each run is one Ray task of one CPU running the same run_one, sent by
value (cloudpickle), so results land in the same files and a line is printed as each run finishes. `local` starts a
Ray instance of --workers CPUs on this machine; `auto` or `ray://host:10001` joins a cluster (ray:// needs
`pip install 'ray[client]'`) whose nodes see this checkout at the same path, e.g. on a shared filesystem.

Protocols (docs/results.md):
- demos10: 10 demos drawn at random per seed from the shipped 25 (the scripts' default `--demo-draw random`, seeded
  by the run seed), the scripts' default budgets except where BUDGETS says, 50 final evaluation episodes on start
  states of the seed's own (env seeds 2_000_000_000 + 10_000 * seed + i in every script).
- paper25: all 25 shipped demos and up to 2M env steps on MuJoCo (the ASAF paper's setting).
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
RESULTS = os.path.join(HERE, "results")
DOCS = os.path.join(ROOT, "docs")
# name in the table -> (script, flags that make the algorithm)
ALGOS = {
    "bc": ("bc.py", []),
    "gail_ppo": ("gail_ppo.py", []),
    "asaf": ("asaf.py", []),
    "asaf_w": ("asaf_w.py", []),
    "asaf_1": ("asaf_w.py", ["--window", "1"]),
    "dagger": ("dagger.py", []),
    "aggrevated": ("aggrevated.py", []),
}
CLASSIC = ["CartPole-v1", "LunarLander-v3", "Pendulum-v1", "LunarLanderContinuous-v3"]
MUJOCO = ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"]
PROTOCOLS = {"demos10": ["--num-demos", "10"], "paper25": ["--num-demos", "25"], "heldout": ["--num-demos", "10"]}
SUITE_ROWS = {"demos10": CLASSIC + MUJOCO, "paper25": MUJOCO}  # the rows of the at-a-glance tables
# Envs outside the suite, which no default was tuned on: their experts are made by these expert.py commands (the
# README's, plus the documented hard-exploration flag on MountainCarContinuous-v0) into benchmark/heldout/<env>/,
# which is not committed; every learner then runs there at its defaults (protocol `heldout`, like demos10).
HELDOUT_DIR = os.path.join(HERE, "heldout")
HELDOUT = {
    "Acrobot-v1": ["--total-timesteps", "100000"],
    "MountainCarContinuous-v0": ["--total-timesteps", "50000", "--random-action-repeat", "30"],
    "Reacher-v5": ["--total-timesteps", "100000"],
    "InvertedPendulum-v5": ["--total-timesteps", "30000"],
}
INTERACTIVE = ("gail_ppo", "asaf", "asaf_w", "asaf_1")  # learners whose budget is env steps of their own policy

# (algo, env, protocol) -> budget and network size: the only per-env flags the benchmark passes
BUDGETS = {}
# The ASAF family needs no classic budget: the scripts' default of 300k env steps is the largest the classic envs
# needed (LunarLander-v3; docs/asaf.md, detail 7).
# Nor does GAIL: its default 150k read 0.96-1.00 on LunarLander-v3, LunarLanderContinuous-v3 and Pendulum-v1 on
# tuning seeds 101-102, where the benchmark once passed 300k, 300k and 200k (docs/gail_ppo.md).
for _env in MUJOCO:
    for _a in INTERACTIVE:
        BUDGETS[_a, _env, "demos10"] = ["--total-timesteps", "1000000", "--eval-every", "50000"]
        BUDGETS[_a, _env, "paper25"] = ["--total-timesteps", "2000000", "--eval-every", "50000"]
        BUDGETS[_a, _env, "demos10"] += ["--hidden-sizes", "256", "256"]
        BUDGETS[_a, _env, "paper25"] += ["--hidden-sizes", "256", "256"]

# DAgger and AggreVaTeD on MuJoCo: 100k env steps of roll-in (at the default 10k, Hopper-v5 read 0.26-0.96 and
# 0.10-0.70 over seeds 1-3: still learning)
for _env in MUJOCO:
    for _a in ("dagger", "aggrevated"):
        BUDGETS[_a, _env, "demos10"] = ["--total-timesteps", "100000", "--eval-every", "10000"]

# Nothing else: what the benchmark once passed per env (GAIL's warm start and sharper D, ASAF's std floor and
# ASAF-1's shorter updates) is now each script's default (docs/gail_ppo.md, docs/asaf.md).


def result_path(results_dir, env, algo, protocol, seed):
    return os.path.join(results_dir, env, f"{algo}__{protocol}__seed{seed}.json")


def command(algo, env, seed, protocol="demos10"):
    """The exact command of one run: the scripts' defaults plus the protocol's demos, the budget and network size."""
    script, extra = ALGOS[algo]
    flags = list(extra)
    if algo not in ("dagger", "aggrevated"):  # the online-expert learners use no demos, only the file's return
        flags += PROTOCOLS[protocol]
    flags += BUDGETS.get((algo, env, protocol), [])
    if protocol == "heldout":
        flags += ["--demos", os.path.join(HELDOUT_DIR, env, "demos.npz")]
        if algo in ("dagger", "aggrevated"):
            flags += ["--expert", os.path.join(HELDOUT_DIR, env, "expert.pt")]
    head = [sys.executable, os.path.join(ROOT, script), "--env-id", env, "--seed", str(seed), "--exp-name", algo]
    return head + flags


def display(cmd):
    """The command as a user types it: `python <script> ...`, paths relative to the repository."""
    words = [w if not os.path.isabs(w) else os.path.relpath(w, ROOT) for w in cmd[1:]]
    return " ".join(["python"] + words)


def expert_command(env):
    """The expert.py command that makes the expert and demos of a held-out env."""
    out = os.path.join(HELDOUT_DIR, env)
    return [sys.executable, os.path.join(ROOT, "expert.py"), "--env-id", env] + HELDOUT[env] + ["--out-dir", out]


def unfinished_run(runs_dir, env, algo, seed, cmd):
    """The newest interrupted run of exactly this command, or None: a run directory without summary.json whose
    resume.pt (asaf.py and asaf_w.py write one at each periodic evaluation) saved the same arguments."""
    pattern = os.path.join(runs_dir, "runs", f"{env}__{algo}__{seed}__*", "resume.pt")
    for path in sorted(glob.glob(pattern), key=os.path.getmtime, reverse=True):
        if os.path.exists(os.path.join(os.path.dirname(path), "summary.json")):
            continue
        import torch  # only when there is a resume.pt: the report needs no torch

        try:
            argv = list(torch.load(path, map_location="cpu", weights_only=True)["argv"])
        except Exception:  # a file cut short by a kill, or of another kind: start afresh
            continue
        if len(argv) >= 2 and argv[-2] == "--resume":  # saved by a run that was itself resumed
            argv = argv[:-2]
        if argv == cmd[2:]:
            return os.path.dirname(path)
    return None


def run_dir_of(log_path):
    """The run directory a script names on its last line ("... -> runs/<run_name>"). Not the newest directory of the
    (env, algo, seed): the same seed under two protocols may run at once, and either may finish first."""
    with open(log_path) as log:
        named = [line for line in log if " -> runs/" in line]
    if not named:
        raise RuntimeError(f"expected a line naming the run directory in {log_path}, found none")
    return named[-1].rsplit(" -> ", 1)[1].strip()


def run_one(algo, env, seed, protocol, results_dir, runs_dir):
    out = result_path(results_dir, env, algo, protocol, seed)
    if os.path.exists(out):
        return f"skip {algo} {env} {protocol} seed {seed} (results file exists)"
    cmd = command(algo, env, seed, protocol)
    os.makedirs(runs_dir, exist_ok=True)
    log_path = os.path.join(runs_dir, f"{env}__{algo}__{protocol}__{seed}.log")
    # a run that a session's end interrupted goes on from its last periodic evaluation, in the same run directory
    resume = unfinished_run(runs_dir, env, algo, seed, cmd)
    run_cmd = cmd
    log_mode = "w"
    if resume is not None:
        run_cmd = cmd + ["--resume", os.path.relpath(resume, runs_dir)]
        log_mode = "a"
    t = time.time()
    with open(log_path, log_mode) as log:
        rc = subprocess.call(run_cmd, cwd=runs_dir, stdout=log, stderr=subprocess.STDOUT)
    if rc != 0:
        return f"FAIL {algo} {env} {protocol} seed {seed} after {time.time() - t:.0f}s: see {log_path}"
    summary = json.load(open(os.path.join(runs_dir, run_dir_of(log_path), "summary.json")))
    summary["protocol"] = protocol
    summary["command"] = display(cmd)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
    return f"ok   {algo} {env} {protocol} seed {seed}: {summary['normalized_score']:.3f} in {time.time() - t:.0f}s"


def run_on_ray(jobs, address, results_dir, runs_dir, workers=2):
    """Run the jobs as Ray tasks of one CPU each and yield each run's line as it finishes. `local` (or None) starts a
    local instance of `workers` CPUs; another address (`auto`, `ray://host:10001`) joins that cluster, whose nodes
    must see this checkout at the same path. run_one travels by value (cloudpickle: this file is run as a script or
    loaded by importlib, never imported by name), so the results land in the same files as local runs."""
    try:
        import ray
    except ImportError:
        sys.exit("run.py: expected Ray for --ray-address, found it is not installed (pip install -r requirements.txt).")
    if address in (None, "local"):
        ray.init(address="local", num_cpus=workers, include_dashboard=False)
    else:
        ray.init(address=address)
    results_dir, runs_dir = os.path.abspath(results_dir), os.path.abspath(runs_dir)  # a worker's cwd may differ
    remote = ray.remote(num_cpus=1)(run_one)
    pending = {remote.remote(*job, results_dir, runs_dir): job for job in jobs}
    try:
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            algo, env, seed, protocol = pending.pop(done)
            try:
                yield ray.get(done)
            except Exception as e:  # run_one raised or its worker was lost: a FAIL line, as a failed script gives
                cause = getattr(e, "cause", None) or e  # RayTaskError wraps run_one's own exception
                reason = (str(cause).strip().splitlines() or [""])[0]
                yield f"FAIL {algo} {env} {protocol} seed {seed} on Ray: {type(cause).__name__}: {reason}"
    finally:
        ray.shutdown()


def load_results(results_dir):
    """(env, algo, protocol) -> list of summaries, one per seed, sorted by seed."""
    groups = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(results_dir, "*", "*.json"))):
        s = json.load(open(path))
        algo, protocol, _ = os.path.basename(path)[: -len(".json")].split("__")
        groups[s["env_id"], algo, protocol].append(s)
    return {k: sorted(v, key=lambda s: s["seed"]) for k, v in groups.items()}


T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131]


def interval(x):
    """Mean and the half-width of its 95% Student-t interval over seeds (nan with one seed)."""
    x = np.asarray(x, float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    t = T_975[len(x) - 2] if len(x) - 2 < len(T_975) else 1.96
    return float(x.mean()), float(t * x.std(ddof=1) / np.sqrt(len(x)))


def iqm(x):
    """Interquartile mean (rliable): the mean of the middle 50% of the values."""
    x = np.sort(np.asarray(x, float))
    n = len(x)
    lo, hi = int(np.floor(0.25 * n)), int(np.ceil(0.75 * n))
    return float(x[lo:hi].mean()) if hi > lo else float(x.mean())


def fmt_interval(x, digits=3):
    mean, half = interval(x)
    if np.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} +- {half:.{digits}f}"


def last_five(summary):
    """Mean normalized score of a run's last five periodic evaluations (None with fewer than five): the steadiness
    the ASAF issue asks of every seed (>= 0.90 on paper25), since a final score alone hides a run that swings."""
    scores = [h["normalized_score"] for h in summary["history"]]
    if len(scores) < 5:
        return None
    return float(np.mean(scores[-5:]))


def per_seed_lines(groups, envs, algos):
    """Per-seed table of the `algos` cells on `envs`: each seed's final score and the mean of its last five periodic
    evaluations, and the lowest of those per cell."""
    lines = [
        "| env | algo | protocol | final score per seed | last five per seed | lowest last five |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (env, algo, protocol), ss in sorted(groups.items()):
        if env not in envs or algo not in algos:
            continue
        finals = ", ".join(f"{s['normalized_score']:.3f} (s{s['seed']})" for s in ss)
        fives = [last_five(s) for s in ss]
        shown = ", ".join("-" if f is None else f"{f:.3f}" for f in fives)
        known = [f for f in fives if f is not None]
        lowest = f"{min(known):.3f}" if known else "-"
        lines.append(f"| {env} | {algo} | {protocol} | {finals} | {shown} | {lowest} |")
    return lines


def same_draw_lines(groups, env, protocol, algos):
    """Per-seed scores of `algos` on `env`: one row per seed, with the demos that seed drew. Every learner of a seed
    draws the same episodes (the draw is seeded by the run seed), so a row compares learners on the very same demos;
    a learner that asks the expert online (no demos) is marked, and a row whose draws differ says so."""
    seeds = sorted({s["seed"] for a in algos for s in groups.get((env, a, protocol), [])})
    lines = ["| seed | demos drawn (episodes of the file) | " + " | ".join(algos) + " |"]
    lines.append("| --- | --- |" + " --- |" * len(algos))
    for seed in seeds:
        runs = {a: s for a in algos for s in groups.get((env, a, protocol), []) if s["seed"] == seed}
        draws = {tuple(s["demos"]["episodes"]) for s in runs.values() if s["demos"]["episodes"]}
        if len(draws) == 1:
            drawn = " ".join(str(e) for e in next(iter(draws)))
        else:
            drawn = f"{len(draws)} different draws"
        cells = []
        for a in algos:
            if a not in runs:
                cells.append("")
            elif runs[a]["demos"]["episodes"]:
                cells.append(f"{runs[a]['normalized_score']:.3f}")
            else:
                cells.append(f"{runs[a]['normalized_score']:.3f} (no demos)")
        lines.append(f"| {seed} | {drawn} | " + " | ".join(cells) + " |")
    return lines


EXPERT_STARTS = os.path.join(HERE, "probes", "expert_fresh_starts", "expert_fresh_starts.json")
FALL_ENVS = ["Hopper-v5", "Walker2d-v5", "Ant-v5"]  # MuJoCo envs whose episodes end when the body falls


def falls_and_upright_score(returns, lengths, time_limit, demos_return, random_return):
    """How many episodes ended before the time limit (a fall: the env terminated them), and the normalized score of
    the mean return of the others (nan if every episode fell)."""
    lengths = np.asarray(lengths)
    upright = lengths >= time_limit
    if not upright.any():
        return int(len(lengths)), float("nan")
    ret = np.asarray(returns, float)[upright].mean()
    return int((~upright).sum()), float((ret - random_return) / (demos_return - random_return))


def falls_lines(groups, envs, expert_starts=None):
    """Per cell on `envs`: each seed's falls among its 50 final episodes and the score of the episodes that did not
    fall; with `expert_starts` (eval_experts.py's json), the shipped expert on the same start states first."""
    import gymnasium as gym

    lines = [
        "| env | algo | protocol | falls of 50, per seed | score of the episodes that did not fall, per seed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for env in envs:
        limit = gym.spec(env).max_episode_steps
        runs = [(a, p, ss) for (e, a, p), ss in sorted(groups.items()) if e == env]
        expert = []
        for seed in sorted({s["seed"] for _, _, ss in runs for s in ss}):
            key = f"{env}__seed{seed}__final"
            if expert_starts and key in expert_starts:
                x = expert_starts[key]
                draws = [s["demos"] for _, p, ss in runs for s in ss if s["seed"] == seed and p == "demos10"]
                if not draws:
                    continue
                fell, score = falls_and_upright_score(
                    x["returns"], x["lengths"], limit, x["demos_return_mean"], draws[0]["random_return_mean"]
                )
                expert.append((fell, score))
        rows = []
        if expert:
            rows.append(("expert", "demos10", expert))
        for algo, protocol, ss in runs:
            cells = []
            for s in ss:
                demos = s["demos"]
                r, n = s["final_eval"]["returns"], s["final_eval"]["lengths"]
                cells.append(falls_and_upright_score(r, n, limit, demos["return_mean"], demos["random_return_mean"]))
            rows.append((algo, protocol, cells))
        for algo, protocol, cells in rows:
            fells = ", ".join(str(f) for f, _ in cells)
            scores = ", ".join(f"{v:.2f}" for _, v in cells)
            lines.append(f"| {env} | {algo} | {protocol} | {fells} | {scores} |")
    return lines


def check_disjoint_starts(groups):
    """No two seeds of a cell share a final-evaluation start state (env seed); returns the offending cells."""
    bad = []
    for key, ss in groups.items():
        seen = set()
        for s in ss:
            seeds = set(s["final_eval"]["env_seeds"])
            if seeds & seen:
                bad.append(key)
            seen |= seeds
    return bad


def update_readme(readme, glance):
    """Put the at-a-glance table between README's `<!-- results:begin -->` and `<!-- results:end -->` markers."""
    text = open(readme).read()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin not in text or end not in text:
        return
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(readme, "w") as f:
        f.write(head + begin + "\n" + "\n".join(glance) + "\n" + end + tail)


def report(results_dir, docs_dir, readme=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = load_results(results_dir)
    shared = check_disjoint_starts(groups)
    if shared:
        sys.exit(
            f"run.py: expected disjoint final-evaluation start states within each cell, found shared ones in {shared}."
        )
    lines = [
        "# Results",
        "",
        "Built by `python benchmark/run.py --report-only` from the summaries committed under `benchmark/results/`",
        "(one JSON file per run; nothing here is typed by hand). Protocol (docs/design.md):",
        "",
        "- **demos10**: each seed draws 10 of the 25 shipped demonstrations at random (seeded by the run seed; the",
        "  summary records which), the scripts' defaults plus a budget (and (256, 256) layers on MuJoCo): no other",
        "  flag, as the commands at the end show.",
        "- **paper25**: all 25 shipped demonstrations, up to 2M env steps on MuJoCo (the ASAF paper's setting).",
        "- **heldout**: envs outside the suite, on which no default was tuned; their experts were made by the",
        "  expert.py commands listed at the end (not shipped), then every learner ran at its defaults, as demos10.",
        "- Final evaluation: 50 episodes of the deterministic policy from start states of the seed's own (env seeds",
        "  2_000_000_000 + 10_000 * seed + i), never seen in training, in periodic evaluations or by another seed.",
        "- Normalized score = (R - R_random) / (R_demos - R_random), R_demos the mean return of the demonstrations",
        "  the run used (DAgger and AggreVaTeD, which ask the expert online, use the file's 25-episode mean).",
        "- DAgger and AggreVaTeD return the learner that scored best in their periodic evaluations (their papers'",
        "  'best on validation'); those evaluations' env steps (`validation_env_steps` in each summary) are not in",
        "  the env steps column.",
        "- Score: mean over seeds +- the half-width of a 95% Student-t interval; IQM is the interquartile mean over",
        "  seeds (rliable). Wall seconds: training only, per run, on the project's 2-core CPU machine (torch 1",
        "  thread) with two to four runs sharing it, so an upper bound. SPS: env steps per second of training (BC: 0",
        "  env steps). Probe runs behind the settings discussed in the algorithm pages are under `benchmark/probes/`.",
        "",
        "| env | algo | protocol | seeds | normalized (95% CI) | IQM | return | env steps | wall s | SPS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (env, algo, protocol), ss in sorted(groups.items()):
        scores = [s["normalized_score"] for s in ss]
        ret = np.mean([s["eval_return_mean"] for s in ss])
        steps = np.mean([s["env_steps"] for s in ss])
        wall = np.mean([s["wall_seconds"] for s in ss])
        sps = np.mean([s["sps"] for s in ss])
        lines.append(
            f"| {env} | {algo} | {protocol} | {len(ss)} | {fmt_interval(scores)} | {iqm(scores):.3f} | {ret:.1f} | "
            f"{steps:.0f} | {wall:.0f} | {sps:.0f} |"
        )
    algos = [a for a in ALGOS if any(a == g for _, g, _ in groups)]
    readme_glance = []
    for protocol in PROTOCOLS:
        envs = {e for e, _, p in groups if p == protocol}
        if not envs:
            continue
        envs = sorted(envs | set(SUITE_ROWS.get(protocol, [])))  # a suite env with no run yet shows as a blank row
        glance = [f"Normalized score at a glance ({protocol}, mean over seeds; seeds in brackets):", ""]
        glance += ["| env | " + " | ".join(algos) + " |", "| --- |" + " --- |" * len(algos)]
        for env in envs:
            cells = []
            for a in algos:
                ss = groups.get((env, a, protocol))
                cells.append(f"{np.mean([s['normalized_score'] for s in ss]):.2f} ({len(ss)})" if ss else "")
            glance.append(f"| {env} | " + " | ".join(cells) + " |")
        lines += [""] + glance
        readme_glance += glance + [""]
    family = ("asaf", "asaf_w", "asaf_1")
    if any(e in MUJOCO and a in family for e, a, _ in groups):
        lines += [
            "",
            "ASAF family on MuJoCo, per seed: the final score (50 episodes) and the mean of the last five periodic",
            "evaluations (10 episodes each, every 50k env steps), the steadiness the paper25 target asks of every seed",
            "(>= 0.90):",
            "",
        ]
        lines += per_seed_lines(groups, MUJOCO, family)
    fall_envs = [e for e in FALL_ENVS if any(g[0] == e for g in groups)]
    if fall_envs:
        expert_starts = None
        if os.path.exists(EXPERT_STARTS):
            expert_starts = json.load(open(EXPERT_STARTS))
        lines += [
            "",
            "Falls on MuJoCo: an episode that ends before the time limit is a fall (the env terminates it when the",
            "body is no longer healthy). Per seed, the falls among the 50 final episodes and the normalized score of",
            "the mean return of the episodes that did not fall; `expert` is the shipped expert on the same start",
            "states (benchmark/probes/expert_fresh_starts/), normalized by that seed's demos10 draw:",
            "",
        ]
        lines += falls_lines(groups, fall_envs, expert_starts)
    if ("LunarLander-v3", "asaf_1", "demos10") in groups:
        lines += [
            "",
            "LunarLander-v3 per seed (demos10): each row is one seed's draw of 10 of the 25 demos, which every learner",
            "of that seed uses (DAgger asks the expert online and uses none); the draws decide which start states the",
            "demos cover (docs/asaf.md, 'Tried settings').",
            "",
        ]
        lines += same_draw_lines(groups, "LunarLander-v3", "demos10", [a for a in ALGOS if a != "aggrevated"])
    heldout_envs = sorted({e for e, _, p in groups if p == "heldout"})
    if heldout_envs:
        lines += ["", "Experts of the held-out envs (run from the repository root):", ""]
        lines += [f"- {env}: `{display(expert_command(env))}`" for env in heldout_envs if env in HELDOUT]
    lines += ["", "Commands (seed 1 shown; `--seed` varies):", ""]
    for (env, algo, protocol), ss in sorted(groups.items()):
        if "command" in ss[0]:
            lines.append(f"- {env}, {algo}, {protocol}: `{ss[0]['command']}`")
    os.makedirs(os.path.join(docs_dir, "img"), exist_ok=True)
    for env in sorted({e for e, _, _ in groups}):
        fig, ax = plt.subplots(figsize=(6, 4))
        for (e, algo, protocol), ss in sorted(groups.items()):
            curves = [([h["step"] for h in s["history"]], [h["normalized_score"] for h in s["history"]]) for s in ss]
            curves = [c for c in curves if len(c[0]) > 0]
            if e != env or not curves:
                continue
            steps = np.array(curves[0][0])
            ys = np.array([np.interp(steps, c[0], c[1]) for c in curves])
            label = algo if protocol == "demos10" else f"{algo} ({protocol})"
            ax.plot(steps, ys.mean(0), label=label)
            ax.fill_between(steps, ys.min(0), ys.max(0), alpha=0.2)
        ax.axhline(1.0, ls="--", c="k", label="demos")
        ax.set(title=env, xlabel="env steps (BC: gradient steps)", ylabel="normalized score (periodic evaluation)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(docs_dir, "img", f"{env}.png"), dpi=100)
        plt.close(fig)
    with open(os.path.join(docs_dir, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if readme:
        update_readme(readme, readme_glance)
    print("\n".join(lines))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS), help="algorithms to run")
    p.add_argument("--envs", nargs="+", default=CLASSIC, help="gymnasium env ids")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5], help="seeds per (algo, env)")
    p.add_argument("--protocol", default="demos10", choices=list(PROTOCOLS), help="demos and budget protocol")
    p.add_argument("--workers", type=int, default=2, help="parallel local runs (default 2: one per core)")
    p.add_argument(
        "--ray-address",
        default=None,
        help="run on Ray: 'local' starts an instance of --workers CPUs; 'auto' or 'ray://host:10001' joins a cluster",
    )
    p.add_argument("--report-only", action="store_true", help="skip the runs, only rebuild results.md and plots")
    p.add_argument("--results-dir", default=RESULTS, help="where the committed summaries are")
    p.add_argument("--runs-dir", default=os.path.join(HERE, "runs"), help="where runs write their logs")
    p.add_argument("--docs-dir", default=DOCS, help="where results.md and img/ go")
    a = p.parse_args()
    if not a.report_only and a.protocol == "heldout":
        for env in a.envs:  # make a held-out env's expert first, once (expert.py refuses to overwrite one)
            if env not in HELDOUT:
                sys.exit(f"run.py: expected a held-out env ({', '.join(HELDOUT)}), found {env}.")
            if not os.path.exists(os.path.join(HELDOUT_DIR, env, "demos.npz")):
                print(f"training the expert of {env}: {display(expert_command(env))}", flush=True)
                if subprocess.call(expert_command(env), cwd=ROOT) != 0:
                    sys.exit(f"run.py: expected expert.py to make the expert of {env}, found it failed.")
    if not a.report_only:
        jobs = [(algo, env, seed, a.protocol) for env in a.envs for algo in a.algos for seed in a.seeds]
        if a.ray_address:
            for msg in run_on_ray(jobs, a.ray_address, a.results_dir, a.runs_dir, a.workers):
                print(msg, flush=True)
        else:
            with ThreadPoolExecutor(a.workers) as pool:
                for msg in pool.map(lambda j: run_one(*j, a.results_dir, a.runs_dir), jobs):
                    print(msg, flush=True)
    report(a.results_dir, a.docs_dir, os.path.join(ROOT, "README.md") if a.docs_dir == DOCS else None)
