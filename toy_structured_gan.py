"""A toy GAN trained with ASAF's structured discriminator: no discriminator network at all.

ASAF (Barde et al. 2020, "Adversarial Soft Advantage Fitting", arXiv:2006.13258) replaces the discriminator of a GAN
by one built from the generator's own density. With p_tilde the generator being trained and p_G a frozen copy of the
generator that produced the fake samples (paper, eq. 8 and Algorithm 1):

    D(x) = p_tilde(x) / (p_tilde(x) + p_G(x)) = sigmoid(log p_tilde(x) - log p_G(x))

and the usual discriminator loss -E_real[log D] - E_fake[log(1 - D)] is minimised *with respect to the generator*.
The optimal discriminator of a GAN is p_real / (p_real + p_G), so the minimiser is p_tilde = p_real: fitting the
"discriminator" fits the generator. The notes (last section of the ASAF notes) test this on a 2-D toy; we do the same.

What a reader must not miss:
- The trick needs only a tractable density log p(x), not a differentiable sampler: fake samples come from the frozen
  copy and carry no gradient. `--target mixture` shows it with a Gaussian-mixture generator, whose component choice
  is not differentiable at all.
- log p_G is computed once per outer iteration, before the epochs x minibatches inner loop (as the notes point out).

How we read the notes' N(m, s): the notes write the generator as x = mu + exp(sigma) * z, z ~ N(0, 1), i.e.
x ~ N(mu, exp(sigma)), so the second argument is the STANDARD DEVIATION. We read the real data the same way:
x1 ~ N(-10, 0.5) has std 0.5 (variance 0.25) and x2 ~ N(0.1, 7) has std 7 (variance 49). Every std in this file,
in TensorBoard and in summary.json is a standard deviation.

`--discriminator mlp` trains the same generator as a plain GAN (an MLP discriminator, non-saturating generator loss)
on the same data, for contrast.
"""

import copy
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter


@dataclass
class Args:
    exp_name: str = "toy_structured_gan"
    """the name of this experiment (goes into the run name)"""
    seed: int = 1
    """seed of the experiment (python, numpy, torch)"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    threads: int = 1
    """torch CPU threads"""
    track: bool = False
    """if toggled, log the run to Weights and Biases"""
    wandb_project_name: str = "cleanrl-imitation"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the wandb entity (team)"""
    save_model: bool = False
    """if toggled, save the generator as `runs/<run_name>/toy_structured_gan.pt`"""
    learning_rate: float = 0.05
    """Adam learning rate of the generator (annealed linearly to 0 with --anneal-lr)"""
    anneal_lr: bool = True
    """if toggled, anneal the learning rates linearly to 0 (the final fit then averages out the sampling noise)"""

    # the toy problem
    target: Literal["gaussian", "mixture"] = "gaussian"
    """real data: the notes' 2-D Gaussian, or `mixture` (Gaussians on a ring, beyond the notes)"""
    discriminator: Literal["structured", "mlp"] = "structured"
    """`structured`: D from the generator's density (ASAF); `mlp`: a plain GAN, MLP discriminator, for contrast"""
    real_mean: tuple[float, float] = (-10.0, 0.1)
    """gaussian target: mean of (x1, x2)"""
    real_std: tuple[float, float] = (0.5, 7.0)
    """gaussian target: STANDARD DEVIATION of (x1, x2) (the notes' N(-10, 0.5), N(0.1, 7))"""
    num_modes: int = 8
    """mixture target: number of equally weighted Gaussians on a ring"""
    ring_radius: float = 8.0
    """mixture target: radius of the ring"""
    mode_std: float = 0.5
    """mixture target: standard deviation of each mode"""
    num_components: int = 0
    """components of the generator's Gaussian mixture (0: 1 for the gaussian target, 2 x num_modes for mixture)"""
    num_real: int = 100_000
    """size of the fixed data set of real samples"""
    num_iterations: int = 300
    """outer iterations: freeze G, draw fake samples, update p_tilde (`mlp`: the same number of D and G steps)"""
    samples_per_iteration: int = 8192
    """real and fake samples drawn per outer iteration (each minibatch holds samples_per_iteration // num_minibatches
    of each)"""
    update_epochs: int = 2
    """passes over each iteration's samples (Algorithm 1, line 5 is itself a loop)"""
    num_minibatches: int = 4
    """minibatches per epoch (one gradient step each), at most --samples-per-iteration"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """mlp: hidden layers of the discriminator"""
    d_learning_rate: float = 1e-3
    """mlp: Adam learning rate of the discriminator"""
    plot: bool = False
    """if toggled, save a PNG grid of snapshots (generated vs real points) over training"""
    plot_path: str | None = None
    """where the PNG goes (default: runs/<run_name>/snapshots.png)"""
    num_snapshots: int = 6
    """snapshots in the PNG grid (the first is the initial generator, the last the final one)"""


class MixtureGenerator(nn.Module):
    """p(x) = sum_k w_k N(x; mu_k, diag(exp(sigma_k))^2). With one component it is the notes' x = mu + exp(sigma) z."""

    def __init__(self, num_components, dim=2, init_spread=1.0):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_components))
        # one component starts at the origin (the notes); several start spread around it to break the symmetry
        if num_components > 1:
            mu = init_spread * torch.randn(num_components, dim)
        else:
            mu = torch.zeros(1, dim)
        self.mu = nn.Parameter(mu)
        self.log_std = nn.Parameter(torch.zeros(num_components, dim))

    def log_prob(self, x):
        """log p(x) for x of shape (n, dim): logsumexp over components of log w_k + log N(x; mu_k, std_k)."""
        z = (x.unsqueeze(1) - self.mu) / self.log_std.exp()  # (n, K, dim)
        log_normal = (-0.5 * z.pow(2) - self.log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
        return torch.logsumexp(F.log_softmax(self.logits, 0) + log_normal, -1)

    def sample(self, n, generator=None):
        """Reparameterised within a component: x = mu_k + exp(sigma_k) * z; the choice of k is not differentiable."""
        k = torch.multinomial(F.softmax(self.logits, 0), n, replacement=True, generator=generator)
        z = torch.randn(n, self.mu.shape[1], generator=generator)
        return self.mu[k] + self.log_std[k].exp() * z

    def moments(self):
        """Mean and standard deviation per dimension of the whole mixture (exactly mu, exp(sigma) for K = 1)."""
        w = F.softmax(self.logits, 0).unsqueeze(1)
        mean = (w * self.mu).sum(0)
        second = (w * (self.log_std.exp().pow(2) + self.mu.pow(2))).sum(0)
        return mean, (second - mean.pow(2)).clamp_min(0).sqrt()


def mlp(in_dim, out_dim, hidden_sizes):
    layers = []
    d = in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(d, h), nn.LeakyReLU(0.2)]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


def ring_centers(num_modes, radius):
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    return torch.tensor(np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1), dtype=torch.float32)


def sample_real(args, n, generator=None):
    """Real data: the notes' Gaussian (std, not variance) or equally weighted Gaussians on a ring."""
    z = torch.randn(n, 2, generator=generator)
    if args.target == "gaussian":
        return torch.tensor(args.real_mean) + torch.tensor(args.real_std) * z
    centers = ring_centers(args.num_modes, args.ring_radius)
    k = torch.randint(0, args.num_modes, (n,), generator=generator)
    return centers[k] + args.mode_std * z


def structured_logits(log_p_tilde, log_p_g):
    """logit of D = p_tilde / (p_tilde + p_G), computed in log space: log p_tilde - log p_G (ASAF eq. 8)."""
    return log_p_tilde - log_p_g


def structured_d_loss(log_p_tilde_real, log_p_g_real, log_p_tilde_fake, log_p_g_fake):
    """-E_real[log D] - E_fake[log(1 - D)] with D = sigmoid(logit); logsigmoid keeps it finite for any logit."""
    return (
        -F.logsigmoid(structured_logits(log_p_tilde_real, log_p_g_real)).mean()
        - F.logsigmoid(-structured_logits(log_p_tilde_fake, log_p_g_fake)).mean()
    )


def mode_coverage(x, centers):
    """Fraction of the samples x (n, 2) whose nearest mode center is each center (a vector summing to 1)."""
    nearest = torch.cdist(x, centers).argmin(1)
    return torch.bincount(nearest, minlength=len(centers)).float() / len(x)


def plot_snapshots(snapshots, real, path, target):
    """A grid of scatter plots: generated points in blue, real points in red (the colours of the notes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(snapshots)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False)
    everything = torch.cat([real] + [s for _, s in snapshots])
    lo = everything.quantile(0.005, 0).numpy()
    hi = everything.quantile(0.995, 0).numpy()
    if target == "mixture":  # the ring is round: the same range on both axes
        lo[:] = lo.min()
        hi[:] = hi.max()
    pad = 0.05 * (hi - lo)
    for ax, (it, fake) in zip(axes.flat, snapshots):
        ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:red", alpha=0.3, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:blue", alpha=0.3, label="generated")
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_title(f"iteration {it}")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(loc="upper right", markerscale=5)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


MAX_SEED = 2**31  # seeds 0 .. MAX_SEED - 1 (numpy's global seed must stay below 2**32)


def fail(msg):
    """Stop with one sentence that names what was expected and what was found: no traceback."""
    sys.exit(f"toy_structured_gan.py: {msg}")


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


if __name__ == "__main__":
    args = tyro.cli(Args)
    check_args(
        args,
        counts=(
            "threads",
            "num_modes",
            "num_real",
            "num_iterations",
            "samples_per_iteration",
            "update_epochs",
            "num_minibatches",
            "num_snapshots",
        ),
        counts0=("num_components",),
        rates=("learning_rate", "d_learning_rate", "ring_radius", "mode_std"),
    )
    if min(args.real_std) <= 0:
        fail(f"expected --real-std to be two standard deviations > 0, found {list(args.real_std)}.")
    if args.num_minibatches > args.samples_per_iteration:
        fail(
            f"expected --num-minibatches <= --samples-per-iteration ({args.samples_per_iteration}), "
            f"found {args.num_minibatches}."
        )

    # a directory of its own, even for a second run of the same seed started in the same second
    stem = f"toy-{args.target}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_name = stem
    n = 1
    while True:
        try:
            os.makedirs(f"runs/{run_name}")
            break
        except FileExistsError:
            n += 1
            run_name = f"{stem}_{n}"
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
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)
    # the toy is a few thousand tiny tensors: it runs on the CPU
    rng = torch.Generator().manual_seed(args.seed)

    real_data = sample_real(args, args.num_real, rng)
    if args.target == "mixture":
        num_components = args.num_components or 2 * args.num_modes
        gen = MixtureGenerator(num_components, init_spread=args.ring_radius / 2)
        centers = ring_centers(args.num_modes, args.ring_radius)
    else:
        num_components = args.num_components or 1
        gen = MixtureGenerator(num_components, init_spread=1.0)
        centers = None
    optimizer = torch.optim.Adam(gen.parameters(), lr=args.learning_rate)
    if args.discriminator == "mlp":
        disc = mlp(2, 1, args.hidden_sizes)
        d_optimizer = torch.optim.Adam(disc.parameters(), lr=args.d_learning_rate, betas=(0.5, 0.999))
    snap_at = set(np.linspace(0, args.num_iterations, args.num_snapshots).round().astype(int).tolist())
    snapshots = []
    mb_size = args.samples_per_iteration // args.num_minibatches
    start_time = time.time()

    for iteration in range(args.num_iterations + 1):
        with torch.no_grad():
            if iteration in snap_at:
                snapshots.append((iteration, gen.sample(2000, rng)))
            mean, std = gen.moments()
        for d in range(2):
            writer.add_scalar(f"charts/mean_x{d + 1}", mean[d].item(), iteration)
            writer.add_scalar(f"charts/std_x{d + 1}", std[d].item(), iteration)
        if centers is not None and iteration % 10 == 0:
            with torch.no_grad():
                coverage = mode_coverage(gen.sample(10_000, rng), centers)
            writer.add_scalar("charts/mode_coverage_min", coverage.min().item(), iteration)
        if iteration == args.num_iterations:
            break
        if args.anneal_lr:
            frac = 1.0 - iteration / args.num_iterations
        else:
            frac = 1.0
        optimizer.param_groups[0]["lr"] = frac * args.learning_rate
        real = real_data[torch.randint(0, args.num_real, (args.samples_per_iteration,), generator=rng)]

        if args.discriminator == "structured":
            # Algorithm 1, lines 3-4: the frozen copy G samples the fakes; log p_G is computed once, before the loop
            with torch.no_grad():
                fake = gen.sample(args.samples_per_iteration, rng)
                log_pg_real = gen.log_prob(real)
                log_pg_fake = gen.log_prob(fake)
            # line 5: minimise the structured discriminator's loss w.r.t. p_tilde, epochs x minibatches
            for epoch in range(args.update_epochs):
                perm = torch.randperm(args.samples_per_iteration, generator=rng)
                for start in range(0, args.samples_per_iteration, mb_size):
                    mb = perm[start : start + mb_size]
                    log_pt_real = gen.log_prob(real[mb])
                    log_pt_fake = gen.log_prob(fake[mb])
                    loss = structured_d_loss(log_pt_real, log_pg_real[mb], log_pt_fake, log_pg_fake[mb])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            with torch.no_grad():
                d_real = torch.sigmoid(structured_logits(gen.log_prob(real), log_pg_real)).mean()
                d_fake = torch.sigmoid(structured_logits(gen.log_prob(fake), log_pg_fake)).mean()
            writer.add_scalar("losses/structured_d_loss", loss.item(), iteration)
        else:
            # plain GAN (Goodfellow et al. 2014), as many steps as the structured run: per minibatch one
            # discriminator step, then one non-saturating generator step on the same fresh fake samples
            for g in d_optimizer.param_groups:
                g["lr"] = frac * args.d_learning_rate
            for epoch in range(args.update_epochs):
                for start in range(0, args.samples_per_iteration, mb_size):
                    real_mb = real[start : start + mb_size]
                    fake = gen.sample(mb_size, rng)
                    d_loss_real = F.binary_cross_entropy_with_logits(disc(real_mb), torch.ones(len(real_mb), 1))
                    d_loss_fake = F.binary_cross_entropy_with_logits(disc(fake.detach()), torch.zeros(mb_size, 1))
                    d_loss = d_loss_real + d_loss_fake
                    d_optimizer.zero_grad()
                    d_loss.backward()
                    d_optimizer.step()
                    g_loss = -F.logsigmoid(disc(fake)).mean()
                    optimizer.zero_grad()
                    g_loss.backward()
                    optimizer.step()
            with torch.no_grad():
                d_real = torch.sigmoid(disc(real_mb)).mean()
                d_fake = torch.sigmoid(disc(fake)).mean()
            writer.add_scalar("losses/d_loss", d_loss.item(), iteration)
            writer.add_scalar("losses/g_loss", g_loss.item(), iteration)
        # the discriminator's accuracy-like read-out: mean D on real (-> 1 early) and on fake data (-> 0 early)
        writer.add_scalar("losses/d_real", d_real.item(), iteration)
        writer.add_scalar("losses/d_fake", d_fake.item(), iteration)
    wall_seconds = time.time() - start_time

    with torch.no_grad():
        mean, std = gen.moments()
        final = gen.sample(100_000, rng)
    summary = dict(
        env_id=f"toy-{args.target}",
        algo="toy_structured_gan",
        seed=args.seed,
        discriminator=args.discriminator,
        fitted_mean=mean.tolist(),
        fitted_std=std.tolist(),
        sample_mean=final.mean(0).tolist(),
        sample_std=final.std(0).tolist(),
        wall_seconds=wall_seconds,
        iterations=args.num_iterations,
        args=asdict(args),
    )
    if args.target == "gaussian":
        summary.update(
            target_mean=list(args.real_mean),
            target_std=list(args.real_std),
            data_mean=real_data.mean(0).tolist(),
            data_std=real_data.std(0).tolist(),
        )
        line = (
            f"fitted mean ({mean[0]:.3f}, {mean[1]:.3f}) std ({std[0]:.3f}, {std[1]:.3f}) vs target mean "
            f"{args.real_mean} std {args.real_std}"
        )
    else:
        coverage = mode_coverage(final, centers)
        summary.update(
            mode_coverage=coverage.tolist(),
            mode_coverage_min=coverage.min().item(),
            component_weights=F.softmax(gen.logits, 0).tolist(),
            component_means=gen.mu.tolist(),
            component_stds=gen.log_std.exp().tolist(),
        )
        line = f"mode coverage min {coverage.min():.3f} max {coverage.max():.3f} over {args.num_modes} modes"
    if args.plot:
        if args.plot_path is None:
            plot_path = f"runs/{run_name}/snapshots.png"
        else:
            plot_path = args.plot_path
        plot_snapshots(snapshots, real_data[:2000], plot_path, args.target)
        summary["plot"] = plot_path
    if args.save_model:
        torch.save(copy.deepcopy(gen.state_dict()), f"runs/{run_name}/toy_structured_gan.pt")
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(
        f"toy_structured_gan {args.target} ({args.discriminator}): {line}; {args.num_iterations} iterations in "
        f"{wall_seconds:.1f}s -> runs/{run_name}/summary.json",
        flush=True,
    )
    writer.close()
