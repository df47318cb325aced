"""convert_demos.py: each source kind (Minari, imitation's .npz and HuggingFace directory, D4RL HDF5, named arrays in
a .npz or a CS285 .pkl list) converts into a demos.npz that round-trips, that a learner's load_demos accepts and that
bc.py trains on; bad input ends in one sentence. The sources are built here from a few scripted episodes of
CartPole-v1 (Discrete, ends by termination) and Pendulum-v1 (Box, ends by time-limit truncation): nothing is
downloaded."""

import functools
import os
import pickle
import sys

import gymnasium as gym
import numpy as np
import pytest

import bc
from conftest import SUBPROCESS

CONVERT = ["--random-episodes", 2]
TRAIN = ["--num-demos", 2, "--total-steps", 50, "--eval-every", 0, "--final-eval-episodes", 2]


def cartpole_policy(obs):
    """Pushes towards the pole's angular velocity: ~150 steps, better than random (~22), ends by termination."""
    return int(obs[3] > 0)


def pendulum_policy(obs):
    """Pumps energy, then a PD controller near the top: about -750 against about -1250 for random; 200-step episodes
    that end by truncation."""
    theta = np.arctan2(obs[1], obs[0])
    if abs(theta) < 1.0:
        torque = -(10 * theta + 2 * obs[2])
    else:
        torque = 2.0 if obs[2] >= 0 else -2.0
    return np.clip([torque], -2.0, 2.0).astype(np.float32)


POLICIES = {"CartPole-v1": cartpole_policy, "Pendulum-v1": pendulum_policy}


@functools.lru_cache(maxsize=None)
def rollouts(env_id, n=3):
    """n scripted episodes: observations (T + 1, with the final one), actions, rewards, terminations, truncations."""
    env = gym.make(env_id)
    episodes = []
    for i in range(n):
        obs, _ = env.reset(seed=100 + i)
        ep = dict(obs=[obs], acts=[], rews=[], terms=[], truncs=[])
        done = False
        while not done:
            action = POLICIES[env_id](obs)
            obs, reward, term, trunc, _ = env.step(action)
            for key, value in zip(("obs", "acts", "rews", "terms", "truncs"), (obs, action, reward, term, trunc)):
                ep[key].append(value)
            done = term or trunc
        episodes.append({k: np.array(v) for k, v in ep.items()})
    env.close()
    return tuple(episodes)


def flat(episodes):
    """The episodes as the transitions of a demos file, next observations from the source."""
    return dict(
        obs=np.concatenate([ep["obs"][:-1] for ep in episodes]),
        next_obs=np.concatenate([ep["obs"][1:] for ep in episodes]),
        acts=np.concatenate([ep["acts"] for ep in episodes]),
        rews=np.concatenate([ep["rews"] for ep in episodes]),
        terms=np.concatenate([ep["terms"] for ep in episodes]),
        truncs=np.concatenate([ep["truncs"] for ep in episodes]),
    )


# -- writers: one small source of each kind, in the layout its tool writes ------------------------------------------


def write_minari(tmp_path, monkeypatch, env_id, episodes, as_directory):
    minari = pytest.importorskip("minari")
    from minari.data_collector import EpisodeBuffer

    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    buffers = [
        EpisodeBuffer(
            id=i,
            observations=ep["obs"],
            actions=ep["acts"],
            rewards=list(ep["rews"]),
            terminations=list(ep["terms"]),
            truncations=list(ep["truncs"]),
        )
        for i, ep in enumerate(episodes)
    ]
    dataset_id = f"tests/{env_id.split('-')[0].lower()}-scripted-v0"
    minari.create_dataset_from_buffers(
        dataset_id,
        buffers,
        env=env_id,
        eval_env=env_id,
        algorithm_name="scripted",
        author="tests",
        author_email="tests@example.com",
        code_permalink="tests/test_convert_demos.py",
        description="a few scripted episodes",
    )
    if as_directory:
        return str(root / dataset_id)
    return dataset_id


def imitation_trajectories(episodes):
    """Per trajectory: obs (T + 1), acts, rews, terminal; a fragment (terminal False) that must be dropped is added."""
    trajectories = [dict(obs=ep["obs"], acts=ep["acts"], rews=ep["rews"], terminal=True) for ep in episodes]
    first = episodes[0]
    trajectories.append(dict(obs=first["obs"][:6], acts=first["acts"][:5], rews=first["rews"][:5], terminal=False))
    return trajectories


def write_imitation_npz(tmp_path, episodes):
    """imitation.data.types.save (0.3 - 0.4): np.savez_compressed of the concatenated trajectories."""
    trajectories = imitation_trajectories(episodes)
    path = tmp_path / "trajectories.npz"
    infos = np.empty(sum(len(t["acts"]) for t in trajectories), dtype=object)
    infos[:] = [{"TimeLimit.truncated": False}] * len(infos)  # pickled: convert_demos.py must never read it
    np.savez_compressed(
        path,
        obs=np.concatenate([t["obs"] for t in trajectories]),
        acts=np.concatenate([t["acts"] for t in trajectories]),
        infos=infos,
        terminal=np.array([t["terminal"] for t in trajectories]),
        rews=np.concatenate([t["rews"] for t in trajectories]),
        indices=np.cumsum([len(t["acts"]) for t in trajectories[:-1]]),
    )
    return str(path)


def write_imitation_hf(tmp_path, episodes):
    """imitation.data.serialize.save (>= 1.0): datasets.Dataset.save_to_disk, one row per trajectory."""
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    trajectories = imitation_trajectories(episodes)
    table = datasets.Dataset.from_dict(
        dict(
            obs=[t["obs"] for t in trajectories],
            acts=[t["acts"] for t in trajectories],
            infos=[["{}"] * len(t["acts"]) for t in trajectories],
            terminal=[t["terminal"] for t in trajectories],
            rews=[t["rews"] for t in trajectories],
        )
    )
    path = tmp_path / "trajectories_hf"
    table.save_to_disk(str(path))
    return str(path)


def write_d4rl(tmp_path, episodes, extra=None):
    """D4RL's HDF5 layout, with a trailing incomplete episode (no flag at its end) and an infos/ group."""
    h5py = pytest.importorskip("h5py")
    f = flat(episodes)
    tail = episodes[0]
    path = tmp_path / "d4rl.hdf5"
    data = dict(
        observations=np.concatenate([f["obs"], tail["obs"][:7]]),
        actions=np.concatenate([f["acts"], tail["acts"][:7]]),
        rewards=np.concatenate([f["rews"], tail["rews"][:7]]).astype(np.float32),
        terminals=np.concatenate([f["terms"], np.zeros(7, bool)]),
        timeouts=np.concatenate([f["truncs"], np.zeros(7, bool)]),
    )
    data.update(extra or {})
    with h5py.File(path, "w") as h:
        for key, value in data.items():
            h.create_dataset(key, data=value)
        h.create_dataset("infos/qpos", data=np.zeros((len(data["actions"]), 2)))
    return str(path)


def write_arrays_npz(tmp_path, episodes, **changes):
    """A flat .npz with names of its own (mapped with the --*-key flags of ARRAYS_KEYS)."""
    f = flat(episodes)
    data = dict(states=f["obs"], next_states=f["next_obs"], acs=f["acts"], r=f["rews"], ended=f["terms"])
    data["cut_by_time"] = f["truncs"]
    data.update(changes)
    path = tmp_path / "arrays.npz"
    np.savez(path, **{k: v for k, v in data.items() if v is not None})
    return str(path)


ARRAYS_KEYS = [
    "--obs-key",
    "states",
    "--next-obs-key",
    "next_states",
    "--act-key",
    "acs",
    "--rew-key",
    "r",
    "--terminal-key",
    "ended",
    "--timeout-key",
    "cut_by_time",
]


def write_cs285_pkl(tmp_path, episodes):
    """CS285's list of paths: one dict per episode; `terminal` is 1 at each path's last step, whatever ended it."""
    paths = []
    for ep in episodes:
        terminal = np.zeros(len(ep["acts"]))
        terminal[-1] = 1
        paths.append(
            dict(
                observation=ep["obs"][:-1],
                image_obs=np.array([]),
                reward=ep["rews"],
                action=ep["acts"],
                next_observation=ep["obs"][1:],
                terminal=terminal,
            )
        )
    path = tmp_path / "expert_data.pkl"
    with open(path, "wb") as fh:
        pickle.dump(paths, fh)
    return str(path)


# -- round trips ----------------------------------------------------------------------------------------------------

# (case, env, --source, extra flags, ends: "apart" kept as recorded, or the single flag's "termination"/"truncation")
CASES = [
    ("minari id", "CartPole-v1", "minari", [], "apart"),
    ("minari directory", "Pendulum-v1", "minari", [], "apart"),
    ("imitation npz", "CartPole-v1", "imitation", [], "termination"),
    ("imitation hf", "Pendulum-v1", "imitation", ["--dones-are-truncations"], "truncation"),
    ("d4rl", "Pendulum-v1", "d4rl", [], "apart"),
    ("arrays npz", "CartPole-v1", "arrays", ARRAYS_KEYS, "apart"),
    ("cs285 pkl", "Pendulum-v1", "arrays", [], "termination"),
]


def write_source(case, tmp_path, monkeypatch, env_id, episodes):
    if case.startswith("minari"):
        return write_minari(tmp_path, monkeypatch, env_id, episodes, as_directory=case == "minari directory")
    writers = {
        "imitation npz": write_imitation_npz,
        "imitation hf": write_imitation_hf,
        "d4rl": write_d4rl,
        "arrays npz": write_arrays_npz,
        "cs285 pkl": write_cs285_pkl,
    }
    return writers[case](tmp_path, episodes)


@pytest.mark.parametrize("case,env_id,source,extra,ends_as", CASES, ids=[c[0] for c in CASES])
def test_converts_round_trips_and_trains(run, tmp_path, monkeypatch, case, env_id, source, extra, ends_as):
    episodes = rollouts(env_id)
    src = write_source(case, tmp_path, monkeypatch, env_id, episodes)
    out = tmp_path / "out" / "demos.npz"
    r = run("convert_demos.py", "--source", source, "--path", src, "--env-id", env_id, "--out", out, *CONVERT, *extra)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = r.stdout.strip().splitlines()[-1]
    assert f"{len(episodes)} episodes" in summary and str(out) in summary, summary
    if case in ("imitation npz", "imitation hf", "d4rl"):  # each holds one incomplete episode, dropped
        assert "dropped 1 incomplete episode" in r.stdout, r.stdout

    d = np.load(out)
    f = flat(episodes)
    ends = f["terms"] | f["truncs"]
    np.testing.assert_array_equal(d["observations"], f["obs"].astype(np.float32))
    if env_id == "CartPole-v1":
        assert d["actions"].dtype == np.int64 and d["actions"].shape == (len(ends),)
        np.testing.assert_array_equal(d["actions"], f["acts"])
    else:
        assert d["actions"].dtype == np.float32 and d["actions"].shape == (len(ends), 1)
        np.testing.assert_allclose(d["actions"], f["acts"].reshape(-1, 1), rtol=1e-6)
    np.testing.assert_allclose(d["rewards"], f["rews"], rtol=1e-5)
    np.testing.assert_array_equal(d["terminations"] | d["truncations"], ends)
    if ends_as == "apart":
        np.testing.assert_array_equal(d["terminations"], f["terms"])
        np.testing.assert_array_equal(d["truncations"], f["truncs"])
        assert "boundary_note" not in d.files
    else:
        stored, other = "terminations", "truncations"
        if ends_as == "truncation":
            stored, other = other, stored
        np.testing.assert_array_equal(d[stored], ends)
        assert not d[other].any()
        assert "does not tell a termination from a time-limit truncation" in str(d["boundary_note"])
        assert "note:" in r.stdout
    if case == "d4rl":  # no next_observations in the source: the next step's, a copy of the last one at an end
        expected = np.concatenate([f["obs"][1:], f["obs"][-1:]])
        expected[ends] = f["obs"][ends]
        np.testing.assert_array_equal(d["next_observations"], expected.astype(np.float32))
    else:
        np.testing.assert_array_equal(d["next_observations"], f["next_obs"].astype(np.float32))
    returns = [float(ep["rews"].sum()) for ep in episodes]
    np.testing.assert_allclose(d["episode_returns"], returns, rtol=1e-6)
    assert float(d["expert_return_mean"]) == pytest.approx(np.mean(returns))
    assert float(d["expert_return_std"]) == pytest.approx(np.std(returns))
    assert np.isfinite(float(d["random_return_mean"])) and float(d["random_return_mean"]) < np.mean(returns)
    assert str(d["env_id"]) == env_id and str(d["source"]) == source
    assert str(d["source_path"]) in (os.path.abspath(src), src)

    env = gym.make(env_id)
    demos = bc.load_demos(str(out), env_id, env.observation_space, env.action_space, len(episodes), "first", 1)
    assert int(demos["ends"].sum()) == len(episodes) and demos["file_episodes"] == len(episodes)
    assert demos["expert_return"] == pytest.approx(np.mean(returns))

    r = run("bc.py", "--env-id", env_id, "--demos", out, *TRAIN)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize("layout", ["dones", "episode_starts", "terminals and dones"])
def test_flat_arrays_with_the_usual_names(run, tmp_path, layout):
    """A flat .npz under the usual names: one `dones` flag, or Stable-Baselines' `episode_starts` (both ambiguous),
    or `terminals` next to `dones` (the two kinds of end apart)."""
    f = flat(rollouts("CartPole-v1"))
    ends = f["terms"] | f["truncs"]
    data = dict(observations=f["obs"], actions=f["acts"][:, None], rewards=f["rews"])  # SB3 kept (N, 1) actions
    if layout == "dones":
        data["dones"] = ends.astype(np.float32)
    elif layout == "episode_starts":
        data["episode_starts"] = np.concatenate([[True], ends[:-1]])
    else:
        data.update(terminals=f["terms"], dones=ends)
    src = tmp_path / "flat.npz"
    np.savez(src, **data)
    out = tmp_path / "out.npz"
    r = run("convert_demos.py", "--source", "arrays", "--path", src, "--env-id", "CartPole-v1", "--out", out, *CONVERT)
    assert r.returncode == 0, r.stderr[-2000:]
    d = np.load(out)
    np.testing.assert_array_equal(d["actions"], f["acts"])
    np.testing.assert_array_equal(d["terminations"] | d["truncations"], ends)
    if layout == "terminals and dones":
        np.testing.assert_array_equal(d["truncations"], f["truncs"])
        assert "boundary_note" not in d.files
    else:
        assert not d["truncations"].any() and layout in str(d["boundary_note"])
    expected = np.concatenate([f["obs"][1:], f["obs"][-1:]])
    expected[ends] = f["obs"][ends]
    np.testing.assert_array_equal(d["next_observations"], expected.astype(np.float32))


def test_random_return_is_seeded(run, tmp_path):
    src = write_arrays_npz(tmp_path, rollouts("CartPole-v1"))
    outs = [tmp_path / f"{name}.npz" for name in ("a", "b", "c")]
    for out, seed in zip(outs, (3, 3, 4)):
        args = ["--source", "arrays", "--path", src, "--env-id", "CartPole-v1", "--out", out, "--seed", seed]
        r = run("convert_demos.py", *args, *CONVERT, *ARRAYS_KEYS)
        assert r.returncode == 0, r.stderr[-2000:]
    a, b, c = (float(np.load(out)["random_return_mean"]) for out in outs)
    assert a == b and a != c


def test_overwrite_only_when_asked(run, tmp_path):
    src = write_arrays_npz(tmp_path, rollouts("CartPole-v1"))
    out = tmp_path / "demos.npz"
    out.write_bytes(b"keep me")
    args = ["--source", "arrays", "--path", src, "--env-id", "CartPole-v1", "--out", out, *CONVERT, *ARRAYS_KEYS]
    last = fails_in_one_sentence(run("convert_demos.py", *args))
    assert "already exists" in last and out.read_bytes() == b"keep me"
    r = run("convert_demos.py", *args, "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(np.load(out)["episode_returns"]) == 3


# -- bad input: one sentence, nothing written ------------------------------------------------------------------------


def fails_in_one_sentence(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last, last
    return last


def without(flags, flag):
    """The --*-key flags less one mapping: the usual names are tried for that field."""
    i = flags.index(flag)
    return flags[:i] + flags[i + 2 :]


BAD_ARRAYS = [  # (name, --env-id, arrays changed in the source (None: left out), key flags, words of the sentence)
    ("wrong env id", "NoSuchEnv-v0", {}, ARRAYS_KEYS, "registered gymnasium environment"),
    ("observation shape", "Acrobot-v1", {}, ARRAYS_KEYS, "observations of shape (6,)"),
    ("action out of range", "CartPole-v1", dict(acs=7), ARRAYS_KEYS, "actions in 0..1"),
    ("Box actions for a Discrete env", "CartPole-v1", dict(acs=0.5), ARRAYS_KEYS, "integer actions"),
    ("NaN observation", "CartPole-v1", dict(states=np.nan), ARRAYS_KEYS, "finite observations"),
    ("missing mapped key", "CartPole-v1", dict(acs=None), ARRAYS_KEYS, "'acs' (--act-key)"),
    ("missing key", "CartPole-v1", dict(acs=None), without(ARRAYS_KEYS, "--act-key"), "one of the keys actions"),
    ("short rewards", "CartPole-v1", dict(r="short"), ARRAYS_KEYS, "one per action"),
    ("no complete episode", "CartPole-v1", dict(ended=0, cut_by_time=0), ARRAYS_KEYS, "at least one complete episode"),
]


def changed(f, change):
    """The source's arrays with one change: a value at index 3, all flags off, a shortened array or a key left out."""
    names = dict(states="obs", acs="acts", r="rews", ended="terms", cut_by_time="truncs")
    out = {}
    for key, value in change.items():
        array = f[names[key]].copy()
        if value is None:
            out[key] = None
        elif value == "short":
            out[key] = array[:-4]
        elif key in ("ended", "cut_by_time"):
            out[key] = np.zeros_like(array)
        else:
            array = array.astype(np.result_type(array, value))
            array.flat[3] = value
            out[key] = array
    return out


@pytest.mark.parametrize("name,env_id,change,keys,words", BAD_ARRAYS, ids=[b[0] for b in BAD_ARRAYS])
def test_bad_arrays_end_in_one_sentence(run, tmp_path, name, env_id, change, keys, words):
    episodes = rollouts("CartPole-v1")
    src = write_arrays_npz(tmp_path, episodes, **changed(flat(episodes), change))
    out = tmp_path / "out.npz"
    r = run("convert_demos.py", "--source", "arrays", "--path", src, "--env-id", env_id, "--out", out, *keys)
    last = fails_in_one_sentence(r)
    assert words in last, last
    assert not out.exists()


def test_bad_sources_end_in_one_sentence(run, tmp_path, monkeypatch):
    episodes = rollouts("CartPole-v1")
    out = tmp_path / "out.npz"
    common = ["--env-id", "CartPole-v1", "--out", out]

    src = write_d4rl(tmp_path, episodes)
    h5py = pytest.importorskip("h5py")
    with h5py.File(src, "a") as h:
        del h["timeouts"]
    assert "D4RL keys" in fails_in_one_sentence(run("convert_demos.py", "--source", "d4rl", "--path", src, *common))

    src = write_imitation_npz(tmp_path, episodes)
    data = dict(np.load(src, allow_pickle=True))
    del data["rews"]
    np.savez(src, **data)
    last = fails_in_one_sentence(run("convert_demos.py", "--source", "imitation", "--path", src, *common))
    assert "rews" in last

    write_minari(tmp_path, monkeypatch, "CartPole-v1", episodes, as_directory=False)
    last = fails_in_one_sentence(run("convert_demos.py", "--source", "minari", "--path", "tests/none-v0", *common))
    assert "local Minari dataset id" in last and "never downloads" in last

    src = tmp_path / "paths.pkl"
    src.write_bytes(pickle.dumps([{"observation": np.zeros((3, 4))}]))
    last = fails_in_one_sentence(run("convert_demos.py", "--source", "arrays", "--path", src, *common))
    assert "one of the keys actions" in last
    assert not out.exists()


@pytest.mark.skipif(SUBPROCESS, reason="hides a package through sys.modules, which only an in-process run sees")
@pytest.mark.parametrize(
    "module,source,words",
    [("minari", "minari", "minari package"), ("datasets", "imitation", "datasets package"), ("h5py", "d4rl", "h5py")],
)
def test_missing_optional_package_is_one_sentence(run, tmp_path, monkeypatch, module, source, words):
    monkeypatch.setitem(sys.modules, module, None)  # `import <module>` raises ImportError
    src = tmp_path / "source"
    src.mkdir()  # a directory: the imitation reader takes it for a HuggingFace dataset
    if source == "d4rl":
        src = tmp_path / "d4rl.hdf5"
        src.write_bytes(b"")
    args = ["--source", source, "--path", src, "--env-id", "CartPole-v1", "--out", tmp_path / "out.npz"]
    last = fails_in_one_sentence(run("convert_demos.py", *args))
    assert words in last and "missing" in last and "pip install" in last, last
