"""The shipped experts on the learners' final-evaluation start states: the level a perfect imitator would score.

    python benchmark/probes/expert_fresh_starts/eval_experts.py --envs Walker2d-v5 --seeds 1 2 3

For each run seed S, the deterministic expert plays the 50 episodes of the final evaluation (env seeds
env_seeds(S, "final", 50), the start states of the learners' summaries) and is normalized like a learner of the
demos10 protocol: against the mean return of the 10 demos that seed S draws from experts/<env>/demos.npz. With
`--purpose eval --episodes 10`, the start states of the periodic evaluations instead (the same at every evaluation,
so a faithful copy of the expert would read this number at each of them). Prints
one line per (env, seed) and writes expert_fresh_starts.json beside this file.
"""

import argparse
import json
import os
import sys

import gymnasium as gym
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, ROOT)
from asaf_w import env_seeds  # noqa: E402  (the seeds formula of the plumbing block)
from expert import load_expert  # noqa: E402

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--envs", nargs="+", default=["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--num-demos", type=int, default=10)
    p.add_argument(
        "--purpose",
        default="final",
        choices=["final", "eval"],
        help="final: the 50 final episodes; eval: the 10 periodic",
    )
    a = p.parse_args()
    torch.set_num_threads(1)
    out_path = os.path.join(HERE, "expert_fresh_starts.json")
    out = json.load(open(out_path)) if os.path.exists(out_path) else {}
    for env_id in a.envs:
        demos = np.load(os.path.join(ROOT, "experts", env_id, "demos.npz"))
        file_returns = demos["episode_returns"]
        random_return = float(demos["random_return_mean"])
        policy = load_expert(os.path.join(ROOT, "experts", env_id, "expert.pt"), env_id)
        env = gym.make(env_id)
        for seed in a.seeds:
            # the draw of load_demos(draw="random"): num_demos episodes chosen with the run seed
            drawn = np.sort(np.random.default_rng(seed).choice(len(file_returns), a.num_demos, replace=False))
            ref = float(file_returns[drawn].mean())
            returns, lengths = [], []
            for s in env_seeds(seed, a.purpose, a.episodes):
                obs, _ = env.reset(seed=s)
                ret, n, done = 0.0, 0, False
                while not done:
                    obs, r, term, trunc, _ = env.step(np.clip(policy(obs), env.action_space.low, env.action_space.high))
                    ret += float(r)
                    n += 1
                    done = term or trunc
                returns.append(ret)
                lengths.append(n)
            returns = np.array(returns)
            norm = (returns.mean() - random_return) / (ref - random_return)
            per_ep = (returns - random_return) / (ref - random_return)
            row = dict(
                return_mean=float(returns.mean()),
                return_std=float(returns.std()),
                normalized=float(norm),
                normalized_vs_file=float((returns.mean() - random_return) / (file_returns.mean() - random_return)),
                episodes_below_0_9=int((per_ep < 0.9).sum()),
                short_episodes=int((np.array(lengths) < max(lengths)).sum()),
                demos_return_mean=ref,
                returns=[float(r) for r in returns],
                lengths=lengths,
            )
            out[f"{env_id}__seed{seed}__{a.purpose}"] = row
            print(
                f"{env_id} seed {seed}: expert {returns.mean():.1f} +- {returns.std():.1f} on {a.episodes} starts, "
                f"normalized {norm:.3f} (vs its 10 demos {ref:.1f}), {row['episodes_below_0_9']} episodes below 0.9, "
                f"{row['short_episodes']} shorter than the longest",
                flush=True,
            )
            json.dump(out, open(out_path, "w"), indent=1)
