"""Per-update ASAF logs averaged between periodic evaluations, from a run's TensorBoard directory.

python benchmark/probes/asaf1_modes/trace.py runs/<run>              # the *.trace.txt tables
python benchmark/probes/asaf1_modes/trace.py runs/<run> --stochastic # the *.stochastic_vs_deterministic.txt tables
"""

import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

KEYS = [
    "charts/update_kl",
    "charts/update_kl_expert_states",
    "charts/policy_std",
    "charts/mean_abs_mu",
    "charts/clipped_action_fraction",
    "charts/learner_episode_length",
    "charts/disc_expert_acc",
    "charts/disc_learner_acc",
    "losses/asaf_loss",
]


def scalars(acc, tag):
    events = acc.Scalars(tag)
    return np.array([e.step for e in events]), np.array([e.value for e in events])


def trace(acc):
    tags = acc.Tags()["scalars"]
    keys = [k for k in KEYS if k in tags]
    print("step  eval | " + " ".join(k.split("/")[-1][:10] for k in keys))
    steps, scores = scalars(acc, "eval/normalized_score")
    prev = 0
    for step, score in zip(steps, scores):
        row = []
        for k in keys:
            x, y = scalars(acc, k)
            m = (x > prev) & (x <= step)
            row.append(f"{np.mean(y[m]) if m.any() else np.nan:10.3f}")
        print(f"{step:7d} {score:5.2f} | " + " ".join(row))
        prev = step


def stochastic(acc):
    steps, returns = scalars(acc, "eval/episodic_return")
    _, scores = scalars(acc, "eval/normalized_score")
    ts, tv = scalars(acc, "charts/episodic_return")
    print("step  det_eval_return det_norm | stochastic training return mean (n) in the window before")
    for step, ret, score in zip(steps, returns, scores):
        m = (ts > step - 50000) & (ts <= step)
        low = tv[m].min() if m.any() else 0
        print(f"{step:8d} {ret:8.0f} {score:5.2f} | {tv[m].mean():8.0f} ({m.sum()})  min {low:7.0f}")


if __name__ == "__main__":
    acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
    acc.Reload()
    if "--stochastic" in sys.argv:
        stochastic(acc)
    else:
        trace(acc)
