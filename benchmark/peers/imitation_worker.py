"""One run of the `imitation` library's BC, GAIL or DAgger on our demonstrations, judged by our evaluation protocol.

Runs under the peer's own virtual environment (imitation 1.0.1 pins gymnasium 0.29 and stable-baselines3 2.2.1;
benchmark/peers/requirements.txt), started by benchmark/peers/run_peers.py with the budget and the demonstration
episodes of our run of the same seed:

    benchmark/peers/.venv/bin/python benchmark/peers/imitation_worker.py --algo gail --env-id Pendulum-v1 --seed 1 \
        --demos experts/Pendulum-v1/demos.npz --episodes 1 4 5 8 10 12 15 16 19 22 --budget 200000 --out run.json

What is the same as in our scripts (docs/design.md, "The evaluation protocol"):
- the demonstrations: the episodes of `--episodes` (the indices our run recorded) read from our demos.npz;
- the final evaluation: one episode of the deterministic policy per env seed 2_000_000_000 + 10_000 * seed + i,
  i < --final-eval-episodes, stepped as one batch, Box actions clipped only to step the env (a copy of our
  `evaluate`); the start observations are written out so that run_peers.py can check them against gymnasium 1.4;
- the normalized score (R - R_random) / (R_demos - R_random), R_demos the mean return of the episodes used (the
  whole file's when none is used: DAgger), R_random the file's random-policy return;
- the budget (`--budget`: gradient steps for BC, env steps for GAIL and DAgger) and torch on one CPU thread.
Everything else is imitation's documented default or its documentation's example (docs/peers.md lists each).

imitation and stable-baselines3 are imported inside the functions that use them, so that the repo's tests can
import this file's helpers (the demos reader, the env seeds, the evaluation) with the repo's own Python.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.basename(__file__)
FINAL_SEED_BASE = 2_000_000_000  # our ENV_SEED_BASE["final"]
ENV_SEED_STRIDE = 10_000  # our ENV_SEED_STRIDE: env seeds per run seed
ENV_STEPS = {"n": 0}  # env steps taken by the training envs (StepCounter), evaluation excluded

# imitation's documentation examples (docs/algorithms/gail.rst of v1.0.1): the GAIL generator and discriminator
GAIL_PPO = dict(batch_size=64, ent_coef=0.0, learning_rate=0.0004, gamma=0.95, n_epochs=5)
GAIL_TRAINER = dict(demo_batch_size=1024, gen_replay_buffer_capacity=512, n_disc_updates_per_round=8)
# imitation's GAIL refuses episodes of different lengths (CartPole-v1 ends when the pole falls) unless told to allow
# them: its documented opt-in, needed to run on the envs of our benchmark at all (no effect on Pendulum-v1)
GAIL_VARIABLE_HORIZON = dict(allow_variable_horizon=True)
N_ENVS = 8  # imitation.util.util.make_vec_env's default, the examples' n_envs


def fail(msg):
    """Stop with one sentence that names what was expected and what was found."""
    sys.exit(f"{SCRIPT}: {msg}")


def final_env_seeds(seed, n):
    """The env seeds of our final evaluation: 2_000_000_000 + 10_000 * seed + i, i < n (env_seeds(seed, 'final', n))."""
    if n > ENV_SEED_STRIDE:
        fail(f"expected at most {ENV_SEED_STRIDE} final evaluation episodes, found {n}.")
    return [FINAL_SEED_BASE + ENV_SEED_STRIDE * seed + i for i in range(n)]


def read_demos(path, env_id, episodes):
    """The episodes `episodes` (indices in the file) of one of our demos.npz files, as imitation wants them.

    Returns a dict: `trajectories`, a list of (obs with T + 1 rows, actions with T rows, terminal) per episode, in the
    order given; `expert_return`, the mean return of those episodes (of the whole file when `episodes` is empty: our
    normalized score's reference); `random_return`, `file_episodes`, `episode_returns`."""
    if not os.path.isfile(path):
        fail(f"expected a demonstrations file at {path}, found no such file.")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except Exception as e:  # a truncated file, a pickle, a text file
        fail(f"expected {path} to be a .npz demonstrations file, found a file numpy cannot read ({type(e).__name__}).")
    keys = ["observations", "next_observations", "actions", "terminations", "truncations", "env_id"]
    missing = [k for k in keys + ["random_return_mean"] if k not in data]
    if missing or ("episode_returns" not in data and "rewards" not in data):
        fail(
            f"expected {path} to hold {keys}, random_return_mean and episode_returns or rewards, found {sorted(data)}."
        )
    if str(data["env_id"]) != env_id:
        fail(f"expected demonstrations for {env_id}, found demonstrations for {data['env_id']} in {path}.")
    ends = data["terminations"].astype(bool) | data["truncations"].astype(bool)
    end_idx = np.flatnonzero(ends)
    if len(end_idx) == 0 or end_idx[-1] != len(ends) - 1:
        fail(f"expected {path} to end with a complete episode, found it cut short.")
    starts = np.concatenate([[0], end_idx[:-1] + 1])
    if "episode_returns" in data:
        returns = data["episode_returns"].astype(np.float64).reshape(-1)
    else:
        returns = np.add.reduceat(data["rewards"].astype(np.float64), starts)
    bad = [e for e in episodes if not 0 <= e < len(end_idx)]
    if bad:
        fail(f"expected episode indices in 0..{len(end_idx) - 1} (the episodes in {path}), found {bad}.")
    trajectories = []
    for e in episodes:
        first, last = starts[e], end_idx[e]
        obs = np.concatenate([data["observations"][first : last + 1], data["next_observations"][last : last + 1]])
        acts = data["actions"][first : last + 1]
        trajectories.append((obs.astype(np.float32), acts, bool(data["terminations"][last])))
    if len(episodes) > 0:
        expert_return = float(returns[list(episodes)].mean())
    else:
        expert_return = float(returns.mean())
    return dict(
        trajectories=trajectories,
        expert_return=expert_return,
        random_return=float(data["random_return_mean"]),
        file_episodes=len(end_idx),
        episode_returns=[float(returns[e]) for e in episodes],
    )


def normalized_score(ret, expert_return, random_return):
    """Our normalized score: (R - R_random) / (R_demos - R_random)."""
    return (ret - random_return) / (expert_return - random_return)


def evaluate(act_fn, env_id, seeds):
    """Our `evaluate` (the plumbing block), without the video: one episode per env seed, stepped as one batch, the
    deterministic actions of act_fn, Box actions clipped only to step the env. Returns the returns, the lengths and
    the start observations."""
    envs = []
    for s in seeds:
        env = gym.make(env_id)
        env.action_space.seed(s)
        envs.append(env)
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    start_obs = obs.copy()
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
        env.close()
    return returns, lengths, start_obs


class StepCounter(gym.Wrapper):
    """Counts the env steps of the training envs in ENV_STEPS (every step, whoever acts and whatever is kept)."""

    def step(self, action):
        ENV_STEPS["n"] += 1
        return self.env.step(action)


def make_venv(env_id, seed):
    """imitation's make_vec_env (N_ENVS DummyVecEnv envs seeded from default_rng(seed)), each env counting its steps
    and wrapped in RolloutInfoWrapper as imitation's examples do."""
    from imitation.data.wrappers import RolloutInfoWrapper
    from imitation.util.util import make_vec_env

    def wrap(env, _):
        return RolloutInfoWrapper(StepCounter(env))

    return make_vec_env(env_id, rng=np.random.default_rng(seed), n_envs=N_ENVS, post_wrappers=[wrap])


def to_imitation(trajectories):
    """Our episodes as imitation's Trajectory objects (no infos)."""
    from imitation.data.types import Trajectory

    return [Trajectory(obs=obs, acts=acts, infos=None, terminal=terminal) for obs, acts, terminal in trajectories]


def mlp(in_dim, out_dim, hidden_sizes):
    """expert.py's layer layout (Linear-ReLU, then a Linear), so that the shipped expert's state dicts load."""
    dims = [in_dim, *hidden_sizes]
    layers = []
    for a, b in zip(dims, dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], out_dim))


def expert_policy(path, env_id, observation_space, action_space):
    """Our shipped expert (experts/<env-id>/expert.pt of expert.py) as the stable-baselines3 policy that imitation's
    DAgger queries: argmax_a Q*(s, a) of the double-DQN expert (Discrete), tanh(mean) * scale + bias of the SAC actor
    (Box), the same deterministic action as dagger.py's load_expert."""
    from stable_baselines3.common.policies import BasePolicy

    if not os.path.isfile(path):
        fail(f"expected an expert.pt written by expert.py at {path}, found no such file.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a demos file, a text file, a pickle of something else
        fail(f"expected an expert.pt of expert.py at {path}, found a file torch cannot read ({type(e).__name__}).")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict):
        fail(f"expected an expert.pt written by expert.py at {path}, found another kind of file.")
    cfg = ckpt["config"]
    if cfg.get("env_id") != env_id:
        fail(f"expected an expert for {env_id} at {path}, found one for {cfg.get('env_id')}.")
    discrete = isinstance(action_space, gym.spaces.Discrete)
    obs_dim = int(np.prod(observation_space.shape))
    try:
        if discrete:
            net = mlp(obs_dim, int(action_space.n), cfg["hidden_sizes"])
            net.load_state_dict({k.removeprefix("net."): v for k, v in ckpt["q"].items()})
            scale, bias = None, None
        else:
            act_dim = int(np.prod(action_space.shape))
            net = mlp(obs_dim, 2 * act_dim, cfg["hidden_sizes"])
            actor = ckpt["actor"]
            net.load_state_dict({k.removeprefix("trunk."): v for k, v in actor.items() if k.startswith("trunk.")})
            scale, bias = actor["action_scale"], actor["action_bias"]
    except (RuntimeError, KeyError, TypeError) as e:  # no such network, or one of another shape
        fail(
            f"expected {path} to hold the {env_id} expert's network, found another ({' '.join(str(e).split())[:160]})."
        )

    class ShippedExpert(BasePolicy):
        def __init__(self):
            super().__init__(observation_space, action_space)
            self.net = net

        def _predict(self, observation, deterministic=False):
            out = self.net(observation.float())
            if discrete:
                return out.argmax(-1)
            mean = out.chunk(2, -1)[0]
            return torch.tanh(mean) * scale + bias

        def forward(self, *args):
            raise NotImplementedError  # only predict() is used

    return ShippedExpert()


def train_bc(args, demos, logger):
    """imitation's BC with its defaults (FeedForward32Policy, Adam at 1e-3, batch 32, entropy weight 1e-3) for
    --budget gradient steps (n_batches) on our episodes. Returns the policy, env steps, gradient steps, settings."""
    from imitation.algorithms import bc

    probe = gym.make(args.env_id)
    trainer = bc.BC(
        observation_space=probe.observation_space,
        action_space=probe.action_space,
        demonstrations=to_imitation(demos["trajectories"]),
        rng=np.random.default_rng(args.seed),
        custom_logger=logger,
    )
    probe.close()
    trainer.train(n_batches=args.budget, progress_bar=False)
    settings = dict(
        policy="FeedForward32Policy (default)",
        batch_size=trainer.batch_size,
        optimizer="Adam, lr 1e-3 (default)",
        ent_weight=1e-3,
        l2_weight=0.0,
        n_batches=args.budget,
    )
    return trainer.policy, 0, args.budget, settings


def train_gail(args, demos, logger):
    """imitation's GAIL with a PPO generator as its documentation's example (BasicRewardNet with RunningNorm, PPO
    batch 64, lr 4e-4, gamma 0.95, 5 epochs, demo batch 1024, replay 512, 8 D updates a round), episodes of varying
    length allowed, for --budget env steps (whole rounds of PPO's n_steps x N_ENVS). Returns the policy, env steps,
    gradient steps, settings."""
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.rewards.reward_nets import BasicRewardNet
    from imitation.util.networks import RunningNorm
    from stable_baselines3 import PPO
    from stable_baselines3.ppo import MlpPolicy

    transitions = sum(len(acts) for _, acts, _ in demos["trajectories"])
    if transitions < GAIL_TRAINER["demo_batch_size"]:
        fail(f"expected at least {GAIL_TRAINER['demo_batch_size']} demo transitions for GAIL, found {transitions}.")
    venv = make_venv(args.env_id, args.seed)
    learner = PPO(env=venv, policy=MlpPolicy, seed=args.seed, **GAIL_PPO)
    round_steps = learner.n_steps * venv.num_envs
    if args.budget < round_steps:
        fail(f"expected --budget of at least one GAIL round ({round_steps} env steps), found {args.budget}.")
    reward_net = BasicRewardNet(
        observation_space=venv.observation_space,
        action_space=venv.action_space,
        normalize_input_layer=RunningNorm,
    )
    trainer = GAIL(
        demonstrations=to_imitation(demos["trajectories"]),
        venv=venv,
        gen_algo=learner,
        reward_net=reward_net,
        custom_logger=logger,
        **GAIL_TRAINER,
        **GAIL_VARIABLE_HORIZON,
    )
    trainer.train(args.budget)
    settings = dict(
        ppo=dict(GAIL_PPO, policy="MlpPolicy (64, 64)", n_steps=learner.n_steps),
        trainer=dict(GAIL_TRAINER, **GAIL_VARIABLE_HORIZON),
        reward_net="BasicRewardNet, RunningNorm inputs",
        n_envs=venv.num_envs,
        rounds=args.budget // round_steps,
        total_timesteps=args.budget,
        generator_timesteps=int(learner.num_timesteps),
    )
    venv.close()
    return learner.policy, ENV_STEPS["n"], None, settings


def train_dagger(args, demos, logger):
    """imitation's SimpleDAggerTrainer as in its documentation's example (a default BC learner, the linear beta
    schedule over 15 rounds, 4 BC epochs a round, rounds of at least 3 episodes and 500 steps) with our shipped expert
    and no initial demonstrations, as dagger.py runs, for --budget env steps. Its per-round evaluation roll-outs
    (log_rollouts_venv) are turned off: they cost env steps and time that teach nothing. Returns the policy, env steps,
    gradient steps, settings."""
    from imitation.algorithms import bc
    from imitation.algorithms.dagger import SimpleDAggerTrainer

    venv = make_venv(args.env_id, args.seed)
    rng = np.random.default_rng(args.seed)
    expert = expert_policy(args.expert, args.env_id, venv.observation_space, venv.action_space)
    learner = bc.BC(
        observation_space=venv.observation_space,
        action_space=venv.action_space,
        rng=rng,
        custom_logger=logger,
    )
    with tempfile.TemporaryDirectory(prefix="dagger_") as scratch:
        trainer = SimpleDAggerTrainer(
            venv=venv,
            scratch_dir=scratch,
            expert_policy=expert,
            bc_trainer=learner,
            rng=rng,
            custom_logger=logger,
        )
        trainer.train(args.budget, bc_train_kwargs=dict(log_rollouts_venv=None, progress_bar=False))
    settings = dict(
        learner="BC defaults (FeedForward32Policy, batch 32, Adam 1e-3)",
        beta_schedule="LinearBetaSchedule(15) (default)",
        bc_epochs_per_round=trainer.DEFAULT_N_EPOCHS,
        rollout_round_min_episodes=3,
        rollout_round_min_timesteps=500,
        n_envs=venv.num_envs,
        rounds=int(trainer.round_num),
        total_timesteps=args.budget,
        log_rollouts_venv=None,
    )
    venv.close()
    return learner.policy, ENV_STEPS["n"], None, settings


TRAIN = {"bc": train_bc, "gail": train_gail, "dagger": train_dagger}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", required=True, choices=list(TRAIN), help="imitation's algorithm")
    p.add_argument("--env-id", required=True, help="gymnasium id (flat Box observation, Box or Discrete action)")
    p.add_argument("--seed", type=int, required=True, help="the run seed (0..99,999), as our run's --seed")
    p.add_argument("--demos", required=True, help="our demos.npz")
    p.add_argument("--episodes", type=int, nargs="*", default=[], help="episode indices in --demos (our run's)")
    p.add_argument("--budget", type=int, required=True, help="BC: gradient steps; GAIL, DAgger: env steps")
    p.add_argument("--expert", default=None, help="DAgger's expert (default experts/<env-id>/expert.pt)")
    p.add_argument("--final-eval-episodes", type=int, default=50, help="episodes of the final evaluation")
    p.add_argument("--log-dir", default=None, help="imitation's logger folder (default: a temporary folder)")
    p.add_argument("--out", required=True, help="where the result JSON goes")
    args = p.parse_args(argv)
    if not 0 <= args.seed < 100_000:
        fail(f"expected --seed in 0..99999, found {args.seed}.")
    if args.budget < 1 or args.final_eval_episodes < 1:
        fail(f"expected --budget and --final-eval-episodes >= 1, found {args.budget} and {args.final_eval_episodes}.")
    if args.algo in ("bc", "gail") and not args.episodes:
        fail(f"expected --episodes (the demonstrations {args.algo} learns from), found none.")
    if args.expert is None:
        args.expert = os.path.join(ROOT, "experts", args.env_id, "expert.pt")
    return args


def main(argv=None):
    args = parse_args(argv)
    import imitation
    import stable_baselines3
    from imitation.util import logger as imit_logger

    demos = read_demos(args.demos, args.env_id, args.episodes)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # as our scripts' --threads 1
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="imitation_worker_")
    logger = imit_logger.configure(folder=log_dir)

    start = time.time()
    start_cpu = time.process_time()
    policy, env_steps, grad_steps, settings = TRAIN[args.algo](args, demos, logger)
    wall_seconds = time.time() - start
    cpu_seconds = time.process_time() - start_cpu

    def act_fn(obs):
        return policy.predict(obs, deterministic=True)[0]

    seeds = final_env_seeds(args.seed, args.final_eval_episodes)
    returns, lengths, start_obs = evaluate(act_fn, args.env_id, seeds)
    score = normalized_score(returns.mean(), demos["expert_return"], demos["random_return"])
    result = dict(
        lib="imitation",
        algo=args.algo,
        env_id=args.env_id,
        seed=args.seed,
        normalized_score=float(score),
        eval_return_mean=float(returns.mean()),
        eval_return_std=float(returns.std()),
        env_steps=int(env_steps),
        grad_steps=grad_steps,
        wall_seconds=round(wall_seconds, 2),
        cpu_seconds=round(cpu_seconds, 2),
        budget=args.budget,
        demo_episodes=[int(e) for e in args.episodes],
        demo_return_mean=demos["expert_return"],
        random_return_mean=demos["random_return"],
        final_eval=dict(
            env_seeds=seeds,
            returns=[float(r) for r in returns],
            lengths=[int(n) for n in lengths],
            start_obs=start_obs.tolist(),
        ),
        settings=settings,
        versions=dict(
            imitation=imitation.__version__,
            stable_baselines3=stable_baselines3.__version__,
            gymnasium=gym.__version__,
            torch=torch.__version__,
            numpy=np.__version__,
        ),
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(
        f"imitation {args.algo} {args.env_id} seed={args.seed}: final return {returns.mean():.1f} +- "
        f"{returns.std():.1f}, normalized {score:.3f}, {env_steps} env steps in {wall_seconds:.1f}s -> {args.out}",
        flush=True,
    )


if __name__ == "__main__":
    main()
