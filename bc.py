"""Behavioural cloning (BC): supervised maximum likelihood on the expert's (s, a) pairs.

BC (Pomerleau 1991, "Efficient training of artificial neural networks for autonomous navigation"; the MLE view as in
Bain & Sammut 1995) treats imitation as supervised learning: theta* = argmax_theta E_{(s,a)~D_E}[log pi_theta(a|s)].
- Discrete actions: pi_theta is a categorical over the actions; the NLL is the cross-entropy with the expert's action.
- Box actions: pi_theta(a|s) = N(mu_theta(s), diag(sigma_theta(s))^2) with a learned, state-dependent log-std; the loss
  is the Gaussian NLL. `--loss mse` is the deterministic regression ||mu_theta(s) - a||^2 the notes also mention
  (the MLE of a Gaussian with a fixed, shared std).
- Plain heteroscedastic NLL weights each sample's squared error by 1/sigma(s)^2, so the mean fits badly wherever the
  learned std is large (Seitzer et al. 2022, arXiv:2203.09168). By default each sample's NLL is weighted by
  stop_grad(sigma^2)^beta with beta = 0.5 (beta-NLL); --nll-beta 0 is the plain MLE.

What a reader must not miss:
- BC never acts in the environment while it learns: `env_steps` in summary.json is 0, `--total-steps` counts
  gradient steps, and so do the steps of the evaluation history. The env is only used to evaluate the deterministic
  policy (argmax / mean action).
- BC's known weakness is compounding error (Ross et al. 2011): the learner's small mistakes take it to states the
  expert never visited, where it has no data. It shows with few demonstrations (try `--num-demos 1`).
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
    """if toggled, save the policy to `runs/<run_name>/bc.pt` (evaluate it again with --load-model)"""
    load_model: str | None = None
    """path of a saved `bc.pt`: skip training, evaluate that policy and write the summary"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_steps: int = 10_000
    """gradient steps of training (BC never steps the env while it learns)"""
    learning_rate: float = 1e-3
    """AdamW learning rate (annealed linearly to 0 with --anneal-lr)"""
    demos: str | None = None
    """demonstrations file (default: experts/<env-id>/demos.npz next to this script)"""
    num_demos: int = 10
    """expert episodes used, taken from the demonstrations file as --demo-draw says"""
    demo_draw: Literal["random", "first"] = "random"
    """'random': --num-demos episodes drawn at random with the run seed (the benchmark's protocol); 'first': the
    first --num-demos episodes of the file"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the policy (e.g. 64 64 for the notes' model-compression experiment)"""
    eval_episodes: int = 10
    """episodes of each periodic evaluation of the deterministic policy"""
    eval_every: int = 2_000
    """evaluate the deterministic policy every this many gradient steps and at the last (0: only the final one)"""
    final_eval_episodes: int = 50
    """episodes of the final evaluation, the number summary.json reports (start states no other seed sees)"""

    # BC specific
    batch_size: int = 256
    """(s, a) pairs per minibatch, drawn with replacement from the training split of the demo transitions"""
    loss: Literal["nll", "mse"] = "nll"
    """Box actions: Gaussian negative log-likelihood (MLE) or mean squared error (deterministic regression)"""
    nll_beta: float = 0.5
    """Box + nll: beta-NLL, each sample's NLL weighted by stop_grad(sigma^2)^beta; 0: plain MLE, 1: MSE's gradient"""
    val_fraction: float = 0.1
    """fraction of the demo transitions held out (split seeded by --seed) as a validation set; its loss is logged"""
    anneal_lr: bool = True
    """if toggled, anneal the learning rate linearly to 0"""
    weight_decay: float = 0.0
    """AdamW weight decay (>= 0)"""


LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0


def mlp(in_dim, out_dim, hidden_sizes):
    layers = []
    d = in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


class Policy(nn.Module):
    """Categorical head (logits) for Discrete actions, Gaussian head (mean, state-dependent log-std) for Box actions.
    Observations are standardised with the demo statistics, kept as buffers so a saved policy carries them."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, discrete, obs_mean, obs_std):
        super().__init__()
        self.discrete = discrete
        if discrete:
            out_dim = act_dim  # logits
        else:
            out_dim = 2 * act_dim  # mean and log-std
        self.net = mlp(obs_dim, out_dim, hidden_sizes)
        self.register_buffer("obs_mean", torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(obs_std, dtype=torch.float32))

    def forward(self, obs):
        """The logits if Discrete, (mean, log-std) if Box; the log-std is a network output, clamped to its range."""
        out = self.net((obs - self.obs_mean) / self.obs_std)
        if self.discrete:
            return out
        mean, log_std = out.chunk(2, -1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    @torch.no_grad()
    def act(self, obs):
        """The deterministic policy used for evaluation: argmax of the logits, or the Gaussian mean."""
        if self.discrete:
            return self(obs).argmax(-1)
        mean, _ = self(obs)
        return mean


def bc_loss(policy, obs, actions, loss="nll", beta=0.0):
    """BC objective: -1/N sum log pi(a_i|s_i) (cross-entropy / Gaussian NLL, beta-weighted), or the MSE of the mean."""
    if policy.discrete:
        return F.cross_entropy(policy(obs), actions)
    mean, log_std = policy(obs)
    if loss == "mse":
        return (mean - actions).pow(2).sum(-1).mean()
    # log N(a; mu, sigma) = -(a - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2, summed over action dimensions
    log_prob = -0.5 * ((actions - mean) / log_std.exp()).pow(2) - log_std - 0.5 * np.log(2 * np.pi)
    weight = (2 * beta * log_std).exp().detach() if beta else 1.0  # stop_grad(sigma^2)^beta, per dimension
    return -(weight * log_prob).sum(-1).mean()


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
        counts=("threads", "total_steps", "num_demos", "eval_episodes", "final_eval_episodes", "batch_size"),
        counts0=("eval_every",),
        rates=("learning_rate",),
        fractions=("val_fraction",),
    )
    if args.weight_decay < 0:
        fail(f"expected --weight-decay >= 0, found {args.weight_decay}.")
    obs_space, act_space, discrete, obs_dim, act_dim = env_spaces(args.env_id)
    demos_path = default_path(args.demos, args.env_id, "demos.npz")
    demos = load_demos(demos_path, args.env_id, obs_space, act_space, args.num_demos, args.demo_draw, args.seed)
    num_transitions = len(demos["observations"])
    n_val = int(args.val_fraction * num_transitions)
    if not args.load_model and num_transitions - n_val < 2:
        fail(
            f"expected --val-fraction to leave at least 2 of the {num_transitions} demo transitions for training, "
            f"found {args.val_fraction} (leaves {num_transitions - n_val})."
        )
    if args.load_model:  # checked before the run starts, so a wrong file leaves no run directory behind
        ckpt = load_checkpoint(args.load_model, args.env_id)
    run_name, writer = start_run(args)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    # a random train / validation split of the demo transitions (by transition, as in supervised learning), seeded by
    # the run seed
    obs_all = torch.as_tensor(demos["observations"], device=device)
    act_all = torch.as_tensor(demos["actions"], device=device)
    perm = torch.randperm(num_transitions, generator=torch.Generator().manual_seed(args.seed)).to(device)
    val_idx = perm[:n_val]
    train_idx = perm[n_val:]

    if args.load_model:
        # the observation statistics are buffers of the policy: load_weights restores them from the checkpoint
        hidden_sizes = ckpt["config"]["hidden_sizes"]
        policy = Policy(obs_dim, act_dim, hidden_sizes, discrete, torch.zeros(obs_dim), torch.ones(obs_dim)).to(device)
        load_weights(policy, ckpt["policy"], args.load_model)
    else:
        obs_mean = obs_all[train_idx].mean(0)
        obs_std = obs_all[train_idx].std(0).clamp_min(1e-3)
        policy = Policy(obs_dim, act_dim, args.hidden_sizes, discrete, obs_mean, obs_std).to(device)
        optimizer = torch.optim.AdamW(policy.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)

    def act_fn(obs):
        return policy.act(torch.as_tensor(obs, device=device)).cpu().numpy()

    eval_seeds = env_seeds(args.seed, "eval", args.eval_episodes)
    history = []
    start_time = time.time()
    if args.load_model:
        total_steps = 0
    else:
        total_steps = args.total_steps
    for step in range(1, total_steps + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = (1.0 - (step - 1) / total_steps) * args.learning_rate
        mb = train_idx[torch.randint(0, len(train_idx), (args.batch_size,), device=device)]
        # maximum likelihood on expert (s, a): theta <- theta - lr * grad(-log pi_theta(a|s)) on a minibatch
        loss = bc_loss(policy, obs_all[mb], act_all[mb], args.loss, args.nll_beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        if step % 100 == 0 or step == total_steps:
            writer.add_scalar("losses/train_loss", loss.item(), step)
            writer.add_scalar("charts/SPS", int(step / (time.time() - start_time)), step)  # gradient steps / s
            writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], step)
            if n_val > 0:
                with torch.no_grad():
                    v_obs = obs_all[val_idx]
                    v_act = act_all[val_idx]
                    val_loss = bc_loss(policy, v_obs, v_act, args.loss, args.nll_beta)
                    writer.add_scalar("losses/val_loss", val_loss.item(), step)
                    if discrete:
                        accuracy = (policy.act(v_obs) == v_act).float().mean()
                        writer.add_scalar("losses/val_accuracy", accuracy, step)
                    else:
                        mse = (policy.act(v_obs) - v_act).pow(2).sum(-1).mean()
                        writer.add_scalar("losses/val_mse", mse, step)
                        writer.add_scalar("losses/policy_std", policy(v_obs)[1].exp().mean(), step)

        if args.eval_every > 0 and (step % args.eval_every == 0 or step == total_steps):
            returns, lengths = evaluate(act_fn, args.env_id, eval_seeds)
            score = log_evaluation(writer, history, demos, step, start_time, returns)
            # BC's only episodes are evaluation episodes: they feed charts/episodic_* as well as eval/*
            writer.add_scalar("charts/episodic_return", returns.mean(), step)
            writer.add_scalar("charts/episodic_length", lengths.mean(), step)
            print(
                f"step={step} loss={loss.item():.4f} eval_return={returns.mean():.1f} +- {returns.std():.1f} "
                f"normalized={score:.3f}",
                flush=True,
            )
    wall_seconds = time.time() - start_time
    if args.save_model and not args.load_model:
        config = dict(env_id=args.env_id, hidden_sizes=list(args.hidden_sizes))
        print(f"saved the policy to {save_checkpoint(run_name, config, policy)}")

    # final deterministic evaluation on start states of this seed's own (the number reported in summary.json); its
    # env steps are not counted: BC learns without acting
    final_seeds = env_seeds(args.seed, "final", args.final_eval_episodes)
    video_dir = f"videos/{run_name}" if args.capture_video else None
    returns, lengths = evaluate(act_fn, args.env_id, final_seeds, video_dir)
    writer.add_scalar("eval/final_normalized_score", normalized_score(returns.mean(), demos), total_steps)
    write_summary(
        run_name,
        "bc",
        args,
        demos,
        (returns, lengths, final_seeds),
        history,
        0,
        wall_seconds,
        grad_steps=total_steps,
        grad_steps_per_second=total_steps / max(wall_seconds, 1e-9),
        demo_transitions=num_transitions,
    )
    writer.close()
