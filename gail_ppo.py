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
    """seed of the experiment (python, numpy, torch and the envs)"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = False
    """kept for CleanRL compatibility; ignored: these small MLPs run on the CPU (faster than a GPU round trip)"""
    threads: int = 1
    """torch CPU threads; 1 is fastest for these small networks"""
    track: bool = False
    """if toggled, log the run to Weights and Biases"""
    wandb_project_name: str = "cleanrl-imitation"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the wandb entity (team)"""
    capture_video: bool = False
    """if toggled, record the final evaluation episodes to `videos/<run_name>`"""
    save_model: bool = False
    """if toggled, save the policy (and its observation statistics) to `runs/<run_name>/gail_ppo.pt`"""
    load_model: str | None = None
    """path of a saved `gail_ppo.pt`: skip training, evaluate that policy and write the summary"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int = 150_000
    """total environment steps of the learner"""
    learning_rate: float = 3e-4
    """learning rate of the policy and value networks (annealed linearly to 0 with --anneal-lr)"""
    demos: str | None = None
    """demonstrations file (default: experts/<env-id>/demos.npz next to this script)"""
    num_demos: int = 10
    """number of expert episodes used (the first ones in the file)"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the policy, the value network and the discriminator"""
    eval_episodes: int = 10
    """episodes of each deterministic evaluation"""
    eval_every: int = 25_000
    """evaluate the deterministic policy every this many env steps (and always at the end)"""

    # PPO (the generator)
    num_envs: int = 8
    """number of parallel environments (gym.vector.SyncVectorEnv)"""
    num_steps: int = 256
    """steps per environment per rollout; the batch is num_envs * num_steps"""
    anneal_lr: bool = True
    """if toggled, anneal the policy learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor of the GAIL reward"""
    gae_lambda: float = 0.95
    """lambda of generalized advantage estimation"""
    num_minibatches: int = 8
    """PPO minibatches per epoch"""
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
    reward_type: Literal["neg_log_one_minus_d", "log_d", "logit"] = "neg_log_one_minus_d"
    """reward from D = P(expert|s,a): -log(1-D) > 0 pays to survive, log D < 0 to die early, the logit is neutral"""
    disc_lr: float = 3e-4
    """learning rate of the discriminator"""
    disc_updates: int = 4
    """discriminator gradient steps per PPO iteration: too many and D saturates, its reward stops discriminating"""
    disc_batch_size: int = 512
    """expert and learner pairs in each discriminator step (each side)"""
    gp_coef: float = 10.0
    """weight of the penalty (||grad D|| - 1)^2 on expert/learner mixes (as in DAC); keeps D's reward smooth, 0 = off"""
    norm_obs: bool = True
    """if toggled, policy, value and D share running obs statistics (from expert + learner states; expert states too)"""
    bootstrap_truncation: bool = True
    """if toggled, a time-limit truncation bootstraps from V(final obs), a termination does not (off: both are death)"""
    bc_init_steps: int = 0
    """warm start: this many behavioural-cloning steps (batch 256) on the demos before GAIL; 0 = start from scratch"""
    critic_warmup: int = 0
    """PPO iterations at the start that fit only the value network (policy loss off), e.g. after --bc-init-steps"""


def make_env(env_id, seed, capture_video=False, run_name=""):
    def thunk():
        env = gym.make(env_id, render_mode="rgb_array") if capture_video else gym.make(env_id)
        if capture_video:
            env = gym.wrappers.RecordVideo(env, f"videos/{run_name}", episode_trigger=lambda i: True)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def mlp(in_dim, out_dim, hidden_sizes, out_std=1.0):
    """Tanh MLP with orthogonal init (CleanRL's layer_init); a small out_std makes the initial policy near uniform."""
    layers, d = [], in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.Tanh()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    for i, layer in enumerate(m for m in layers if isinstance(m, nn.Linear)):
        nn.init.orthogonal_(layer.weight, out_std if i == len(hidden_sizes) else np.sqrt(2))
        nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class Agent(nn.Module):
    """Actor-critic. Discrete: categorical over logits. Box: Gaussian mean from the network, state-independent log-std."""
    def __init__(self, obs_dim, act_dim, discrete, hidden_sizes):
        super().__init__()
        self.discrete = discrete
        self.critic = mlp(obs_dim, 1, hidden_sizes, out_std=1.0)
        self.actor = mlp(obs_dim, act_dim, hidden_sizes, out_std=0.01)
        # CleanRL's actor_logstd (init 0); a state-dependent one collapsed where D already pays and stopped exploring
        self.actor_logstd = None if discrete else nn.Parameter(torch.zeros(act_dim))

    def dist(self, x):
        out = self.actor(x)
        return torch.distributions.Categorical(logits=out) if self.discrete else \
            torch.distributions.Normal(out, self.actor_logstd.clamp(-5.0, 2.0).expand_as(out).exp())

    def get_action_and_value(self, x, action=None):
        d = self.dist(x)
        action = d.sample() if action is None else action
        logp, ent = d.log_prob(action), d.entropy()
        if not self.discrete:  # independent dimensions: log-probs and entropies add up
            logp, ent = logp.sum(-1), ent.sum(-1)
        return action, logp, ent, self.critic(x).squeeze(-1)


class RunningMeanStd:
    """Mean and variance over every observation seen so far (parallel update of Chan et al.)."""
    def __init__(self, x):  # started from a first batch (here the expert's states)
        self.mean, self.var, self.count = x.mean(0), x.var(0), x.shape[0]

    def update(self, x):
        b_mean, b_var, b_count = x.mean(0), x.var(0), x.shape[0]
        delta, tot = b_mean - self.mean, self.count + b_count
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / tot
        self.mean, self.var, self.count = self.mean + delta * b_count / tot, m2 / tot, tot


def normalize(obs, mean, var, enabled=True):
    x = torch.as_tensor(obs, dtype=torch.float32)
    return ((x - torch.tensor(mean).float()) / torch.tensor(np.sqrt(var + 1e-8)).float()).clamp(-10, 10) if enabled else x


def encode_action(a, discrete, act_dim, low=None, high=None):
    """D's action input: one-hot (Discrete), or the action the env executes, clipped and rescaled to [-1, 1] (Box)."""
    a = torch.as_tensor(a)
    if discrete:
        return F.one_hot(a.long(), act_dim).float()
    if low is None or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        return a.float()
    a, low, high = a.float(), torch.tensor(low).float(), torch.tensor(high).float()
    return 2.0 * (torch.max(torch.min(a, high), low) - low) / (high - low) - 1.0


def gail_reward(logits, reward_type):
    """Reward from D's logit, in stable log-sigmoid form: log D = -softplus(-l), -log(1-D) = softplus(l)."""
    if reward_type == "neg_log_one_minus_d":
        return F.softplus(logits)
    return -F.softplus(-logits) if reward_type == "log_d" else logits  # log D, or the logit log D - log(1 - D)


def disc_loss_fn(disc, expert_x, learner_x, gp_coef):
    """Algorithm 1, line 4 (eq. 17) as BCE with expert = 1, learner = 0, plus the gradient penalty on interpolates."""
    e_logits, l_logits = disc(expert_x).squeeze(-1), disc(learner_x).squeeze(-1)
    bce = -F.logsigmoid(e_logits).mean() - F.logsigmoid(-l_logits).mean()  # -E_expert[log D] - E_learner[log(1 - D)]
    gp = torch.zeros(())
    if gp_coef > 0:
        mix = torch.lerp(learner_x, expert_x, torch.rand(expert_x.shape[0], 1)).requires_grad_(True)  # random mixes
        grad = torch.autograd.grad(disc(mix).sum(), mix, create_graph=True)[0]
        gp = gp_coef * ((grad.norm(dim=-1) - 1) ** 2).mean()
    return bce + gp, bce, gp, (e_logits > 0).float().mean(), (l_logits < 0).float().mean()


def compute_gae(rewards, values, ends, next_value, gamma, gae_lambda):
    """GAE over a (T, N) rollout; ends[t] = the episode ended at step t (truncation bootstraps live in the reward)."""
    advantages, last = torch.zeros_like(rewards), torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        nxt = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        delta = rewards[t] + gamma * nxt * (1 - ends[t]) - values[t]
        last = delta + gamma * gae_lambda * (1 - ends[t]) * last
        advantages[t] = last
    return advantages, advantages + values


def load_demos(path, env_id, obs_space, act_space, num_demos):
    """Load and check a demos file; returns observations, actions, expert and random return of num_demos episodes."""
    if not os.path.exists(path):
        fail(f"expected a demonstrations file at {path}, found no such file (run expert.py --env-id {env_id} first).")
    keys = ("observations", "actions", "terminations", "truncations", "env_id", "expert_return_mean", "random_return_mean")
    try:
        data = np.load(path)
        missing = [k for k in keys if k not in data.files]
    except Exception:
        fail(f"expected {path} to be a demonstrations .npz file, found an unreadable file.")
    if missing:
        fail(f"expected the keys {', '.join(keys)} in {path}, found {', '.join(missing)} missing.")
    if str(data["env_id"]) != env_id:
        fail(f"{path} holds demonstrations for {data['env_id']}, expected {env_id}.")
    obs, act = data["observations"], data["actions"]
    if obs.shape[1:] != obs_space.shape:
        fail(f"expected observations of shape {obs_space.shape} for {env_id}, found {obs.shape[1:]} in {path}.")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    if discrete != (act.ndim == 1 and np.issubdtype(act.dtype, np.integer)):
        fail(f"expected {'discrete (N,) integer' if discrete else 'continuous (N, act_dim) float'} actions for {env_id}, "
             f"found {act.dtype} actions of shape {act.shape} in {path}.")
    if discrete and (act.min() < 0 or act.max() >= act_space.n):
        fail(f"expected actions in [0, {act_space.n}) for {env_id}, found actions in [{act.min()}, {act.max()}] in {path}.")
    if not discrete and act.shape[1:] != act_space.shape:
        fail(f"expected actions of size {act_space.shape} for {env_id}, found {act.shape[1:]} in {path}.")
    ends = np.flatnonzero(data["terminations"] | data["truncations"])
    if len(ends) == 0 or ends[-1] != len(obs) - 1:
        fail(f"expected the last episode of {path} to end with a termination or truncation, found a cut-off episode.")
    if len(ends) < num_demos:
        fail(f"expected at least --num-demos {num_demos} episodes in {path}, found {len(ends)}.")
    n = ends[num_demos - 1] + 1
    return obs[:n], act[:n], float(data["expert_return_mean"]), float(data["random_return_mean"])


def evaluate(agent, env, obs_rms, norm_obs, n, seed, low=None, high=None):
    """Returns of n episodes of the deterministic policy (argmax, or the Gaussian mean clipped to the bounds)."""
    returns = []
    for i in range(n):
        obs, _ = env.reset(seed=seed + i)
        done, ret = False, 0.0
        while not done:
            with torch.no_grad():
                out = agent.actor(normalize(obs[None], obs_rms.mean, obs_rms.var, norm_obs))[0]
            a = out.argmax().item() if agent.discrete else out.numpy()
            obs, r, term, trunc, _ = env.step(a if low is None else np.clip(a, low, high))
            ret, done = ret + float(r), term or trunc
        returns.append(ret)
    return returns


def fail(msg):
    sys.exit(f"gail_ppo.py: {msg}")


if __name__ == "__main__":
    args = tyro.cli(Args)
    try:
        gym.spec(args.env_id)
    except gym.error.Error:
        fail(f"--env-id {args.env_id!r} is not a registered gymnasium environment (e.g. CartPole-v1, Pendulum-v1).")
    batch_size = args.num_envs * args.num_steps
    minibatch_size, num_iterations = batch_size // args.num_minibatches, max(1, args.total_timesteps // batch_size)
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"

    random.seed(args.seed), np.random.seed(args.seed), torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)

    envs = gym.vector.SyncVectorEnv([make_env(args.env_id, args.seed + i) for i in range(args.num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1) or \
            not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)):
        fail(f"expected a flat Box observation space and a Box or Discrete action space, "
             f"found {obs_space} and {act_space}.")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    obs_dim, act_dim = obs_space.shape[0], int(act_space.n) if discrete else int(np.prod(act_space.shape))
    low, high = (None, None) if discrete else (act_space.low, act_space.high)
    demos_path = args.demos or os.path.join(os.path.dirname(os.path.abspath(__file__)), "experts", args.env_id, "demos.npz")
    e_obs, e_act, expert_mean, random_mean = load_demos(demos_path, args.env_id, obs_space, act_space, args.num_demos)
    agent = Agent(obs_dim, act_dim, discrete, args.hidden_sizes)
    obs_rms = RunningMeanStd(e_obs.astype(np.float64))  # shared statistics, started from the expert's states

    if args.track:
        import wandb
        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True,
                   config=vars(args), name=run_name, save_code=True)
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    global_step, start_time = 0, time.time()
    if args.load_model:
        ckpt = torch.load(args.load_model, map_location="cpu", weights_only=False) if os.path.isfile(args.load_model) \
            else fail(f"expected --load-model to be a file saved by gail_ppo.py --save-model, found none at {args.load_model}.")
        if "agent" not in ckpt or ckpt["config"]["env_id"] != args.env_id:
            fail(f"expected a gail_ppo.py policy for {args.env_id} in {args.load_model}, found {ckpt.get('config')}.")
        agent = Agent(obs_dim, act_dim, discrete, tuple(ckpt["config"]["hidden_sizes"]))  # sizes of the saved run
        agent.load_state_dict(ckpt["agent"])
        obs_rms.mean, obs_rms.var = ckpt["obs_mean"], ckpt["obs_var"]
    else:
        disc = mlp(obs_dim + act_dim, 1, args.hidden_sizes)  # logit of D(s, a) = P(expert | s, a)
        optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
        disc_optimizer = torch.optim.Adam(disc.parameters(), lr=args.disc_lr)

        obs = torch.zeros((args.num_steps, args.num_envs, obs_dim))  # raw observations; normalized when used
        actions = torch.zeros((args.num_steps, args.num_envs) + (() if discrete else (act_dim,)))
        logprobs, values, ends, boot = (torch.zeros((args.num_steps, args.num_envs)) for _ in range(4))
        eval_env, next_eval = make_env(args.env_id, args.seed + 100)(), args.eval_every
        next_obs, _ = envs.reset(seed=args.seed)
        # Optional warm start (like OpenAI Baselines' GAIL --pretrained): maximum likelihood of the expert's actions
        e_obs_n, e_act_t = normalize(e_obs, obs_rms.mean, obs_rms.var, args.norm_obs), torch.as_tensor(e_act)
        for _ in range(args.bc_init_steps):
            i = torch.randint(0, len(e_obs_n), (256,))
            optimizer.zero_grad()  # Box: the mean fits the actions, the state-independent std their residual
            (-agent.get_action_and_value(e_obs_n[i], e_act_t[i])[1].mean()).backward()
            optimizer.step()
        for iteration in range(1, num_iterations + 1):
            if args.anneal_lr:
                optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * args.learning_rate
            m, v = obs_rms.mean, obs_rms.var  # frozen for this iteration: rollout and update see the same inputs

            # Algorithm 1, line 3: sample trajectories with the current policy
            with torch.no_grad():
                for step in range(args.num_steps):
                    global_step += args.num_envs
                    obs[step] = torch.as_tensor(next_obs)
                    action, logp, _, value = agent.get_action_and_value(normalize(next_obs, m, v, args.norm_obs))
                    actions[step], logprobs[step], values[step] = action, logp, value
                    a = action.numpy() if discrete else np.clip(action.numpy(), low, high)  # clipped only to step the env
                    next_obs, _, term, trunc, info = envs.step(a)
                    ends[step], boot[step] = torch.as_tensor(term | trunc, dtype=torch.float32), 0.0
                    if "final_obs" in info:  # SAME_STEP autoreset: next_obs is already the reset obs
                        for i in np.flatnonzero(info["_final_obs"] & trunc & ~term & args.bootstrap_truncation):
                            final = normalize(info["final_obs"][i][None], m, v, args.norm_obs)
                            boot[step, i] = args.gamma * agent.critic(final)[0, 0]  # truncated: r_t + gamma V(s_T)
                        ep = info["final_info"]["episode"]
                        for i in np.flatnonzero(info["final_info"]["_episode"]):
                            writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
                            writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)

            b_obs_n = normalize(obs.reshape(-1, obs_dim), m, v, args.norm_obs)
            b_actions = actions.reshape((-1,) + actions.shape[2:])
            l_x = torch.cat([b_obs_n, encode_action(b_actions, discrete, act_dim, low, high)], -1)
            e_x = torch.cat([normalize(e_obs, m, v, args.norm_obs), encode_action(e_act, discrete, act_dim, low, high)], -1)
            # Algorithm 1, line 4: discriminator steps on expert vs learner pairs
            for _ in range(args.disc_updates):
                li, ei = (torch.randint(0, n, (args.disc_batch_size,)) for n in (batch_size, e_x.shape[0]))
                d_loss, bce, gp, e_acc, l_acc = disc_loss_fn(disc, e_x[ei], l_x[li], args.gp_coef)
                disc_optimizer.zero_grad()
                d_loss.backward()
                disc_optimizer.step()

            # Algorithm 1, line 5: policy step on the reward of the updated D (PPO instead of TRPO)
            with torch.no_grad():
                gail_r = gail_reward(disc(l_x).squeeze(-1), args.reward_type).reshape(args.num_steps, args.num_envs)
                next_value = agent.critic(normalize(next_obs, m, v, args.norm_obs)).squeeze(-1)
                advantages, returns = compute_gae(gail_r + boot, values, ends, next_value, args.gamma, args.gae_lambda)
            b_logprobs, b_advantages, b_returns, b_values = (x.reshape(-1) for x in (logprobs, advantages, returns, values))
            clipfracs = []
            for epoch in range(args.update_epochs):
                for mb in torch.randperm(batch_size).split(minibatch_size):
                    _, newlogp, entropy, newvalue = agent.get_action_and_value(b_obs_n[mb], b_actions[mb])
                    logratio = newlogp - b_logprobs[mb]
                    ratio = logratio.exp()
                    with torch.no_grad():
                        approx_kl = ((ratio - 1) - logratio).mean()
                        clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())
                    mb_adv = b_advantages[mb]
                    if args.norm_adv:
                        mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                    # clipped surrogate objective (PPO eq. 7)
                    pg_loss = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                    v_loss = (newvalue - b_returns[mb]) ** 2
                    if args.clip_vloss:  # the value moves at most clip_coef from its rollout estimate
                        v_clipped = b_values[mb] + (newvalue - b_values[mb]).clamp(-args.clip_coef, args.clip_coef)
                        v_loss = torch.max(v_loss, (v_clipped - b_returns[mb]) ** 2)
                    v_loss = 0.5 * v_loss.mean()
                    loss = (pg_loss - args.ent_coef * entropy.mean()) * (iteration > args.critic_warmup) + args.vf_coef * v_loss
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                    optimizer.step()
            if args.norm_obs and not args.bc_init_steps:  # a cloned policy keeps the statistics it was fitted on
                obs_rms.update(obs.reshape(-1, obs_dim).double().numpy())

            explained_var = float(1 - (b_returns - b_values).var() / b_returns.var().clamp_min(1e-8))
            sps = int(global_step / (time.time() - start_time))
            for k, val in (("losses/disc_loss", bce.item()), ("losses/disc_grad_penalty", gp.item()), ("charts/SPS", sps),
                           ("charts/disc_expert_acc", e_acc.item()), ("charts/disc_learner_acc", l_acc.item()),
                           ("charts/gail_reward_mean", gail_r.mean().item()), ("losses/value_loss", v_loss.item()),
                           ("losses/policy_loss", pg_loss.item()), ("losses/entropy", entropy.mean().item()),
                           ("losses/approx_kl", approx_kl.item()), ("losses/clipfrac", np.mean(clipfracs)),
                           ("losses/explained_variance", explained_var),
                           ("charts/learning_rate", optimizer.param_groups[0]["lr"])):
                writer.add_scalar(k, val, global_step)
            if global_step >= next_eval and iteration < num_iterations:
                next_eval += args.eval_every
                rets = evaluate(agent, eval_env, obs_rms, args.norm_obs, args.eval_episodes, args.seed + 10_000, low, high)
                score = (np.mean(rets) - random_mean) / (expert_mean - random_mean)
                writer.add_scalar("eval/episodic_return", np.mean(rets), global_step)
                writer.add_scalar("eval/normalized_score", score, global_step)
                print(f"step={global_step} eval_return={np.mean(rets):.1f} disc_acc(expert/learner)={e_acc:.2f}/{l_acc:.2f} "
                      f"gail_reward={gail_r.mean():.3f} sps={sps}", flush=True)
    train_seconds = time.time() - start_time

    final_env = make_env(args.env_id, args.seed + 100, args.capture_video, run_name)()
    rets = evaluate(agent, final_env, obs_rms, args.norm_obs, args.eval_episodes, args.seed + 20_000, low, high)
    final_env.close()  # RecordVideo writes the last video on close
    ret_mean, ret_std = float(np.mean(rets)), float(np.std(rets))
    score = (ret_mean - random_mean) / (expert_mean - random_mean)
    writer.add_scalar("eval/episodic_return", ret_mean, global_step)
    writer.add_scalar("eval/normalized_score", score, global_step)
    if args.save_model and not args.load_model:
        path = f"runs/{run_name}/gail_ppo.pt"
        torch.save({"config": dict(env_id=args.env_id, discrete=discrete, hidden_sizes=list(args.hidden_sizes)),
                    "agent": agent.state_dict(), "obs_mean": obs_rms.mean, "obs_var": obs_rms.var}, path)
        print(f"saved the policy to {path}")
    summary = dict(env_id=args.env_id, algo="gail_ppo", seed=args.seed, eval_return_mean=ret_mean, eval_return_std=ret_std,
                   normalized_score=score, expert_return_mean=expert_mean, random_return_mean=random_mean,
                   env_steps=global_step, wall_seconds=train_seconds, sps=global_step / train_seconds if global_step else 0.0,
                   args=asdict(args))
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"gail_ppo {args.env_id} seed={args.seed}: eval return {ret_mean:.1f} +- {ret_std:.1f}, normalized score "
          f"{score:.3f}, {global_step} env steps in {train_seconds:.0f}s ({summary['sps']:.0f} SPS)")
    writer.close()
