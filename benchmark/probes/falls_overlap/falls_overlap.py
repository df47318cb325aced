"""Are MuJoCo falls a property of the start state or of the policy? An analysis of committed summaries (no runs).

    python benchmark/probes/falls_overlap/falls_overlap.py > benchmark/probes/falls_overlap/falls_overlap.txt

Every learner of one run seed S plays its 50 final episodes from the same start states (env seeds
env_seeds(S, "final", 50)), and so does the shipped expert in expert_fresh_starts.json. If some start states were
hard (a fall waiting for any policy that has not seen them), the learners would fall on the same episodes. For each
env this counts, over seeds 1-3 of the demos10 protocol and every pair of policies (the expert and the seven
learners), the episodes on which both fell, against what independent falls would share: n_a * n_b / 50. It also
prints the step at which each policy's falls happen, the env's reset noise (the spread of the start states), and
the standard error of a learner's final normalized score (std of its 50 returns / sqrt(50), normalized): the
sampling noise that a fall rate puts into one seed's number.
"""

import itertools
import json
import os

import gymnasium as gym
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "..", "..", "results")
EXPERT = os.path.join(HERE, "..", "expert_fresh_starts", "expert_fresh_starts.json")
ALGOS = ["bc", "gail_ppo", "dagger", "asaf", "asaf_1", "asaf_w", "aggrevated"]
ENVS = ["Hopper-v5", "Walker2d-v5", "Ant-v5"]
SEEDS = [1, 2, 3]


def fallen(lengths, limit):
    return {i for i, n in enumerate(lengths) if n < limit}


if __name__ == "__main__":
    with open(EXPERT) as f:
        expert = json.load(f)
    for env in ENVS:
        limit = gym.spec(env).max_episode_steps
        noise = gym.make(env).unwrapped._reset_noise_scale
        shared, independent = 0, 0.0
        steps = {}
        errors = {}
        for seed in SEEDS:
            lengths = {"expert": expert[f"{env}__seed{seed}__final"]["lengths"]}
            for algo in ALGOS:
                with open(os.path.join(RESULTS, env, f"{algo}__demos10__seed{seed}.json")) as f:
                    summary = json.load(f)
                lengths[algo] = summary["final_eval"]["lengths"]
                returns = np.asarray(summary["final_eval"]["returns"])
                scale = summary["demos"]["return_mean"] - summary["demos"]["random_return_mean"]
                errors.setdefault(algo, []).append(returns.std(ddof=1) / np.sqrt(len(returns)) / scale)
            falls = {k: fallen(v, limit) for k, v in lengths.items()}
            for a, b in itertools.combinations(falls, 2):
                shared += len(falls[a] & falls[b])
                independent += len(falls[a]) * len(falls[b]) / len(lengths[a])
            most = max(sum(i in falls[k] for k in falls) for i in range(len(lengths["expert"])))
            counts = ", ".join(f"{k} {len(v)}" for k, v in falls.items())
            print(f"{env} seed {seed}: falls of 50: {counts}; most policies falling on one start: {most} of 8")
            for k, v in lengths.items():
                steps.setdefault(k, []).extend(n for n in v if n < limit)
        print(f"{env}: reset noise {noise}; shared falls over all pairs {shared}, if independent {independent:.1f}")
        for k, v in steps.items():
            if v:
                q = np.percentile(v, [25, 50, 75]).astype(int).tolist()
                line = f"  {k}: {len(v)} falls, at step {q[1]} (median; quartiles {q[0]}-{q[2]})"
                if k in errors:
                    line += ", standard error of a seed's score " + ", ".join(f"{e:.3f}" for e in errors[k])
                print(line)
