"""Convert demonstrations recorded by other tools into this project's demos.npz (docs/design.md, "Demonstrations file").

Every learner reads one format: transitions in time order, episodes contiguous, with terminations and truncations,
the demos' own returns and a uniform random policy's return (the two ends of the normalized score). This script reads
four other layouts, checks them against the env, and writes that file:
- `--source minari`: a Minari dataset, given as a local dataset id (under $MINARI_DATASETS_PATH, else
  ~/.minari/datasets) or as the path of its directory. Nothing is downloaded (`minari download ID` does that).
- `--source imitation`: trajectories saved by the `imitation` library, read without importing it: the .npz of
  `imitation.data.types.save` (keys obs, acts, rews, terminal, indices, infos) or the directory that
  `imitation.data.serialize.save` writes with HuggingFace `datasets` (one row per trajectory).
- `--source d4rl`: an HDF5 file in the D4RL layout (observations, actions, rewards, terminals, timeouts).
- `--source arrays`: a .npz or .pkl of named arrays, flat (one array per field), or a .pkl list of per-episode dicts
  (the CS285 layout); the --*-key flags name the fields when they differ from the usual names.

What a reader must not miss:
- Episode ends. A termination (the MDP ended) and a truncation (a time limit cut the episode) mean different things
  to a learner that bootstraps, so they stay apart wherever the source keeps them apart (Minari, D4RL's terminals vs
  timeouts). A source with a single end flag (imitation's `terminal`, CS285's `terminal`, a `done`) cannot tell
  them apart: the script says so in one printed line and in the file's `boundary_note`, and stores every end as a
  termination (as a truncation with --dones-are-truncations).
- next_observations come from the source when it has them (Minari and imitation store one observation more per
  episode than actions). Otherwise they are the next observation of the same episode, and for an episode's last step,
  which has none, a copy of its last observation.
- Incomplete episodes (the trailing part of a flat source after its last end, a Minari episode or imitation fragment
  that ends without a termination or truncation) are dropped, and the script says how many.
"""

import os
import pickle
import sys
from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np
import tyro


@dataclass
class Args:
    source: Literal["minari", "imitation", "d4rl", "arrays"]
    """what --path holds: a Minari dataset, imitation's saved trajectories, a D4RL HDF5 file, or named arrays"""
    path: str
    """the demonstrations to convert: a file, a directory, or (Minari) a local dataset id"""
    env_id: str
    """the gymnasium id of the environment the demonstrations come from; the data is checked against it"""
    out: str | None = None
    """the demonstrations file to write (default: experts/<env-id>/demos.npz next to this script)"""
    overwrite: bool = False
    """if toggled, replace --out when it exists (by default an existing file is never touched)"""
    seed: int = 1
    """seed of the random-policy episodes: actions sampled with --seed, episode i reset with --seed + 20000 + i"""
    random_episodes: int = 25
    """episodes of a uniform random policy rolled out in the env; their mean return is random_return_mean"""
    dones_are_truncations: bool = False
    """if toggled, store the ends of a source with one end flag (done, terminal) as truncations, not terminations"""

    # --source arrays: the name of each field; when a flag is not given, the first of the usual names the file has
    obs_key: str | None = None
    """observations (N, *obs_shape); tried: observations, observation, obs"""
    next_obs_key: str | None = None
    """next observations, optional; tried: next_observations, next_observation, next_obs"""
    act_key: str | None = None
    """actions: (N,) integers for Discrete, (N, act_dim) floats for Box; tried: actions, action, acts"""
    rew_key: str | None = None
    """rewards (N,); tried: rewards, reward, rews"""
    terminal_key: str | None = None
    """termination flags (N,); tried: terminations, terminals, terminal (alone, it is read as a done flag)"""
    timeout_key: str | None = None
    """time-limit truncation flags (N,); tried: truncations, timeouts, timeout"""
    done_key: str | None = None
    """episode-end flags (N,) of either kind; tried: dones, done"""
    episode_starts_key: str | None = None
    """flags (N,) that are True at the first step of each episode (Stable-Baselines); tried: episode_starts"""


SCRIPT = os.path.basename(__file__)
MINARI_VERSION = "0.5.4"
H5PY_VERSION = "3.16.0"
RANDOM_SEED_OFFSET = 20_000  # random-policy episode i is reset with --seed + 20_000 + i, as in expert.py
ACTION_TOLERANCE = 1e-5  # Box actions this far outside the bounds are clipped onto them, further out is an error
KEYS = {  # --source arrays: the names tried for each field, in order, when its --*-key flag is not given
    "obs": ("observations", "observation", "obs"),
    "next_obs": ("next_observations", "next_observation", "next_obs"),
    "act": ("actions", "action", "acts"),
    "rew": ("rewards", "reward", "rews"),
    "terminal": ("terminations", "terminals", "terminal"),
    "timeout": ("truncations", "timeouts", "timeout"),
    "done": ("dones", "done"),
    "episode_starts": ("episode_starts",),
}


def fail(msg):
    """Stop with one sentence that names what was expected and what was found: no traceback, nothing overwritten."""
    sys.exit(f"{SCRIPT}: {msg}")


def say(msg):
    print(f"{SCRIPT}: {msg}", flush=True)


def env_spaces(env_id):
    """Observation and action space of `env_id`, checked: a registered id that gymnasium can build, a flat Box
    observation, a Box or Discrete action (what every learner accepts)."""
    try:
        gym.spec(env_id)
    except gym.error.Error:
        fail(f"expected --env-id to be a registered gymnasium environment (e.g. CartPole-v1), found {env_id!r}.")
    try:
        probe = gym.make(env_id)
    except Exception as e:  # a missing extra (box2d, mujoco) or a broken env
        fail(f"expected gymnasium to build {env_id}, found it cannot ({type(e).__name__}: {e}).")
    obs_space, act_space = probe.observation_space, probe.action_space
    probe.close()
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        fail(f"expected a flat Box observation space, found {obs_space} in {env_id}.")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)):
        fail(f"expected a Box or Discrete action space, found {act_space} in {env_id}.")
    return obs_space, act_space


def numbers(x, name, where):
    """`x` as a numpy array of numbers (bool, int or float), or one sentence."""
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists
        fail(f"expected {name} to be an array of numbers in {where}, found something numpy cannot stack ({e}).")
    if a.dtype.kind not in "biuf":
        fail(f"expected {name} to be an array of numbers in {where}, found an array of dtype {a.dtype}.")
    return a


def flags(x, name, n, where):
    """A (n,) bool array from flags stored as bools or 0/1 numbers, shape (n,) or (n, 1)."""
    a = numbers(x, name, where)
    if a.shape not in ((n,), (n, 1)):
        fail(f"expected {name} of shape ({n},), one flag per transition, found shape {a.shape} in {where}.")
    a = a.reshape(n)
    if not np.all((a == 0) | (a == 1)):
        fail(f"expected {name} to hold booleans or 0/1 flags, found {a[(a != 0) & (a != 1)][0]} in {where}.")
    return a.astype(bool)


def split_ends(ends, dones_are_truncations):
    """(terminations, truncations) for the ends of a source whose one end flag does not say which kind of end it is:
    all terminations, or all truncations with --dones-are-truncations."""
    if dones_are_truncations:
        return np.zeros_like(ends), ends
    return ends, np.zeros_like(ends)


def boundary_note(what, dones_are_truncations):
    """The line printed, and stored as `boundary_note`, when the source cannot tell terminations from truncations."""
    if dones_are_truncations:
        stored, hint = "truncation", "without --dones-are-truncations they would be terminations"
    else:
        stored, hint = "termination", "--dones-are-truncations stores them as truncations"
    return (
        f"{what} does not tell a termination from a time-limit truncation: every episode end is stored as a "
        f"{stored} ({hint})."
    )


def episode_ends(get, n, where, dones_are_truncations):
    """(terminations, truncations, note) from the end flags a source of named arrays has, `get(field)` returning
    (key, array) or None. Terminations with timeouts, or with dones, keep the two kinds apart (note None); a single
    termination or done flag does not; episode_starts mark where episodes begin (the last step ends the last one)."""
    terminal, timeout, done, starts = get("terminal"), get("timeout"), get("done"), get("episode_starts")
    if terminal is not None and (timeout is not None or done is not None):
        term = flags(terminal[1], terminal[0], n, where)
        if timeout is not None:
            ends = term | flags(timeout[1], timeout[0], n, where)
        else:
            ends = term | flags(done[1], done[0], n, where)
        return term, ends & ~term, None
    if terminal is not None or done is not None:
        key, values = terminal if terminal is not None else done
        ends = flags(values, key, n, where)
        note = boundary_note(f"the source's one end flag {key!r}", dones_are_truncations)
        return *split_ends(ends, dones_are_truncations), note
    if starts is not None:
        first = flags(starts[1], starts[0], n, where)
        ends = np.zeros(n, bool)
        ends[:-1] = first[1:]
        ends[-1] = True  # nothing marks the end of the last episode: the data is taken to end with it
        what = f"the source's episode starts {starts[0]!r} (its last step is taken to end its last episode)"
        return *split_ends(ends, dones_are_truncations), boundary_note(what, dones_are_truncations)
    if timeout is not None:
        fail(f"expected termination or done flags next to the timeouts {timeout[0]!r} in {where}, found none.")
    names = KEYS["terminal"] + KEYS["timeout"] + KEYS["done"] + KEYS["episode_starts"]
    fail(
        f"expected episode-end flags in {where} (one of {', '.join(names)}; or name them with --terminal-key, "
        f"--timeout-key, --done-key, --episode-starts-key), found none."
    )


def from_episodes(episodes, where):
    """Flat arrays from episodes that store one observation more than actions (Minari, imitation): obs[t + 1] is the
    next observation of step t. Each episode is (observations, actions, rewards, terminations, truncations); an
    episode whose last step is neither is marked `cut` there (incomplete: dropped later)."""
    parts = {k: [] for k in ("obs", "next_obs", "actions", "rewards", "terminations", "truncations", "cut")}
    for i, (obs, act, rew, term, trunc) in enumerate(episodes):
        obs = numbers(obs, "observations", where)
        act = numbers(act, "actions", where)
        rew = numbers(rew, "rewards", where).reshape(-1)
        t = len(act)
        if t == 0:
            continue
        if len(obs) != t + 1 or len(rew) != t or len(term) != t or len(trunc) != t:
            fail(
                f"expected episode {i} of {where} to hold one observation more than its {t} actions and as many "
                f"rewards and flags, found {len(obs)} observations, {len(rew)} rewards and {len(term)} flags."
            )
        cut = np.zeros(t, bool)
        cut[-1] = not (term[-1] or trunc[-1])
        for key, value in zip(parts, (obs[:-1], obs[1:], act, rew, term, trunc, cut)):
            parts[key].append(value)
    if not parts["actions"]:
        fail(f"expected at least one transition in {where}, found none.")
    return {k: np.concatenate(v) for k, v in parts.items()}


def read_minari(args):
    """A Minari dataset: observations (T + 1), actions, rewards, terminations and truncations per episode."""
    try:
        import minari
    except ImportError:
        fail(
            f"expected the minari package for --source minari, found it missing "
            f'(pip install "minari[hdf5]=={MINARI_VERSION}").'
        )
    path = args.path
    if os.path.isfile(path):
        fail(f"expected a Minari dataset directory or a local dataset id at {path}, found a file.")
    try:
        if os.path.isdir(path):
            data_dir = path
            if os.path.isdir(os.path.join(path, "data")):  # the dataset's directory, not its data/ folder
                data_dir = os.path.join(path, "data")
            if not os.path.isfile(os.path.join(data_dir, "metadata.json")):
                fail(f"expected a Minari dataset directory (with data/metadata.json) at {path}, found none there.")
            dataset = minari.MinariDataset(data_dir)
        else:
            dataset = minari.load_dataset(path, download=False)
    except FileNotFoundError:
        root = os.environ.get("MINARI_DATASETS_PATH", os.path.join("~", ".minari", "datasets"))
        fail(
            f"expected --path to be a local Minari dataset id (under {root}) or directory, found neither for {path!r} "
            f"(this script never downloads: run `minari download {path}` first)."
        )
    except Exception as e:  # another format, a missing pyarrow for arrow datasets, a damaged file
        fail(
            f"expected a Minari dataset that minari can read at {path}, found one it cannot ({type(e).__name__}: {e})."
        )
    spec = dataset.env_spec
    if spec is not None and spec.id != args.env_id:
        say(f"note: {path} was recorded in {spec.id}; its data is checked against --env-id {args.env_id}.")
    episodes = []
    for ep in dataset.iterate_episodes():
        if isinstance(ep.observations, (dict, tuple)) or isinstance(ep.actions, (dict, tuple)):
            fail(f"expected flat array observations and actions in {path}, found a Dict or Tuple space.")
        term = np.asarray(ep.terminations, bool).reshape(-1)
        trunc = np.asarray(ep.truncations, bool).reshape(-1)
        episodes.append((ep.observations, ep.actions, ep.rewards, term, trunc & ~term))
    data = from_episodes(episodes, path)
    data["note"] = None
    return data


def read_imitation(args):
    """imitation's saved trajectories: per trajectory obs (T + 1), acts (T), rews (T) and one `terminal` flag."""
    path = args.path
    if os.path.isdir(path):  # imitation >= 1.0: datasets.Dataset.save_to_disk, one row per trajectory
        try:
            import datasets
        except ImportError:
            fail(
                f"expected the datasets package to read {path}, a HuggingFace dataset directory (imitation >= 1.0), "
                f"found it missing (pip install datasets)."
            )
        try:
            table = datasets.load_from_disk(path).with_format("numpy")
        except Exception as e:
            fail(f"expected a HuggingFace dataset saved by imitation at {path}, found none ({type(e).__name__}: {e}).")
        columns = table.column_names
        rows = table
    else:  # imitation 0.3 - 0.4: np.savez_compressed of the trajectories concatenated, split at `indices`
        if not os.path.isfile(path):
            fail(f"expected an imitation .npz file or dataset directory at {path}, found no such file.")
        try:
            with np.load(path, allow_pickle=False) as f:  # `infos` (pickled dicts) is never read
                columns = f.files
                data = {k: f[k] for k in ("obs", "acts", "rews", "terminal", "indices") if k in f.files}
        except Exception as e:  # a pickle of Trajectory objects (imitation < 0.3), a text file
            fail(
                f"expected an imitation .npz (obs, acts, rews, terminal, indices) at {path}, found a file numpy "
                f"cannot read as one ({type(e).__name__}; load older pickles with imitation and save them again)."
            )
        rows = None
    needed = ["obs", "acts", "terminal"]
    if rows is None:
        needed.append("indices")
    if any(k not in columns for k in needed):
        fail(f"expected imitation's keys obs, acts, terminal and indices (.npz) in {path}, found {sorted(columns)}.")
    if "rews" not in columns:
        fail(f"expected rewards (rews, imitation's TrajectoryWithRew) in {path}, found trajectories without them.")
    if rows is None:
        num = len(data["indices"]) + 1
        indices = numbers(data["indices"], "indices", path).astype(np.int64)
        if len(data["obs"]) != len(data["acts"]) + num:
            fail(
                f"expected obs to hold one observation more per trajectory than acts in {path}, found "
                f"{len(data['obs'])} observations for {len(data['acts'])} actions in {num} trajectories."
            )
        rows = [
            dict(obs=o, acts=a, rews=r, terminal=t)
            for o, a, r, t in zip(
                np.split(data["obs"], indices + np.arange(1, num)),
                np.split(data["acts"], indices),
                np.split(data["rews"], indices),
                flags(data["terminal"], "terminal", num, path),
            )
        ]
    episodes = []
    for row in rows:
        ends = np.zeros(len(row["acts"]), bool)
        if len(ends):
            # terminal=True: the trajectory holds the episode's end, whichever kind; False: a fragment cut short
            ends[-1] = bool(row["terminal"])
        episodes.append((row["obs"], row["acts"], row["rews"], *split_ends(ends, args.dones_are_truncations)))
    data = from_episodes(episodes, path)
    data["note"] = boundary_note("imitation's `terminal` flag", args.dones_are_truncations)
    return data


def read_d4rl(args):
    """An HDF5 file in the D4RL layout: flat observations, actions, rewards, terminals and timeouts (N,)."""
    path = args.path
    try:
        import h5py
    except ImportError:
        fail(f"expected the h5py package for --source d4rl, found it missing (pip install h5py=={H5PY_VERSION}).")
    if not os.path.isfile(path):
        fail(f"expected a D4RL HDF5 file at {path}, found no such file.")
    try:
        with h5py.File(path, "r") as f:
            data = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}  # groups (infos/, ...) skipped
    except Exception as e:
        fail(f"expected a D4RL HDF5 file at {path}, found a file h5py cannot read ({type(e).__name__}).")
    missing = [k for k in ("observations", "actions", "rewards", "terminals", "timeouts") if k not in data]
    if missing:
        fail(
            f"expected the D4RL keys observations, actions, rewards, terminals and timeouts in {path}, found "
            f"{sorted(data)} (a file without timeouts cannot tell where time-limited episodes end)."
        )
    n = len(data["actions"])
    term = flags(data["terminals"], "terminals", n, path)
    trunc = flags(data["timeouts"], "timeouts", n, path) & ~term
    return dict(
        obs=data["observations"],
        next_obs=data.get("next_observations"),
        actions=data["actions"],
        rewards=data["rewards"],
        terminations=term,
        truncations=trunc,
        cut=np.zeros(n, bool),
        note=None,
    )


def find_key(keys, field, given, where):
    """The key of `field`: the one its --*-key flag names (it must be there), else the first usual name present."""
    if given is not None:
        if given not in keys:
            flag = "--" + field.replace("_", "-") + "-key"
            fail(f"expected the key {given!r} ({flag}) in {where}, found the keys {sorted(keys)}.")
        return given
    for name in KEYS[field]:
        if name in keys:
            return name
    return None


def named_arrays(d, args, where, whole_episode):
    """Flat arrays from a dict of named arrays (the whole file, or one episode of a list when `whole_episode`)."""
    given = dict(
        obs=args.obs_key,
        next_obs=args.next_obs_key,
        act=args.act_key,
        rew=args.rew_key,
        terminal=args.terminal_key,
        timeout=args.timeout_key,
        done=args.done_key,
        episode_starts=args.episode_starts_key,
    )
    keys = {field: find_key(d, field, given[field], where) for field in KEYS}
    for field in ("obs", "act", "rew"):
        if keys[field] is None:
            flag = "--" + field.replace("_", "-") + "-key"
            fail(
                f"expected one of the keys {', '.join(KEYS[field])} in {where} (or name it with {flag}), found the "
                f"keys {sorted(d)}."
            )
    values = {field: numbers(d[key], key, where) for field, key in keys.items() if key is not None}
    if values["act"].ndim == 0:
        fail(f"expected one action per transition in {keys['act']!r} of {where}, found a single number.")
    n = len(values["act"])
    for field, key in keys.items():
        if key is not None and field not in ("terminal", "timeout", "done", "episode_starts"):
            if values[field].ndim == 0 or len(values[field]) != n:
                fail(f"expected {n} entries in {key!r}, one per action in {where}, found shape {values[field].shape}.")
    if n == 0:
        fail(f"expected at least one transition in {where}, found none.")

    def get(field):
        if keys[field] is None:
            return None
        return keys[field], values[field]

    note = None
    if whole_episode and all(get(f) is None for f in ("terminal", "timeout", "done", "episode_starts")):
        term, trunc = np.zeros(n, bool), np.zeros(n, bool)
    else:
        term, trunc, note = episode_ends(get, n, where, args.dones_are_truncations)
    if whole_episode and not (term[-1] or trunc[-1]):  # each dict of a list is one whole episode
        ends = np.zeros(n, bool)
        ends[-1] = True
        last_term, last_trunc = split_ends(ends, args.dones_are_truncations)
        term, trunc = term | last_term, trunc | last_trunc
        note = boundary_note("the end of a path (episode) that no flag marks", args.dones_are_truncations)
    return dict(
        obs=values["obs"],
        next_obs=values.get("next_obs"),
        actions=values["act"],
        rewards=values["rew"],
        terminations=term,
        truncations=trunc,
        cut=np.zeros(n, bool),
        note=note,
    )


def read_arrays(args):
    """A .npz or .pkl of named arrays (flat), or a .pkl list of per-episode dicts (CS285's list of paths)."""
    path = args.path
    if not os.path.isfile(path):
        fail(f"expected a .npz or .pkl file of arrays at {path}, found no such file.")
    if path.endswith((".pkl", ".pickle")):
        try:
            with open(path, "rb") as f:
                obj = pickle.load(f)  # a pickle runs code as it loads: convert only files you trust
        except Exception as e:
            fail(f"expected a pickle of arrays at {path}, found a file pickle cannot read ({type(e).__name__}: {e}).")
    else:
        try:
            loaded = np.load(path, allow_pickle=False)
        except Exception as e:
            fail(f"expected a .npz of arrays at {path}, found a file numpy cannot read as one ({type(e).__name__}).")
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            fail(f"expected a .npz of named arrays at {path}, found a single array (.npy).")
        obj = {}
        with loaded:
            for key in loaded.files:
                try:
                    obj[key] = loaded[key]
                except ValueError:  # a pickled object array: never unpickled from a .npz, an error if it is used
                    obj[key] = None
    if isinstance(obj, dict):
        data = named_arrays(obj, args, path, whole_episode=False)
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(p, dict) for p in obj):
        paths = [named_arrays(p, args, f"episode {i} of {path}", whole_episode=True) for i, p in enumerate(obj)]
        data = {}
        for key in ("obs", "actions", "rewards", "terminations", "truncations", "cut"):
            data[key] = np.concatenate([p[key] for p in paths])
        data["next_obs"] = None
        if all(p["next_obs"] is not None for p in paths):
            data["next_obs"] = np.concatenate([p["next_obs"] for p in paths])
        notes = list(dict.fromkeys(p["note"] for p in paths if p["note"] is not None))  # each distinct one once
        data["note"] = " ".join(notes) if notes else None
    else:
        fail(f"expected a dict of arrays or a list of per-episode dicts in {path}, found a {type(obj).__name__}.")
    return data


def complete_episodes(ends, cut):
    """(keep, dropped episodes, dropped transitions): keep the steps of the episodes that end in a termination or
    truncation; an episode cut short (`cut`, or the trailing steps after the last end) is dropped."""
    keep = np.zeros(len(ends), bool)
    start, dropped = 0, 0
    for stop in np.flatnonzero(ends | cut):
        if ends[stop]:
            keep[start : stop + 1] = True
        else:
            dropped += 1
        start = stop + 1
    if start < len(ends):
        dropped += 1
    return keep, dropped, int((~keep).sum())


def check_actions(act, act_space, env_id, where):
    """The actions checked against the action space and converted: int64 (N,) for Discrete, float32 (N, *shape) for
    Box (a 1-D Box's actions may come as (N,)); values within the space, Box actions clipped onto its bounds when
    they are at most ACTION_TOLERANCE outside."""
    n = len(act)
    if isinstance(act_space, gym.spaces.Discrete):
        if act.ndim == 2 and act.shape[1] == 1:
            act = act[:, 0]
        if act.ndim != 1:
            fail(
                f"expected integer actions of shape (N,) for the Discrete action space of {env_id}, found "
                f"{act.dtype} actions of shape {act.shape} in {where}."
            )
        if act.dtype.kind == "f" and not np.all(np.isfinite(act)):
            fail(f"expected finite actions, found NaN or infinite values in {where}.")
        if act.dtype.kind == "f" and not np.all(act == np.round(act)):
            fail(
                f"expected integer actions for the Discrete action space of {env_id}, found non-integer values "
                f"such as {act[act != np.round(act)][0]} in {where}."
            )
        act = act.astype(np.int64)
        low, high = int(act_space.start), int(act_space.start + act_space.n - 1)
        if np.any(act < low) or np.any(act > high):
            fail(
                f"expected actions in {low}..{high} (the action space {act_space} of {env_id}), found actions from "
                f"{act.min()} to {act.max()} in {where}."
            )
        return act
    if act.ndim == 1 and act_space.shape == (1,):
        act = act.reshape(n, 1)
    if act.dtype.kind != "f" or act.shape[1:] != act_space.shape:
        fail(
            f"expected float actions of shape (N, {', '.join(map(str, act_space.shape))}) for the Box action space of "
            f"{env_id}, found {act.dtype} actions of shape {act.shape} in {where}."
        )
    if not np.all(np.isfinite(act)):
        fail(f"expected finite actions, found NaN or infinite values in {where}.")
    if np.any(act < act_space.low - ACTION_TOLERANCE) or np.any(act > act_space.high + ACTION_TOLERANCE):
        fail(
            f"expected actions within the action space {act_space} of {env_id}, found actions from {act.min()} to "
            f"{act.max()} in {where}."
        )
    return np.clip(act, act_space.low, act_space.high).astype(np.float32)


def random_return(env_id, episodes, seed):
    """Mean return of a uniform random policy over `episodes` episodes (the zero of the normalized score)."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    returns = []
    for i in range(episodes):
        env.reset(seed=seed + RANDOM_SEED_OFFSET + i)
        total, done = 0.0, False
        while not done:
            _, reward, term, trunc, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = term or trunc
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def save(out, arrays):
    """np.savez_compressed to `out` through a temporary file, so a failed write leaves no half file behind."""
    tmp = out + ".tmp"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail(f"expected to write {out}, found it cannot be written ({e.strerror or e}).")


READERS = {"minari": read_minari, "imitation": read_imitation, "d4rl": read_d4rl, "arrays": read_arrays}


if __name__ == "__main__":
    args = tyro.cli(Args)
    if args.random_episodes < 1:
        fail(f"expected --random-episodes >= 1, found {args.random_episodes}.")
    if args.seed < 0:
        fail(f"expected --seed >= 0, found {args.seed}.")
    out = args.out
    if out is None:
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "experts", args.env_id, "demos.npz")
    if os.path.exists(out) and not args.overwrite:
        fail(f"expected a new output file, found {out} already exists (pass --overwrite to replace it).")
    obs_space, act_space = env_spaces(args.env_id)
    where = args.path

    # read the source into flat arrays in time order; each reader decides where episodes end and of which kind
    data = READERS[args.source](args)
    obs = numbers(data["obs"], "observations", where)
    act = numbers(data["actions"], "actions", where)
    rew = numbers(data["rewards"], "rewards", where)
    if act.ndim == 0 or obs.ndim == 0:
        fail(f"expected arrays with one entry per transition in {where}, found a single number.")
    n = len(act)
    if rew.ndim == 2 and rew.shape[1] == 1:
        rew = rew.reshape(n)
    if not len(obs) == len(rew) == len(data["terminations"]) == n or rew.ndim != 1:
        fail(
            f"expected one observation, reward and end flag per action in {where}, found {len(obs)} observations, "
            f"rewards of shape {rew.shape} and {len(data['terminations'])} flags for {n} actions."
        )
    term, trunc = data["terminations"], data["truncations"]
    ends = term | trunc
    if data["note"] is not None:
        say(f"note: {data['note']}")

    # next observations: the source's, else the next step's observation within the episode; an episode's last
    # step has no next one in the data, so it gets a copy of its own observation
    if data["next_obs"] is not None:
        next_obs = numbers(data["next_obs"], "next observations", where)
        if next_obs.shape != obs.shape:
            fail(
                f"expected next observations of shape {obs.shape}, as the observations, found {next_obs.shape} in "
                f"{where}."
            )
    else:
        next_obs = np.empty_like(obs)
        next_obs[:-1] = obs[1:]
        last = ends | data["cut"]
        last[-1] = True
        next_obs[last] = obs[last]

    # keep the complete episodes only
    keep, dropped, dropped_steps = complete_episodes(ends, data["cut"])
    if not keep.any():
        fail(f"expected at least one complete episode (ending in a termination or truncation) in {where}, found none.")
    if dropped:
        say(
            f"dropped {dropped} incomplete episode(s) ({dropped_steps} transitions) of {where}: no termination or "
            f"truncation ends them."
        )
    obs, next_obs, act, rew = obs[keep], next_obs[keep], act[keep], rew[keep]
    term, trunc = term[keep], trunc[keep]

    # check the data against the env
    if obs.shape[1:] != obs_space.shape:
        fail(f"expected observations of shape {obs_space.shape} for {args.env_id}, found {obs.shape[1:]} in {where}.")
    act = check_actions(act, act_space, args.env_id, where)
    obs, next_obs = obs.astype(np.float32), next_obs.astype(np.float32)  # the file's dtype, checked as stored
    for name, values in (("observations", obs), ("next observations", next_obs), ("rewards", rew)):
        if not np.all(np.isfinite(values)):
            fail(f"expected finite {name}, found NaN or infinite values in {where}.")

    # the demos' own returns, and a uniform random policy's (the normalized score's 1 and 0)
    ends = term | trunc
    starts = np.concatenate([[0], np.flatnonzero(ends)[:-1] + 1])
    returns = np.add.reduceat(rew.astype(np.float64), starts)
    rand = random_return(args.env_id, args.random_episodes, args.seed)
    if not returns.mean() > rand:
        print(
            f"{SCRIPT}: warning: the demonstrations return {returns.mean():.1f}, no more than a random policy "
            f"({rand:.1f}): the learners will refuse this file.",
            file=sys.stderr,
            flush=True,
        )
    arrays = dict(
        observations=obs,
        next_observations=next_obs,
        actions=act,
        rewards=rew.astype(np.float32),
        terminations=term.astype(bool),
        truncations=trunc.astype(bool),
        env_id=np.array(args.env_id),
        episode_returns=returns,
        expert_return_mean=np.float64(returns.mean()),
        expert_return_std=np.float64(returns.std()),
        random_return_mean=np.float64(rand),
        source=np.array(args.source),
        source_path=np.array(os.path.abspath(where) if os.path.exists(where) else where),
    )
    if data["note"] is not None:
        arrays["boundary_note"] = np.array(data["note"])
    save(out, arrays)
    print(
        f"{SCRIPT}: {len(returns)} episodes, {len(obs)} transitions, mean return {returns.mean():.1f} +- "
        f"{returns.std():.1f}, random return {rand:.1f} -> {out}",
        flush=True,
    )
