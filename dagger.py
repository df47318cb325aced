"""DAgger: Dataset Aggregation (Ross, Gordon & Bagnell 2011, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning", AISTATS, arXiv:1011.0686), with an online expert.

Behavioural cloning trains on the expert's state distribution and then fails on the states its own mistakes lead to.
DAgger (Algorithm 3.1 of the paper) fixes that by interleaving acting and learning:
  1. roll in with the mixture pi_i = beta_i * expert + (1 - beta_i) * learner_i (at every step a coin with probability
     beta_i decides who acts), so the learner visits the states its own policy leads to;
  2. label EVERY visited state with the expert's action, whoever acted;
  3. aggregate: D <- D u D_i, and retrain the learner by maximum likelihood on all of D.
beta_1 = 1 (the first iteration is plain BC on expert roll-outs) and beta_i decays, here beta_i = beta_decay^(i-1)
("exponential", the paper's p^(i-1)) or linearly to 0. The expert is the shipped `experts/<env-id>/expert.pt`:
argmax_a Q*(s, a) for Discrete actions (double DQN), the SAC mean action for Box actions.
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

ROOT = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Args:
    exp_name: str = "dagger"
    """the name of this experiment (goes into the run name)"""
    seed: int = 1
    """seed of the experiment (python, numpy, torch and the envs)"""
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
    """if toggled, record the final evaluation episodes to `videos/<run_name>`"""
    save_model: bool = False
    """if toggled, save the learned policy to `runs/<run_name>/dagger.pt`"""
    load_model: str | None = None
    """path of a saved `dagger.pt`: skip training, evaluate it and write the summary"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int = 10_000
    """total environment steps of roll-in (every one of them is an expert-labelled state)"""
    learning_rate: float = 1e-3
    """Adam learning rate of the learner"""
    expert: str | None = None
    """expert file (default: experts/<env-id>/expert.pt next to this script)"""
    demos: str | None = None
    """demos file (default: experts/<env-id>/demos.npz next to this script), gives R_expert, R_random of the score"""
    num_demos: int = 0
    """expert episodes from the demos file put into the data set before iteration 1 (0: the file is only used for
    the normalized score)"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the learner"""
    eval_episodes: int = 10
    """episodes of each evaluation of the deterministic learner"""
    eval_every: int = 2_000
    """evaluate every this many env steps (rounded up to whole iterations)"""

    # DAgger
    num_envs: int = 4
    """parallel envs of the roll-in (gym.vector.SyncVectorEnv)"""
    steps_per_iteration: int = 1_000
    """env steps (over all envs) of one DAgger iteration, i.e. the size of each D_i"""
    beta_schedule: Literal["exponential", "linear"] = "exponential"
    """beta_i = beta_decay^(i-1) ('exponential'; beta_decay 0 = pure learner from iteration 2) or 1 -> 0 ('linear')"""
    beta_decay: float = 0.5
    """p of the exponential schedule"""
    beta_fraction: float = 0.5
    """fraction of the iterations over which the linear schedule reaches 0"""
    gradient_steps: int = 200
    """minibatch gradient steps on the aggregated data set after each iteration (warm start)"""
    batch_size: int = 256
    """minibatch size"""
    loss: Literal["nll", "mse"] = "mse"
    """Box actions: 'mse' is the likelihood of a fixed-std Gaussian (fit the mean, roll in with it); 'nll' also fits the
    state-dependent std and rolls in with samples (Discrete actions always use the cross-entropy)"""


def make_env(env_id, seed, capture_video=False, run_name=""):
    def thunk():
        env = gym.make(env_id, render_mode="rgb_array") if capture_video else gym.make(env_id)
        if capture_video:
            env = gym.wrappers.RecordVideo(env, f"videos/{run_name}", episode_trigger=lambda i: True)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def mlp(in_dim, out_dim, hidden_sizes):  # same layer layout as expert.py's mlp, so its state dicts load
    dims = [in_dim, *hidden_sizes]
    layers = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
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
    """The learner. Discrete: categorical logits. Box: Gaussian with a state-dependent log-std clamped to [-5, 2]."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, discrete):
        super().__init__()
        self.discrete = discrete
        self.net = mlp(obs_dim, act_dim if discrete else 2 * act_dim, hidden_sizes)

    def dist(self, x):
        if self.discrete:
            return torch.distributions.Categorical(logits=self.net(x))
        mean, log_std = self.net(x).chunk(2, -1)
        return torch.distributions.Normal(mean, log_std.clamp(-5.0, 2.0).exp())

    def log_prob(self, x, a):
        lp = self.dist(x).log_prob(a)
        return lp if self.discrete else lp.sum(-1)  # independent action dimensions: sum of log-probs

    def act(self, x, deterministic=False):
        d = self.dist(x)
        if deterministic:
            return d.probs.argmax(-1) if self.discrete else d.mean
        return d.sample()


def fail(msg):
    sys.exit(f"dagger.py: {msg}")


def load_expert(path, env_id, discrete, obs_dim, act_dim, device):
    """Rebuild the expert from expert.pt; returns obs batch (torch) -> deterministic expert action batch (torch)."""
    if not os.path.exists(path):
        fail(f"expected an expert file at {path}, found no such file (train one with expert.py).")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
        cfg = ckpt["config"]
    except Exception as e:  # noqa: BLE001 -- any unreadable file gets the same one-sentence answer
        fail(f"{path} is not an expert.pt written by expert.py ({type(e).__name__}: {e}).")
    if cfg.get("env_id") != env_id:
        fail(f"{path} is an expert for {cfg.get('env_id')}, expected one for {env_id}.")
    key = "q" if discrete else "actor"
    if key not in ckpt:
        fail(f"{path} lacks the '{key}' network the {'Discrete' if discrete else 'Box'} expert acts with.")
    if discrete:  # the DQN expert: argmax_a Q*(s, a)
        q = QNetwork(obs_dim, act_dim, cfg["hidden_sizes"])
        q.load_state_dict(ckpt["q"])
        q.to(device)
        return lambda x: q(x).argmax(-1)
    actor = Actor(obs_dim, act_dim, cfg["hidden_sizes"], np.array(cfg["action_low"]), np.array(cfg["action_high"]))
    actor.load_state_dict(ckpt["actor"])
    return actor.to(device).deterministic


def load_demos(path, env_id, obs_dim, discrete, act_dim, num_demos):
    """Check the demos file against the env; returns (expert_return_mean, random_return_mean, obs, actions) where
    obs/actions hold the first `num_demos` episodes."""
    if not os.path.exists(path):
        fail(f"expected a demonstrations file at {path}, found no such file.")
    keys = ("observations", "actions", "terminations", "truncations", "env_id", "expert_return_mean",
            "random_return_mean")
    try:
        d = np.load(path, allow_pickle=False)
        missing = [k for k in keys if k not in d.files]
    except Exception as e:  # noqa: BLE001
        fail(f"{path} is not a valid .npz demonstrations file ({type(e).__name__}).")
    if missing:
        fail(f"{path} lacks the keys {missing} of a demonstrations file.")
    if str(d["env_id"]) != env_id:
        fail(f"{path} holds demonstrations for {d['env_id']}, expected {env_id}.")
    obs, act = d["observations"], d["actions"]
    if obs.ndim != 2 or obs.shape[1] != obs_dim:
        fail(f"{path} has observations of shape {obs.shape[1:]}, expected ({obs_dim},).")
    if discrete != (act.ndim == 1 and np.issubdtype(act.dtype, np.integer)):
        fail(f"{path} has {'continuous' if discrete else 'discrete'} actions, expected "
             f"{'discrete' if discrete else 'continuous'} ones for {env_id}.")
    if not discrete and act.shape[1:] != (act_dim,):
        fail(f"{path} has actions of shape {act.shape[1:]}, expected ({act_dim},).")
    ends = np.flatnonzero(d["terminations"] | d["truncations"])
    if len(ends) == 0 or ends[-1] != len(obs) - 1:
        fail(f"{path} ends in the middle of an episode (truncated file), expected whole episodes.")
    if num_demos > len(ends):
        fail(f"--num-demos {num_demos} asks for more episodes than the {len(ends)} in {path}.")
    n = ends[num_demos - 1] + 1 if num_demos > 0 else 0
    return float(d["expert_return_mean"]), float(d["random_return_mean"]), obs[:n], act[:n]


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


def normalized_score(ret, expert_ret, random_ret):
    return (ret - random_ret) / (expert_ret - random_ret)


def evaluate(policy, env_id, n, seed, device, capture_video=False, run_name=""):
    """Returns of n episodes of the deterministic learner, run side by side in a vector env."""
    envs = gym.vector.SyncVectorEnv([make_env(env_id, seed + i, capture_video and i == 0, run_name) for i in range(n)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=[seed + i for i in range(n)])
    returns, done = np.zeros(n), np.zeros(n, bool)
    while not done.all():
        with torch.no_grad():
            a = policy.act(torch.as_tensor(obs, dtype=torch.float32, device=device), deterministic=True).cpu().numpy()
        if not policy.discrete:
            a = np.clip(a, envs.single_action_space.low, envs.single_action_space.high)
        obs, r, term, trunc, _ = envs.step(a)
        returns += r * ~done
        done |= term | trunc
    envs.close()
    return returns


if __name__ == "__main__":
    args = tyro.cli(Args)
    try:
        gym.spec(args.env_id)
    except gym.error.Error:
        fail(f"--env-id {args.env_id!r} is not a registered gymnasium environment (e.g. CartPole-v1, Pendulum-v1).")
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    envs = gym.vector.SyncVectorEnv([make_env(args.env_id, args.seed + i) for i in range(args.num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        fail(f"expected a flat Box observation space, found {obs_space}.")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)):
        fail(f"expected a Box or Discrete action space, found {act_space}.")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    obs_dim = int(obs_space.shape[0])
    act_dim = int(act_space.n) if discrete else int(np.prod(act_space.shape))
    demos_path = args.demos or os.path.join(ROOT, "experts", args.env_id, "demos.npz")
    expert_ret, random_ret, demo_obs, demo_act = load_demos(demos_path, args.env_id, obs_dim, discrete, act_dim,
                                                            args.num_demos)
    policy = Policy(obs_dim, act_dim, args.hidden_sizes, discrete).to(device)

    if args.track:
        import wandb

        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True,
                   config=vars(args), name=run_name, save_code=True)
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    start_time = time.time()
    global_step = 0

    if args.load_model:
        try:
            state = torch.load(args.load_model, map_location=device, weights_only=False)
            if state.get("env_id") == args.env_id:
                policy.load_state_dict(state["policy"])
        except Exception as e:
            fail(f"expected --load-model to be a policy saved by dagger.py --save-model with the same --hidden-sizes, "
                 f"found {args.load_model} ({' '.join(str(e).split())[:160]}).")
        if state.get("env_id") != args.env_id:
            fail(f"{args.load_model} is a policy for {state.get('env_id')}, expected one for {args.env_id}.")
    else:
        expert_path = args.expert or os.path.join(ROOT, "experts", args.env_id, "expert.pt")
        expert_act = load_expert(expert_path, args.env_id, discrete, obs_dim, act_dim, device)
        optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
        # the aggregated data set D (Alg. 3.1), preallocated; optionally seeded with demonstrations
        capacity = len(demo_obs) + args.total_timesteps + args.num_envs
        D_obs = np.zeros((capacity, obs_dim), np.float32)
        D_act = np.zeros((capacity,) if discrete else (capacity, act_dim), np.int64 if discrete else np.float32)
        D_obs[: len(demo_obs)], D_act[: len(demo_obs)], n_data = demo_obs, demo_act, len(demo_obs)
        num_iterations = -(-args.total_timesteps // args.steps_per_iteration)
        steps_per_env = max(1, args.steps_per_iteration // args.num_envs)
        obs, _ = envs.reset(seed=[args.seed + i for i in range(args.num_envs)])
        next_eval = args.eval_every
        for iteration in range(1, num_iterations + 1):
            # Alg. 3.1 line 4: pi_i = beta_i pi* + (1 - beta_i) pi_hat_i
            beta = beta_at(iteration, args.beta_schedule, args.beta_decay, args.beta_fraction, num_iterations)
            n_expert = n_steps = 0
            for _ in range(steps_per_env):
                if global_step >= args.total_timesteps:
                    break
                with torch.no_grad():
                    x = torch.as_tensor(obs, dtype=torch.float32, device=device)
                    a_star = expert_act(x).cpu().numpy()
                    a_learner = policy.act(x, deterministic=args.loss == "mse").cpu().numpy()
                # line 5-6: sample with pi_i and label every visited state with the expert's action
                action, used = mix(a_star, a_learner, beta, np.random)  # seeded above
                D_obs[n_data: n_data + args.num_envs], D_act[n_data: n_data + args.num_envs] = obs, a_star
                n_data += args.num_envs
                n_expert, n_steps = n_expert + used.sum(), n_steps + args.num_envs
                if not discrete:
                    action = np.clip(action, act_space.low, act_space.high)
                obs, _, term, trunc, info = envs.step(action)
                global_step += args.num_envs
                if "final_info" in info:
                    ep = info["final_info"]["episode"]
                    for i in np.flatnonzero(info["final_info"]["_episode"]):
                        writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
                        writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)
            # line 7: D <- D u D_i ; line 8: train pi_hat_{i+1} on D (maximum likelihood, warm-started)
            for _ in range(args.gradient_steps):
                idx = np.random.randint(0, n_data, args.batch_size)
                b_obs = torch.as_tensor(D_obs[idx], device=device)
                b_act = torch.as_tensor(D_act[idx], device=device)
                if discrete or args.loss == "nll":
                    loss = -policy.log_prob(b_obs, b_act).mean()
                else:  # the expert is deterministic: regress the mean on its action
                    loss = F.mse_loss(policy.dist(b_obs).mean, b_act)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            sps = int(global_step / (time.time() - start_time))
            writer.add_scalar("charts/beta", beta, global_step)
            writer.add_scalar("charts/expert_action_fraction", n_expert / max(1, n_steps), global_step)
            writer.add_scalar("charts/dataset_size", n_data, global_step)
            writer.add_scalar("charts/SPS", sps, global_step)
            writer.add_scalar(f"losses/{'nll' if discrete else args.loss}", loss.item(), global_step)
            if global_step >= next_eval and global_step < args.total_timesteps:
                next_eval += args.eval_every
                rets = evaluate(policy, args.env_id, args.eval_episodes, args.seed + 10_000, device)
                writer.add_scalar("eval/episodic_return", rets.mean(), global_step)
                writer.add_scalar("eval/normalized_score", normalized_score(rets.mean(), expert_ret, random_ret),
                                  global_step)
                print(f"iter={iteration} step={global_step} beta={beta:.3f} loss={loss.item():.3f} "
                      f"eval_return={rets.mean():.1f} sps={sps}", flush=True)
    envs.close()
    train_seconds, cpu_seconds = time.time() - start_time, time.process_time()

    rets = evaluate(policy, args.env_id, args.eval_episodes, args.seed + 10_000, device, args.capture_video, run_name)
    score = normalized_score(rets.mean(), expert_ret, random_ret)
    writer.add_scalar("eval/episodic_return", rets.mean(), global_step)
    writer.add_scalar("eval/normalized_score", score, global_step)
    if args.save_model:
        torch.save({"env_id": args.env_id, "policy": policy.state_dict()}, f"runs/{run_name}/dagger.pt")
    summary = dict(env_id=args.env_id, algo="dagger", seed=args.seed, eval_return_mean=float(rets.mean()),
                   eval_return_std=float(rets.std()), normalized_score=float(score), env_steps=global_step,
                   expert_labels=int(0 if args.load_model else n_data), wall_seconds=train_seconds,
                   cpu_seconds=cpu_seconds, sps=global_step / max(train_seconds, 1e-9), expert_return_mean=expert_ret,
                   random_return_mean=random_ret, args=asdict(args))
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"dagger {args.env_id} seed={args.seed}: eval return {rets.mean():.1f} +- {rets.std():.1f}, normalized score "
          f"{score:.3f}, {global_step} env steps, {summary['expert_labels']} expert labels, {train_seconds:.0f}s "
          f"({summary['sps']:.0f} SPS) -> runs/{run_name}")
    writer.close()
