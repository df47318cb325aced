"""ASAF-w and ASAF-1: Adversarial Soft Advantage Fitting on windows of transitions.

Barde, Roy, Jeon, Pineau, Pal, Nowrouzezahrai. "Adversarial Soft Advantage Fitting: Imitation Learning without
Policy Optimization", NeurIPS 2020, arXiv:2006.13258 (Algorithm 1, Eq. 12, Sec. 4.3 "ASAF-w").

Ideas a reader must not miss:
- The discriminator is *structured*: D(tau) = q_pi_tilde(tau) / (q_pi_tilde(tau) + q_pi_G(tau)) with
  q_pi(tau) = prod_t pi(a_t | s_t) (the dynamics cancel in the ratio). So D = sigmoid(sum log pi_tilde - sum log pi_G),
  always computed in log space, and fitting D with the usual BCE (Eq. 12) *is* the policy update: no reward, no value
  function, no RL step. pi_G is the policy that collected the batch, frozen during the update; afterwards pi_G <- pi_tilde.
- ASAF-w applies D to windows of `--window` consecutive transitions instead of whole episodes; `--window 1` is ASAF-1,
  which the paper finds the best and the fastest.
"""
import json
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
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (goes into the run name)"""
    seed: int = 1
    """seed of the experiment (python, numpy, torch and the envs)"""
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
    """if toggled, record the final evaluation episodes to `videos/<run_name>`"""
    save_model: bool = False
    """if toggled, save the policy to `runs/<run_name>/asaf_w.pt`"""
    load_model: str | None = None
    """path of a saved policy: skip training, evaluate it and write the summary"""
    env_id: str = "CartPole-v1"
    """the gymnasium id of the environment (flat Box observation, Box or Discrete action)"""
    total_timesteps: int = 50_000
    """total environment steps of the learner"""
    learning_rate: float = 1e-3
    """Adam learning rate of the policy pi_tilde"""
    demos: str | None = None
    """demonstrations file (default: experts/<env-id>/demos.npz next to this script)"""
    num_demos: int = 10
    """number of expert episodes used (the first ones of the file)"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the policy"""
    eval_episodes: int = 10
    """episodes of each deterministic evaluation"""
    eval_every: int = 10_000
    """evaluate the deterministic policy every this many env steps"""

    # ASAF-w specific
    window: int = 32
    """w, transitions per discriminator window (ASAF-w); `--window 1` is ASAF-1"""
    window_stride: int = 0
    """steps between consecutive window starts (0 = `window`, i.e. non-overlapping windows)"""
    num_envs: int = 8
    """parallel environments (gymnasium SyncVectorEnv) collecting the learner's batch"""
    num_steps: int = 250
    """steps per env per update: the batch holds num_envs * num_steps transitions"""
    update_epochs: int = 30
    """epochs over the learner's windows per update (Algorithm 1 line 5 is a loop of epochs x minibatches)"""
    batch_size: int = 100
    """learner transitions per minibatch: batch_size // window learner windows, paired with as many expert windows"""
    max_grad_norm: float = 1.0
    """gradient-norm clipping of each policy step"""
    log_std_min: float = -2.0
    """Box actions: lower clamp of the shared log-std (upper: 2); -2 keeps sigma >= 0.135 so the learner's rollouts
    stay noisy enough to visit, and be corrected on, states just off the expert's path (with -5, ASAF-1's sigma
    collapsed and LunarLanderContinuous evaluations swung between 0.6 and 1.0); ASAF-w (w = 32) does better at -5"""
    anneal_lr: bool = True
    """if toggled, decay the learning rate linearly to 0 over training (steadies the adversarial game's end)"""


LOG_STD_MAX = 2.0


def make_env(env_id, seed, capture_video=False, run_name=""):
    def thunk():
        env = gym.make(env_id, render_mode="rgb_array") if capture_video else gym.make(env_id)
        if capture_video:
            env = gym.wrappers.RecordVideo(env, f"videos/{run_name}", episode_trigger=lambda i: True)
        env.action_space.seed(seed)
        return env

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
    that matter (the swing-up): it never learned Pendulum (normalized -0.1). One sigma shared by every state makes the
    fit an evenly weighted regression of the mean, and ASAF-1 then reaches the expert (docs/asaf.md).
    """

    def __init__(self, obs_dim, act_dim, hidden_sizes, discrete, log_std_min=Args.log_std_min):
        super().__init__()
        self.discrete, self.log_std_min = discrete, log_std_min
        self.net = mlp(obs_dim, act_dim, hidden_sizes)  # logits, or the Gaussian's mean
        self.log_std = None if discrete else nn.Parameter(torch.zeros(act_dim))

    def forward(self, obs):
        out = self.net(obs)
        if self.discrete:
            return out.log_softmax(-1), None
        return out, self.log_std.clamp(self.log_std_min, LOG_STD_MAX).expand_as(out)

    def log_prob(self, obs, act):
        """log pi(a|s), summed over action dimensions; act is the *sampled* (unclipped) action."""
        a, b = self(obs)
        if self.discrete:
            return a.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)
        return (-0.5 * ((act - a) / b.exp()) ** 2 - b - 0.5 * np.log(2 * np.pi)).sum(-1)

    @torch.no_grad()
    def act(self, obs, deterministic=False):
        a, b = self(obs)
        if self.discrete:
            return a.argmax(-1) if deterministic else torch.multinomial(a.exp(), 1).squeeze(-1)
        return a if deterministic else a + b.exp() * torch.randn_like(a)


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
    seg_end = end_pos[np.searchsorted(end_pos, np.arange(n))]  # last transition of each transition's segment
    seg_start = np.concatenate([[0], end_pos[:-1] + 1])[np.searchsorted(end_pos, np.arange(n))]
    starts = np.flatnonzero((np.arange(n) - seg_start) % stride == 0)
    idx = starts[:, None] + np.arange(window)[None, :]
    mask = idx <= seg_end[starts][:, None]
    return np.where(mask, idx, starts[:, None]), mask


def window_logp(policy, obs, act, idx, mask):
    """sum_t log pi(a_t|s_t) over each window: one batched forward on the flat window transitions."""
    logp = policy.log_prob(obs[idx.reshape(-1)], act[idx.reshape(-1)]).view(idx.shape)
    return (logp * mask).sum(-1)


def load_demos(path, env_id, obs_space, act_space, num_demos):
    """Load the first `num_demos` episodes of a demos.npz (DESIGN.md format); stop with one sentence if unusable."""
    if not os.path.exists(path):
        fail(f"expected a demonstrations file at {path}, found no such file (run expert.py --env-id {env_id}).")
    keys = ("observations", "actions", "terminations", "truncations", "env_id", "expert_return_mean", "random_return_mean")
    try:
        with np.load(path, allow_pickle=False) as f:
            d = {k: f[k] for k in keys}
    except Exception as e:
        fail(f"expected {path} to be a demos .npz with keys {', '.join(keys)}, found an unreadable file or missing key ({e}).")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    act_dim = 1 if discrete else int(np.prod(act_space.shape))
    if str(d["env_id"]) != env_id:
        fail(f"expected demonstrations for {env_id}, found demonstrations for {d['env_id']} in {path}.")
    if d["observations"].shape[1:] != obs_space.shape:
        fail(f"expected observations of shape {obs_space.shape}, found {d['observations'].shape[1:]} in {path}.")
    if discrete != (d["actions"].ndim == 1 and np.issubdtype(d["actions"].dtype, np.integer)):
        fail(f"expected {'discrete' if discrete else 'continuous'} actions for {env_id}, found "
             f"{'continuous' if discrete else 'discrete'} actions (dtype {d['actions'].dtype}) in {path}.")
    if not discrete and (d["actions"].ndim != 2 or d["actions"].shape[1] != act_dim):
        fail(f"expected actions of size {act_dim}, found actions of shape {d['actions'].shape[1:]} in {path}.")
    ends = d["terminations"] | d["truncations"]
    if len(ends) == 0 or not ends[-1]:
        fail(f"expected the last episode of {path} to end with a termination or truncation, found a truncated file.")
    n_episodes = int(ends.sum())
    if n_episodes < num_demos:
        fail(f"expected at least --num-demos {num_demos} episodes in {path}, found {n_episodes}.")
    n = np.flatnonzero(ends)[num_demos - 1] + 1
    return dict(obs=d["observations"][:n].astype(np.float32), act=d["actions"][:n], ends=ends[:n],
                expert_return=float(d["expert_return_mean"]), random_return=float(d["random_return_mean"]))


def evaluate(policy, env_fns, seed, device):
    """Deterministic policy (argmax / mean action) on len(env_fns) episodes, stepped as one batch; returns the returns."""
    envs = [fn() for fn in env_fns]
    obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)]).astype(np.float32)
    returns, active = np.zeros(len(envs)), np.ones(len(envs), bool)
    while active.any():
        ids = np.flatnonzero(active)
        actions = policy.act(torch.as_tensor(obs[ids], device=device), deterministic=True).cpu().numpy()
        for i, a in zip(ids, actions):
            if not policy.discrete:
                a = np.clip(a, envs[i].action_space.low, envs[i].action_space.high)
            o, r, term, trunc, _ = envs[i].step(a)
            obs[i], returns[i] = o, returns[i] + r
            active[i] = not (term or trunc)
    for e in envs:
        e.close()
    return returns


def fail(msg):
    sys.exit(f"{os.path.basename(__file__)}: {msg}")


if __name__ == "__main__":
    args = tyro.cli(Args)
    try:
        gym.spec(args.env_id)
    except gym.error.Error:
        fail(f"--env-id {args.env_id!r} is not a registered gymnasium environment (e.g. CartPole-v1, Pendulum-v1).")
    if args.window < 1 or args.window_stride < 0:
        fail(f"expected --window >= 1 and --window-stride >= 0, found {args.window} and {args.window_stride}.")
    stride = args.window_stride or args.window
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    probe = gym.make(args.env_id)
    obs_space, act_space = probe.observation_space, probe.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        fail(f"expected a flat Box observation space, found {obs_space}.")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)):
        fail(f"expected a Box or Discrete action space, found {act_space}.")
    discrete = isinstance(act_space, gym.spaces.Discrete)
    obs_dim = int(obs_space.shape[0])
    act_dim = int(act_space.n) if discrete else int(np.prod(act_space.shape))
    demos_path = args.demos or os.path.join(os.path.dirname(os.path.abspath(__file__)), "experts", args.env_id, "demos.npz")
    demos = load_demos(demos_path, args.env_id, obs_space, act_space, args.num_demos)
    longest = int(np.diff(np.flatnonzero(demos["ends"]), prepend=-1).max())  # windows are cut at episode/batch ends
    if args.window > min(longest, args.num_steps):
        fail(f"expected --window <= {min(longest, args.num_steps)} (the longest demo episode has {longest} transitions, "
             f"--num-steps is {args.num_steps}), found --window {args.window}.")
    normalize = lambda r: (r - demos["random_return"]) / (demos["expert_return"] - demos["random_return"])

    eval_fns = [make_env(args.env_id, args.seed + 10_000 + i) for i in range(args.eval_episodes)]
    os.makedirs(f"runs/{run_name}", exist_ok=True)
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    global_step, start_time, first_at_target = 0, time.time(), None

    if args.load_model:
        try:
            ckpt = torch.load(args.load_model, map_location=device, weights_only=False)
            c = ckpt["config"]  # the saved network's shape, whatever --hidden-sizes says
        except Exception as e:
            fail(f"expected --load-model to be a file saved by asaf_w.py --save-model, found {args.load_model} ({e}).")
        if c["env_id"] != args.env_id:
            fail(f"{args.load_model} holds a policy for {c['env_id']}, expected one for {args.env_id}.")
        policy = Policy(obs_dim, act_dim, c["hidden_sizes"], discrete, args.log_std_min).to(device)
        try:
            policy.load_state_dict(ckpt["policy"])
        except (KeyError, RuntimeError) as e:  # a file of another script: other layers or keys
            fail(f"expected a policy saved by {os.path.basename(__file__)} in {args.load_model}, found another network "
                 f"({' '.join(str(e).split())[:160]}).")
    else:
        policy = Policy(obs_dim, act_dim, args.hidden_sizes, discrete, args.log_std_min).to(device)
        if args.track:
            import wandb

            wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True,
                       config=vars(args), name=run_name, save_code=True)
        optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
        # expert windows are fixed: built once from the demos' episode boundaries
        e_obs, e_act = torch.as_tensor(demos["obs"], device=device), torch.as_tensor(demos["act"], device=device)
        e_idx, e_mask = (torch.as_tensor(x, device=device) for x in make_windows(demos["ends"], args.window, stride))

        # SAME_STEP autoreset: the obs returned with a done is already the next episode's first obs, so every stored
        # (s, a) is a real transition; ASAF needs no next observations, only where episodes end.
        envs = gym.vector.SyncVectorEnv([make_env(args.env_id, args.seed + i) for i in range(args.num_envs)],
                                        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        obs, _ = envs.reset(seed=args.seed)
        T, N = args.num_steps, args.num_envs
        b_obs = torch.zeros((T, N, obs_dim), device=device)
        b_act = torch.zeros((T, N) if discrete else (T, N, act_dim), dtype=torch.long if discrete else torch.float32, device=device)
        b_end = np.zeros((T, N), bool)
        ep_ret, ep_len = np.zeros(N), np.zeros(N, int)
        num_updates = max(1, args.total_timesteps // (T * N))
        next_eval = args.eval_every
        for update in range(1, num_updates + 1):
            if args.anneal_lr:
                optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (update - 1.0) / num_updates)
            # 1) collect a batch of transitions with pi_G, the current policy (Algorithm 1, line 3)
            for t in range(T):
                o = torch.as_tensor(obs, dtype=torch.float32, device=device)
                a = policy.act(o)
                a_np = a.cpu().numpy()
                if not discrete:  # clip only when stepping; log-probs use the sampled action
                    a_np = np.clip(a_np, act_space.low, act_space.high)
                obs, reward, term, trunc, _ = envs.step(a_np)
                b_obs[t], b_act[t], b_end[t] = o, a, term | trunc
                ep_ret, ep_len = ep_ret + reward, ep_len + 1
                for i in np.flatnonzero(term | trunc):
                    writer.add_scalar("charts/episodic_return", ep_ret[i], global_step + t * N + i)
                    writer.add_scalar("charts/episodic_length", ep_len[i], global_step + t * N + i)
                    ep_ret[i], ep_len[i] = 0.0, 0
            global_step += T * N

            # Windows never cross an episode end: a window that would is cut there (masked). Crossing a reset would
            # still be a valid ratio (the initial-state density cancels like the dynamics), but cutting treats learner
            # and expert data the same way (the demos are separate episodes) and keeps a window a piece of one
            # trajectory, as in the paper. The batch boundary of each env is a cut too: the episode in progress goes
            # on in the next batch under the updated policy, so its two halves belong to different pi_G.
            ends = b_end.T.copy()  # (N, T): each env's stream in time order
            ends[:, -1] = True
            l_idx, l_mask = (torch.as_tensor(x, device=device) for x in make_windows(ends.reshape(-1), args.window, stride))
            l_obs = b_obs.transpose(0, 1).reshape(N * T, obs_dim)
            l_act = b_act.transpose(0, 1).reshape((N * T,) if discrete else (N * T, act_dim))

            # 2) log pi_G of learner and expert transitions, once, before the update epochs (pi_G is frozen)
            with torch.no_grad():
                l_old, e_old = policy.log_prob(l_obs, l_act), policy.log_prob(e_obs, e_act)
            l_old_w, e_old_w = (l_old[l_idx] * l_mask).sum(-1), (e_old[e_idx] * e_mask).sum(-1)

            # 3) fit the structured discriminator: epochs x minibatches of learner windows + random expert windows (Eq. 12)
            bs = min(max(1, args.batch_size // args.window), len(l_idx))
            labels = torch.cat([torch.ones(bs, device=device), torch.zeros(bs, device=device)])
            for epoch in range(args.update_epochs):
                perm = torch.randperm(len(l_idx), device=device)
                for k in range(len(l_idx) // bs):
                    lb = perm[k * bs : (k + 1) * bs]
                    eb = torch.randint(len(e_idx), (bs,), device=device)
                    new = torch.cat([window_logp(policy, e_obs, e_act, e_idx[eb], e_mask[eb]),
                                     window_logp(policy, l_obs, l_act, l_idx[lb], l_mask[lb])])
                    loss = asaf_loss(new, torch.cat([e_old_w[eb], l_old_w[lb]]), labels)
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                    optimizer.step()
            # 4) pi_G <- pi_tilde happens implicitly: the next batch is collected by the updated policy
            with torch.no_grad():  # D > 1/2 on expert windows and < 1/2 on learner windows of the last minibatch
                x = new - torch.cat([e_old_w[eb], l_old_w[lb]])
                writer.add_scalar("charts/disc_expert_acc", (x[:bs] > 0).float().mean().item(), global_step)
                writer.add_scalar("charts/disc_learner_acc", (x[bs:] < 0).float().mean().item(), global_step)
            writer.add_scalar("losses/asaf_loss", loss.item(), global_step)
            writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time)), global_step)

            if global_step >= next_eval or update == num_updates:
                next_eval += args.eval_every
                returns = evaluate(policy, eval_fns, args.seed + 10_000, device)
                writer.add_scalar("eval/episodic_return", returns.mean(), global_step)
                writer.add_scalar("eval/normalized_score", normalize(returns.mean()), global_step)
                if first_at_target is None and normalize(returns.mean()) >= 0.95:
                    first_at_target = (global_step, time.time() - start_time)
                print(f"step={global_step} eval_return={returns.mean():.1f} normalized={normalize(returns.mean()):.3f} "
                      f"loss={loss.item():.3f} sps={int(global_step / (time.time() - start_time))}", flush=True)
        envs.close()
        if args.save_model:
            config = dict(env_id=args.env_id, discrete=discrete, obs_dim=obs_dim, act_dim=act_dim,
                          hidden_sizes=list(args.hidden_sizes), algo="asaf_w", window=args.window)
            torch.save({"config": config, "policy": policy.state_dict()}, f"runs/{run_name}/asaf_w.pt")
    wall = time.time() - start_time

    # final deterministic evaluation (the number reported in summary.json)
    if args.capture_video:
        eval_fns[0] = make_env(args.env_id, args.seed + 10_000, True, run_name)
    returns = evaluate(policy, eval_fns, args.seed + 20_000, device)
    score = float(normalize(returns.mean()))
    writer.add_scalar("eval/episodic_return", returns.mean(), global_step)
    writer.add_scalar("eval/normalized_score", score, global_step)
    summary = dict(env_id=args.env_id, algo="asaf_w" if args.window > 1 else "asaf_1", window=args.window, seed=args.seed,
                   eval_return_mean=float(returns.mean()), eval_return_std=float(returns.std()), normalized_score=score,
                   env_steps=global_step, wall_seconds=wall, sps=global_step / max(wall, 1e-9),
                   steps_to_095=first_at_target and first_at_target[0],
                   seconds_to_095=first_at_target and round(first_at_target[1], 2), args=asdict(args))
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"{summary['algo']} {args.env_id} seed={args.seed}: eval return {returns.mean():.1f} +- {returns.std():.1f}, "
          f"normalized {score:.3f}, {global_step} env steps in {wall:.1f}s ({summary['sps']:.0f} SPS), "
          f"0.95 first reached at {summary['steps_to_095']} steps / {summary['seconds_to_095']} s -> runs/{run_name}")
    writer.close()
