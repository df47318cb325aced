"""Where do LunarLander-v3 imitators crash? Crash rate by the start's initial horizontal velocity vx0 (observation 2).

    python benchmark/lander_starts.py                          # only the share of hard starts in each start-state set
    python benchmark/lander_starts.py runs/<run>/asaf_w.pt runs/<run>/bc.pt   # and each saved policy's crash rates

A start is "hard" when vx0 > 0.45 (a strong push to the right): none of the 10 shipped demos starts like that
(their vx0 run from -0.80 to 0.26). Policies are `asaf_w.py --save-model` or `bc.py --save-model` files of a Discrete
LunarLander-v3 run; each is run deterministically from 400 fresh starts (env seeds 21000-21199 and 24000-24199).
"""
import importlib.util
import os
import sys

import gymnasium as gym
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARD = 0.45
SETS = {"final evaluation of seed 1 (20001-20050)": range(20001, 20051),
        "periodic evaluation of seed 1 (10001-10050)": range(10001, 10051),
        "2000 other starts (100000-101999)": range(100000, 102000)}
FRESH = [*range(21000, 21200), *range(24000, 24200)]


def script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_policy(path):
    ckpt = torch.load(path, weights_only=False)
    c = ckpt["config"]
    if "obs_mean" in ckpt["policy"]:  # bc.py: observations standardised inside the policy
        policy = script("bc").Policy(c["obs_dim"], c["act_dim"], c["hidden_sizes"], True,
                                     torch.zeros(c["obs_dim"]), torch.ones(c["obs_dim"]))
        policy.load_state_dict(ckpt["policy"])
        return policy.act
    policy = script("asaf_w").Policy(c["obs_dim"], c["act_dim"], c["hidden_sizes"], True)
    policy.load_state_dict(ckpt["policy"])
    return lambda obs: policy.act(obs, deterministic=True)


def rollout(act, seeds):
    envs = [gym.make("LunarLander-v3") for _ in seeds]
    obs = np.stack([e.reset(seed=s)[0] for e, s in zip(envs, seeds)]).astype(np.float32)
    vx0, returns, live = obs[:, 2].copy(), np.zeros(len(seeds)), np.ones(len(seeds), bool)
    while live.any():
        ids = np.flatnonzero(live)
        with torch.no_grad():
            actions = act(torch.as_tensor(obs[ids])).numpy()
        for i, a in zip(ids, actions):
            obs[i], r, term, trunc, _ = envs[i].step(int(a))
            returns[i] += r
            live[i] = not (term or trunc)
    return vx0, returns


if __name__ == "__main__":
    torch.set_num_threads(1)
    env = gym.make("LunarLander-v3")
    for name, seeds in SETS.items():
        vx0 = np.array([env.reset(seed=s)[0][2] for s in seeds])
        print(f"{name}: {np.mean(vx0 > HARD):.0%} hard starts (vx0 > {HARD})")
    for path in sys.argv[1:]:
        vx0, returns = rollout(load_policy(path), FRESH)
        hard, crash = vx0 > HARD, returns < 0
        print(f"{path}: mean return {returns.mean():.1f}; crashes (return < 0) on hard starts {crash[hard].mean():.0%}, "
              f"on the others {crash[~hard].mean():.0%}; {crash[hard].sum()} of {crash.sum()} crashes on hard starts")
