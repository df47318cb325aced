"""AggreVaTeD (Sun, Venkatraman, Gordon, Boots & Bagnell 2017, "Deeply AggreVaTeD: Differentiable Imitation Learning
for Sequential Prediction", ICML, arXiv:1703.01030), with an online expert that knows its cost-to-go Q*.

DAgger (dagger.py) copies the expert's actions. AggreVaTe (Ross & Bagnell 2014) instead minimises the expert's
cost-to-go on the states the learner's own roll-ins visit: it learns which mistakes are expensive, and it can end up
better than the expert wherever the expert is not greedy with respect to its own Q*. AggreVaTeD (Alg. 1) makes it
differentiable for a network pi_theta. Iteration n:
  1. roll in with pi_hat_n = beta_n * expert + (1 - beta_n) * pi_theta_n (one coin per env and step);
  2. descend l_n(theta) = -E_s E_{a~pi_theta(.|s)}[A*(s, a)] on the visited states (reward form of the cost-to-go;
     A* = Q* - V*, the baseline V* changes no gradient). Discrete: the exact sum_a pi_theta(a|s) A*(s, a) (Eq. 6).
     Box: the reparameterised E_eps[A*(s, tanh(mu + sigma eps))] (lower variance than the likelihood ratio of Eq. 7);
  3. with the regular gradient (Sec. 3.1, here Adam steps) or a natural-gradient step (Sec. 3.2, `--update natural`);
  4. after the last iteration, return the best hypothesis on validation (here the periodic evaluations, on start
     states of their own), not necessarily the last one.
Data aggregation: the loss needs only states (Q* scores every action), so by default it runs over all states visited
so far, as AggreVaTe aggregates; `--no-aggregate` keeps the newest roll-in only (the online step of Alg. 1).
Expert: `experts/<env-id>/expert.pt`, Q*(s, .) of double DQN (Discrete); min(Q1, Q2)(s, a), SAC mean action (Box).
"""

import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from torch.nn.utils import parameters_to_vector, vector_to_parameters
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
    """torch CPU threads (torch.set_num_threads)"""
    track: bool = False
    """if toggled, log the run to Weights and Biases"""
    wandb_project_name: str = "cleanrl-imitation"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the wandb entity (team)"""
    capture_video: bool = False
    """if toggled, record the first final-evaluation episode to `videos/<run_name>`"""
    save_model: bool = False
    """if toggled, save the learned policy to `runs/<run_name>/aggrevated.pt` (evaluate it again with --load-model)"""
    load_model: str | None = None
    """path of a saved `aggrevated.pt`: skip training, evaluate that policy and write the summary"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int | None = None
    """total environment steps of roll-in (default: 30 episodes at the env's time limit, at least 10_000)"""
    learning_rate: float = 1e-3
    """Adam learning rate of the regular-gradient update"""
    expert: str | None = None
    """expert file with Q*, written by expert.py (default: experts/<env-id>/expert.pt next to this script)"""
    demos: str | None = None
    """demonstrations file (default: experts/<env-id>/demos.npz next to this script): the score's reference"""
    num_demos: int = 0
    """expert episodes used, taken from the demonstrations file as --demo-draw says: their states join the state set.
    With 0, the score's reference is the mean return of the whole file."""
    demo_draw: Literal["random", "first"] = "random"
    """'random': --num-demos episodes drawn at random with the run seed (the benchmark's protocol); 'first': the
    first --num-demos episodes of the file"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the learner"""
    eval_episodes: int = 10
    """episodes of each periodic evaluation of the deterministic learner"""
    eval_every: int = 2_000
    """evaluate every this many env steps, rounded up to whole iterations (0: only the final evaluation)"""
    final_eval_episodes: int = 50
    """episodes of the final evaluation, the number summary.json reports (start states no other seed sees)"""

    # AggreVaTeD specific
    update: Literal["auto", "gradient", "natural"] = "auto"
    """'gradient': regular gradient steps (Adam, Sec. 3.1); 'natural': natural-gradient steps (Sec. 3.2); 'auto':
    natural for Discrete actions, gradient for Box actions (docs/aggrevated.md gives the measurements)"""
    aggregate: bool = True
    """loss over all states visited so far (AggreVaTe); --no-aggregate: newest roll-in only (online step of Alg. 1)"""
    num_envs: int = 4
    """parallel envs of the roll-in (gym.vector.SyncVectorEnv)"""
    steps_per_iteration: int = 1_000
    """env steps (over all envs) of one roll-in, the K trajectories of Alg. 1"""
    select: Literal["best", "last"] = "best"
    """the learner returned: 'best' keeps the learner with the highest periodic evaluation, as AggreVaTe and
    AggreVaTeD return the best hypothesis on validation (the periodic evaluations' start states are the validation
    set, disjoint from the final evaluation's; needs --eval-every > 0); 'last' the last one"""
    beta_schedule: Literal["exponential", "linear"] = "exponential"
    """beta_n = beta_decay^(n-1) ('exponential'; beta_decay 0 = pure learner from iteration 2) or 1 -> 0 ('linear')"""
    beta_decay: float = 0.5
    """p of the exponential schedule, in [0, 1]"""
    beta_fraction: float = 0.5
    """fraction of the iterations over which the linear schedule reaches 0, in [0, 1]"""
    gradient_steps: int | None = None
    """updates per roll-in: Adam minibatch steps ('gradient', default 200) or natural steps ('natural', default 10)"""
    batch_size: int = 256
    """states per minibatch of the regular-gradient steps (a natural step uses up to 2048 states of the roll-in)"""
    max_kl: float = 0.01
    """natural gradient: KL(pi_old || pi_new) of one step (sets the step size eta of Sec. 3.2)"""


NATURAL_BATCH = 2048  # states of one natural step: enough to estimate g and the Fisher F
DEFAULT_GRADIENT_STEPS = {"gradient": 200, "natural": 10}
MEAN_BOUND = 3.0  # Box: a soft bound on the pre-tanh mean; tanh(3) = 0.995 of the way to the action bound


def make_env(env_id):
    def thunk():
        return gym.wrappers.RecordEpisodeStatistics(gym.make(env_id))

    return thunk


def mlp(in_dim, out_dim, hidden_sizes):
    """Linear-ReLU layers: the layer layout of expert.py's mlp, so that its state dicts load."""
    dims = [in_dim, *hidden_sizes]
    layers = []
    for a, b in zip(dims, dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], out_dim))


class QNetwork(nn.Module):
    """Expert's Q (copied from expert.py): Discrete Q(s, .) or Box Q(s, a)."""

    def __init__(self, in_dim, out_dim, hidden_sizes):
        super().__init__()
        self.net = mlp(in_dim, out_dim, hidden_sizes)

    def forward(self, x, a=None):
        return self.net(x if a is None else torch.cat([x, a], -1))


class Actor(nn.Module):
    """Expert's SAC actor (copied from expert.py); only its deterministic action tanh(mean) * scale + bias is used."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, low, high):
        super().__init__()
        self.trunk = mlp(obs_dim, 2 * act_dim, hidden_sizes)
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def deterministic(self, x):
        return torch.tanh(self.trunk(x).chunk(2, -1)[0]) * self.action_scale + self.action_bias


class Policy(nn.Module):
    """The learner. Discrete: categorical logits. Box: tanh-squashed Gaussian (state-dependent log-std in [-5, 2]),
    so its actions stay in the box where the expert's Q*(s, a) was trained."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, discrete, low=None, high=None):
        super().__init__()
        self.discrete = discrete
        self.net = mlp(obs_dim, act_dim if discrete else 2 * act_dim, hidden_sizes)
        if not discrete:
            self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
            self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def base_dist(self, x):
        """Categorical over actions, or the Gaussian over the pre-tanh u (KL is invariant to the tanh)."""
        if self.discrete:
            return torch.distributions.Categorical(logits=self.net(x))
        mean, log_std = self.net(x).chunk(2, -1)
        return torch.distributions.Normal(mean, log_std.clamp(-5.0, 2.0).exp())

    def squash(self, u):
        return torch.tanh(u) * self.action_scale + self.action_bias

    def act(self, x, deterministic=False):
        d = self.base_dist(x)
        if self.discrete:
            return d.probs.argmax(-1) if deterministic else d.sample()
        return self.squash(d.mean if deterministic else d.sample())


def load_expert(path, env_id, discrete, obs_dim, act_dim, device):
    """Rebuild the expert from an expert.pt of expert.py; returns (expert_action(obs), q_star(obs, action or None)):
    Discrete q_star(s) is Q*(s, .) for all actions; Box q_star(s, a) = min(Q1, Q2)(s, a), SAC's own pessimistic
    estimate. Anything else (a missing file, a demos file, a learner's checkpoint, an expert for another env or
    without the networks AggreVaTeD needs) ends in one sentence."""
    what = "--expert to be an expert.pt written by expert.py"
    if not os.path.isfile(path):
        fail(f"expected {what}, found no such file at {path} (train one with expert.py).")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)  # state dicts and a config of plain types
    except Exception as e:  # a demos .npz, a text file, a pickle of something else
        fail(f"expected {what}, found a file torch cannot read as one at {path} ({type(e).__name__}).")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict):
        fail(f"expected {what}, found another kind of file at {path}.")
    cfg = ckpt["config"]
    if "script" in cfg:  # the config of a learner's --save-model checkpoint names its script
        fail(f"expected {what}, found a checkpoint of {cfg['script']} --save-model at {path}.")
    if cfg.get("env_id") != env_id:
        fail(f"expected an expert for {env_id}, found one for {cfg.get('env_id')} at {path}.")
    kind = "Discrete" if discrete else "Box"
    nets = ["q"] if discrete else ["actor", "q1", "q2"]
    if any(k not in ckpt for k in nets):
        fail(
            f"expected {path} to hold the {kind} expert's {', '.join(nets)} networks (AggreVaTeD needs Q*(s, a)), "
            f"found only {list(ckpt)}."
        )
    keys = ["hidden_sizes"] if discrete else ["hidden_sizes", "action_low", "action_high"]
    if any(k not in cfg for k in keys):
        fail(f"expected the config of {path} to hold {keys}, found {list(cfg)}.")
    try:
        if discrete:  # the DQN expert: argmax_a Q*(s, a)
            q = QNetwork(obs_dim, act_dim, cfg["hidden_sizes"])
            q.load_state_dict(ckpt["q"])
            q.to(device).requires_grad_(False)

            def expert_action(x):
                return q(x).argmax(-1)

            def q_star(x, a=None):
                return q(x)

            return expert_action, q_star
        low = np.array(cfg["action_low"])
        high = np.array(cfg["action_high"])
        actor = Actor(obs_dim, act_dim, cfg["hidden_sizes"], low, high)
        actor.load_state_dict(ckpt["actor"])
        q1 = QNetwork(obs_dim + act_dim, 1, cfg["hidden_sizes"])
        q2 = QNetwork(obs_dim + act_dim, 1, cfg["hidden_sizes"])
        q1.load_state_dict(ckpt["q1"])
        q2.load_state_dict(ckpt["q2"])
    except (RuntimeError, KeyError, TypeError, ValueError) as e:  # networks of another shape
        fail(
            f"expected {path} to hold an expert for {obs_dim} observations and {act_dim} actions, found another "
            f"({' '.join(str(e).split())[:160]})."
        )
    for net in (actor, q1, q2):  # frozen: gradients flow through them into the learner's action only
        net.to(device).requires_grad_(False)

    def q_star(x, a):
        return torch.min(q1(x, a), q2(x, a)).squeeze(-1)

    return actor.deterministic, q_star


def aggrevated_loss(policy, obs, q_star, expert_action):
    """l_n(theta) = -E_s E_{a~pi_theta(.|s)}[A*(s, a)], A* = Q*(s, a) - V*(s) (cost-to-go = minus the advantage)."""
    if policy.discrete:
        q = q_star(obs)
        adv = q - q.max(-1, keepdim=True).values  # V*(s) = max_a Q*(s, a) for the greedy DQN expert
        return -(policy.base_dist(obs).probs * adv).sum(-1).mean()  # Eq. 6: exact sum over actions
    dist = policy.base_dist(obs)
    a = policy.squash(dist.rsample())  # reparameterised: gradient flows through Q*(s, a) into a
    # Where the pre-tanh mean runs past +-MEAN_BOUND, tanh' ~ 0 and Q*'s gradient no longer reaches it: a seed that
    # pushes its mean there early never comes back (docs/aggrevated.md). A hinge beyond the bound keeps a gradient
    # and changes nothing inside it.
    saturation = (dist.mean.abs() - MEAN_BOUND).clamp(min=0).pow(2).sum(-1).mean()
    return -(q_star(obs, a) - q_star(obs, expert_action(obs))).mean() + saturation


def conjugate_gradient(fvp, b, iters, tol=1e-10):
    """Solve F x = b with only F-vector products (F symmetric positive definite)."""
    x = torch.zeros_like(b)
    r = b.clone()  # residual b - F x
    p = b.clone()  # search direction
    rr = r @ r
    for _ in range(iters):
        fp = fvp(p)
        alpha = rr / (p @ fp)
        x = x + alpha * p
        r = r - alpha * fp
        rr_old = rr
        rr = r @ r
        if rr < tol:
            break
        p = r + (rr / rr_old) * p
    return x


def natural_gradient_step(policy, obs, loss_fn, max_kl, cg_iters=10, damping=0.1):
    """theta <- theta - eta F^-1 g (Sec. 3.2), eta = sqrt(2 max_kl / g^T F^-1 g), F = Hessian of the mean
    KL(pi_old || pi_theta) at theta_old (the Fisher), F^-1 g by conjugate gradient. What it buys: the step is measured
    in how much the action distributions change (KL), not in parameter units, so it does not depend on how the network
    is parameterised or on the scale of Q*, one max_kl works across envs (no learning rate to tune), and each step moves
    the policy by a controlled amount: the mirror-descent update whose regret bound the paper's analysis relies on."""
    params = [p for p in policy.parameters() if p.requires_grad]
    loss = loss_fn()
    g = parameters_to_vector(torch.autograd.grad(loss, params))
    with torch.no_grad():
        old = policy.base_dist(obs)  # pi_old, held fixed
    kl = torch.distributions.kl_divergence(old, policy.base_dist(obs))
    if not policy.discrete:
        kl = kl.sum(-1)  # independent action dimensions
    kl = kl.mean()
    grad_kl = parameters_to_vector(torch.autograd.grad(kl, params, create_graph=True))

    def fvp(v):
        return parameters_to_vector(torch.autograd.grad(grad_kl @ v, params, retain_graph=True)) + damping * v

    x = conjugate_gradient(fvp, g, cg_iters)
    eta = torch.sqrt(2 * max_kl / (x @ fvp(x)).clamp_min(1e-12))
    with torch.no_grad():
        vector_to_parameters(parameters_to_vector(params) - eta * x, params)
    return loss.detach()


def beta_at(iteration, schedule, decay, fraction, num_iterations):
    """Mixing coefficient of iteration `iteration` (1-based); beta_1 = 1 in every schedule."""
    if schedule == "exponential":
        return decay ** (iteration - 1)
    return max(0.0, 1.0 - (iteration - 1) / max(1.0, fraction * num_iterations))


def mix(expert_action, learner_action, beta, rng):
    """pi_i = beta * expert + (1 - beta) * learner, one coin per env and step; returns the actions and the coins."""
    use_expert = rng.random(len(expert_action)) < beta
    mask = use_expert.reshape(-1, *([1] * (expert_action.ndim - 1)))
    return np.where(mask, expert_action, learner_action), use_expert


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
            "eval_episodes",
            "final_eval_episodes",
            "num_envs",
            "steps_per_iteration",
            "batch_size",
        ),
        counts0=("num_demos", "eval_every"),
        rates=("learning_rate", "max_kl"),
        fractions=("beta_decay", "beta_fraction"),
    )
    if args.total_timesteps is not None and args.total_timesteps < 1:  # None: from the env's time limit
        fail(f"expected --total-timesteps >= 1 (or left out for the env's default), found {args.total_timesteps}.")
    if args.gradient_steps is not None and args.gradient_steps < 1:  # None: the default of --update
        fail(f"expected --gradient-steps >= 1 (or left out for the default of --update), found {args.gradient_steps}.")
    if args.steps_per_iteration < args.num_envs:
        fail(
            f"expected --steps-per-iteration >= --num-envs {args.num_envs} (every env steps at least once an "
            f"iteration), found {args.steps_per_iteration}."
        )
    if args.select == "best" and args.eval_every == 0 and not args.load_model:
        fail("expected --eval-every > 0 with --select best (the periodic evaluations are its validation), found 0.")
    obs_space, act_space, discrete, obs_dim, act_dim = env_spaces(args.env_id)
    if args.total_timesteps is None:  # the learner must roll in long enough to see whole episodes of its own
        args.total_timesteps = max(10_000, 30 * (gym.spec(args.env_id).max_episode_steps or 1000))
    update = args.update
    if update == "auto":  # Adam stalls on Eq. 6 (Discrete), natural steps are slow on Box (docs/aggrevated.md)
        update = "natural" if discrete else "gradient"
    demos_path = default_path(args.demos, args.env_id, "demos.npz")
    demos = load_demos(demos_path, args.env_id, obs_space, act_space, args.num_demos, args.demo_draw, args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    # read before start_run, so that a wrong --load-model or --expert leaves no run directory behind
    if args.load_model:
        ckpt = load_checkpoint(args.load_model, args.env_id)
    else:
        expert_path = default_path(args.expert, args.env_id, "expert.pt")
        expert_act, q_star = load_expert(expert_path, args.env_id, discrete, obs_dim, act_dim, device)
    run_name, writer = start_run(args)

    # the action bounds of the tanh squashing come from the env, with or without --load-model
    if discrete:
        low, high = None, None
    else:
        low, high = act_space.low, act_space.high
    if args.load_model:
        policy = Policy(obs_dim, act_dim, ckpt["config"]["hidden_sizes"], discrete, low, high).to(device)
        load_weights(policy, ckpt["policy"], args.load_model)
    else:
        policy = Policy(obs_dim, act_dim, args.hidden_sizes, discrete, low, high).to(device)

    def act_fn(obs):
        with torch.no_grad():
            return policy.act(torch.as_tensor(obs, device=device), deterministic=True).cpu().numpy()

    eval_seeds = env_seeds(args.seed, "eval", args.eval_episodes)
    history, global_step, n_states, start_time = [], 0, 0, time.time()
    best_score, best_state, best_step, validation_steps = -np.inf, None, None, 0
    if not args.load_model:
        if args.gradient_steps is None:
            gradient_steps = DEFAULT_GRADIENT_STEPS[update]
        else:
            gradient_steps = args.gradient_steps
        optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
        # the states the loss runs over: the newest roll-in (AggreVaTeD) or all of them (--aggregate, AggreVaTe);
        # preallocated, starting with the states of the --num-demos expert episodes, if any
        n_demo = len(demos["observations"])
        capacity = n_demo + args.total_timesteps + args.num_envs
        S = np.zeros((capacity, obs_dim), np.float32)
        S[:n_demo] = demos["observations"]
        n_states = n_demo

        # SAME_STEP autoreset: the obs returned with a done is already the next episode's first obs, so no terminal
        # observation is ever stored or acted on
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id) for _ in range(args.num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        obs, _ = envs.reset(seed=env_seeds(args.seed, "train", args.num_envs))
        num_iterations = -(-args.total_timesteps // args.steps_per_iteration)
        steps_per_env = max(1, args.steps_per_iteration // args.num_envs)
        next_eval = args.eval_every
        for iteration in range(1, num_iterations + 1):
            # Alg. 1 line 3: pi_hat_n = beta_n pi* + (1 - beta_n) pi_theta_n
            beta = beta_at(iteration, args.beta_schedule, args.beta_decay, args.beta_fraction, num_iterations)
            first = n_states  # where this roll-in's states begin
            n_expert = 0
            for _ in range(steps_per_env):  # line 4: roll in with pi_hat_n
                if global_step >= args.total_timesteps:
                    break
                with torch.no_grad():
                    x = torch.as_tensor(obs, dtype=torch.float32, device=device)
                    a_star = expert_act(x).cpu().numpy()
                    a_learner = policy.act(x).cpu().numpy()  # sampled: roll-ins explore around the learner's mean
                action, used = mix(a_star, a_learner, beta, np.random)  # np.random is seeded by start_run
                S[n_states : n_states + args.num_envs] = obs
                n_states += args.num_envs
                n_expert += used.sum()
                obs, _, _, _, info = envs.step(action)  # both actions already lie in the box
                global_step += args.num_envs
                if "final_info" in info:
                    ep = info["final_info"]["episode"]
                    for i in np.flatnonzero(info["final_info"]["_episode"]):
                        writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
                        writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)

            # lines 5-6: descent direction from Q* on the roll-in's states, then the update
            if args.aggregate or iteration == 1:
                lo = 0  # every state so far (iteration 1 also keeps the demo states, if any)
            else:
                lo = first  # the newest roll-in only
            for _ in range(gradient_steps):
                if update == "gradient":  # Sec. 3.1: a regular gradient step (Adam) on a minibatch
                    idx = np.random.randint(lo, n_states, args.batch_size)
                    b_obs = torch.as_tensor(S[idx], device=device)
                    loss = aggrevated_loss(policy, b_obs, q_star, expert_act)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                else:  # Sec. 3.2: a natural step, g and F estimated on up to NATURAL_BATCH states
                    idx = np.random.randint(lo, n_states, min(NATURAL_BATCH, n_states - lo))
                    b_obs = torch.as_tensor(S[idx], device=device)
                    loss_fn = partial(aggrevated_loss, policy, b_obs, q_star, expert_act)
                    loss = natural_gradient_step(policy, b_obs, loss_fn, args.max_kl)
            sps = int(global_step / (time.time() - start_time))
            writer.add_scalar("charts/beta", beta, global_step)
            writer.add_scalar("charts/expert_action_fraction", n_expert / max(1, n_states - first), global_step)
            writer.add_scalar("charts/SPS", sps, global_step)
            writer.add_scalar("losses/aggrevated_loss", loss.item(), global_step)

            if args.eval_every > 0 and (global_step >= next_eval or iteration == num_iterations):
                next_eval += args.eval_every
                returns, lengths = evaluate(act_fn, args.env_id, eval_seeds)
                validation_steps += int(lengths.sum())
                score = log_evaluation(writer, history, demos, global_step, start_time, returns)
                if score > best_score:  # remember the best hypothesis on validation
                    best_score = score
                    best_state = {k: v.clone() for k, v in policy.state_dict().items()}
                    best_step = global_step
                print(
                    f"iter={iteration} step={global_step} beta={beta:.3f} loss={loss.item():.4f} "
                    f"eval_return={returns.mean():.1f} normalized={score:.3f} sps={sps}",
                    flush=True,
                )
        envs.close()
        if args.select == "best":
            policy.load_state_dict(best_state)
            print(f"selected the learner of step {best_step} (validation score {best_score:.3f})", flush=True)
        else:
            best_step = global_step
    wall_seconds = time.time() - start_time
    cpu_seconds = time.process_time()
    if args.save_model and not args.load_model:
        config = dict(env_id=args.env_id, hidden_sizes=list(args.hidden_sizes), update=update)
        print(f"saved the policy to {save_checkpoint(run_name, config, policy)}")

    # final deterministic evaluation on start states of this seed's own (the number reported in summary.json)
    final_seeds = env_seeds(args.seed, "final", args.final_eval_episodes)
    video_dir = f"videos/{run_name}" if args.capture_video else None
    returns, lengths = evaluate(act_fn, args.env_id, final_seeds, video_dir)
    writer.add_scalar("eval/final_normalized_score", normalized_score(returns.mean(), demos), global_step)
    write_summary(
        run_name,
        "aggrevated",
        args,
        demos,
        (returns, lengths, final_seeds),
        history,
        global_step,
        wall_seconds,
        expert_queried_states=int(n_states),
        selected_step=best_step,
        validation_episodes=len(history) * args.eval_episodes,
        validation_env_steps=validation_steps,
        update=update,
        cpu_seconds=round(cpu_seconds, 2),
    )
    writer.close()
