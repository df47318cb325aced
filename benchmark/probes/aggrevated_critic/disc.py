"""Discounted (gamma 0.99, the expert's) and undiscounted return of the AggreVaTeD learner and the expert from the
same start states. usage: python disc.py ENV LEARNER_CKPT"""

import os
import sys

import gymnasium as gym
import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, ROOT)
import aggrevated as A  # noqa: E402

env_id, ckpt_path = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
env = gym.make(env_id)
od, ad = env.observation_space.shape[0], env.action_space.shape[0]
expert_action, q_star = A.load_expert(os.path.join(ROOT, "experts", env_id, "expert.pt"), env_id, False, od, ad, "cpu")
ck = torch.load(ckpt_path, weights_only=True)
pol = A.Policy(od, ad, ck["config"]["hidden_sizes"], False, env.action_space.low, env.action_space.high)
pol.load_state_dict(ck["policy"])
acts = {"learner": lambda x: pol.act(x, deterministic=True), "expert": expert_action}
for name, f in acts.items():
    D, U, L = [], [], []
    for ep in range(10):
        o, _ = env.reset(seed=7000 + ep)
        d, u, disc = 0.0, 0.0, 1.0
        for t in range(1000):
            with torch.no_grad():
                a = f(torch.as_tensor(o, dtype=torch.float32)[None])[0].numpy()
            o, r, term, trunc, _ = env.step(a)
            d += disc * r
            u += r
            disc *= 0.99
            if term or trunc:
                break
        D.append(d)
        U.append(u)
        L.append(t + 1)
    print(
        f"{name}: discounted(0.99) {np.mean(D):.1f} +- {np.std(D):.1f}  "
        f"undiscounted {np.mean(U):.0f}  length {np.mean(L):.0f}"
    )
