"""How often an expert falls on fresh start states: the shipped expert against candidates from longer SAC runs.

    python benchmark/probes/steadier_experts/eval_candidates.py --env-id Walker2d-v5 \
        --experts shipped=experts/Walker2d-v5/expert.pt s1=/path/to/expert.pt --seeds 101 102 ... 110 --tag tuning

Each expert (deterministic, the SAC mean action) plays the 50 final-evaluation start states of every run seed given
(env seeds env_seeds(S, "final", 50): the start states a learner of seed S is scored on), 50 envs stepped as one
batch. A fall is an episode the env terminates before its time limit. Prints one line per expert and writes
<tag>.json beside this file: per expert and seed the returns, lengths and terminations.
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
from expert import Actor  # noqa: E402


def batch_actor(path, env_id):
    """The deterministic SAC actor saved at `path`, as a function (B, obs_dim) -> (B, act_dim)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    config = ckpt["config"]
    if config["env_id"] != env_id or config["discrete"]:
        sys.exit(f"expected a SAC expert for {env_id} at {path}, found one for {config['env_id']}.")
    net = Actor(
        config["obs_dim"],
        config["act_dim"],
        config["hidden_sizes"],
        np.array(config["action_low"]),
        np.array(config["action_high"]),
    )
    net.load_state_dict(ckpt["actor"])

    def act(obs):
        with torch.no_grad():
            return net.deterministic(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    return act


def play(act, env_id, seeds):
    """One episode per env seed, all stepped together; returns (returns, lengths, terminated)."""
    envs = [gym.make(env_id) for _ in seeds]
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    returns, lengths = np.zeros(len(envs)), np.zeros(len(envs), int)
    terminated, active = np.zeros(len(envs), bool), np.ones(len(envs), bool)
    while active.any():
        ids = np.flatnonzero(active)
        actions = act(obs[ids])
        for i, a in zip(ids, actions):
            o, r, term, trunc, _ = envs[i].step(np.clip(a, envs[i].action_space.low, envs[i].action_space.high))
            obs[i] = o
            returns[i] += float(r)
            lengths[i] += 1
            terminated[i] = term
            active[i] = not (term or trunc)
    return returns, lengths, terminated


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--env-id", default="Walker2d-v5")
    p.add_argument("--experts", nargs="+", required=True, help="name=path pairs")
    p.add_argument("--seeds", nargs="+", type=int, required=True)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--tag", required=True, help="output file name (tuning, report, ...)")
    a = p.parse_args()
    torch.set_num_threads(1)
    out = {}
    for pair in a.experts:
        name, path = pair.split("=", 1)
        act = batch_actor(path, a.env_id)
        rows = {}
        for seed in a.seeds:
            returns, lengths, terminated = play(act, a.env_id, env_seeds(seed, "final", a.episodes))
            rows[str(seed)] = dict(
                returns=[float(r) for r in returns],
                lengths=[int(n) for n in lengths],
                terminated=[bool(t) for t in terminated],
            )
        all_ret = np.concatenate([r["returns"] for r in rows.values()])
        all_term = np.concatenate([r["terminated"] for r in rows.values()])
        falls = [int(sum(r["terminated"])) for r in rows.values()]
        kept = all_ret[~all_term]
        print(
            f"{a.env_id} {name}: falls {int(all_term.sum())} of {len(all_term)} (per seed {falls}), return "
            f"{all_ret.mean():.1f} +- {all_ret.std():.1f}, episodes that do not fall {kept.mean():.1f}",
            flush=True,
        )
        out[name] = dict(path=os.path.relpath(os.path.abspath(path), ROOT), seeds=rows)
    json.dump(out, open(os.path.join(HERE, f"{a.env_id}__{a.tag}.json"), "w"), indent=1)
