"""GAIL with a PPO generator: Generative Adversarial Imitation Learning (Ho & Ermon 2016, arXiv:1606.03476).

A discriminator D(s, a) learns to tell the expert's (s, a) pairs from the learner's (Algorithm 1, line 4); the policy
is trained by reinforcement learning on a reward from D (line 5) so that it visits the expert's state-action
distribution. PPO steps (Schulman et al. 2017, arXiv:1707.06347) replace the paper's TRPO steps, as in CleanRL's ppo.py.

The environment's reward is never used for learning; it is only logged (`charts/episodic_return`). GAIL lives or dies
by a few choices, each a flag below: the reward form (its sign pays the learner to survive or to end episodes), the
gradient penalty on D and D steps per PPO iteration (how sharp D's reward is), observation statistics shared by the
policy and D, bootstrapping at time-limit truncations only, and an optional warm start by behavioural cloning.
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
    threads: int = 1
    """torch CPU threads; 1 is fastest for these small networks"""
    track: bool = False
    """if toggled, log the run to Weights and Biases"""
    wandb_project_name: str = "cleanrl-imitation"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the wandb entity (team)"""
    capture_video: bool = False
    """if toggled, record the first final-evaluation episode to `videos/<run_name>`"""
    save_model: bool = False
    """if toggled, save the policy and its observation statistics to `runs/<run_name>/gail_ppo.pt`"""
    load_model: str | None = None
    """path of a saved `gail_ppo.pt`: skip training, evaluate that policy and write the summary;
    the observation statistics and the --norm-obs setting come from the file"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int = 150_000
    """total environment steps of the learner"""
    learning_rate: float = 1e-4
    """learning rate of the policy and value networks (annealed linearly to 0 with --anneal-lr); low, so that PPO
    refines the warm-started clone rather than undoing it"""
    demos: str | None = None
    """demonstrations file (default: experts/<env-id>/demos.npz next to this script)"""
    num_demos: int = 10
    """expert episodes used, taken from the demonstrations file as --demo-draw says"""
    demo_draw: Literal["random", "first"] = "random"
    """'random': --num-demos episodes drawn at random with the run seed (the benchmark's protocol); 'first': the
    first --num-demos episodes of the file"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the policy, the value network and the discriminator"""
    eval_episodes: int = 10
    """episodes of each periodic evaluation of the deterministic policy"""
    eval_every: int = 25_000
    """evaluate the deterministic policy every this many env steps and at the end (0: only the final evaluation)"""
    final_eval_episodes: int = 50
    """episodes of the final evaluation, the number summary.json reports (start states no other seed sees)"""

    # PPO (the generator)
    num_envs: int = 8
    """number of parallel environments (gym.vector.SyncVectorEnv)"""
    num_steps: int = 256
    """steps per environment per rollout; the rollout holds num_envs * num_steps transitions"""
    anneal_lr: bool = True
    """if toggled, anneal the policy learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor of the GAIL reward"""
    gae_lambda: float = 0.95
    """lambda of generalized advantage estimation"""
    num_minibatches: int = 8
    """PPO minibatches per epoch (each holds num_envs * num_steps / num_minibatches transitions)"""
    update_epochs: int = 10
    """PPO epochs over each rollout"""
    norm_adv: bool = True
    """if toggled, normalize advantages per minibatch"""
    clip_coef: float = 0.2
    """PPO surrogate clipping coefficient"""
    clip_vloss: bool = True
    """if toggled, clip the value loss like the surrogate"""
    ent_coef: float = 0.0
    """entropy bonus coefficient (lambda H(pi) of the GAIL objective)"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient clipping norm of the policy and value networks"""

    # GAIL (the discriminator and the reward)
    reward_type: Literal["auto", "neg_log_one_minus_d", "log_d", "logit"] = "auto"
    """reward from D = P(expert|s,a): -log(1-D) > 0 pays to survive, log D < 0 to die early, the logit is neutral;
    'auto' reads the demos: the logit if most of the expert's episodes end in a termination (it ends them itself,
    as a lander does), else -log(1-D) (the expert stays alive until the time limit)"""
    disc_lr: float = 3e-4
    """learning rate of the discriminator"""
    disc_updates: int = 10
    """discriminator gradient steps per PPO iteration: a D kept sharp tells a clone that drifts from the expert"""
    disc_batch_size: int = 512
    """expert and learner pairs in each discriminator step (each side)"""
    gp_coef: float = 1.0
    """weight of the penalty (||grad D|| - 1)^2 on expert/learner mixes (as in DAC); keeps D's reward smooth, 0 = off"""
    norm_obs: bool = True
    """if toggled, the policy, the value network and D see observations standardised by shared running statistics;
    they start from the expert's states and are updated with the learner's (not after --bc-init-steps)"""
    bootstrap_truncation: bool = True
    """if toggled, a time-limit truncation bootstraps from V(final obs), a termination does not (off: both are death)"""
    bc_init_steps: int = 10_000
    """warm start: this many behavioural-cloning steps (batch 256) on the demos before GAIL; 0 = start from scratch
    (the original GAIL)"""
    bc_init_lr: float = 3e-4
    """Adam learning rate of the warm start's cloning steps (PPO then goes on at --learning-rate)"""
    critic_warmup: int = 10
    """PPO iterations at the start that fit only the value network (policy loss off), so that the first policy
    updates after the warm start follow a fitted critic"""


LOG_STD_MIN = -5.0  # bounds of the shared log-std of Box actions, kept by Agent.bound_log_std_
LOG_STD_MAX = 2.0
BC_BATCH_SIZE = 256  # demo transitions per behavioural-cloning step of the warm start


def make_env(env_id):
    def thunk():
        return gym.wrappers.RecordEpisodeStatistics(gym.make(env_id))

    return thunk


def mlp(in_dim, out_dim, hidden_sizes, out_std=1.0):
    """Tanh MLP with orthogonal init (CleanRL's layer_init); a small out_std makes the initial policy near uniform."""
    layers = []
    d = in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.Tanh()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    for layer in linears[:-1]:
        nn.init.orthogonal_(layer.weight, np.sqrt(2))
        nn.init.zeros_(layer.bias)
    nn.init.orthogonal_(linears[-1].weight, out_std)
    nn.init.zeros_(linears[-1].bias)
    return nn.Sequential(*layers)


class Agent(nn.Module):
    """Actor-critic. Discrete: categorical over logits. Box: Gaussian, network mean, state-independent log-std."""

    def __init__(self, obs_dim, act_dim, discrete, hidden_sizes):
        super().__init__()
        self.discrete = discrete
        self.critic = mlp(obs_dim, 1, hidden_sizes, out_std=1.0)
        self.actor = mlp(obs_dim, act_dim, hidden_sizes, out_std=0.01)
        # CleanRL's state-independent actor_logstd, init 0 (docs/gail_ppo.md, implementation detail 7)
        if discrete:
            self.actor_logstd = None
        else:
            self.actor_logstd = nn.Parameter(torch.zeros(act_dim))

    def dist(self, x):
        out = self.actor(x)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.actor_logstd.expand_as(out).exp())

    def bound_log_std_(self):
        """Projected gradient step: clamp the log-std *parameter* into [LOG_STD_MIN, LOG_STD_MAX] after each optimizer
        step. A clamp inside `dist` would zero its gradient below the floor while Adam's momentum carries the raw
        value further down, and nothing would bring it back; here the gradient always flows."""
        if not self.discrete:
            with torch.no_grad():
                self.actor_logstd.clamp_(LOG_STD_MIN, LOG_STD_MAX)

    def get_action_and_value(self, x, action=None):
        """(action, log pi(a|s), entropy, V(s)); samples the action unless one is given."""
        d = self.dist(x)
        if action is None:
            action = d.sample()
        logp = d.log_prob(action)
        entropy = d.entropy()
        if not self.discrete:  # independent dimensions: log-probs and entropies add up
            logp = logp.sum(-1)
            entropy = entropy.sum(-1)
        return action, logp, entropy, self.critic(x).squeeze(-1)

    @torch.no_grad()
    def deterministic_action(self, x):
        """The evaluated action: argmax of the logits (Discrete) or the Gaussian's mean (Box)."""
        out = self.actor(x)
        if self.discrete:
            return out.argmax(-1)
        return out


def gradient_step(agent, optimizer, loss, max_grad_norm=None):
    """One optimizer step on `loss` (gradient norm clipped if max_grad_norm), then the log-std back into its bounds."""
    optimizer.zero_grad()
    loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
    optimizer.step()
    agent.bound_log_std_()


class RunningMeanStd:
    """Mean and variance over every observation seen so far (parallel update of Chan et al.)."""

    def __init__(self, x):  # started from a first batch (here the expert's states)
        self.mean = x.mean(0)
        self.var = x.var(0)
        self.count = x.shape[0]

    def update(self, x):
        b_mean = x.mean(0)
        b_var = x.var(0)
        b_count = x.shape[0]
        total = self.count + b_count
        delta = b_mean - self.mean
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.mean = self.mean + delta * b_count / total
        self.var = m2 / total
        self.count = total


def normalize(obs, mean, var, enabled=True):
    """obs as a float32 tensor; if enabled, standardised with (mean, var) and clipped to [-10, 10]."""
    x = torch.as_tensor(obs, dtype=torch.float32)
    if not enabled:
        return x
    mean = torch.as_tensor(mean).float()
    std = torch.as_tensor(np.sqrt(var + 1e-8)).float()
    return ((x - mean) / std).clamp(-10, 10)


def encode_action(a, discrete, act_dim, low=None, high=None):
    """D's action input: one-hot (Discrete), or the action the env executes, clipped and rescaled to [-1, 1] (Box)."""
    a = torch.as_tensor(a)
    if discrete:
        return F.one_hot(a.long(), act_dim).float()
    if low is None or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        return a.float()
    low = torch.as_tensor(low).float()
    high = torch.as_tensor(high).float()
    executed = torch.max(torch.min(a.float(), high), low)
    return 2.0 * (executed - low) / (high - low) - 1.0


def gail_reward(logits, reward_type):
    """Reward from D's logit, in stable log-sigmoid form: log D = -softplus(-l), -log(1-D) = softplus(l)."""
    if reward_type == "neg_log_one_minus_d":
        return F.softplus(logits)
    if reward_type == "log_d":
        return -F.softplus(-logits)
    return logits  # the logit log D - log(1 - D)


def disc_loss_fn(disc, expert_x, learner_x, gp_coef):
    """Algorithm 1, line 4 (eq. 17) as BCE with expert = 1, learner = 0, plus the gradient penalty on interpolates.

    Returns (loss, bce, penalty, share of expert pairs with D > 1/2, share of learner pairs with D < 1/2)."""
    e_logits = disc(expert_x).squeeze(-1)
    l_logits = disc(learner_x).squeeze(-1)
    bce = -F.logsigmoid(e_logits).mean() - F.logsigmoid(-l_logits).mean()  # -E_expert[log D] - E_learner[log(1 - D)]
    gp = torch.zeros(())
    if gp_coef > 0:
        mix = torch.lerp(learner_x, expert_x, torch.rand(expert_x.shape[0], 1)).requires_grad_(True)  # random mixes
        grad = torch.autograd.grad(disc(mix).sum(), mix, create_graph=True)[0]
        gp = gp_coef * ((grad.norm(dim=-1) - 1) ** 2).mean()
    expert_acc = (e_logits > 0).float().mean()
    learner_acc = (l_logits < 0).float().mean()
    return bce + gp, bce, gp, expert_acc, learner_acc


def compute_gae(rewards, values, ends, next_value, gamma, gae_lambda):
    """GAE over a (T, N) rollout; ends[t] = the episode ended at step t (truncation bootstraps live in the reward)."""
    advantages = torch.zeros_like(rewards)
    next_values = torch.cat([values[1:], next_value[None]])  # V(s_{t+1}) of each step
    last = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_values[t] * (1 - ends[t]) - values[t]
        last = delta + gamma * gae_lambda * (1 - ends[t]) * last
        advantages[t] = last
    return advantages, advantages + values


def ppo_losses(agent, obs, actions, old_logp, advantages, returns, old_values, clip_coef, clip_vloss, norm_adv):
    """PPO's losses on one minibatch, as in CleanRL: the clipped surrogate (PPO eq. 7), the value loss (clipped like
    the surrogate with clip_vloss) and the mean entropy. Returns (pg_loss, v_loss, entropy, approx_kl, clipfrac), the
    last two detached, for the logs."""
    _, logp, entropy, value = agent.get_action_and_value(obs, actions)
    logratio = logp - old_logp
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()
        clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean()
    if norm_adv:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)
    pg_loss = torch.max(unclipped, clipped).mean()
    v_loss = (value - returns) ** 2
    if clip_vloss:  # the value moves at most clip_coef from its rollout estimate
        v_clipped = old_values + (value - old_values).clamp(-clip_coef, clip_coef)
        v_loss = torch.max(v_loss, (v_clipped - returns) ** 2)
    v_loss = 0.5 * v_loss.mean()
    return pg_loss, v_loss, entropy.mean(), approx_kl, clipfrac


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
            "num_envs",
            "num_steps",
            "num_minibatches",
            "update_epochs",
            "disc_updates",
            "disc_batch_size",
        ),
        counts0=("eval_every", "bc_init_steps", "critic_warmup"),
        rates=("learning_rate", "bc_init_lr", "clip_coef", "max_grad_norm", "disc_lr"),
        fractions=("gamma", "gae_lambda"),
    )
    if args.ent_coef < 0:
        fail(f"expected --ent-coef >= 0, found {args.ent_coef}.")
    if args.vf_coef < 0:
        fail(f"expected --vf-coef >= 0, found {args.vf_coef}.")
    if args.gp_coef < 0:
        fail(f"expected --gp-coef >= 0 (0 = no gradient penalty), found {args.gp_coef}.")
    batch_size = args.num_envs * args.num_steps  # transitions per rollout
    if args.num_minibatches > batch_size:
        fail(
            f"expected --num-minibatches <= --num-envs x --num-steps = {batch_size} (at least one transition per "
            f"minibatch), found {args.num_minibatches}."
        )
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = max(1, args.total_timesteps // batch_size)

    obs_space, act_space, discrete, obs_dim, act_dim = env_spaces(args.env_id)
    demos_path = default_path(args.demos, args.env_id, "demos.npz")
    demos = load_demos(demos_path, args.env_id, obs_space, act_space, args.num_demos, args.demo_draw, args.seed)
    reward_type = args.reward_type
    if reward_type == "auto":
        if np.mean(demos["terminated"]) > 0.5:
            reward_type = "logit"
        else:
            reward_type = "neg_log_one_minus_d"
    if discrete:
        low, high = None, None
    else:
        low, high = act_space.low, act_space.high
    if args.load_model:  # checked before the run starts, so a wrong file leaves no run directory behind
        ckpt = load_checkpoint(args.load_model, args.env_id)
    run_name, writer = start_run(args)

    # observation statistics shared by the policy, the value network and D, started from the expert's states
    obs_rms = RunningMeanStd(demos["observations"].astype(np.float64))
    norm_obs = args.norm_obs
    if args.load_model:
        config = ckpt["config"]
        if "hidden_sizes" not in config or "norm_obs" not in config or "obs_mean" not in ckpt or "obs_var" not in ckpt:
            fail(
                f"expected {args.load_model} to hold hidden_sizes, norm_obs and the observation statistics, found "
                f"config {sorted(config)} and entries {sorted(ckpt)}."
            )
        agent = Agent(obs_dim, act_dim, discrete, tuple(config["hidden_sizes"]))  # the sizes of the saved run
        load_weights(agent, ckpt["policy"], args.load_model)
        norm_obs = bool(config["norm_obs"])  # evaluate on the inputs the policy was trained on
        obs_rms.mean = ckpt["obs_mean"].double().numpy()
        obs_rms.var = ckpt["obs_var"].double().numpy()
        if obs_rms.mean.shape != (obs_dim,) or obs_rms.var.shape != (obs_dim,):
            fail(
                f"expected observation statistics of shape ({obs_dim},), found {obs_rms.mean.shape} in "
                f"{args.load_model}."
            )
    else:
        agent = Agent(obs_dim, act_dim, discrete, args.hidden_sizes)

    def act_fn(obs):
        """Deterministic actions of a float32 batch: normalised with the current statistics, then argmax / mean."""
        return agent.deterministic_action(normalize(obs, obs_rms.mean, obs_rms.var, norm_obs)).numpy()

    eval_seeds = env_seeds(args.seed, "eval", args.eval_episodes)
    history, global_step, start_time = [], 0, time.time()
    if not args.load_model:
        disc = mlp(obs_dim + act_dim, 1, args.hidden_sizes)  # logit of D(s, a) = P(expert | s, a)
        optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
        disc_optimizer = torch.optim.Adam(disc.parameters(), lr=args.disc_lr)
        e_obs = demos["observations"]
        e_act = demos["actions"]

        # rollout buffers, (num_steps, num_envs, ...); observations are stored raw and normalized when used
        obs = torch.zeros((args.num_steps, args.num_envs, obs_dim))
        if discrete:
            actions = torch.zeros((args.num_steps, args.num_envs))
        else:
            actions = torch.zeros((args.num_steps, args.num_envs, act_dim))
        logprobs = torch.zeros((args.num_steps, args.num_envs))
        values = torch.zeros((args.num_steps, args.num_envs))
        ends = torch.zeros((args.num_steps, args.num_envs))  # 1 where an episode ended (terminated or truncated)
        boot = torch.zeros((args.num_steps, args.num_envs))  # gamma V(final obs) where an episode was truncated

        # SAME_STEP autoreset: the obs returned with a done is already the next episode's first obs; the true last obs
        # of the finished episode is in info["final_obs"]
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id) for _ in range(args.num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        next_obs, _ = envs.reset(seed=env_seeds(args.seed, "train", args.num_envs))
        next_eval = args.eval_every

        # Optional warm start (like OpenAI Baselines' GAIL --pretrained): maximum likelihood of the expert's actions.
        # Box: the mean fits the actions, the state-independent std their residual.
        e_obs_n = normalize(e_obs, obs_rms.mean, obs_rms.var, args.norm_obs)
        e_act_t = torch.as_tensor(e_act)
        optimizer.param_groups[0]["lr"] = args.bc_init_lr
        for _ in range(args.bc_init_steps):
            i = torch.randint(0, len(e_obs_n), (BC_BATCH_SIZE,))
            _, logp, _, _ = agent.get_action_and_value(e_obs_n[i], e_act_t[i])
            gradient_step(agent, optimizer, -logp.mean())
        optimizer.param_groups[0]["lr"] = args.learning_rate

        for iteration in range(1, num_iterations + 1):
            if args.anneal_lr:
                optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * args.learning_rate
            # statistics frozen for this iteration: the rollout and the update see the same inputs
            m = obs_rms.mean
            v = obs_rms.var

            # Algorithm 1, line 3: sample trajectories with the current policy
            boot.zero_()
            with torch.no_grad():
                for step in range(args.num_steps):
                    global_step += args.num_envs
                    obs[step] = torch.as_tensor(next_obs)
                    action, logp, _, value = agent.get_action_and_value(normalize(next_obs, m, v, args.norm_obs))
                    actions[step] = action
                    logprobs[step] = logp
                    values[step] = value
                    env_action = action.numpy()
                    if not discrete:  # clipped only to step the env; the log-prob is the sample's
                        env_action = np.clip(env_action, low, high)
                    next_obs, _, term, trunc, info = envs.step(env_action)
                    ends[step] = torch.as_tensor(term | trunc, dtype=torch.float32)
                    if "final_obs" in info:
                        if args.bootstrap_truncation:  # truncated, not terminated: r_t + gamma V(s_T)
                            for i in np.flatnonzero(info["_final_obs"] & trunc & ~term):
                                final = normalize(info["final_obs"][i][None], m, v, args.norm_obs)
                                boot[step, i] = args.gamma * agent.critic(final)[0, 0]
                        episode = info["final_info"]["episode"]
                        for i in np.flatnonzero(info["final_info"]["_episode"]):
                            writer.add_scalar("charts/episodic_return", episode["r"][i], global_step)
                            writer.add_scalar("charts/episodic_length", episode["l"][i], global_step)

            b_obs_n = normalize(obs.reshape(-1, obs_dim), m, v, args.norm_obs)
            b_actions = actions.reshape((-1,) + actions.shape[2:])
            l_x = torch.cat([b_obs_n, encode_action(b_actions, discrete, act_dim, low, high)], -1)
            e_x = torch.cat(
                [normalize(e_obs, m, v, args.norm_obs), encode_action(e_act, discrete, act_dim, low, high)], -1
            )

            # Algorithm 1, line 4: discriminator steps on expert vs learner pairs
            for _ in range(args.disc_updates):
                li = torch.randint(0, batch_size, (args.disc_batch_size,))
                ei = torch.randint(0, e_x.shape[0], (args.disc_batch_size,))
                d_loss, bce, gp, e_acc, l_acc = disc_loss_fn(disc, e_x[ei], l_x[li], args.gp_coef)
                disc_optimizer.zero_grad()
                d_loss.backward()
                disc_optimizer.step()

            # Algorithm 1, line 5: policy step on the reward of the updated D (PPO instead of TRPO)
            with torch.no_grad():
                gail_r = gail_reward(disc(l_x).squeeze(-1), reward_type).reshape(args.num_steps, args.num_envs)
                next_value = agent.critic(normalize(next_obs, m, v, args.norm_obs)).squeeze(-1)
                advantages, returns = compute_gae(gail_r + boot, values, ends, next_value, args.gamma, args.gae_lambda)
            b_logprobs = logprobs.reshape(-1)
            b_advantages = advantages.reshape(-1)
            b_returns = returns.reshape(-1)
            b_values = values.reshape(-1)
            # --critic-warmup: the policy term is multiplied by 0, not dropped, so Adam's momentum from the BC steps
            # still moves the policy a little in the first iterations (docs/gail_ppo.md, implementation detail 8)
            policy_weight = float(iteration > args.critic_warmup)
            clipfracs = []
            for epoch in range(args.update_epochs):
                for mb in torch.randperm(batch_size).split(minibatch_size):
                    pg_loss, v_loss, entropy, approx_kl, clipfrac = ppo_losses(
                        agent,
                        b_obs_n[mb],
                        b_actions[mb],
                        b_logprobs[mb],
                        b_advantages[mb],
                        b_returns[mb],
                        b_values[mb],
                        args.clip_coef,
                        args.clip_vloss,
                        args.norm_adv,
                    )
                    clipfracs.append(clipfrac.item())
                    loss = policy_weight * (pg_loss - args.ent_coef * entropy) + args.vf_coef * v_loss
                    gradient_step(agent, optimizer, loss, args.max_grad_norm)
            if args.norm_obs and not args.bc_init_steps:  # a cloned policy keeps the statistics it was fitted on
                obs_rms.update(obs.reshape(-1, obs_dim).double().numpy())

            explained_var = float(1 - (b_returns - b_values).var() / b_returns.var().clamp_min(1e-8))
            sps = int(global_step / (time.time() - start_time))
            writer.add_scalar("losses/disc_loss", bce.item(), global_step)
            writer.add_scalar("losses/disc_grad_penalty", gp.item(), global_step)
            writer.add_scalar("charts/disc_expert_acc", e_acc.item(), global_step)
            writer.add_scalar("charts/disc_learner_acc", l_acc.item(), global_step)
            writer.add_scalar("charts/gail_reward_mean", gail_r.mean().item(), global_step)
            writer.add_scalar("losses/value_loss", v_loss.item(), global_step)
            writer.add_scalar("losses/policy_loss", pg_loss.item(), global_step)
            writer.add_scalar("losses/entropy", entropy.item(), global_step)
            writer.add_scalar("losses/approx_kl", approx_kl.item(), global_step)
            writer.add_scalar("losses/clipfrac", np.mean(clipfracs), global_step)
            writer.add_scalar("losses/explained_variance", explained_var, global_step)
            writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
            writer.add_scalar("charts/SPS", sps, global_step)

            if args.eval_every > 0 and (global_step >= next_eval or iteration == num_iterations):
                next_eval += args.eval_every
                eval_returns, _ = evaluate(act_fn, args.env_id, eval_seeds)
                score = log_evaluation(writer, history, demos, global_step, start_time, eval_returns)
                print(
                    f"step={global_step} eval_return={eval_returns.mean():.1f} normalized={score:.3f} "
                    f"disc_acc(expert/learner)={e_acc:.2f}/{l_acc:.2f} gail_reward={gail_r.mean():.3f} sps={sps}",
                    flush=True,
                )
        envs.close()
    wall_seconds = time.time() - start_time
    if args.save_model and not args.load_model:
        config = dict(env_id=args.env_id, hidden_sizes=list(args.hidden_sizes), norm_obs=args.norm_obs)
        obs_mean = torch.as_tensor(obs_rms.mean)
        obs_var = torch.as_tensor(obs_rms.var)
        print(f"saved the policy to {save_checkpoint(run_name, config, agent, obs_mean=obs_mean, obs_var=obs_var)}")

    # final deterministic evaluation on start states of this seed's own (the number reported in summary.json)
    final_seeds = env_seeds(args.seed, "final", args.final_eval_episodes)
    video_dir = f"videos/{run_name}" if args.capture_video else None
    returns, lengths = evaluate(act_fn, args.env_id, final_seeds, video_dir)
    writer.add_scalar("eval/final_normalized_score", normalized_score(returns.mean(), demos), global_step)
    write_summary(
        run_name,
        "gail_ppo",
        args,
        demos,
        (returns, lengths, final_seeds),
        history,
        global_step,
        wall_seconds,
        reward_type=reward_type,
    )
    writer.close()
