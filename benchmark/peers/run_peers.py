"""Side by side with the `imitation` library: its BC, GAIL and DAgger against ours, on the same demonstrations, the
same budgets and the same final start states, measured in the same run on the same machine (docs/peers.md).

    python -m venv benchmark/peers/.venv && benchmark/peers/.venv/bin/pip install -r benchmark/peers/requirements.txt
    nice -n 19 python benchmark/peers/run_peers.py                      # 2 envs x 5 seeds x 3 algos x 2 libraries
    python benchmark/peers/run_peers.py --envs CartPole-v1 --seeds 1 --algos bc
    python benchmark/peers/run_peers.py --report-only                  # docs/peers.md's tables from the files alone

Runs under the repo's own Python. For each env, seed and algorithm, one run after the other (never two at once):
- ours: exactly the command benchmark/run.py runs (its `command()`), started in benchmark/peers/runs/; the summary
  is kept as benchmark/peers/results/<env>/ours_<algo>__seed<S>.json.
- imitation: benchmark/peers/imitation_worker.py under the peer venv's Python, given our run's demonstration episodes
  (the indices its summary records, checked against the draw of load_demos), our run's budget (BC: gradient steps;
  GAIL and DAgger: env steps) and the seed; it evaluates on our final start states (env seeds 2_000_000_000 +
  10_000 * seed + i) and writes benchmark/peers/results/<env>/imitation_<algo>__seed<S>.json. The start observations
  it saw under gymnasium 0.29 are checked here against gymnasium 1.4's for the same env seeds.
A run whose results file exists is skipped, so an interrupted grid resumes where it stopped.
"""

import argparse
import glob
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict

import gymnasium as gym
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
RUNS = os.path.join(HERE, "runs")
VENV_PYTHON = os.path.join(HERE, ".venv", "bin", "python")
WORKER = os.path.join(HERE, "imitation_worker.py")
DOC = os.path.join(ROOT, "docs", "peers.md")
ENVS = ["CartPole-v1", "Pendulum-v1"]
ALGOS = {"bc": "bc", "gail": "gail_ppo", "dagger": "dagger"}  # peer's name -> ours in benchmark/run.py
LIBS = ["ours", "imitation"]
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"

_spec = importlib.util.spec_from_file_location("benchmark_run", os.path.join(ROOT, "benchmark", "run.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def fail(msg):
    """Stop with one sentence that names what was expected and what was found."""
    sys.exit(f"run_peers.py: {msg}")


def result_path(results_dir, env, lib, algo, seed):
    return os.path.join(results_dir, env, f"{lib}_{algo}__seed{seed}.json")


def timed_call(cmd, cwd, log_path):
    """Run cmd in cwd, its output to log_path; returns its exit code, wall seconds and CPU seconds (user + system, from
    the OS's account of this process's children: the whole run, imports and evaluations included). CPU seconds do
    not grow when other jobs share the machine, wall seconds do."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    with open(log_path, "w") as log:
        rc = subprocess.call(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rc, time.time() - t, cpu


def expected_episodes(seed, num_demos, file_episodes):
    """The episodes our scripts draw with --demo-draw random (load_demos in the plumbing block)."""
    episodes = np.random.default_rng(seed).choice(file_episodes, num_demos, replace=False)
    return [int(e) for e in np.sort(episodes)]


def ours_record(summary, cmd):
    """The small results file of one of our runs, from its summary.json and its command."""
    args = summary["args"]
    if summary["algo"] == "bc":
        budget = args["total_steps"]
    else:
        budget = args["total_timesteps"]
    demos = summary["demos"]
    return dict(
        lib="ours",
        algo=[a for a, ours in ALGOS.items() if ours == summary["algo"]][0],
        env_id=summary["env_id"],
        seed=summary["seed"],
        normalized_score=summary["normalized_score"],
        eval_return_mean=summary["eval_return_mean"],
        eval_return_std=summary["eval_return_std"],
        env_steps=summary["env_steps"] + summary.get("validation_env_steps", 0),  # DAgger: its validation too
        validation_env_steps=summary.get("validation_env_steps", 0),
        grad_steps=summary.get("grad_steps"),
        wall_seconds=summary["wall_seconds"],
        budget=budget,
        demos_file=demos["file"],
        demo_episodes=demos["episodes"],
        demo_return_mean=demos["return_mean"],
        random_return_mean=demos["random_return_mean"],
        file_episodes=demos["file_episodes"],
        final_eval=dict(
            env_seeds=summary["final_eval"]["env_seeds"],
            returns=summary["final_eval"]["returns"],
            lengths=summary["final_eval"]["lengths"],
        ),
        command=bench.display(cmd),
    )


def run_ours(env, algo, seed, results_dir, runs_dir):
    """Our run of (env, algo, seed) with benchmark/run.py's command; returns one line."""
    out = result_path(results_dir, env, "ours", algo, seed)
    if os.path.exists(out):
        return f"skip ours      {algo} {env} seed {seed} (results file exists)"
    cmd = bench.command(ALGOS[algo], env, seed)
    os.makedirs(runs_dir, exist_ok=True)
    log_path = os.path.join(runs_dir, f"{env}__ours_{algo}__{seed}.log")
    rc, wall, cpu = timed_call(cmd, runs_dir, log_path)
    if rc != 0:
        return f"FAIL ours      {algo} {env} seed {seed} after {wall:.0f}s: see {log_path}"
    pattern = os.path.join(runs_dir, "runs", f"{env}__{ALGOS[algo]}__{seed}__*", "summary.json")
    with open(max(glob.glob(pattern), key=os.path.getmtime)) as f:
        summary = json.load(f)
    record = ours_record(summary, cmd)
    record["process_wall_seconds"] = round(wall, 2)
    record["process_cpu_seconds"] = round(cpu, 2)
    if record["demo_episodes"] and record["demo_episodes"] != expected_episodes(
        seed, len(record["demo_episodes"]), record["file_episodes"]
    ):
        fail(f"expected {env} seed {seed} to draw the episodes of load_demos, found {record['demo_episodes']}.")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    return (
        f"ok   ours      {algo} {env} seed {seed}: {record['normalized_score']:.3f} in {record['wall_seconds']:.0f}s "
        f"of training"
    )


def peer_command(ours, out, python=VENV_PYTHON, log_dir=None):
    """The worker's command for the run that mirrors `ours` (one of our small results files): the same env, seed,
    demonstrations file and episodes, and budget."""
    cmd = [python, WORKER, "--algo", ours["algo"], "--env-id", ours["env_id"], "--seed", str(ours["seed"])]
    cmd += ["--demos", os.path.join(ROOT, ours["demos_file"])]
    if ours["demo_episodes"]:  # DAgger, as ours, learns from the expert alone
        cmd += ["--episodes", *map(str, ours["demo_episodes"])]
    cmd += ["--budget", str(ours["budget"]), "--final-eval-episodes", str(len(ours["final_eval"]["env_seeds"]))]
    if log_dir:
        cmd += ["--log-dir", log_dir]
    return cmd + ["--out", out]


def display(cmd):
    """The worker's command as typed from the repository root: paths relative to it, without --log-dir and --out."""
    shown = []
    for i, arg in enumerate(cmd):
        if arg in ("--log-dir", "--out") or (i > 0 and cmd[i - 1] in ("--log-dir", "--out")):
            continue
        if os.path.isabs(arg) and arg.startswith(ROOT):
            arg = os.path.relpath(arg, ROOT)
        shown.append(arg)
    return " ".join(shown)


def start_states_match(env_id, seeds, start_obs):
    """Whether gymnasium 1.4 (this Python's) resets env_id to the start observations the worker saw under gymnasium
    0.29 for the same env seeds."""
    env = gym.make(env_id)
    ours = np.stack([env.reset(seed=int(s))[0] for s in seeds])
    env.close()
    return bool(np.allclose(ours, np.asarray(start_obs), atol=1e-6))


def run_peer(env, algo, seed, results_dir, runs_dir, python=VENV_PYTHON):
    """imitation's run of (env, algo, seed), after ours; returns one line."""
    out = result_path(results_dir, env, "imitation", algo, seed)
    if os.path.exists(out):
        return f"skip imitation {algo} {env} seed {seed} (results file exists)"
    ours_path = result_path(results_dir, env, "ours", algo, seed)
    if not os.path.exists(ours_path):
        return f"FAIL imitation {algo} {env} seed {seed}: our run's results file {ours_path} is missing"
    with open(ours_path) as f:
        ours = json.load(f)
    log_dir = os.path.join(runs_dir, f"{env}__imitation_{algo}__{seed}")
    cmd = peer_command(ours, out, python, log_dir)
    rc, wall, cpu = timed_call(cmd, runs_dir, log_dir + ".log")
    if rc != 0 or not os.path.exists(out):
        return f"FAIL imitation {algo} {env} seed {seed} after {wall:.0f}s: see {log_dir}.log"
    with open(out) as f:
        peer = json.load(f)
    peer["process_wall_seconds"] = round(wall, 2)
    peer["process_cpu_seconds"] = round(cpu, 2)
    peer["same_demos"] = peer["demo_episodes"] == ours["demo_episodes"]
    peer["same_final_env_seeds"] = peer["final_eval"]["env_seeds"] == ours["final_eval"]["env_seeds"]
    peer["same_start_states"] = start_states_match(
        env, peer["final_eval"]["env_seeds"], peer["final_eval"]["start_obs"]
    )
    peer["command"] = display(cmd)
    del peer["final_eval"]["start_obs"]  # checked above; keeps the file small
    with open(out, "w") as f:
        json.dump(peer, f, indent=1)
    checks = [k for k in ("same_demos", "same_final_env_seeds", "same_start_states") if not peer[k]]
    warn = f" (NOT {', '.join(checks)})" if checks else ""
    return (
        f"ok   imitation {algo} {env} seed {seed}: {peer['normalized_score']:.3f} in {peer['wall_seconds']:.0f}s "
        f"of training{warn}"
    )


def load_results(results_dir):
    """(env, algo, lib) -> list of results, one per seed, sorted by seed."""
    groups = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(results_dir, "*", "*__seed*.json"))):
        with open(path) as f:
            r = json.load(f)
        groups[r["env_id"], r["algo"], r["lib"]].append(r)
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in groups.items()}


def fmt_steps(values):
    """Mean of a list of counts or seconds, '-' when none is recorded (e.g. GAIL's gradient steps)."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{np.mean(values):.0f}"


def faster(ours, peer, unit):
    """Which of two mean times is shorter, and by what factor (within 10%: about even)."""
    if max(ours, peer) < 1.1 * min(ours, peer):
        return f"about even ({ours:.0f} {unit} ours, {peer:.0f} {unit} imitation)"
    if ours <= peer:
        return f"ours, {peer / max(ours, 1e-9):.1f}x less ({ours:.0f} {unit} vs {peer:.0f} {unit})"
    return f"imitation, {ours / max(peer, 1e-9):.1f}x less ({peer:.0f} {unit} vs {ours:.0f} {unit})"


def verdict(ours, peer):
    """Plain words on one (env, algo) cell: who scores higher (only when the 95% intervals do not overlap), who
    trains in less wall time, and whose whole run takes less CPU time (the measure other jobs on the machine do not
    move)."""
    m_o, h_o = bench.interval([r["normalized_score"] for r in ours])
    m_p, h_p = bench.interval([r["normalized_score"] for r in peer])
    if np.isnan(h_o) or np.isnan(h_p):
        score = f"one seed, no interval ({m_o:.2f} ours, {m_p:.2f} imitation)"
    elif abs(m_o - m_p) <= h_o + h_p:
        score = f"tie: the 95% intervals overlap ({m_o:.2f} ours, {m_p:.2f} imitation)"
    elif m_o > m_p:
        score = f"ours higher ({m_o:.2f} vs {m_p:.2f})"
    else:
        score = f"imitation higher ({m_p:.2f} vs {m_o:.2f})"
    wall = faster(np.mean([r["wall_seconds"] for r in ours]), np.mean([r["wall_seconds"] for r in peer]), "s")
    cpu = [r.get("process_cpu_seconds") for r in ours + peer]
    if None in cpu:
        return score, wall, "-"
    cpu = faster(np.mean(cpu[: len(ours)]), np.mean(cpu[len(ours) :]), "s")
    return score, wall, cpu


def report_lines(groups):
    """docs/peers.md's tables (the part between its markers), from the results alone."""
    lines = [
        "| env | algo | library | seeds | normalized (95% CI) | return | env steps | gradient steps | wall s | CPU s | "
        "CPU share |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for env, algo, lib in sorted(groups, key=lambda k: (k[0], list(ALGOS).index(k[1]), LIBS.index(k[2]))):
        rs = groups[env, algo, lib]
        scores = [r["normalized_score"] for r in rs]
        ret = np.mean([r["eval_return_mean"] for r in rs])
        wall = np.mean([r["wall_seconds"] for r in rs])
        cpu = fmt_steps([r.get("process_cpu_seconds") for r in rs])
        timed = [r for r in rs if r.get("process_cpu_seconds") and r.get("process_wall_seconds")]
        if timed:
            share = f"{np.mean([r['process_cpu_seconds'] / r['process_wall_seconds'] for r in timed]):.0%}"
        else:
            share = "-"
        lines.append(
            f"| {env} | {algo} | {lib} | {len(rs)} | {bench.fmt_interval(scores)} | {ret:.1f} | "
            f"{fmt_steps([r['env_steps'] for r in rs])} | {fmt_steps([r['grad_steps'] for r in rs])} | {wall:.1f} | "
            f"{cpu} | {share} |"
        )
    lines += ["", "| env | algo | score | training wall time | CPU time of the whole run |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for env, algo, lib in sorted(groups, key=lambda k: (k[0], list(ALGOS).index(k[1]))):
        if lib != "ours" or (env, algo, "imitation") not in groups:
            continue
        score, wall, cpu = verdict(groups[env, algo, "ours"], groups[env, algo, "imitation"])
        lines.append(f"| {env} | {algo} | {score} | {wall} | {cpu} |")
    checks = [
        r
        for (_, _, lib), rs in groups.items()
        if lib == "imitation"
        for r in rs
        if not (r.get("same_demos") and r.get("same_final_env_seeds") and r.get("same_start_states"))
    ]
    peer_runs = sum(len(rs) for (_, _, lib), rs in groups.items() if lib == "imitation")
    lines += [
        "",
        f"Same demonstrations, final env seeds and start observations as ours: {peer_runs - len(checks)} of "
        f"{peer_runs} imitation runs.",
    ]
    return lines


def report(results_dir, doc):
    """Put the tables between docs/peers.md's markers and print them."""
    groups = load_results(results_dir)
    if not groups:
        fail(f"expected results files under {results_dir}, found none (run the grid first).")
    lines = report_lines(groups)
    if doc:
        if not os.path.isfile(doc):
            fail(f"expected {doc} with the markers {BEGIN} and {END}, found no such file.")
        with open(doc) as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            fail(f"expected {doc} to hold the markers {BEGIN} and {END}, found them missing.")
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        with open(doc, "w") as f:
            f.write(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail)
    print("\n".join(lines))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=ENVS, help="gymnasium env ids")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5], help="run seeds")
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS), help="algorithms")
    p.add_argument("--libs", nargs="+", default=LIBS, choices=LIBS, help="whose runs to make")
    p.add_argument("--report-only", action="store_true", help="skip the runs, only rebuild docs/peers.md's tables")
    p.add_argument("--results-dir", default=RESULTS, help="where the small results files go")
    p.add_argument("--runs-dir", default=RUNS, help="where runs write their logs (git-ignored)")
    p.add_argument("--python", default=VENV_PYTHON, help="the peer venv's Python")
    p.add_argument("--doc", default=DOC, help="the page whose marked section gets the tables ('' prints only)")
    a = p.parse_args()
    if not a.report_only:
        if "imitation" in a.libs and not os.path.isfile(a.python):
            fail(
                f"expected the peer venv's Python at {a.python}, found no such file (create it: python -m venv "
                "benchmark/peers/.venv && benchmark/peers/.venv/bin/pip install -r benchmark/peers/requirements.txt)."
            )
        t0 = time.time()
        for seed in a.seeds:  # seed by seed, so that a grid cut short still covers every env and algorithm
            for env in a.envs:
                for algo in a.algos:
                    if "ours" in a.libs:
                        print(run_ours(env, algo, seed, a.results_dir, a.runs_dir), flush=True)
                    if "imitation" in a.libs:
                        print(run_peer(env, algo, seed, a.results_dir, a.runs_dir, a.python), flush=True)
        print(f"grid done in {time.time() - t0:.0f}s", flush=True)
    report(a.results_dir, a.doc or None)
