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
import random
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
    cuda: bool = False
    """if toggled, use CUDA when it is available (this toy is faster on the CPU)"""
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
    batch_size: int = 8192
    """real and fake samples per outer iteration"""
    update_epochs: int = 2
    """passes over each iteration's samples (Algorithm 1, line 5 is itself a loop)"""
    num_minibatches: int = 4
    """minibatches per epoch (one gradient step each)"""
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
        mu = init_spread * torch.randn(num_components, dim) if num_components > 1 else torch.zeros(1, dim)
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
    layers, d = [], in_dim
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
    return (-F.logsigmoid(structured_logits(log_p_tilde_real, log_p_g_real)).mean()
            - F.logsigmoid(-structured_logits(log_p_tilde_fake, log_p_g_fake)).mean())


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
    lo, hi = everything.quantile(0.005, 0).numpy(), everything.quantile(0.995, 0).numpy()
    if target == "mixture":
        lo[:], hi[:] = lo.min(), hi.max()
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


if __name__ == "__main__":
    args = tyro.cli(Args)
    run_name = f"toy-{args.target}__{args.exp_name}__{args.seed}__{int(time.time())}"
    if args.track:
        import wandb

        wandb.init(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True,
                   config=vars(args), name=run_name, save_code=True)
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.threads)
    # the toy is a few thousand tiny tensors: it stays on the CPU even with --cuda
    rng = torch.Generator().manual_seed(args.seed)

    real_data = sample_real(args, args.num_real, rng)
    num_components = args.num_components or (1 if args.target == "gaussian" else 2 * args.num_modes)
    gen = MixtureGenerator(num_components, init_spread=args.ring_radius / 2 if args.target == "mixture" else 1.0)
    optimizer = torch.optim.Adam(gen.parameters(), lr=args.learning_rate)
    if args.discriminator == "mlp":
        disc = mlp(2, 1, args.hidden_sizes)
        d_optimizer = torch.optim.Adam(disc.parameters(), lr=args.d_learning_rate, betas=(0.5, 0.999))
    centers = ring_centers(args.num_modes, args.ring_radius) if args.target == "mixture" else None
    snap_at = set(np.linspace(0, args.num_iterations, args.num_snapshots).round().astype(int).tolist())
    snapshots, mb_size = [], args.batch_size // args.num_minibatches
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
                cov = mode_coverage(gen.sample(10_000, rng), centers)
            writer.add_scalar("charts/mode_coverage_min", cov.min().item(), iteration)
        if iteration == args.num_iterations:
            break
        frac = 1.0 - iteration / args.num_iterations if args.anneal_lr else 1.0
        optimizer.param_groups[0]["lr"] = frac * args.learning_rate
        real = real_data[torch.randint(0, args.num_real, (args.batch_size,), generator=rng)]

        if args.discriminator == "structured":
            # Algorithm 1, lines 3-4: the frozen copy G samples the fakes; log p_G is computed once, before the loop
            with torch.no_grad():
                fake = gen.sample(args.batch_size, rng)
                log_pg_real, log_pg_fake = gen.log_prob(real), gen.log_prob(fake)
            # line 5: minimise the structured discriminator's loss w.r.t. p_tilde, epochs x minibatches
            for epoch in range(args.update_epochs):
                perm = torch.randperm(args.batch_size, generator=rng)
                for start in range(0, args.batch_size, mb_size):
                    mb = perm[start:start + mb_size]
                    loss = structured_d_loss(gen.log_prob(real[mb]), log_pg_real[mb],
                                             gen.log_prob(fake[mb]), log_pg_fake[mb])
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
                for start in range(0, args.batch_size, mb_size):
                    real_mb, fake = real[start:start + mb_size], gen.sample(mb_size, rng)
                    d_loss = (F.binary_cross_entropy_with_logits(disc(real_mb), torch.ones(len(real_mb), 1))
                              + F.binary_cross_entropy_with_logits(disc(fake.detach()), torch.zeros(mb_size, 1)))
                    d_optimizer.zero_grad()
                    d_loss.backward()
                    d_optimizer.step()
                    g_loss = -F.logsigmoid(disc(fake)).mean()
                    optimizer.zero_grad()
                    g_loss.backward()
                    optimizer.step()
            with torch.no_grad():
                d_real, d_fake = torch.sigmoid(disc(real_mb)).mean(), torch.sigmoid(disc(fake)).mean()
            writer.add_scalar("losses/d_loss", d_loss.item(), iteration)
            writer.add_scalar("losses/g_loss", g_loss.item(), iteration)
        # the discriminator's accuracy-like read-out: mean D on real (-> 1 early) and on fake data (-> 0 early)
        writer.add_scalar("losses/d_real", d_real.item(), iteration)
        writer.add_scalar("losses/d_fake", d_fake.item(), iteration)
    wall_seconds = time.time() - start_time

    with torch.no_grad():
        mean, std = gen.moments()
        final = gen.sample(100_000, rng)
    summary = dict(env_id=f"toy-{args.target}", algo="toy_structured_gan", seed=args.seed,
                   discriminator=args.discriminator, fitted_mean=mean.tolist(), fitted_std=std.tolist(),
                   sample_mean=final.mean(0).tolist(), sample_std=final.std(0).tolist(),
                   wall_seconds=wall_seconds, iterations=args.num_iterations, args=asdict(args))
    if args.target == "gaussian":
        summary.update(target_mean=list(args.real_mean), target_std=list(args.real_std),
                       data_mean=real_data.mean(0).tolist(), data_std=real_data.std(0).tolist())
        line = (f"fitted mean ({mean[0]:.3f}, {mean[1]:.3f}) std ({std[0]:.3f}, {std[1]:.3f}) vs target mean "
                f"{args.real_mean} std {args.real_std}")
    else:
        cov = mode_coverage(final, centers)
        summary.update(mode_coverage=cov.tolist(), mode_coverage_min=cov.min().item(),
                       component_weights=F.softmax(gen.logits, 0).tolist(), component_means=gen.mu.tolist(),
                       component_stds=gen.log_std.exp().tolist())
        line = f"mode coverage min {cov.min():.3f} max {cov.max():.3f} over {args.num_modes} modes"
    if args.plot:
        path = args.plot_path or f"runs/{run_name}/snapshots.png"
        plot_snapshots(snapshots, real_data[:2000], path, args.target)
        summary["plot"] = path
    if args.save_model:
        torch.save(copy.deepcopy(gen.state_dict()), f"runs/{run_name}/toy_structured_gan.pt")
    with open(f"runs/{run_name}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"toy_structured_gan {args.target} ({args.discriminator}): {line}; {args.num_iterations} iterations in "
          f"{wall_seconds:.1f}s -> runs/{run_name}/summary.json", flush=True)
    writer.close()
