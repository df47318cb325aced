"""Does AggreVaTeD's learner climb Q*'s errors? On states the learner visits, compare the critic's
Q*(s, a_L) - Q*(s, a*) with the Monte Carlo return of doing a_L (or a*) once and then following the expert.
usage: python mc_q.py ENV LEARNER_CKPT [N_STATES]"""

import os
import sys

import gymnasium as gym
import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, ROOT)
import aggrevated as A  # noqa: E402

env_id, ckpt_path = sys.argv[1], sys.argv[2]
n_states = int(sys.argv[3]) if len(sys.argv) > 3 else 40
gamma, horizon = 0.99, 600
torch.set_num_threads(1)
env = gym.make(env_id)
obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
low, high = env.action_space.low, env.action_space.high
expert_action, q_star = A.load_expert(
    os.path.join(ROOT, "experts", env_id, "expert.pt"), env_id, False, obs_dim, act_dim, "cpu"
)
ck = torch.load(ckpt_path, weights_only=True)
pol = A.Policy(obs_dim, act_dim, ck["config"]["hidden_sizes"], False, low, high)
pol.load_state_dict(ck["policy"])


def act_L(o):
    with torch.no_grad():
        return pol.act(torch.as_tensor(o, dtype=torch.float32)[None], deterministic=True)[0].numpy()


def act_E(o):
    with torch.no_grad():
        return expert_action(torch.as_tensor(o, dtype=torch.float32)[None])[0].numpy()


rng = np.random.default_rng(0)
# states of the learner's own episodes
states = []
ep_lens = []
for ep in range(6):
    o, _ = env.reset(seed=5000 + ep)
    for t in range(1000):
        if rng.random() < 0.1:
            u = env.unwrapped
            states.append((u.data.qpos.copy(), u.data.qvel.copy(), o.copy(), t))
        o, r, term, trunc, _ = env.step(act_L(o))
        if term or trunc:
            break
    ep_lens.append(t + 1)
print("learner episode lengths", ep_lens)
idx = rng.choice(len(states), min(n_states, len(states)), replace=False)


def mc(qpos, qvel, first_action):
    env.reset(seed=1)
    env.unwrapped.set_state(qpos, qvel)
    o = env.unwrapped._get_obs()
    a = first_action
    g, disc = 0.0, 1.0
    for t in range(horizon):
        o, r, term, trunc, _ = env.step(a)
        g += disc * r
        disc *= gamma
        if term:
            return g, t + 1
        a = act_E(o)
    return g, horizon


rows = []
for i in idx:
    qpos, qvel, o, t = states[i]
    aL, aE = act_L(o), act_E(o)
    x = torch.as_tensor(o, dtype=torch.float32)[None]
    with torch.no_grad():
        qL = q_star(x, torch.as_tensor(aL)[None]).item()
        qE = q_star(x, torch.as_tensor(aE)[None]).item()
    gL, lL = mc(qpos, qvel, aL)
    gE, lE = mc(qpos, qvel, aE)
    rows.append((t, qL - qE, gL - gE, qE, gE, lL, lE, float(np.abs(aL - aE).mean())))
r = np.array(rows)
print("t  critic(aL)-critic(a*)  MC(aL)-MC(a*)  critic(a*)  MC(a*)  len_L len_E |aL-a*|")
for row in rows:
    print(" ".join(f"{v:9.2f}" for v in row))
print(
    f"mean critic diff {r[:, 1].mean():.3f}  mean MC diff {r[:, 2].mean():.3f}  "
    f"frac critic>0 {np.mean(r[:, 1] > 0):.2f}  frac MC>0 {np.mean(r[:, 2] > 0):.2f}  "
    f"corr {np.corrcoef(r[:, 1], r[:, 2])[0, 1]:.2f}  mean |aL-a*| {r[:, 7].mean():.3f}"
)
print(
    f"critic(a*) mean {r[:, 3].mean():.1f}  MC(a*) mean {r[:, 4].mean():.1f}  expert falls within {horizon}: "
    f"{np.mean(r[:, 6] < horizon):.2f}  after aL: {np.mean(r[:, 5] < horizon):.2f}"
)
