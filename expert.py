"""Train an RL expert, save it, and record demonstrations for the imitation scripts.

Box actions: SAC (Haarnoja et al. 2018, arXiv:1812.05905) with twin soft Q networks and automatic entropy tuning.
Discrete actions: double DQN (van Hasselt et al. 2016, arXiv:1509.06461), picked over discrete SAC because it reaches
the CartPole and LunarLander targets reliably with few knobs, and it learns what AggreVaTeD needs: Q*(s, .).

- The expert kept is the best one seen by the periodic deterministic evaluation, not the last one: DQN and SAC
  both oscillate late in training, and a demonstrator should be as good as we can make it.
- `expert.pt` holds plain state dicts (on the CPU) plus the few numbers needed to rebuild the networks (`config`), so
  another script rebuilds the expert by copying the small `mlp`, `Actor` and `QNetwork` definitions below, never by
  import.
- Hours-long runs (SAC on MuJoCo) save `resume.pt` (networks, optimizers, replay buffer) at every evaluation;
  `--resume` continues in a new process, restarting the interrupted episode (equivalent, not bit-identical).
  `--init-from` continues from an expert.pt alone (a fresh replay buffer): it needs small learning rates, and even
  then its first updates can wreck the expert (experts/README.md, "Continuing an expert").
- Demonstrations (`demos.npz`, docs/design.md, "Demonstrations") come from the deterministic expert (argmax Q or
  SAC's mean action). `--demo-at-returns 100 300` adds demos of weaker experts; `--record-only` records more from an
  existing expert.pt.
- Every demonstrations file says whether its expert is weak (experts/README.md, "Weak experts"): its mean return
  does not clear the random policy's return by WEAK_MARGIN x max(|random|, 1), or stays below the env's registered
  reward threshold. A weak expert is still saved (weaker experts are sometimes the point), with a one-line warning
  and `weak_expert=True` in the file.
"""

import copy
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter


@dataclass
class Args:
    exp_name: str = "expert"
    """the name of this experiment (goes into the run name)"""
    seed: int = 1
    """seed of the experiment: python, numpy, torch and the envs (demo episode i is reset with seed + i)"""
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
    """if toggled, save videos of the recorded demonstration episodes to `videos/<run_name>`"""
    save_model: bool = True
    """if toggled, save the best expert as `<out-dir>/expert.pt` (the point of this script; keep it on)"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int = 100_000
    """total environment steps of training"""
    learning_rate: float = 3e-4
    """learning rate of the Q network(s) (DQN and SAC)"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """hidden layer sizes of every network"""
    buffer_size: int = 1_000_000
    """replay buffer capacity (transitions)"""
    gamma: float = 0.99
    """discount factor"""
    batch_size: int = 256
    """transitions per minibatch sampled from the replay buffer"""
    learning_starts: int = 5_000
    """env steps taken at random before learning starts (0: learn from the first step)"""
    random_action_repeat: int = 1
    """SAC: hold each uniform random action of the first --learning-starts steps for this many steps; persistent
    pushes explore much further than per-step noise (a hard-exploration env such as MountainCarContinuous-v0 needs
    about 30 to reach its goal at random: experts/README.md)"""
    eval_every: int = 10_000
    """evaluate the deterministic policy every this many env steps (the best evaluation is the expert kept)"""
    eval_episodes: int = 10
    """episodes per periodic evaluation"""
    stop_at_return: float | None = None
    """stop training early once a periodic evaluation reaches this mean return (saves hours of CPU)"""
    out_dir: str | None = None
    """where expert.pt and demos.npz go (None: experts/<env-id> next to this script)"""
    overwrite: bool = False
    """if toggled, replace an existing expert.pt / demos file instead of stopping"""
    num_demo_episodes: int = 25
    """episodes recorded into each demonstrations file (demos.npz comes from the best deterministic expert)"""
    demo_at_returns: tuple[float, ...] = ()
    """also save demos_at_<R>.npz from the first checkpoint whose evaluation reaches each return R (weaker experts)"""
    record_only: bool = False
    """if toggled, skip training: load <out-dir>/expert.pt and record --num-demo-episodes episodes to
    <out-dir>/demos_seed<seed>.npz"""
    init_from: str | None = None
    """SAC: start from the networks of an existing expert.pt for the same env and layers (actor and both Q networks;
    the targets copy the Q networks) instead of random ones. The replay buffer starts empty, and its first
    --learning-starts steps are acted by that actor, not at random. Pair it with small learning rates: at the usual
    ones the Q networks, fitted to a buffer of good episodes only, overestimate, and the expert collapses; even at
    small ones it can (experts/README.md, "Continuing an expert")"""
    init_alpha: float = 0.1
    """SAC with --init-from: the entropy temperature to start from (expert.pt does not store it)"""
    resume: bool = False
    """if toggled, continue the interrupted run from <out-dir>/resume.pt, written at every evaluation (same flags)"""

    # SAC (Box actions)
    policy_lr: float = 3e-4
    """SAC: learning rate of the actor and of the entropy temperature"""
    tau: float = 0.005
    """SAC: Polyak averaging coefficient of the target Q networks, in (0, 1]"""
    alpha: float = 0.2
    """SAC: entropy temperature when --no-autotune (0: no entropy bonus)"""
    autotune: bool = True
    """SAC: tune the entropy temperature towards a target entropy of -|A|"""

    # DQN (Discrete actions)
    target_network_frequency: int = 500
    """DQN: env steps between hard copies of the Q network into the target network"""
    train_frequency: int = 0
    """env steps between gradient steps (0 = the algorithm's default: 4 for DQN, 1 for SAC)"""
    start_e: float = 1.0
    """DQN: initial epsilon of the epsilon-greedy exploration"""
    end_e: float = 0.05
    """DQN: final epsilon (at most --start-e)"""
    exploration_fraction: float = 0.3
    """DQN: fraction of total_timesteps over which epsilon decays linearly (0: --end-e from the start)"""


MAX_SEED = 2**31  # seeds 0 .. MAX_SEED - 1; numpy's global seed must stay below 2**32 with the offsets added below
RANDOM_EPISODES = 25  # episodes of the uniform-random policy whose mean return is stored with every demos file
RANDOM_SEED_OFFSET = 20_000  # random-policy episode i is reset with seed + 20_000 + i
EVAL_SEED_OFFSET = 10_000  # the evaluation at step t resets episode i with seed + 10_000 + t + i
WEAK_MARGIN = 0.5  # a useful expert's return clears the random return by at least 0.5 x max(|random return|, 1)


def make_env(env_id, seed, capture_video=False, run_name=""):
    def thunk():
        if capture_video:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, f"videos/{run_name}", episode_trigger=lambda i: True)
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def mlp(in_dim, out_dim, hidden_sizes):
    layers = []
    d = in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


class QNetwork(nn.Module):
    """Discrete: Q(s, .) for all actions (in_dim = obs_dim). Box: Q(s, a) (in_dim = obs_dim + act_dim, out_dim 1)."""

    def __init__(self, in_dim, out_dim, hidden_sizes):
        super().__init__()
        self.net = mlp(in_dim, out_dim, hidden_sizes)

    def forward(self, x, a=None):
        if a is not None:
            x = torch.cat([x, a], -1)
        return self.net(x)


class Actor(nn.Module):
    """SAC's tanh-squashed Gaussian: a = tanh(u) * scale + bias, u ~ N(mean(s), std(s))."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, low, high):
        super().__init__()
        self.trunk = mlp(obs_dim, 2 * act_dim, hidden_sizes)
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def forward(self, x):
        mean, log_std = self.trunk(x).chunk(2, -1)
        return mean, log_std.clamp(-5.0, 2.0)  # log-std bounds (a network output, so clamping it is fine)

    def get_action(self, x):
        mean, log_std = self(x)
        dist = torch.distributions.Normal(mean, log_std.exp())
        u = dist.rsample()
        # change of variables for a = tanh(u) * scale + bias (SAC papers, "Enforcing Action Bounds"), in the stable
        # form log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
        log_prob = dist.log_prob(u) - 2.0 * (np.log(2.0) - u - F.softplus(-2.0 * u)) - torch.log(self.action_scale)
        action = torch.tanh(u) * self.action_scale + self.action_bias
        return action, log_prob.sum(-1)

    def deterministic(self, x):
        mean, _ = self(x)
        return torch.tanh(mean) * self.action_scale + self.action_bias


def expert_policy(config, weights):
    """The deterministic expert, rebuilt from `config` and the saved state dicts, as a function obs -> action:
    argmax_a Q(s, a) (Discrete) or the SAC mean action (Box)."""
    dims = (config["obs_dim"], config["act_dim"], config["hidden_sizes"])
    if config["discrete"]:
        net = QNetwork(*dims)
        net.load_state_dict(weights["q"])
    else:
        net = Actor(*dims, np.array(config["action_low"]), np.array(config["action_high"]))
        net.load_state_dict(weights["actor"])

    def act(obs):
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
            if config["discrete"]:
                return int(net(x).argmax(-1))
            return net.deterministic(x)[0].numpy()

    return act


def run_episodes(env, policy, n, seed):
    """Roll out `policy(obs)` for n episodes, episode i reset with seed + i; returns per-episode returns and the
    transitions in time order."""
    keys = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")
    data = {k: [] for k in keys}
    returns = []
    for i in range(n):
        obs, _ = env.reset(seed=seed + i)
        episode_return = 0.0
        done = False
        while not done:
            action = policy(obs)
            next_obs, reward, term, trunc, _ = env.step(action)
            data["observations"].append(obs)
            data["actions"].append(action)
            data["rewards"].append(reward)
            data["next_observations"].append(next_obs)
            data["terminations"].append(term)
            data["truncations"].append(trunc)
            episode_return += float(reward)
            obs = next_obs
            done = term or trunc
        returns.append(episode_return)
    return returns, data


def linear_schedule(start, end, duration, t):
    """DQN's epsilon: `start` at t = 0, linearly down to `end` at t = duration, then `end` (duration 0: `end`)."""
    if duration <= 0:
        return end
    return max(end, start - (start - end) * t / duration)


def cpu_state_dict(module):
    """A copy of `module`'s state dict on the CPU: expert.pt loads anywhere, and later steps do not change it."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def registered_threshold(env_id):
    """The env's registered reward threshold (gymnasium's "solved" level), NaN when it has none."""
    threshold = gym.spec(env_id).reward_threshold
    if threshold is None:
        return float("nan")
    return float(threshold)


def expert_strength(expert_return, random_return, threshold):
    """(weak, floor): an expert is weak when its mean return does not clear `floor`, the random policy's return plus
    WEAK_MARGIN x max(|random return|, 1), or stays below the registered threshold (when there is one, i.e. not NaN)."""
    floor = random_return + WEAK_MARGIN * max(abs(random_return), 1.0)
    below_threshold = not math.isnan(threshold) and expert_return < threshold
    return bool(expert_return < floor or below_threshold), floor


def weak_warning(path, env_id, expert_return, random_return, floor, threshold, note=""):
    """The one-line warning printed when a weak expert's demonstrations are saved."""
    if math.isnan(threshold):
        registered = f"no reward threshold registered for {env_id}"
    else:
        registered = f"{threshold:g} registered as solving {env_id}"
    return (
        f"WARNING: WEAK EXPERT in {path}: mean return {expert_return:.1f}, against {random_return:.1f} for a random "
        f"policy (a useful expert clears {floor:.1f}) and {registered}{note}."
    )


def save_demos(path, env_id, data, returns, random_return_mean, threshold, weak):
    """Write demonstrations in the format of docs/design.md (episodes contiguous, in time order), plus
    `reward_threshold` (NaN when the env has none) and `weak_expert`."""
    discrete = np.asarray(data["actions"]).ndim == 1
    if discrete:
        action_dtype = np.int64
    else:
        action_dtype = np.float32
    np.savez_compressed(
        path,
        observations=np.asarray(data["observations"], dtype=np.float32),
        actions=np.asarray(data["actions"], dtype=action_dtype),
        rewards=np.asarray(data["rewards"], dtype=np.float32),
        next_observations=np.asarray(data["next_observations"], dtype=np.float32),
        terminations=np.asarray(data["terminations"], dtype=bool),
        truncations=np.asarray(data["truncations"], dtype=bool),
        env_id=np.array(env_id),
        expert_return_mean=np.float64(np.mean(returns)),
        expert_return_std=np.float64(np.std(returns)),
        random_return_mean=np.float64(random_return_mean),
        episode_returns=np.asarray(returns, dtype=np.float64),
        reward_threshold=np.float64(threshold),
        weak_expert=np.bool_(weak),
    )


def record_demos(path, env, policy, num_episodes, seed, env_id, random_return_mean, threshold, note=""):
    """Record `num_episodes` episodes of `policy`, judge the expert (expert_strength), save them to `path` and warn on
    stderr when the expert is weak. Returns (episode returns, weak)."""
    returns, data = run_episodes(env, policy, num_episodes, seed)
    expert_return = float(np.mean(returns))
    weak, floor = expert_strength(expert_return, random_return_mean, threshold)
    save_demos(path, env_id, data, returns, random_return_mean, threshold, weak)
    if weak:
        warning = weak_warning(path, env_id, expert_return, random_return_mean, floor, threshold, note)
        print(warning, file=sys.stderr, flush=True)
    return returns, weak


def fail(msg):
    """Stop with one sentence that names what was expected and what was found: no traceback, nothing overwritten."""
    sys.exit(f"expert.py: {msg}")


def check_args(args, counts=(), counts0=(), rates=(), fractions=()):
    """Check the numeric flags as they are read: `counts` are integers >= 1, `counts0` integers >= 0, `rates` finite
    and > 0, `fractions` in [0, 1]; every float flag (and every float in a tuple flag) is finite, every hidden size
    >= 1, the seed in 0..MAX_SEED - 1."""

    def flag(name):
        return "--" + name.replace("_", "-")

    values = vars(args)
    for name, value in values.items():
        if isinstance(value, tuple):
            numbers = value
        else:
            numbers = (value,)
        for number in numbers:
            if isinstance(number, float) and not math.isfinite(number):
                fail(f"expected {flag(name)} to be a finite number, found {number}.")
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
    if len(args.hidden_sizes) == 0 or min(args.hidden_sizes) < 1:
        fail(f"expected --hidden-sizes to be one or more layer sizes >= 1, found {list(args.hidden_sizes)}.")
    if not 0 <= args.seed < MAX_SEED:
        fail(f"expected --seed in 0..{MAX_SEED - 1}, found {args.seed}.")


def make_checked_env(env_id, seed):
    """The training env of `env_id`, checked: a registered id that gymnasium can build, a flat Box observation and a
    Box or Discrete action. Returns (env, discrete, obs_dim, act_dim); act_dim is the number of actions if Discrete."""
    try:
        gym.spec(env_id)
    except gym.error.Error:
        fail(f"expected --env-id to be a registered gymnasium environment (e.g. CartPole-v1), found {env_id!r}.")
    try:
        env = make_env(env_id, seed)()
    except Exception as e:  # a missing extra (box2d, mujoco) or a broken env
        fail(f"expected gymnasium to build {env_id}, found it cannot ({type(e).__name__}).")
    obs_space = env.observation_space
    act_space = env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        fail(f"expected a flat Box observation space, found {obs_space} in {env_id}.")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)):
        fail(f"expected a Box or Discrete action space, found {act_space} in {env_id}.")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    if discrete:
        act_dim = int(act_space.n)
    else:
        act_dim = int(np.prod(act_space.shape))
    return env, discrete, int(obs_space.shape[0]), act_dim


def read_expert(path, env_id, flag):
    """The checkpoint saved at `path` (for `flag`), checked: an expert.pt of expert.py for `env_id`."""
    if not os.path.exists(path):
        fail(f"expected an expert at {path} for {flag}, found no such file.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        reason = type(e).__name__
        fail(f"expected {path} to be an expert.pt written by expert.py, found a file torch cannot load ({reason}).")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict):
        fail(f"expected {path} to be an expert.pt written by expert.py, found no expert config in it.")
    found = ckpt["config"].get("env_id")
    if found != env_id:
        fail(f"expected an expert for {env_id}, found one for {found} in {path}.")
    return ckpt


def load_expert(path, env_id):
    """The deterministic expert saved at `path` (for --record-only), as a function obs -> action."""
    ckpt = read_expert(path, env_id, "--record-only")
    try:
        return expert_policy(ckpt["config"], ckpt)
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        fail(f"expected {path} to hold the networks its config describes, found it does not ({type(e).__name__}).")


def load_resume(path):
    """The state saved at the last evaluation of an interrupted run (for --resume), on the CPU: load_state_dict moves
    it to the networks' device, and torch.set_rng_state takes a CPU tensor."""
    if not os.path.exists(path):
        fail(f"expected a saved run at {path} for --resume, found no such file.")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        reason = type(e).__name__
        fail(f"expected {path} to be a resume.pt written by expert.py, found a file torch cannot load ({reason}).")


if __name__ == "__main__":
    args = tyro.cli(Args)
    check_args(
        args,
        counts=(
            "threads",
            "total_timesteps",
            "buffer_size",
            "batch_size",
            "eval_every",
            "eval_episodes",
            "num_demo_episodes",
            "target_network_frequency",
            "random_action_repeat",
        ),
        counts0=("learning_starts", "train_frequency"),
        rates=("learning_rate", "policy_lr"),
        fractions=("gamma", "start_e", "end_e", "exploration_fraction"),
    )
    if not 0.0 < args.tau <= 1.0:
        fail(f"expected --tau in (0, 1], found {args.tau}.")
    if args.alpha < 0:
        fail(f"expected --alpha >= 0, found {args.alpha}.")
    if args.end_e > args.start_e:
        fail(f"expected --end-e <= --start-e ({args.start_e}), found {args.end_e}.")
    if not (math.isfinite(args.init_alpha) and args.init_alpha > 0):
        fail(f"expected --init-alpha finite and > 0, found {args.init_alpha}.")
    if args.init_from is not None and args.resume:
        fail("expected at most one of --init-from and --resume (a resumed run has its own networks), found both.")

    if args.out_dir is None:
        out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "experts", args.env_id)
    else:
        out_dir = args.out_dir
    expert_path = os.path.join(out_dir, "expert.pt")
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    env, discrete, obs_dim, act_dim = make_checked_env(args.env_id, args.seed)
    act_space = env.action_space
    threshold = registered_threshold(args.env_id)
    # a random policy's return: the zero of the normalized score, and the floor a useful expert must clear
    random_returns, _ = run_episodes(
        env, lambda obs: act_space.sample(), RANDOM_EPISODES, args.seed + RANDOM_SEED_OFFSET
    )
    random_return_mean = float(np.mean(random_returns))

    if args.record_only:
        policy = load_expert(expert_path, args.env_id)
        path = os.path.join(out_dir, f"demos_seed{args.seed}.npz")
        if os.path.exists(path) and not args.overwrite:
            fail(
                f"expected a new demonstrations file, found {path} already exists (pass another --seed or --overwrite)."
            )
        demo_env = make_env(args.env_id, args.seed, args.capture_video, run_name)()
        returns, _ = record_demos(
            path, demo_env, policy, args.num_demo_episodes, args.seed, args.env_id, random_return_mean, threshold
        )
        print(
            f"recorded {args.num_demo_episodes} episodes to {path}: return {np.mean(returns):.1f} +- "
            f"{np.std(returns):.1f} (random {random_return_mean:.1f})"
        )
        sys.exit(0)

    resume_path = os.path.join(out_dir, "resume.pt")
    if os.path.exists(expert_path) and not (args.overwrite or args.resume):
        fail(
            f"expected no expert at {expert_path}, found one already exists (pass --out-dir elsewhere, --overwrite "
            "to replace it or --resume)."
        )
    resumed = None
    if args.resume:
        resumed = load_resume(resume_path)
        run_name = resumed["run_name"]  # a resumed run logs into the same TensorBoard run
        if resumed["step"] >= args.total_timesteps:
            fail(f"expected --total-timesteps above the resumed step {resumed['step']}, found {args.total_timesteps}.")
    os.makedirs(out_dir, exist_ok=True)
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
    writer = SummaryWriter(f"runs/{run_name}")
    table = "\n".join(f"|{k}|{v}|" for k, v in vars(args).items())
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + table)

    config = dict(
        env_id=args.env_id,
        discrete=discrete,
        obs_dim=obs_dim,
        act_dim=act_dim,
        action_low=None,
        action_high=None,
        hidden_sizes=list(args.hidden_sizes),
        algo="dqn",
    )
    if discrete:
        q = QNetwork(obs_dim, act_dim, args.hidden_sizes).to(device)
        q_target = copy.deepcopy(q)
        q_optimizer = torch.optim.Adam(q.parameters(), lr=args.learning_rate)
        learners = dict(q=q, q_target=q_target, q_optimizer=q_optimizer)
        expert_keys = ("q",)
    else:
        config["action_low"] = act_space.low.tolist()
        config["action_high"] = act_space.high.tolist()
        config["algo"] = "sac"
        actor = Actor(obs_dim, act_dim, args.hidden_sizes, act_space.low, act_space.high).to(device)
        q1 = QNetwork(obs_dim + act_dim, 1, args.hidden_sizes).to(device)
        q2 = QNetwork(obs_dim + act_dim, 1, args.hidden_sizes).to(device)
        q1_target = copy.deepcopy(q1)
        q2_target = copy.deepcopy(q2)
        q_optimizer = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=args.learning_rate)
        actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr)
        target_entropy = -float(act_dim)
        log_alpha = torch.zeros(1, requires_grad=True, device=device)
        alpha_optimizer = torch.optim.Adam([log_alpha], lr=args.policy_lr)
        learners = dict(
            actor=actor,
            q1=q1,
            q2=q2,
            q1_target=q1_target,
            q2_target=q2_target,
            q_optimizer=q_optimizer,
            actor_optimizer=actor_optimizer,
            alpha_optimizer=alpha_optimizer,
        )
        expert_keys = ("actor", "q1", "q2")

    # replay buffer; `done` holds terminations only: a time-limit truncation still bootstraps from Q(s')
    rb_size = min(args.buffer_size, args.total_timesteps)
    if discrete:
        rb_actions = np.zeros(rb_size, np.int64)
    else:
        rb_actions = np.zeros((rb_size, act_dim), np.float32)
    rb = dict(
        obs=np.zeros((rb_size, obs_dim), np.float32),
        act=rb_actions,
        rew=np.zeros(rb_size, np.float32),
        next_obs=np.zeros((rb_size, obs_dim), np.float32),
        done=np.zeros(rb_size, np.float32),
    )

    if args.train_frequency > 0:
        train_frequency = args.train_frequency
    elif discrete:
        train_frequency = 4
    else:
        train_frequency = 1
    eval_env = make_env(args.env_id, args.seed + 1)()
    best_return = -np.inf
    best_weights = None
    best_step = 0
    pending_levels = sorted(args.demo_at_returns)
    start_step = 1
    train_seconds = 0.0
    if resumed is not None:
        if resumed["config"] != config or len(resumed["rb"]["obs"]) > rb_size:
            fail(
                f"expected {resume_path} to hold a run with config {config} and at most {rb_size} stored "
                f"transitions, found {resumed['config']} and {len(resumed['rb']['obs'])} (resume with the same flags)."
            )
        for k, m in learners.items():
            m.load_state_dict(resumed["learners"][k])
        for k, v in resumed["rb"].items():
            rb[k][: len(v)] = v
        if not discrete:
            log_alpha.data.copy_(resumed["log_alpha"])
        best_return, best_weights, best_step, pending_levels = resumed["best"]
        python_rng, numpy_rng, torch_rng = resumed["rng"]
        random.setstate(python_rng)
        np.random.set_state(numpy_rng)
        torch.set_rng_state(torch_rng)
        start_step = resumed["step"] + 1
        train_seconds = resumed["train_seconds"]
        print(f"resumed {resume_path} at step {resumed['step']} (best evaluation so far {best_return:.1f})", flush=True)
    if args.init_from is not None:
        if discrete:
            fail(f"expected --init-from with a Box-action env (SAC), found {args.env_id} with Discrete actions.")
        init = read_expert(args.init_from, args.env_id, "--init-from")
        if init["config"] != config:
            fail(f"expected --init-from to hold an expert with config {config}, found {init['config']}.")
        for k in expert_keys:
            learners[k].load_state_dict(init[k])
        q1_target.load_state_dict(init["q1"])
        q2_target.load_state_dict(init["q2"])
        log_alpha.data.fill_(math.log(args.init_alpha))
    if not discrete:
        if args.autotune:
            alpha = log_alpha.exp().item()
        else:
            alpha = args.alpha
    start_time = time.time() - train_seconds  # SPS and wall time count training time across resumes
    obs, _ = env.reset(seed=args.seed + start_step - 1)
    for global_step in range(start_step, args.total_timesteps + 1):
        # act: epsilon-greedy on Q (DQN) or a sample of the squashed Gaussian (SAC); uniform before learning_starts,
        # unless the networks came from --init-from
        if discrete:
            decay_steps = args.exploration_fraction * args.total_timesteps
            epsilon = linear_schedule(args.start_e, args.end_e, decay_steps, global_step)
            if global_step < args.learning_starts or random.random() < epsilon:
                action = act_space.sample()
            else:
                with torch.no_grad():
                    action = int(q(torch.as_tensor(obs, dtype=torch.float32, device=device)).argmax())
        elif global_step < args.learning_starts and args.init_from is None:
            if (global_step - start_step) % args.random_action_repeat == 0:
                random_action = act_space.sample()
            action = random_action
        else:
            with torch.no_grad():
                o = torch.as_tensor(obs, dtype=torch.float32, device=device).unsqueeze(0)  # MuJoCo obs are float64
                sampled, _ = actor.get_action(o)
                action = sampled[0].cpu().numpy()
        next_obs, reward, term, trunc, info = env.step(action)
        i = (global_step - 1) % rb_size
        rb["obs"][i] = obs
        rb["act"][i] = action
        rb["rew"][i] = reward
        rb["next_obs"][i] = next_obs
        rb["done"][i] = float(term)
        obs = next_obs
        if term or trunc:
            writer.add_scalar("charts/episodic_return", info["episode"]["r"], global_step)
            writer.add_scalar("charts/episodic_length", info["episode"]["l"], global_step)
            obs, _ = env.reset()

        if global_step >= args.learning_starts and global_step % train_frequency == 0:
            idx = np.random.randint(0, min(global_step, rb_size), args.batch_size)
            b_obs = torch.as_tensor(rb["obs"][idx], device=device)
            b_act = torch.as_tensor(rb["act"][idx], device=device)
            b_rew = torch.as_tensor(rb["rew"][idx], device=device)
            b_next = torch.as_tensor(rb["next_obs"][idx], device=device)
            b_done = torch.as_tensor(rb["done"][idx], device=device)
            if discrete:
                with torch.no_grad():
                    # double DQN target r + gamma Q_target(s', argmax_a' Q(s', a')): the online net picks a', the
                    # target net evaluates it
                    next_a = q(b_next).argmax(-1, keepdim=True)
                    target = b_rew + args.gamma * (1 - b_done) * q_target(b_next).gather(1, next_a).squeeze(1)
                q_pred = q(b_obs).gather(1, b_act.unsqueeze(1)).squeeze(1)
                q_loss = F.smooth_l1_loss(q_pred, target)
                q_optimizer.zero_grad()
                q_loss.backward()
                nn.utils.clip_grad_norm_(q.parameters(), 10.0)
                q_optimizer.step()
                if global_step % args.target_network_frequency == 0:
                    q_target.load_state_dict(q.state_dict())
            else:
                with torch.no_grad():
                    # soft Bellman target: r + gamma (min_j Q_j'(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s')
                    next_a, next_logp = actor.get_action(b_next)
                    min_q_next = torch.min(q1_target(b_next, next_a), q2_target(b_next, next_a)).squeeze(1)
                    target = b_rew + args.gamma * (1 - b_done) * (min_q_next - alpha * next_logp)
                q1_loss = F.mse_loss(q1(b_obs, b_act).squeeze(1), target)
                q2_loss = F.mse_loss(q2(b_obs, b_act).squeeze(1), target)
                q_loss = q1_loss + q2_loss
                q_optimizer.zero_grad()
                q_loss.backward()
                q_optimizer.step()
                # actor: minimise E[alpha log pi(a|s) - min_j Q_j(s, a)], reparameterised a, Q nets frozen (~8% faster)
                q1.requires_grad_(False)
                q2.requires_grad_(False)
                pi_a, logp = actor.get_action(b_obs)
                actor_loss = (alpha * logp - torch.min(q1(b_obs, pi_a), q2(b_obs, pi_a)).squeeze(1)).mean()
                actor_optimizer.zero_grad()
                actor_loss.backward()
                actor_optimizer.step()
                q1.requires_grad_(True)
                q2.requires_grad_(True)
                if args.autotune:
                    # temperature: minimise E[-alpha (log pi(a|s) + target entropy)]
                    alpha_loss = -(log_alpha.exp() * (logp.detach() + target_entropy)).mean()
                    alpha_optimizer.zero_grad()
                    alpha_loss.backward()
                    alpha_optimizer.step()
                    alpha = log_alpha.exp().item()
                with torch.no_grad():
                    for net, net_target in ((q1, q1_target), (q2, q2_target)):
                        for p, tp in zip(net.parameters(), net_target.parameters()):
                            tp.lerp_(p, args.tau)  # tp <- (1 - tau) tp + tau p
            if global_step % 1000 == 0 and global_step > args.learning_starts:
                writer.add_scalar("losses/q_loss", q_loss.item(), global_step)
                writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time)), global_step)
                if discrete:
                    writer.add_scalar("charts/epsilon", epsilon, global_step)
                else:
                    writer.add_scalar("losses/actor_loss", actor_loss.item(), global_step)
                    writer.add_scalar("losses/alpha", alpha, global_step)

        if global_step % args.eval_every == 0 or global_step == args.total_timesteps:
            weights = {k: cpu_state_dict(learners[k]) for k in expert_keys}
            eval_seed = args.seed + EVAL_SEED_OFFSET + global_step
            eval_returns, _ = run_episodes(eval_env, expert_policy(config, weights), args.eval_episodes, eval_seed)
            mean_return = float(np.mean(eval_returns))
            writer.add_scalar("eval/episodic_return", mean_return, global_step)
            sps = int(global_step / (time.time() - start_time))
            print(
                f"step={global_step} eval_return={mean_return:.1f} +- {np.std(eval_returns):.1f} sps={sps}", flush=True
            )
            if mean_return > best_return:
                best_return = mean_return
                best_weights = weights
                best_step = global_step
                if args.save_model:  # saved as it improves, so an interrupted run keeps its best expert
                    torch.save({"config": config, **best_weights}, expert_path)
            while pending_levels and mean_return >= pending_levels[0]:
                level = pending_levels.pop(0)
                level_path = os.path.join(out_dir, f"demos_at_{level:g}.npz")
                level_returns, _ = record_demos(
                    level_path,
                    eval_env,
                    expert_policy(config, weights),
                    args.num_demo_episodes,
                    args.seed,
                    args.env_id,
                    random_return_mean,
                    threshold,
                    note=" (--demo-at-returns records weaker experts on purpose)",
                )
                print(
                    f"saved demos_at_{level:g}.npz from step {global_step}: return {np.mean(level_returns):.1f}",
                    flush=True,
                )
            if args.stop_at_return is not None and mean_return >= args.stop_at_return:
                break
        if global_step % args.eval_every == 0 and global_step < args.total_timesteps:  # for --resume
            if discrete:
                saved_log_alpha = None
            else:
                saved_log_alpha = log_alpha
            state = dict(
                run_name=run_name,
                config=config,
                step=global_step,
                train_seconds=time.time() - start_time,
                learners={k: m.state_dict() for k, m in learners.items()},
                log_alpha=saved_log_alpha,
                rb={k: v[:global_step] for k, v in rb.items()},
                rng=(random.getstate(), np.random.get_state(), torch.get_rng_state()),
                best=(best_return, best_weights, best_step, pending_levels),
            )
            torch.save(state, resume_path + ".tmp")
            os.replace(resume_path + ".tmp", resume_path)  # atomic: a kill while saving keeps the previous one
    train_seconds = time.time() - start_time
    env_steps = global_step

    # record the demonstrations from the best deterministic expert; their mean is the expert's return
    demo_env = make_env(args.env_id, args.seed, args.capture_video, run_name)()
    demos_path = os.path.join(out_dir, "demos.npz")
    returns, weak = record_demos(
        demos_path,
        demo_env,
        expert_policy(config, best_weights),
        args.num_demo_episodes,
        args.seed,
        args.env_id,
        random_return_mean,
        threshold,
    )
    expert_mean = float(np.mean(returns))
    expert_std = float(np.std(returns))
    writer.add_scalar("eval/normalized_score", 1.0, env_steps)
    if math.isnan(threshold):
        summary_threshold = None  # JSON has no NaN
    else:
        summary_threshold = threshold
    summary = dict(
        env_id=args.env_id,
        algo=config["algo"],
        seed=args.seed,
        eval_return_mean=expert_mean,
        eval_return_std=expert_std,
        normalized_score=1.0,
        random_return_mean=random_return_mean,
        reward_threshold=summary_threshold,
        weak_expert=weak,
        best_eval_step=best_step,
        env_steps=env_steps,
        wall_seconds=train_seconds,
        sps=env_steps / train_seconds,
        args=asdict(args),
    )
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(
        f"expert {args.env_id}: return {expert_mean:.1f} +- {expert_std:.1f} over {args.num_demo_episodes} episodes "
        f"(random {random_return_mean:.1f}, registered threshold {summary_threshold}, weak expert: {weak}), "
        f"best eval at step {best_step}, {env_steps} steps in {train_seconds:.0f}s -> {out_dir}"
    )
    writer.close()
    if os.path.exists(resume_path):  # only now: a run killed while recording can still --resume
        os.remove(resume_path)
