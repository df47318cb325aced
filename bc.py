"""Behavioural cloning (BC): supervised maximum likelihood on the expert's (s, a) pairs.

BC (Pomerleau 1991, "Efficient training of artificial neural networks for autonomous navigation"; the MLE view as in
Bain & Sammut 1995) treats imitation as supervised learning: theta* = argmax_theta E_{(s,a)~D_E}[log pi_theta(a|s)].
- Discrete actions: pi_theta is a categorical over the actions; the NLL is the cross-entropy with the expert's action.
- Box actions: pi_theta(a|s) = N(mu_theta(s), diag(sigma_theta(s))^2) with a learned, state-dependent log-std; the loss
  is the Gaussian NLL. `--loss mse` is the deterministic regression ||mu_theta(s) - a||^2 the notes also mention
  (the MLE of a Gaussian with a fixed, shared std).
- Plain heteroscedastic NLL weights each sample's squared error by 1/sigma(s)^2, so the mean fits badly wherever the
  learned std is large (Seitzer et al. 2022, arXiv:2203.09168); on Pendulum-v1 it stays well short of the expert.
  By default each sample's NLL is weighted by stop_grad(sigma^2)^beta with beta = 0.5 (beta-NLL); --nll-beta 0 is
  the plain MLE.

What a reader must not miss:
- BC never acts in the environment while it learns: `env_steps` in summary.json is 0 and `--total-steps` counts
  gradient steps. The env is only used to evaluate the deterministic policy (argmax / mean action).
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
    exp_name: str = "bc"
    """the name of this experiment (goes into the run name)"""
    seed: int = 1
    """seed of the experiment (python, numpy, torch, the data split and the evaluation envs)"""
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
    """if toggled, record the first evaluation env's episodes to `videos/<run_name>`"""
    save_model: bool = False
    """if toggled, save the policy as `runs/<run_name>/bc.pt` (evaluate it again with --load-model)"""
    load_model: str | None = None
    """path of a saved bc.pt: skip training, evaluate that policy and write the summary"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_steps: int = 10_000
    """gradient steps of training (BC never steps the env while it learns)"""
    learning_rate: float = 1e-3
    """Adam learning rate (annealed linearly to 0 with --anneal-lr)"""
    demos: str | None = None
    """demonstrations file (default: experts/<env-id>/demos.npz next to this script)"""
    num_demos: int = 10
    """expert episodes used: the first `num_demos` episodes of the file"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the policy (e.g. 64 64 for the notes' model-compression experiment)"""
    eval_episodes: int = 10
    """episodes per evaluation of the deterministic policy"""
    eval_every: int = 2_000
    """evaluate every this many gradient steps (and once at the end; 0: only at the end)"""

    # BC
    batch_size: int = 256
    """minibatch size of (s, a) pairs"""
    loss: Literal["nll", "mse"] = "nll"
    """Box actions: Gaussian negative log-likelihood (MLE) or mean squared error (deterministic regression)"""
    nll_beta: float = 0.5
    """Box + nll: beta-NLL (Seitzer et al. 2022): each sample's NLL is weighted by stop_grad(sigma^2)^beta; 0 is the
    plain MLE, whose 1/sigma^2 weighting lets the mean underfit where the std is large; 1 gives the mean MSE's
    gradient"""
    val_fraction: float = 0.1
    """fraction of the demo transitions held out as a validation set (its loss is logged)"""
    anneal_lr: bool = True
    """if toggled, anneal the learning rate linearly to 0"""
    weight_decay: float = 0.0
    """AdamW weight decay"""


def make_env(env_id, seed, idx=0, capture_video=False, run_name=""):
    def thunk():
        if capture_video and idx == 0:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, f"videos/{run_name}", episode_trigger=lambda i: True)
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed + idx)
        return env

    return thunk


def mlp(in_dim, out_dim, hidden_sizes):
    layers, d = [], in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Policy(nn.Module):
    """Categorical head (logits) for Discrete actions, Gaussian head (mean, state-dependent log-std) for Box actions.
    Observations are standardised with the demo statistics, kept as buffers so a saved policy carries them."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, discrete, obs_mean, obs_std):
        super().__init__()
        self.discrete, self.act_dim = discrete, act_dim
        self.net = mlp(obs_dim, act_dim if discrete else 2 * act_dim, hidden_sizes)
        self.register_buffer("obs_mean", torch.as_tensor(obs_mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(obs_std, dtype=torch.float32))

    def forward(self, obs):
        out = self.net((obs - self.obs_mean) / self.obs_std)
        if self.discrete:
            return out
        mean, log_std = out.chunk(2, -1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def act(self, obs):
        """The deterministic policy used for evaluation: argmax of the logits, or the Gaussian mean."""
        return self(obs).argmax(-1) if self.discrete else self(obs)[0]


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


def fail(msg):
    sys.exit(f"bc.py: {msg}")


def load_demos(path, env_id, obs_space, act_space, num_demos):
    """Load the first `num_demos` episodes of a demos.npz and check it against the env; one sentence on failure."""
    keys = ("observations", "actions", "terminations", "truncations", "env_id", "expert_return_mean",
            "random_return_mean")
    if not os.path.exists(path):
        fail(f"expected a demonstrations file at {path}, found no such file (record one with expert.py).")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except Exception as e:  # a truncated or non-npz file
        fail(f"expected {path} to be a .npz demonstrations file, found a file numpy cannot read ({type(e).__name__}).")
    missing = [k for k in keys if k not in data]
    if missing:
        fail(f"expected {path} to hold the keys {list(keys)}, found it lacks {missing}.")
    if str(data["env_id"]) != env_id:
        fail(f"expected demonstrations for {env_id}, found demonstrations for {data['env_id']} in {path}.")
    obs, act = data["observations"], data["actions"]
    if obs.shape[1:] != obs_space.shape:
        fail(f"expected observations of shape {obs_space.shape}, found {obs.shape[1:]} in {path}.")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    if discrete != (act.ndim == 1 and np.issubdtype(act.dtype, np.integer)):
        fail(f"expected {'discrete (integer)' if discrete else 'continuous (float)'} actions for {env_id}, found "
             f"{act.dtype} actions of shape {act.shape[1:]} in {path}.")
    if discrete and (act.min() < 0 or act.max() >= act_space.n):
        fail(f"expected actions in 0..{act_space.n - 1} for {env_id}, found actions in {act.min()}..{act.max()}.")
    if not discrete and act.shape[1:] != act_space.shape:
        fail(f"expected actions of shape {act_space.shape} for {env_id}, found {act.shape[1:]} in {path}.")
    ends = np.flatnonzero(data["terminations"] | data["truncations"])
    if len(ends) == 0 or ends[-1] != len(obs) - 1:
        fail(f"expected the last episode in {path} to end with a termination or truncation, found it cut short.")
    if len(ends) < num_demos:
        fail(f"expected at least --num-demos {num_demos} episodes in {path}, found {len(ends)}.")
    n = ends[num_demos - 1] + 1
    return dict(observations=obs[:n].astype(np.float32), actions=act[:n], episodes=num_demos,
                expert_return_mean=float(data["expert_return_mean"]),
                random_return_mean=float(data["random_return_mean"]))


def evaluate(policy, env_id, n, seed, device, capture_video=False, run_name=""):
    """Run the deterministic policy for n episodes in parallel (one vector env each); returns (returns, lengths)."""
    envs = gym.vector.SyncVectorEnv([make_env(env_id, seed, i, capture_video, run_name) for i in range(n)])
    act_space = envs.single_action_space
    obs, _ = envs.reset(seed=seed)
    returns, lengths, done = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=bool)
    while not done.all():
        with torch.no_grad():
            action = policy.act(torch.as_tensor(obs, dtype=torch.float32, device=device)).cpu().numpy()
        if isinstance(act_space, gym.spaces.Box):
            action = np.clip(action, act_space.low, act_space.high)  # clip only when stepping the env
        obs, reward, term, trunc, _ = envs.step(action)
        returns += reward * ~done  # count each env's first episode only (vector envs autoreset)
        lengths += ~done
        done |= term | trunc
    envs.close()
    return returns, lengths


if __name__ == "__main__":
    args = tyro.cli(Args)
    try:
        gym.spec(args.env_id)
    except gym.error.Error:
        fail(f"expected --env-id to be a registered gymnasium environment (e.g. CartPole-v1), found {args.env_id!r}.")
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    probe = gym.make(args.env_id)
    obs_space, act_space = probe.observation_space, probe.action_space
    probe.close()
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        fail(f"expected a flat Box observation space, found {obs_space}.")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)):
        fail(f"expected a Box or Discrete action space, found {act_space}.")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    obs_dim = int(obs_space.shape[0])
    act_dim = int(act_space.n) if discrete else int(np.prod(act_space.shape))
    demos_path = args.demos or os.path.join(os.path.dirname(os.path.abspath(__file__)), "experts", args.env_id,
                                            "demos.npz")
    demos = load_demos(demos_path, args.env_id, obs_space, act_space, args.num_demos)

    if args.track:
        import wandb

        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True,
                   config=vars(args), name=run_name, save_code=True)
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    def normalized(ret):
        return (ret - demos["random_return_mean"]) / (demos["expert_return_mean"] - demos["random_return_mean"])

    def log_eval(step, seed, video=False):
        returns, lengths = evaluate(policy, args.env_id, args.eval_episodes, seed, device, video, run_name)
        # BC's only episodes are evaluation episodes: they feed charts/episodic_* as well as eval/*
        writer.add_scalar("charts/episodic_return", returns.mean(), step)
        writer.add_scalar("charts/episodic_length", lengths.mean(), step)
        writer.add_scalar("eval/episodic_return", returns.mean(), step)
        writer.add_scalar("eval/normalized_score", normalized(returns.mean()), step)
        return returns

    # a random train / validation split of the demo transitions (by transition, as in supervised learning)
    obs_all = torch.as_tensor(demos["observations"], device=device)
    act_all = torch.as_tensor(demos["actions"], device=device)
    perm = torch.randperm(len(obs_all), generator=torch.Generator().manual_seed(args.seed)).to(device)
    n_val = int(args.val_fraction * len(obs_all))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    obs_mean, obs_std = obs_all[train_idx].mean(0), obs_all[train_idx].std(0).clamp_min(1e-3)
    hidden_sizes = args.hidden_sizes
    if args.load_model:
        try:
            ckpt = torch.load(args.load_model, map_location=device, weights_only=False)
        except Exception as e:
            fail(f"expected --load-model to be a file saved by bc.py --save-model, found {args.load_model} ({e}).")
        if ckpt["config"]["env_id"] != args.env_id:
            fail(f"expected a policy for {args.env_id} in {args.load_model}, found one for {ckpt['config']['env_id']}.")
        hidden_sizes = ckpt["config"]["hidden_sizes"]  # the saved network's shape, whatever --hidden-sizes says
    policy = Policy(obs_dim, act_dim, hidden_sizes, discrete, obs_mean, obs_std).to(device)
    if args.load_model:
        try:
            policy.load_state_dict(ckpt["policy"])
        except (KeyError, RuntimeError) as e:  # a file of another script: other layers or keys
            fail(f"expected a policy saved by {os.path.basename(__file__)} in {args.load_model}, found another network "
                 f"({' '.join(str(e).split())[:160]}).")
    optimizer = torch.optim.AdamW(policy.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)

    start_time = time.time()
    total_steps = 0 if args.load_model else args.total_steps
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
            writer.add_scalar("charts/SPS", int(step / (time.time() - start_time)), step)
            writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], step)
            if n_val > 0:
                with torch.no_grad():
                    v_obs, v_act = obs_all[val_idx], act_all[val_idx]
                    val_loss = bc_loss(policy, v_obs, v_act, args.loss, args.nll_beta)
                    writer.add_scalar("losses/val_loss", val_loss.item(), step)
                    if discrete:
                        writer.add_scalar("losses/val_accuracy", (policy.act(v_obs) == v_act).float().mean(), step)
                    else:
                        writer.add_scalar("losses/val_mse", (policy.act(v_obs) - v_act).pow(2).sum(-1).mean(), step)
                        writer.add_scalar("losses/policy_std", policy(v_obs)[1].exp().mean(), step)
        if args.eval_every > 0 and step % args.eval_every == 0 and step != total_steps:
            returns = log_eval(step, args.seed + 10_000 + step)
            print(f"step={step} loss={loss.item():.4f} eval_return={returns.mean():.1f} +- {returns.std():.1f}",
                  flush=True)
    train_seconds = time.time() - start_time

    # final evaluation of the deterministic policy (excluded from env_steps: BC learns without acting)
    returns = log_eval(total_steps, args.seed + 100_000, args.capture_video)
    wall_seconds = time.time() - start_time
    if args.save_model:
        torch.save({"config": dict(env_id=args.env_id, discrete=discrete, obs_dim=obs_dim, act_dim=act_dim,
                                   hidden_sizes=list(hidden_sizes)), "policy": policy.state_dict()},
                   f"runs/{run_name}/bc.pt")
    summary = dict(env_id=args.env_id, algo="bc", seed=args.seed, eval_return_mean=float(returns.mean()),
                   eval_return_std=float(returns.std()), normalized_score=float(normalized(returns.mean())),
                   env_steps=0, grad_steps=total_steps, num_demos=args.num_demos,
                   demo_transitions=len(obs_all), wall_seconds=wall_seconds, train_seconds=train_seconds,
                   sps=total_steps / max(train_seconds, 1e-9), args=asdict(args))
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"bc {args.env_id}: return {returns.mean():.1f} +- {returns.std():.1f} (normalized "
          f"{summary['normalized_score']:.3f}) after {total_steps} gradient steps on {args.num_demos} demos "
          f"({len(obs_all)} transitions), 0 env steps, {wall_seconds:.1f}s, {summary['sps']:.0f} gradient steps/s",
          flush=True)
    writer.close()
