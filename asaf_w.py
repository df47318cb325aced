"""ASAF-w and ASAF-1: Adversarial Soft Advantage Fitting on windows of transitions.

Barde, Roy, Jeon, Pineau, Pal, Nowrouzezahrai. "Adversarial Soft Advantage Fitting: Imitation Learning without
Policy Optimization", NeurIPS 2020, arXiv:2006.13258 (Algorithm 1, Eq. 12, Sec. 4.3 "ASAF-w").

Ideas a reader must not miss:
- The discriminator is *structured*: D(tau) = q_pi_tilde(tau) / (q_pi_tilde(tau) + q_pi_G(tau)) with
  q_pi(tau) = prod_t pi(a_t | s_t) (the dynamics cancel in the ratio). So D = sigmoid(sum log pi_tilde - sum log pi_G),
  always computed in log space, and fitting D with the usual BCE (Eq. 12) *is* the policy update: no reward, no value
  function, no RL step. pi_G is the policy that collected the batch, frozen during the update; afterwards
  pi_G <- pi_tilde.
- ASAF-w applies D to windows of `--window` consecutive transitions instead of whole episodes; `--window 1` is ASAF-1,
  which the paper finds the best and the fastest.
"""

import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (goes into the run name)"""
    seed: int = 1
    """seed of the experiment: python, numpy, torch, the demo draw and every env (docs/design.md gives the formula)"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = False
    """if toggled, train on CUDA when it is available (a small MLP is usually faster on the CPU)"""
    threads: int = 1
    """torch CPU threads; 1 is fastest on a busy 2-core machine"""
    track: bool = False
    """if toggled, log the run to Weights and Biases"""
    wandb_project_name: str = "cleanrl-imitation"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the wandb entity (team)"""
    capture_video: bool = False
    """if toggled, record the first final-evaluation episode to `videos/<run_name>`"""
    save_model: bool = False
    """if toggled, save the policy to `runs/<run_name>/asaf_w.pt` (evaluate it again with --load-model)"""
    load_model: str | None = None
    """path of a saved `asaf_w.pt`: skip training, evaluate that policy and write the summary"""
    resume: str | None = None
    """directory `runs/<run_name>` of an interrupted run: continue it from the `resume.pt` that each periodic
    evaluation writes there (same flags; the run keeps its name, TensorBoard log and summary.json)"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int = 300_000
    """total environment steps of the learner (300k: what the classic envs need, minutes on a CPU; MuJoCo needs
    about 1M, with `--hidden-sizes 256 256`)"""
    learning_rate: float = 1e-3
    """Adam learning rate of the policy pi_tilde"""
    demos: str | None = None
    """demonstrations file (default: experts/<env-id>/demos.npz next to this script)"""
    num_demos: int = 10
    """expert episodes used, taken from the demonstrations file as --demo-draw says"""
    demo_draw: Literal["random", "first"] = "random"
    """'random': --num-demos episodes drawn at random with the run seed (the benchmark's protocol); 'first': the
    first --num-demos episodes of the file"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the policy"""
    eval_episodes: int = 10
    """episodes of each periodic evaluation of the deterministic policy"""
    eval_every: int = 25_000
    """evaluate the deterministic policy every this many env steps (0: only the final evaluation)"""
    final_eval_episodes: int = 50
    """episodes of the final evaluation, the number summary.json reports (start states no other seed sees)"""

    # ASAF-w specific
    window: int = 32
    """w, transitions per discriminator window (ASAF-w); `--window 1` is ASAF-1"""
    window_stride: int = 0
    """steps between consecutive window starts (0 = `window`, i.e. non-overlapping windows)"""
    num_envs: int = 8
    """parallel environments (gymnasium SyncVectorEnv) collecting the learner's batch"""
    num_steps: int = 250
    """steps per env per update: the batch holds num_envs * num_steps transitions"""
    update_epochs: int = 0
    """epochs over the learner's windows per update (Algorithm 1 line 5 is a loop of epochs x minibatches); 0 = 5 for
    ASAF-1 (--window 1), whose longer updates overshoot on states the expert never visits, and 30 for longer windows,
    which learn too slowly with fewer (docs/asaf.md)"""
    batch_size: int = 100
    """learner transitions per minibatch: batch_size // window learner windows, paired with as many expert windows"""
    max_grad_norm: float = 1.0
    """gradient-norm clipping of each policy step"""
    log_std_min: float = -5.0
    """Box actions: lower bound of the log-std (upper: 2), kept by clamping the parameter after each step; the fit
    of deterministic demos drives sigma down, and a higher floor (-2) held it where it blurred the expert's actions"""
    norm_obs: bool = False
    """if toggled, the policy reads each observation standardised with the mean and std of the demos used, clipped to
    [-10, 10] (as bc.py and gail_ppo.py standardise theirs); off, the raw observation, whose MuJoCo velocities reach
    +-10 (standardising lifted ASAF-1 on Walker2d-v5, not on Hopper, Ant or HalfCheetah: docs/asaf.md)"""
    censored: bool = True
    """Box actions: if toggled, score each action as the env executes it, a Gaussian censored at the action bounds (a
    sample beyond a bound counts as the bound, with the probability of the tail); off, the plain Gaussian density of
    the sampled action, under which a mean beyond the box keeps lowering the loss by running further out
    (docs/asaf.md)"""
    anneal_lr: bool = True
    """if toggled, decay the learning rate linearly to 0 over training (steadies the adversarial game's end)"""


LOG_STD_MAX = 2.0


def make_env(env_id):
    def thunk():
        return gym.make(env_id)

    return thunk


def mlp(in_dim, out_dim, hidden_sizes):
    layers, d = [], in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.Tanh()]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


class Policy(nn.Module):
    """pi(a|s): categorical logits (Discrete) or a Gaussian with a learned, state-independent log-std (Box, unsquashed).

    Why state-independent: the log-likelihood of a Gaussian weights each state by 1/sigma(s)^2, so a state-dependent
    sigma lets the fit shrink sigma where the mean is easy (Pendulum's "hold at the top") and give up on the states
    that matter (the swing-up). One sigma shared by every state makes the fit an evenly weighted regression of the
    mean (docs/asaf.md).
    """

    def __init__(
        self, obs_dim, act_dim, hidden_sizes, discrete, log_std_min=Args.log_std_min, bounds=None, obs_stats=None
    ):
        super().__init__()
        self.discrete = discrete
        # (mean, std) of the demos' observations: buffers, saved with the weights so a checkpoint reads as it learned
        self.norm_obs = obs_stats is not None
        if self.norm_obs:
            self.register_buffer("obs_mean", torch.as_tensor(obs_stats[0], dtype=torch.float32))
            self.register_buffer("obs_std", torch.as_tensor(obs_stats[1], dtype=torch.float32))
        # the action bounds of a censored Gaussian (buffers: they follow .to(device), and are not saved)
        self.censored = bounds is not None and not discrete
        low = None
        high = None
        if self.censored:
            low = torch.as_tensor(bounds[0], dtype=torch.float32)
            high = torch.as_tensor(bounds[1], dtype=torch.float32)
        self.register_buffer("low", low, persistent=False)
        self.register_buffer("high", high, persistent=False)
        self.log_std_min = log_std_min
        self.net = mlp(obs_dim, act_dim, hidden_sizes)  # logits, or the Gaussian's mean
        self.log_std = None if discrete else nn.Parameter(torch.zeros(act_dim))

    def forward(self, obs):
        """(log-probabilities of every action, None) if Discrete, (mean, log-std) if Box."""
        if self.norm_obs:
            obs = ((obs - self.obs_mean) / self.obs_std).clamp(-10, 10)
        out = self.net(obs)
        if self.discrete:
            return out.log_softmax(-1), None
        return out, self.log_std.expand_as(out)

    def bound_log_std_(self):
        """Projected gradient step: clamp the log-std *parameter* into [log_std_min, LOG_STD_MAX] after each optimizer
        step. A clamp inside forward would zero its gradient below the floor while Adam's momentum carries the raw
        value further down, and nothing would bring it back; here the gradient always flows."""
        if self.log_std is not None:
            with torch.no_grad():
                self.log_std.clamp_(self.log_std_min, LOG_STD_MAX)

    def log_prob(self, obs, act):
        """log pi(a|s), summed over action dimensions; act is the *sampled* (unclipped) action."""
        out, log_std = self(obs)
        if self.discrete:
            return out.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)
        if self.censored:
            return censored_log_prob(act, out, log_std, self.low, self.high).sum(-1)
        return (-0.5 * ((act - out) / log_std.exp()) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)

    @torch.no_grad()
    def act(self, obs, deterministic=False):
        out, log_std = self(obs)
        if self.discrete:
            if deterministic:
                return out.argmax(-1)
            return torch.multinomial(out.exp(), 1).squeeze(-1)
        if deterministic:
            return out
        return out + log_std.exp() * torch.randn_like(out)


def demo_obs_stats(obs):
    """(mean, std) per observation dimension of the demos' observations, std = sqrt(var + 1e-8)."""
    return obs.mean(0), np.sqrt(obs.var(0) + 1e-8)


def censored_log_prob(act, mu, log_std, low, high):
    """Per dimension, log-probability of the action the env executes, a = clip(act, low, high), under N(mu, sigma^2)
    censored at the bounds: the density inside the box, the mass of the tail (log Phi, in log space) at a bound.

    Why: in a state only the learner visits, Eq. 12 is lowest for a pi_tilde that puts its mass away from pi_G's
    samples; with the plain density a mean beyond the box reaches that by running off, while the env, which clips,
    sees no change. Censored, every sample beyond a bound *is* the bound, so running further out no longer lowers
    the loss. Infinite bounds are never hit (the density is used).
    """
    a = torch.maximum(torch.minimum(act, high), low)
    std = log_std.exp()
    density = -0.5 * ((a - mu) / std) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    at_low = a <= low
    at_high = a >= high
    # tails on safe arguments where unused: no inf may reach the gradient through torch.where
    safe_low = torch.where(torch.isfinite(low), low, torch.zeros_like(low))
    safe_high = torch.where(torch.isfinite(high), high, torch.zeros_like(high))
    below = torch.special.log_ndtr(torch.where(at_low, (safe_low - mu) / std, torch.zeros_like(mu)))
    above = torch.special.log_ndtr(torch.where(at_high, (mu - safe_high) / std, torch.zeros_like(mu)))
    return torch.where(at_low, below, torch.where(at_high, above, density))


def asaf_loss(logp_new, logp_old, is_expert):
    """BCE of the structured discriminator (Eq. 12), per window, in log space.

    logp_new / logp_old: sum over each window of log pi_tilde / log pi_G, shape (B,). is_expert: (B,) 1 for demos.
    log D = log q_tilde - log(q_tilde + q_G) = logsigmoid(x), log(1 - D) = logsigmoid(-x), x = logp_new - logp_old.
    """
    x = logp_new - logp_old
    return -(is_expert * F.logsigmoid(x) + (1 - is_expert) * F.logsigmoid(-x)).mean()


def make_windows(ends, window, stride):
    """Windows over a flat transition array whose segments end where `ends` is True (ends[-1] must be True).

    Windows start at every `stride`-th transition of each segment, counted from the segment's first transition, and
    never cross a segment end: a window that would is cut there (its tail is masked out). Returns idx (M, window) and
    mask (M, window), with idx pointing at the window's first transition where mask is False.
    """
    n = len(ends)
    end_pos = np.flatnonzero(ends)
    segment = np.searchsorted(end_pos, np.arange(n))
    seg_end = end_pos[segment]  # last transition of each transition's segment
    seg_start = np.concatenate([[0], end_pos[:-1] + 1])[segment]
    starts = np.flatnonzero((np.arange(n) - seg_start) % stride == 0)
    idx = starts[:, None] + np.arange(window)[None, :]
    mask = idx <= seg_end[starts][:, None]
    return np.where(mask, idx, starts[:, None]), mask


def window_logp(policy, obs, act, idx, mask):
    """sum_t log pi(a_t|s_t) over each window: one batched forward on the flat window transitions."""
    logp = policy.log_prob(obs[idx.reshape(-1)], act[idx.reshape(-1)]).view(idx.shape)
    return (logp * mask).sum(-1)


def policy_kl(policy, obs, old_out, old_log_std):
    """KL(pi_G || pi_tilde) averaged over `obs`: how far one update moved the policy. old_* is pi_G's forward."""
    out, log_std = policy(obs)
    if policy.discrete:
        return (old_out.exp() * (old_out - out)).sum(-1).mean()
    var_ratio = (2 * (old_log_std - log_std)).exp()
    mean_term = ((old_out - out) / log_std.exp()) ** 2
    return (log_std - old_log_std + 0.5 * (var_ratio + mean_term - 1)).sum(-1).mean()


# flags that change nothing a run computes: a resumed run may give them other values
RESUME_FREE = (
    "resume",
    "track",
    "wandb_project_name",
    "wandb_entity",
    "capture_video",
    "save_model",
    "threads",
    "cuda",
)


def training_flags(args):
    """The flags that decide what a run computes: a resumed run must share every one with the interrupted one."""
    return {k: v for k, v in asdict(args).items() if k not in RESUME_FREE}


def rng_states():
    """python, numpy and torch generator states, in types that torch.load(weights_only=True) reads back."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return dict(
        python=random.getstate(),
        numpy=(name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        torch=torch.get_rng_state(),
    )


def set_rng_states(states):
    random.setstate(states["python"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])


def save_resume(run_name, state):
    """Write runs/<run_name>/resume.pt atomically: a kill while saving leaves the previous one whole."""
    path = f"runs/{run_name}/resume.pt"
    torch.save(dict(state, script=SCRIPT), path + ".tmp")
    os.replace(path + ".tmp", path)


def load_resume(run_dir, args):
    """The state an interrupted run saved at its last periodic evaluation; anything else ends in one sentence."""
    run_name = os.path.basename(os.path.normpath(run_dir))
    here = os.path.join("runs", run_name)
    if not (os.path.isdir(run_dir) and os.path.isdir(here) and os.path.samefile(run_dir, here)):
        fail(f"expected --resume to be a run directory runs/<run_name> under the current directory, found {run_dir}.")
    path = os.path.join(run_dir, "resume.pt")
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        fail(f"expected --resume to name an interrupted run, found {run_dir} finished (it holds summary.json).")
    if not os.path.isfile(path):
        fail(f"expected {path} for --resume (written at each periodic evaluation), found no such file.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file, a checkpoint of another kind
        reason = type(e).__name__
        fail(f"expected {path} to be a resume.pt written by {SCRIPT}, found a file torch cannot read ({reason}).")
    if not isinstance(state, dict) or state.get("script") != SCRIPT:
        fail(f"expected {path} to be a resume.pt written by {SCRIPT}, found another kind of file.")
    flags = training_flags(args)
    saved_flags = {"norm_obs": False, **state["flags"]}  # a run saved before --norm-obs existed read raw observations
    changed = sorted(k for k in flags if saved_flags.get(k) != flags[k])
    if changed:
        saved = {k: saved_flags.get(k) for k in changed}
        given = {k: flags[k] for k in changed}
        fail(f"expected the interrupted run's flags {saved} to resume it, found {given}.")
    return run_name, state


# ======================================================================================================================
# Plumbing: the seams every learner shares (docs/design.md, "The plumbing contract"). This block is pasted byte for
# byte into bc.py, gail_ppo.py, asaf.py, asaf_w.py, dagger.py and aggrevated.py; tests/test_plumbing.py checks that the
# copies are identical. Read the algorithm above first: nothing below is specific to it.
# ======================================================================================================================
SCRIPT = os.path.basename(__file__)
ENV_SEED_STRIDE = 10_000  # env seeds per run seed and purpose (at most this many envs or episodes of one kind)
MAX_SEED = 100_000  # run seeds 0 .. MAX_SEED - 1 keep the three ranges of env_seeds apart
ENV_SEED_BASE = {"train": 0, "eval": 1_000_000_000, "final": 2_000_000_000}


def fail(msg):
    """Stop with one sentence that names what was expected and what was found: no traceback, nothing overwritten."""
    sys.exit(f"{SCRIPT}: {msg}")


def env_seeds(seed, purpose, n):
    """The env seeds of a run, one formula in every script: ENV_SEED_BASE[purpose] + 10_000 * seed + i, i < n.

    'train' seeds the training envs, 'eval' the periodic evaluations (the same start states each time, so the curve
    compares like with like), 'final' the final evaluation that summary.json reports. The three ranges never meet,
    and two run seeds never share an env seed, so the seeds of one benchmark cell are judged on disjoint start states.
    """
    if n > ENV_SEED_STRIDE:
        fail(f"expected at most {ENV_SEED_STRIDE} {purpose} envs or episodes, found {n}.")
    return [ENV_SEED_BASE[purpose] + ENV_SEED_STRIDE * seed + i for i in range(n)]


def check_args(args, counts=(), counts0=(), rates=(), fractions=()):
    """Check the numeric flags as they are read: `counts` are integers >= 1, `counts0` integers >= 0, `rates` finite
    and > 0, `fractions` in [0, 1]; every float flag is finite, every hidden size >= 1, the seed in 0..MAX_SEED - 1,
    and the evaluation episodes at most ENV_SEED_STRIDE (each needs an env seed of its own: checked here, not after
    training)."""

    def flag(name):
        return "--" + name.replace("_", "-")

    values = vars(args)
    for name, value in values.items():
        if isinstance(value, float) and not np.isfinite(value):
            fail(f"expected {flag(name)} to be a finite number, found {value}.")
    for name in counts:
        if values[name] < 1:
            fail(f"expected {flag(name)} >= 1, found {values[name]}.")
    for name in counts0:
        if values[name] < 0:
            fail(f"expected {flag(name)} >= 0, found {values[name]}.")
    for name in rates:
        if not values[name] > 0:
            fail(f"expected {flag(name)} > 0, found {values[name]}.")
    for name in fractions:
        if not 0.0 <= values[name] <= 1.0:
            fail(f"expected {flag(name)} in [0, 1], found {values[name]}.")
    if "hidden_sizes" in values and (len(args.hidden_sizes) == 0 or min(args.hidden_sizes) < 1):
        fail(f"expected --hidden-sizes to be one or more layer sizes >= 1, found {list(args.hidden_sizes)}.")
    if not 0 <= args.seed < MAX_SEED:
        fail(f"expected --seed in 0..{MAX_SEED - 1}, found {args.seed}.")
    for name in ("eval_episodes", "final_eval_episodes"):
        if values[name] > ENV_SEED_STRIDE:
            fail(f"expected {flag(name)} <= {ENV_SEED_STRIDE}, found {values[name]}.")


def env_spaces(env_id):
    """Observation and action space of `env_id`, checked: a registered id, a flat Box observation, a Box or Discrete
    action. Returns (obs_space, act_space, discrete, obs_dim, act_dim); act_dim is the number of actions if Discrete."""
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
    discrete = isinstance(act_space, gym.spaces.Discrete)
    act_dim = int(act_space.n) if discrete else int(np.prod(act_space.shape))
    return obs_space, act_space, discrete, int(obs_space.shape[0]), act_dim


def default_path(path, env_id, name):
    """`path`, or experts/<env-id>/<name> next to this script when `path` is None."""
    if path is not None:
        return path
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "experts", env_id, name)


def load_demos(path, env_id, obs_space, act_space, num_demos, draw, seed):
    """Read a demonstrations file (docs/design.md, "Demonstrations") and keep `num_demos` of its episodes.

    draw 'random' takes num_demos episodes at random, the draw seeded by the run seed; 'first' the first num_demos.
    Every check ends in one sentence: the file, its keys, the env id, shapes, action type and range, finite values,
    complete episodes and the count. Returns a dict: observations, actions, ends (True at each episode's last
    transition) of the episodes used, in file order; `episodes` (their indices in the file), `episode_returns` and
    `terminated` (whether each ended in a termination rather than a time limit); `expert_return` (the mean return
    of the episodes used, or of the whole file if none are used: the normalized score's reference);
    `file_expert_return`, `random_return`, `file_episodes`, `path` and `draw`.
    """
    if not os.path.isfile(path):
        fail(f"expected a demonstrations file at {path}, found no such file (record one with expert.py).")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except Exception as e:  # a truncated file, a pickle, a text file
        fail(f"expected {path} to be a .npz demonstrations file, found a file numpy cannot read ({type(e).__name__}).")
    keys = ["observations", "actions", "terminations", "truncations", "env_id", "random_return_mean"]
    missing = [k for k in keys if k not in data]
    if missing or ("episode_returns" not in data and "rewards" not in data):
        fail(f"expected {path} to hold {keys} and episode_returns or rewards, found {sorted(data)}.")
    if str(data["env_id"]) != env_id:
        fail(f"expected demonstrations for {env_id}, found demonstrations for {data['env_id']} in {path}.")
    obs, act = data["observations"], data["actions"]
    ends = data["terminations"].astype(bool) | data["truncations"].astype(bool)
    if obs.shape[1:] != obs_space.shape:
        fail(f"expected observations of shape {obs_space.shape} for {env_id}, found {obs.shape[1:]} in {path}.")
    if not len(act) == len(ends) == len(obs):
        fail(
            f"expected as many actions and episode flags as observations, found {len(act)}, {len(ends)} and "
            f"{len(obs)} in {path}."
        )
    discrete = isinstance(act_space, gym.spaces.Discrete)
    if discrete != (act.ndim == 1 and np.issubdtype(act.dtype, np.integer)):
        kind = "integer actions of shape (N,)" if discrete else f"float actions of shape (N, {act_space.shape[0]})"
        fail(f"expected {kind} for {env_id}, found {act.dtype} actions of shape {act.shape} in {path}.")
    if not discrete and act.shape[1:] != act_space.shape:
        fail(f"expected actions of shape {act_space.shape} for {env_id}, found {act.shape[1:]} in {path}.")
    if not np.all(np.isfinite(obs)) or not np.all(np.isfinite(act)):
        fail(f"expected finite observations and actions, found NaN or infinite values in {path}.")
    if discrete:
        low, high = 0, act_space.n - 1
    else:
        low, high = act_space.low, act_space.high
    if len(act) and (np.any(act < low - 1e-5) or np.any(act > high + 1e-5)):
        fail(
            f"expected actions within the action space {act_space} of {env_id}, found actions from {act.min()} to "
            f"{act.max()} in {path}."
        )
    end_idx = np.flatnonzero(ends)
    if len(end_idx) == 0 or end_idx[-1] != len(obs) - 1:
        fail(f"expected {path} to end with a complete episode (a termination or truncation), found it cut short.")
    starts = np.concatenate([[0], end_idx[:-1] + 1])
    if "episode_returns" in data:
        returns = data["episode_returns"].astype(np.float64).reshape(-1)
    else:
        returns = np.add.reduceat(data["rewards"].astype(np.float64), starts)
    random_return = float(data["random_return_mean"])
    if len(returns) != len(end_idx):
        fail(
            f"expected one episode return per episode, found {len(returns)} returns for {len(end_idx)} episodes "
            f"in {path}."
        )
    if not np.all(np.isfinite(returns)) or not np.isfinite(random_return):
        fail(f"expected finite episode returns and random_return_mean, found NaN or infinite values in {path}.")
    if not 0 <= num_demos <= len(end_idx):
        fail(f"expected --num-demos at most {len(end_idx)} (the episodes in {path}), found {num_demos}.")
    if "weak_expert" in data and bool(data["weak_expert"]):
        print(f"{SCRIPT}: warning: {path} was recorded from an expert that expert.py flagged as weak", file=sys.stderr)
    if draw == "random":
        episodes = np.sort(np.random.default_rng(seed).choice(len(end_idx), num_demos, replace=False))
    else:
        episodes = np.arange(num_demos)
    keep = np.zeros(len(obs), bool)
    for e in episodes:
        keep[starts[e] : end_idx[e] + 1] = True
    used_returns = returns[episodes]
    if num_demos > 0:
        expert_return = float(used_returns.mean())
    else:
        expert_return = float(returns.mean())
    if not expert_return > random_return:
        fail(
            f"expected the demonstrations to return more than a random policy ({random_return:.1f}), found "
            f"{expert_return:.1f} in {path}."
        )
    return dict(
        observations=obs[keep].astype(np.float32),
        actions=act[keep],
        ends=ends[keep],
        path=path,
        draw=draw,
        episodes=[int(e) for e in episodes],
        episode_returns=[float(r) for r in used_returns],
        terminated=[bool(data["terminations"][end_idx[e]]) for e in episodes],
        expert_return=expert_return,
        file_expert_return=float(returns.mean()),
        random_return=random_return,
        file_episodes=len(end_idx),
    )


def normalized_score(ret, demos):
    """(R - R_random) / (R_expert - R_random), R_expert the mean return of the demonstrations actually used."""
    return (ret - demos["random_return"]) / (demos["expert_return"] - demos["random_return"])


def evaluate(act_fn, env_id, seeds, video_dir=None):
    """One episode per env seed, stepped as one batch. act_fn maps a float32 batch of observations (B, obs_dim) to
    the deterministic actions (a numpy array); Box actions are clipped to the action space only to step the env.
    With video_dir, the first episode is recorded there. Returns the episodes' returns and lengths."""
    envs = []
    for i, s in enumerate(seeds):
        if video_dir and i == 0:
            env = gym.wrappers.RecordVideo(gym.make(env_id, render_mode="rgb_array"), video_dir)
        else:
            env = gym.make(env_id)
        env.action_space.seed(s)
        envs.append(env)
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    returns, lengths = np.zeros(len(envs)), np.zeros(len(envs), int)
    active = np.ones(len(envs), bool)
    while active.any():
        ids = np.flatnonzero(active)
        actions = act_fn(obs[ids])
        for i, a in zip(ids, actions):
            if isinstance(envs[i].action_space, gym.spaces.Box):
                a = np.clip(a, envs[i].action_space.low, envs[i].action_space.high)
            o, r, term, trunc, _ = envs[i].step(a)
            obs[i] = o
            returns[i] += float(r)
            lengths[i] += 1
            active[i] = not (term or trunc)
    for env in envs:
        env.close()  # RecordVideo writes its file on close
    return returns, lengths


def log_evaluation(writer, history, demos, step, start_time, returns):
    """Log one periodic evaluation to TensorBoard and to the run's history (summary.json); returns the score."""
    score = float(normalized_score(returns.mean(), demos))
    writer.add_scalar("eval/episodic_return", returns.mean(), step)
    writer.add_scalar("eval/normalized_score", score, step)
    history.append(
        dict(
            step=int(step),
            wall_seconds=round(time.time() - start_time, 2),
            return_mean=float(returns.mean()),
            normalized_score=score,
        )
    )
    return score


def start_run(args, run_name=None):
    """Seed python, numpy and torch, open TensorBoard (and wandb with --track); returns (run_name, writer). A given
    run_name (a resumed run) logs on into that run's directory."""
    if run_name is None:  # a directory of its own, even for a second run of the same seed started in the same second
        stem = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
        run_name = stem
        n = 1
        while True:
            try:
                os.makedirs(f"runs/{run_name}")
                break
            except FileExistsError:
                n += 1
                run_name = f"{stem}_{n}"
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)
    if args.track:
        try:
            import wandb
        except ImportError:
            fail("expected the wandb package for --track (pip install wandb), found it not installed.")

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            save_code=True,
        )
    writer = SummaryWriter(os.path.abspath(f"runs/{run_name}"))  # absolute: the log thread outlives a chdir
    table = "\n".join(f"|{k}|{v}|" for k, v in vars(args).items())
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + table)
    return run_name, writer


def save_checkpoint(run_name, config, policy, **extra):
    """Save {"config": {...}, "policy": state_dict, **extra} as runs/<run_name>/<script>.pt; `config` holds what
    rebuilds the network (env_id, sizes, ...), `extra` tensors such as observation statistics."""
    path = f"runs/{run_name}/{SCRIPT[: -len('.py')]}.pt"
    torch.save({"config": dict(config, script=SCRIPT), "policy": policy.state_dict(), **extra}, path)
    return path


def load_checkpoint(path, env_id):
    """Read a checkpoint that this script saved for `env_id`; anything else ends in one sentence."""
    what = f"--load-model to be a checkpoint saved by {SCRIPT} --save-model"
    if not os.path.isfile(path):
        fail(f"expected {what}, found no such file at {path}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a demos file, a text file, a pickle of something else
        fail(f"expected {what}, found a file torch cannot read as one at {path} ({type(e).__name__}).")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict) or "policy" not in ckpt:
        fail(f"expected {what}, found another kind of file at {path}.")
    if ckpt["config"].get("script") != SCRIPT:
        fail(f"expected {what}, found a checkpoint of {ckpt['config'].get('script', 'another script')} at {path}.")
    if ckpt["config"].get("env_id") != env_id:
        fail(f"expected a checkpoint for {env_id}, found one for {ckpt['config'].get('env_id')} at {path}.")
    return ckpt


def load_weights(module, state, path):
    """module.load_state_dict(state), or one sentence if the saved network has another shape."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        fail(f"expected {path} to hold this script's network, found another ({' '.join(str(e).split())[:160]}).")


def write_summary(run_name, algo, args, demos, final, history, env_steps, wall_seconds, **extra):
    """Write runs/<run_name>/summary.json (docs/design.md, "summary.json") and print it as one line.

    final = (returns, lengths, env seeds) of the final evaluation; wall_seconds is the training time (the final
    evaluation excluded) in every script; sps = env_steps / wall_seconds."""
    returns, lengths, seeds = final
    score = float(normalized_score(returns.mean(), demos))
    reached = [h for h in history if h["normalized_score"] >= 0.95]
    root = os.path.dirname(os.path.abspath(__file__))
    summary = dict(
        env_id=args.env_id,
        algo=algo,
        seed=args.seed,
        eval_return_mean=float(returns.mean()),
        eval_return_std=float(returns.std()),
        normalized_score=score,
        env_steps=int(env_steps),
        wall_seconds=round(wall_seconds, 2),
        sps=env_steps / max(wall_seconds, 1e-9),
        demos=dict(
            file=os.path.relpath(os.path.abspath(demos["path"]), root),
            draw=demos["draw"],
            episodes=demos["episodes"],
            episode_returns=demos["episode_returns"],
            return_mean=demos["expert_return"],
            file_episodes=demos["file_episodes"],
            file_return_mean=demos["file_expert_return"],
            random_return_mean=demos["random_return"],
            normalized_by="the mean return of the episodes used (of the whole file if none is used)",
        ),
        final_eval=dict(
            episodes=len(returns),
            env_seeds=[int(s) for s in seeds],
            returns=[float(r) for r in returns],
            lengths=[int(n) for n in lengths],
        ),
        history=history,
        steps_to_095=reached[0]["step"] if reached else None,
        seconds_to_095=reached[0]["wall_seconds"] if reached else None,
        **extra,
        args=asdict(args),
    )
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    if "grad_steps" in extra:
        budget = f"{extra['grad_steps']} gradient steps, {env_steps} env steps"
    else:
        budget = f"{env_steps} env steps"
    print(
        f"{algo} {args.env_id} seed={args.seed}: final return {returns.mean():.1f} +- {returns.std():.1f} over "
        f"{len(returns)} episodes, normalized {score:.3f}, {budget} in {wall_seconds:.1f}s "
        f"({summary['sps']:.0f} SPS) -> runs/{run_name}",
        flush=True,
    )
    return summary


# ======================================================================================================================
# End of the plumbing block.
# ======================================================================================================================


if __name__ == "__main__":
    args = tyro.cli(Args)
    check_args(
        args,
        counts=(
            "threads",
            "total_timesteps",
            "num_demos",
            "eval_episodes",
            "final_eval_episodes",
            "window",
            "num_envs",
            "num_steps",
            "batch_size",
        ),
        counts0=("eval_every", "window_stride", "update_epochs"),
        rates=("learning_rate", "max_grad_norm"),
    )
    if args.log_std_min >= LOG_STD_MAX:
        fail(f"expected --log-std-min below {LOG_STD_MAX}, found {args.log_std_min}.")
    obs_space, act_space, discrete, obs_dim, act_dim = env_spaces(args.env_id)
    demos_path = default_path(args.demos, args.env_id, "demos.npz")
    demos = load_demos(demos_path, args.env_id, obs_space, act_space, args.num_demos, args.demo_draw, args.seed)
    stride = args.window_stride or args.window
    update_epochs = args.update_epochs
    if update_epochs == 0:
        if args.window == 1:
            update_epochs = 5
        else:
            update_epochs = 30
    longest = int(np.diff(np.flatnonzero(demos["ends"]), prepend=-1).max())  # windows are cut at episode/batch ends
    if args.window > min(longest, args.num_steps):
        fail(
            f"expected --window <= {min(longest, args.num_steps)} (the longest demo episode has {longest} "
            f"transitions, --num-steps is {args.num_steps}), found --window {args.window}."
        )
    if args.load_model:  # checked before the run starts, so a wrong file leaves no run directory behind
        ckpt = load_checkpoint(args.load_model, args.env_id)
    run_name = None
    resumed = None
    if args.resume:
        if args.load_model:
            fail(f"expected either --load-model or --resume, found both ({args.load_model}, {args.resume}).")
        run_name, resumed = load_resume(args.resume, args)
    run_name, writer = start_run(args, run_name)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    window = args.window
    bounds = None
    if args.censored and not discrete:
        bounds = (act_space.low, act_space.high)
    if args.load_model:
        window = ckpt["config"]["window"]  # the saved policy's variant, whatever --window says
        obs_stats = None
        if ckpt["config"].get("norm_obs", False):
            obs_stats = (np.zeros(obs_dim), np.ones(obs_dim))  # placeholders: the checkpoint's statistics load below
        hidden_sizes = ckpt["config"]["hidden_sizes"]
        policy = Policy(obs_dim, act_dim, hidden_sizes, discrete, args.log_std_min, bounds, obs_stats)
        policy = policy.to(device)
        load_weights(policy, ckpt["policy"], args.load_model)
    else:
        obs_stats = None
        if args.norm_obs:
            obs_stats = demo_obs_stats(demos["observations"])
        policy = Policy(obs_dim, act_dim, args.hidden_sizes, discrete, args.log_std_min, bounds, obs_stats)
        policy = policy.to(device)

    def act_fn(obs):
        return policy.act(torch.as_tensor(obs, device=device), deterministic=True).cpu().numpy()

    eval_seeds = env_seeds(args.seed, "eval", args.eval_episodes)
    history, global_step, start_time = [], 0, time.time()
    resumes = []  # the env steps at which this run was resumed
    if not args.load_model:
        optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
        first_update = 1
        next_eval = args.eval_every
        if resumed is not None:  # the state at the end of the update of the last periodic evaluation
            policy.load_state_dict(resumed["policy"])
            optimizer.load_state_dict(resumed["optimizer"])
            set_rng_states(resumed["rng"])
            history = resumed["history"]
            global_step = resumed["global_step"]
            first_update = resumed["update"] + 1
            next_eval = resumed["next_eval"]
            resumes = resumed["resumes"] + [global_step]
            start_time = time.time() - resumed["train_seconds"]  # wall seconds and SPS count training across resumes
            print(f"resumed {args.resume} at step {global_step}", flush=True)
        # expert windows are fixed: built once from the demos' episode boundaries
        e_obs = torch.as_tensor(demos["observations"], device=device)
        e_act = torch.as_tensor(demos["actions"], device=device)
        e_idx, e_mask = (torch.as_tensor(x, device=device) for x in make_windows(demos["ends"], args.window, stride))

        # SAME_STEP autoreset: the obs returned with a done is already the next episode's first obs, so every stored
        # (s, a) is a real transition; ASAF needs no next observations, only where episodes end.
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id) for _ in range(args.num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        # a resumed run restarts its envs from the next unused train seeds: the episodes in progress when it was
        # saved are dropped, so it is equivalent to the uninterrupted run, not bit-identical
        train_seeds = env_seeds(args.seed, "train", args.num_envs * (len(resumes) + 1))[-args.num_envs :]
        obs, _ = envs.reset(seed=train_seeds)
        T, N = args.num_steps, args.num_envs
        b_obs = torch.zeros((T, N, obs_dim), device=device)
        if discrete:
            b_act = torch.zeros((T, N), dtype=torch.long, device=device)
        else:
            b_act = torch.zeros((T, N, act_dim), device=device)
        b_end = np.zeros((T, N), bool)
        ep_ret, ep_len = np.zeros(N), np.zeros(N, int)
        num_updates = max(1, args.total_timesteps // (T * N))
        for update in range(first_update, num_updates + 1):
            if args.anneal_lr:
                optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (update - 1.0) / num_updates)
            # 1) collect a batch of transitions with pi_G, the current policy (Algorithm 1, line 3)
            finished_lengths, clipped = [], 0.0
            for t in range(T):
                o = torch.as_tensor(obs, dtype=torch.float32, device=device)
                a = policy.act(o)
                a_np = a.cpu().numpy()
                if not discrete:  # clip only when stepping; log-probs use the sampled action
                    clipped += np.mean((a_np < act_space.low) | (a_np > act_space.high)) / T
                    a_np = np.clip(a_np, act_space.low, act_space.high)
                obs, reward, term, trunc, _ = envs.step(a_np)
                b_obs[t] = o
                b_act[t] = a
                b_end[t] = term | trunc
                ep_ret += reward
                ep_len += 1
                for i in np.flatnonzero(term | trunc):
                    writer.add_scalar("charts/episodic_return", ep_ret[i], global_step + t * N + i)
                    writer.add_scalar("charts/episodic_length", ep_len[i], global_step + t * N + i)
                    finished_lengths.append(ep_len[i])
                    ep_ret[i] = 0.0
                    ep_len[i] = 0
            global_step += T * N

            # Windows never cross an episode end: a window that would is cut there (masked). Crossing a reset would
            # still be a valid ratio (the initial-state density cancels like the dynamics), but cutting treats learner
            # and expert data the same way (the demos are separate episodes) and keeps a window a piece of one
            # trajectory, as in the paper. The batch boundary of each env is a cut too: the episode in progress goes
            # on in the next batch under the updated policy, so its two halves belong to different pi_G.
            ends = b_end.T.copy()  # (N, T): each env's stream in time order
            ends[:, -1] = True
            l_windows = make_windows(ends.reshape(-1), args.window, stride)
            l_idx, l_mask = (torch.as_tensor(x, device=device) for x in l_windows)
            l_obs = b_obs.transpose(0, 1).reshape(N * T, obs_dim)
            l_act = b_act.transpose(0, 1).reshape((N * T,) + b_act.shape[2:])

            # 2) log pi_G of learner and expert transitions, once, before the update epochs (pi_G is frozen)
            with torch.no_grad():
                old_out, old_log_std = policy(l_obs)
                e_old_out, e_old_log_std = policy(e_obs)
                if not discrete:  # the shared log-std is a view of the parameter the update changes in place: copy it
                    old_log_std = old_log_std.clone()
                    e_old_log_std = e_old_log_std.clone()
                l_old = policy.log_prob(l_obs, l_act)
                e_old = policy.log_prob(e_obs, e_act)
            l_old_w = (l_old[l_idx] * l_mask).sum(-1)
            e_old_w = (e_old[e_idx] * e_mask).sum(-1)

            # 3) fit the structured discriminator: epochs x minibatches of learner + random expert windows (Eq. 12)
            bs = min(max(1, args.batch_size // args.window), len(l_idx))
            labels = torch.cat([torch.ones(bs, device=device), torch.zeros(bs, device=device)])
            for epoch in range(update_epochs):
                perm = torch.randperm(len(l_idx), device=device)
                for k in range(len(l_idx) // bs):
                    lb = perm[k * bs : (k + 1) * bs]
                    eb = torch.randint(len(e_idx), (bs,), device=device)
                    e_new = window_logp(policy, e_obs, e_act, e_idx[eb], e_mask[eb])
                    l_new = window_logp(policy, l_obs, l_act, l_idx[lb], l_mask[lb])
                    x_old = torch.cat([e_old_w[eb], l_old_w[lb]])
                    loss = asaf_loss(torch.cat([e_new, l_new]), x_old, labels)
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                    optimizer.step()
                    policy.bound_log_std_()
            # 4) pi_G <- pi_tilde happens implicitly: the next batch is collected by the updated policy

            # what explains a collapse (docs/asaf.md): D's accuracy on the last minibatch (D > 1/2 on expert windows,
            # < 1/2 on learner windows), how far the update moved pi (KL), its noise, where its mean sits, and how
            # long the learner's episodes last
            with torch.no_grad():
                x = torch.cat([e_new, l_new]) - x_old
                writer.add_scalar("charts/disc_expert_acc", (x[:bs] > 0).float().mean().item(), global_step)
                writer.add_scalar("charts/disc_learner_acc", (x[bs:] < 0).float().mean().item(), global_step)
                kl = policy_kl(policy, l_obs, old_out, old_log_std).item()
                writer.add_scalar("charts/update_kl", kl, global_step)
                # the same KL on the demos' states: far below the learner's when the update moves pi mostly where
                # the expert never was (Eq. 12's learner term alone acts there)
                kl_e = policy_kl(policy, e_obs, e_old_out, e_old_log_std).item()
                writer.add_scalar("charts/update_kl_expert_states", kl_e, global_step)
                if discrete:
                    entropy = -(old_out.exp() * old_out).sum(-1).mean().item()
                else:
                    entropy = (old_log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1).mean().item()
                    writer.add_scalar("charts/policy_std", old_log_std.exp().mean().item(), global_step)
                    writer.add_scalar("charts/mean_abs_mu", old_out.abs().mean().item(), global_step)
                    writer.add_scalar("charts/clipped_action_fraction", clipped, global_step)
                writer.add_scalar("charts/policy_entropy", entropy, global_step)
            if finished_lengths:
                writer.add_scalar("charts/learner_episode_length", np.mean(finished_lengths), global_step)
            writer.add_scalar("losses/asaf_loss", loss.item(), global_step)
            sps = int(global_step / (time.time() - start_time))
            writer.add_scalar("charts/SPS", sps, global_step)

            if args.eval_every > 0 and (global_step >= next_eval or update == num_updates):
                next_eval += args.eval_every
                returns, _ = evaluate(act_fn, args.env_id, eval_seeds)
                score = log_evaluation(writer, history, demos, global_step, start_time, returns)
                print(
                    f"step={global_step} eval_return={returns.mean():.1f} normalized={score:.3f} "
                    f"loss={loss.item():.3f} kl={kl:.4f} kl_e={kl_e:.4f} entropy={entropy:.3f} sps={sps}",
                    flush=True,
                )
                if update < num_updates:  # what --resume needs to go on after this update
                    state = dict(
                        flags=training_flags(args),
                        argv=sys.argv[1:],
                        update=update,
                        global_step=global_step,
                        next_eval=next_eval,
                        history=history,
                        train_seconds=time.time() - start_time,
                        resumes=resumes,
                        policy=policy.state_dict(),
                        optimizer=optimizer.state_dict(),
                        rng=rng_states(),
                    )
                    save_resume(run_name, state)
        envs.close()
    wall_seconds = time.time() - start_time
    if args.save_model and not args.load_model:
        config = dict(env_id=args.env_id, hidden_sizes=list(args.hidden_sizes), window=args.window)
        config["norm_obs"] = args.norm_obs
        print(f"saved the policy to {save_checkpoint(run_name, config, policy)}")

    # final deterministic evaluation on start states of this seed's own (the number reported in summary.json)
    final_seeds = env_seeds(args.seed, "final", args.final_eval_episodes)
    video_dir = f"videos/{run_name}" if args.capture_video else None
    returns, lengths = evaluate(act_fn, args.env_id, final_seeds, video_dir)
    writer.add_scalar("eval/final_normalized_score", normalized_score(returns.mean(), demos), global_step)
    if window == 1:
        algo = "asaf_1"
    else:
        algo = "asaf_w"
    write_summary(
        run_name,
        algo,
        args,
        demos,
        (returns, lengths, final_seeds),
        history,
        global_step,
        wall_seconds,
        window=window,
        update_epochs=update_epochs,
        resumed_at=resumes,
    )
    if os.path.exists(f"runs/{run_name}/resume.pt"):  # only now: a run killed in its final evaluation can resume
        os.remove(f"runs/{run_name}/resume.pt")
    writer.close()
