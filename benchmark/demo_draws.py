"""Write random draws of demonstrations: for each seed S, `--num-demos` episodes of a demos.npz picked at random.

    python benchmark/demo_draws.py --env-id LunarLander-v3 --seeds 1 2 3 --out-dir /tmp/draws
    python asaf_w.py --env-id LunarLander-v3 --seed 1 --demos /tmp/draws/demos_LunarLander-v3_n10_s1.npz

The scripts use the *first* `--num-demos` episodes of the file, so every seed of a benchmark cell sees the same demos.
A draw per seed (episodes `np.random.default_rng(S).choice(n_episodes, num_demos, replace=False)`, kept in file order)
lets the seeds also average over which demos were recorded. Each written file is a demos.npz in the DESIGN.md format
(same env id, expert and random returns), so every script reads it with `--demos`. The printed line gives each draw's
episodes and, on the LunarLander envs, how many start with a strong push to the right (vx0 > 0.45, see
benchmark/lander_starts.py).
"""
import argparse
import os

import numpy as np


def draw(path, env_id, num_demos, seed):
    """The arrays of `num_demos` episodes of `path` picked at random with `seed`, the picked episode indices, and the
    first observation of each picked episode."""
    try:
        with np.load(path, allow_pickle=False) as f:
            d = {k: f[k] for k in f.files}
        ends = np.flatnonzero(d["terminations"] | d["truncations"])
        file_env, obs = str(d["env_id"]), d["observations"]
    except Exception as e:
        raise SystemExit(f"expected {path} to be a demos .npz with observations, terminations, truncations and "
                         f"env_id, found {e!r}.")
    if file_env != env_id:
        raise SystemExit(f"expected demonstrations for {env_id}, found demonstrations for {file_env} in {path}.")
    if not 1 <= num_demos <= len(ends):
        raise SystemExit(f"expected --num-demos between 1 and the {len(ends)} episodes in {path}, found {num_demos}.")
    starts = np.concatenate([[0], ends[:-1] + 1])
    pick = np.sort(np.random.default_rng(seed).choice(len(ends), num_demos, replace=False))
    rows = np.concatenate([np.arange(starts[i], ends[i] + 1) for i in pick])
    n = len(d["terminations"])  # per-transition arrays are cut to the picked episodes; scalars are kept
    return {k: v[rows] if v.ndim >= 1 and len(v) == n else v for k, v in d.items()}, pick, obs[starts[pick]]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env-id", default="LunarLander-v3", help="env whose experts/<env-id>/demos.npz is drawn from")
    p.add_argument("--demos", default=None, help="demos file (default: experts/<env-id>/demos.npz)")
    p.add_argument("--num-demos", type=int, default=10, help="episodes per draw")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="one draw per seed")
    p.add_argument("--out-dir", default="demo_draws", help="where demos_<env-id>_n<num-demos>_s<seed>.npz are written")
    args = p.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = args.demos or os.path.join(root, "experts", args.env_id, "demos.npz")
    if not os.path.exists(src):
        raise SystemExit(f"expected a demonstrations file at {src}, found no such file.")
    os.makedirs(args.out_dir, exist_ok=True)
    for seed in args.seeds:
        d, pick, first_obs = draw(src, args.env_id, args.num_demos, seed)
        out = os.path.join(args.out_dir, f"demos_{args.env_id}_n{args.num_demos}_s{seed}.npz")
        np.savez(out, **d)
        hard = f", {int((first_obs[:, 2] > 0.45).sum())} hard starts" if "LunarLander" in args.env_id else ""
        print(f"seed {seed}: episodes {pick.tolist()}{hard} -> {out}")
