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
  3. with the regular gradient (Sec. 3.1, here Adam steps) or a natural-gradient step (Sec. 3.2, `--update natural`).
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
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch.utils.tensorboard import SummaryWriter

ROOT = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Args:
    exp_name: str = "aggrevated"
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
    """if toggled, save the learned policy to `runs/<run_name>/aggrevated.pt`"""
    load_model: str | None = None
    """path of a saved `aggrevated.pt`: skip training, evaluate it and write the summary"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int = 10_000
    """total environment steps of roll-in"""
    learning_rate: float = 1e-3
    """Adam learning rate of the regular-gradient update"""
    expert: str | None = None
    """expert file with Q* (default: experts/<env-id>/expert.pt next to this script)"""
    demos: str | None = None
    """demos file (default: experts/<env-id>/demos.npz next to this script), gives R_expert, R_random of the score"""
    num_demos: int = 0
    """expert episodes whose states are added to the (aggregated) state set before iteration 1 (0: none)"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """hidden layer sizes of the learner"""
    eval_episodes: int = 10
    """episodes of each evaluation of the deterministic learner"""
    eval_every: int = 2_000
    """evaluate every this many env steps (rounded up to whole iterations)"""

    # AggreVaTeD
    update: Literal["gradient", "natural"] = "gradient"
    """'gradient': regular gradient steps (Adam, Sec. 3.1); 'natural': natural-gradient steps (Sec. 3.2)"""
    aggregate: bool = True
    """loss over all states visited so far (AggreVaTe); --no-aggregate: newest roll-in only (online step of Alg. 1)"""
    num_envs: int = 4
    """parallel envs of the roll-in (gym.vector.SyncVectorEnv)"""
    steps_per_iteration: int = 1_000
    """env steps (over all envs) of one roll-in, the K trajectories of Alg. 1"""
    beta_schedule: Literal["exponential", "linear"] = "exponential"
    """beta_n = beta_decay^(n-1) ('exponential'; beta_decay 0 = pure learner from iteration 2) or 1 -> 0 ('linear')"""
    beta_decay: float = 0.5
    """p of the exponential schedule"""
    beta_fraction: float = 0.5
    """fraction of the iterations over which the linear schedule reaches 0"""
    gradient_steps: int | None = None
    """updates per roll-in: Adam minibatch steps ('gradient', default 200) or natural steps ('natural', default 10)"""
    batch_size: int = 256
    """minibatch size of the regular-gradient steps (natural steps use the whole roll-in, at most 2048 states)"""
    max_kl: float = 0.01
    """natural gradient: KL(pi_old || pi_new) of one step (sets the step size eta of Sec. 3.2)"""


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


def fail(msg):
    sys.exit(f"aggrevated.py: {msg}")


def load_expert(path, env_id, discrete, obs_dim, act_dim, device):
    """Rebuild the expert from expert.pt; returns (expert_action(obs), q_star(obs, action or None)): Discrete q_star(s)
    is Q*(s, .) for all actions; Box q_star(s, a) = min(Q1, Q2)(s, a), SAC's own pessimistic estimate."""
    if not os.path.exists(path):
        fail(f"expected an expert file at {path}, found no such file (train one with expert.py).")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
        cfg = ckpt["config"]
    except Exception as e:  # noqa: BLE001 -- any unreadable file gets the same one-sentence answer
        fail(f"{path} is not an expert.pt written by expert.py ({type(e).__name__}: {e}).")
    if cfg.get("env_id") != env_id:
        fail(f"{path} is an expert for {cfg.get('env_id')}, expected one for {env_id}.")
    need = ("q",) if discrete else ("actor", "q1", "q2")
    missing = [k for k in need if k not in ckpt]
    if missing:
        fail(f"{path} lacks the expert's {' and '.join(missing)} network(s); AggreVaTeD needs Q*(s, a) "
             f"({', '.join(need)}).")
    if discrete:
        q = QNetwork(obs_dim, act_dim, cfg["hidden_sizes"])
        q.load_state_dict(ckpt["q"])
        q.to(device).requires_grad_(False)
        return (lambda x: q(x).argmax(-1)), (lambda x, a=None: q(x))
    actor = Actor(obs_dim, act_dim, cfg["hidden_sizes"], np.array(cfg["action_low"]), np.array(cfg["action_high"]))
    actor.load_state_dict(ckpt["actor"])
    q1, q2 = (QNetwork(obs_dim + act_dim, 1, cfg["hidden_sizes"]) for _ in range(2))
    q1.load_state_dict(ckpt["q1"])
    q2.load_state_dict(ckpt["q2"])
    for net in (actor, q1, q2):
        net.to(device).requires_grad_(False)
    return actor.deterministic, (lambda x, a: torch.min(q1(x, a), q2(x, a)).squeeze(-1))


def aggrevated_loss(policy, obs, q_star, expert_action):
    """l_n(theta) = -E_s E_{a~pi_theta(.|s)}[A*(s, a)], A* = Q*(s, a) - V*(s) (cost-to-go = minus the advantage)."""
    if policy.discrete:
        q = q_star(obs)
        adv = q - q.max(-1, keepdim=True).values  # V*(s) = max_a Q*(s, a) for the greedy DQN expert
        return -(policy.base_dist(obs).probs * adv).sum(-1).mean()  # Eq. 6: exact sum over actions
    a = policy.squash(policy.base_dist(obs).rsample())  # reparameterised: gradient flows through Q*(s, a) into a
    return -(q_star(obs, a) - q_star(obs, expert_action(obs))).mean()


def conjugate_gradient(fvp, b, iters, tol=1e-10):
    """Solve F x = b with only F-vector products (F symmetric positive definite)."""
    x, r, p, rr = torch.zeros_like(b), b.clone(), b.clone(), b @ b
    for _ in range(iters):
        fp = fvp(p)
        alpha = rr / (p @ fp)
        x, r, rr_old = x + alpha * p, r - alpha * fp, rr
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
    kl = (kl if policy.discrete else kl.sum(-1)).mean()
    grad_kl = parameters_to_vector(torch.autograd.grad(kl, params, create_graph=True))

    def fvp(v):
        return parameters_to_vector(torch.autograd.grad(grad_kl @ v, params, retain_graph=True)) + damping * v

    x = conjugate_gradient(fvp, g, cg_iters)
    eta = torch.sqrt(2 * max_kl / (x @ fvp(x)).clamp_min(1e-12))
    with torch.no_grad():
        vector_to_parameters(parameters_to_vector(params) - eta * x, params)
    return loss.detach()


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
    """Returns of n episodes of the deterministic learner (its actions already lie in the box), side by side."""
    envs = gym.vector.SyncVectorEnv([make_env(env_id, seed + i, capture_video and i == 0, run_name) for i in range(n)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=[seed + i for i in range(n)])
    returns, done = np.zeros(n), np.zeros(n, bool)
    while not done.all():
        with torch.no_grad():
            a = policy.act(torch.as_tensor(obs, dtype=torch.float32, device=device), deterministic=True).cpu().numpy()
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
    obs_dim, act_dim = int(obs_space.shape[0]), int(act_space.n) if discrete else int(np.prod(act_space.shape))
    demos_path = args.demos or os.path.join(ROOT, "experts", args.env_id, "demos.npz")
    expert_ret, random_ret, demo_obs, _ = load_demos(demos_path, args.env_id, obs_dim, discrete, act_dim,
                                                     args.num_demos)
    bounds = (None, None) if discrete else (act_space.low, act_space.high)
    policy = Policy(obs_dim, act_dim, args.hidden_sizes, discrete, *bounds).to(device)

    if args.track:
        import wandb

        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True,
                   config=vars(args), name=run_name, save_code=True)
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    start_time, global_step, n_states = time.time(), 0, 0
    if args.load_model:
        try:  # a missing file, another env's or script's file, or other --hidden-sizes than the saved policy's
            state = torch.load(args.load_model, map_location=device, weights_only=False)
            if state.get("env_id") != args.env_id:
                raise ValueError(f"a policy for {state.get('env_id')}")
            policy.load_state_dict(state["policy"])
        except Exception as e:
            fail(f"expected --load-model to be a {args.env_id} policy saved by aggrevated.py --save-model with the same "
                 f"--hidden-sizes, found {args.load_model} ({' '.join(str(e).split())[:160]}).")
    else:
        expert_path = args.expert or os.path.join(ROOT, "experts", args.env_id, "expert.pt")
        expert_act, q_star = load_expert(expert_path, args.env_id, discrete, obs_dim, act_dim, device)
        optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
        # the states the loss runs over: the newest roll-in (AggreVaTeD) or all of them (--aggregate, AggreVaTe)
        capacity = len(demo_obs) + args.total_timesteps + args.num_envs
        S = np.zeros((capacity, obs_dim), np.float32)
        S[: len(demo_obs)], n_states = demo_obs, len(demo_obs)
        num_iterations = -(-args.total_timesteps // args.steps_per_iteration)
        steps_per_env = max(1, args.steps_per_iteration // args.num_envs)
        obs, _ = envs.reset(seed=[args.seed + i for i in range(args.num_envs)])
        next_eval = args.eval_every
        for iteration in range(1, num_iterations + 1):
            # Alg. 1 line 3: pi_hat_n = beta_n pi* + (1 - beta_n) pi_theta_n
            beta = beta_at(iteration, args.beta_schedule, args.beta_decay, args.beta_fraction, num_iterations)
            first, n_expert, n_steps = n_states, 0, 0
            for _ in range(steps_per_env):  # line 4: roll in with pi_hat_n
                if global_step >= args.total_timesteps:
                    break
                with torch.no_grad():
                    x = torch.as_tensor(obs, dtype=torch.float32, device=device)
                    a_star = expert_act(x).cpu().numpy()
                    a_learner = policy.act(x).cpu().numpy()
                action, used = mix(a_star, a_learner, beta, np.random)  # seeded above
                S[n_states: n_states + args.num_envs] = obs
                n_states += args.num_envs
                n_expert, n_steps = n_expert + used.sum(), n_steps + args.num_envs
                obs, _, term, trunc, info = envs.step(action)
                global_step += args.num_envs
                if "final_info" in info:
                    ep = info["final_info"]["episode"]
                    for i in np.flatnonzero(info["final_info"]["_episode"]):
                        writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
                        writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)
            # lines 5-6: descent direction from Q* on the roll-in's states, then the update
            lo = 0 if args.aggregate or iteration == 1 else first  # iteration 1 also keeps the demo states, if any
            for _ in range(args.gradient_steps or (200 if args.update == "gradient" else 10)):
                n = args.batch_size if args.update == "gradient" else min(2048, n_states - lo)
                b_obs = torch.as_tensor(S[np.random.randint(lo, n_states, n)], device=device)
                if args.update == "gradient":
                    loss = aggrevated_loss(policy, b_obs, q_star, expert_act)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                else:  # the natural step uses up to 2048 states to estimate g and F
                    loss = natural_gradient_step(policy, b_obs, lambda: aggrevated_loss(policy, b_obs, q_star,
                                                 expert_act), args.max_kl)
            sps = int(global_step / (time.time() - start_time))
            writer.add_scalar("charts/beta", beta, global_step)
            writer.add_scalar("charts/expert_action_fraction", n_expert / max(1, n_steps), global_step)
            writer.add_scalar("charts/SPS", sps, global_step)
            writer.add_scalar("losses/aggrevated_loss", loss.item(), global_step)
            if global_step >= next_eval and global_step < args.total_timesteps:
                next_eval += args.eval_every
                rets = evaluate(policy, args.env_id, args.eval_episodes, args.seed + 10_000, device)
                writer.add_scalar("eval/episodic_return", rets.mean(), global_step)
                writer.add_scalar("eval/normalized_score", normalized_score(rets.mean(), expert_ret, random_ret),
                                  global_step)
                print(f"iter={iteration} step={global_step} beta={beta:.3f} loss={loss.item():.4f} "
                      f"eval_return={rets.mean():.1f} sps={sps}", flush=True)
    envs.close()
    train_seconds, cpu_seconds = time.time() - start_time, time.process_time()

    rets = evaluate(policy, args.env_id, args.eval_episodes, args.seed + 10_000, device, args.capture_video, run_name)
    score = normalized_score(rets.mean(), expert_ret, random_ret)
    writer.add_scalar("eval/episodic_return", rets.mean(), global_step)
    writer.add_scalar("eval/normalized_score", score, global_step)
    if args.save_model:
        torch.save({"env_id": args.env_id, "policy": policy.state_dict()}, f"runs/{run_name}/aggrevated.pt")
    summary = dict(env_id=args.env_id, algo="aggrevated", seed=args.seed, eval_return_mean=float(rets.mean()),
                   eval_return_std=float(rets.std()), normalized_score=float(score), env_steps=global_step,
                   expert_queried_states=n_states, wall_seconds=train_seconds, cpu_seconds=cpu_seconds,
                   sps=global_step / max(train_seconds, 1e-9), expert_return_mean=expert_ret,
                   random_return_mean=random_ret, args=asdict(args))
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"aggrevated ({args.update}) {args.env_id} seed={args.seed}: eval return {rets.mean():.1f} +- "
          f"{rets.std():.1f}, normalized score {score:.3f}, {global_step} env steps, {train_seconds:.0f}s "
          f"({summary['sps']:.0f} SPS) -> runs/{run_name}")
    writer.close()
