import dataclasses
import glob
import json

import pytest
import torch
import torch.nn.functional as F

import toy_structured_gan as tsg


def _summary(tmp_path):
    paths = glob.glob(str(tmp_path / "runs" / "*" / "summary.json"))
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return json.load(f)


def test_structured_loss_is_bce_of_log_density_ratio():
    torch.manual_seed(0)
    lt_r, lg_r, lt_f, lg_f = (torch.randn(64) * 5 for _ in range(4))
    d_real = torch.sigmoid(lt_r - lg_r)
    d_fake = torch.sigmoid(lt_f - lg_f)
    expected = F.binary_cross_entropy(d_real, torch.ones(64)) + F.binary_cross_entropy(d_fake, torch.zeros(64))
    assert torch.allclose(tsg.structured_d_loss(lt_r, lg_r, lt_f, lg_f), expected, atol=1e-5)
    # D = p_tilde / (p_tilde + p_G) written with densities gives the same logit
    p_t, p_g = lt_r.exp(), lg_r.exp()
    assert torch.allclose(torch.sigmoid(tsg.structured_logits(lt_r, lg_r)), p_t / (p_t + p_g), atol=1e-5)


def test_structured_loss_finite_for_huge_log_density_gaps():
    big = torch.tensor([-5000.0, 0.0, 5000.0])
    loss = tsg.structured_d_loss(big, -big, -big, big)
    assert torch.isfinite(loss)


def test_generator_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    gen = tsg.MixtureGenerator(3, init_spread=2.0)
    with torch.no_grad():
        gen.logits.copy_(torch.tensor([0.3, -1.0, 0.5]))
        gen.log_std.copy_(torch.randn(3, 2) * 0.3)
    x = torch.randn(100, 2) * 3
    comp = torch.distributions.Independent(torch.distributions.Normal(gen.mu, gen.log_std.exp()), 1)
    ref = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=gen.logits), comp)
    assert torch.allclose(gen.log_prob(x), ref.log_prob(x), atol=1e-4)
    # one component: the notes' x = mu + exp(sigma) z, a diagonal Gaussian with std exp(sigma)
    g1 = tsg.MixtureGenerator(1)
    with torch.no_grad():
        g1.mu.copy_(torch.tensor([[-10.0, 0.1]]))
        g1.log_std.copy_(torch.tensor([[0.5, 7.0]]).log())
    ref1 = torch.distributions.Normal(torch.tensor([-10.0, 0.1]), torch.tensor([0.5, 7.0]))
    assert torch.allclose(g1.log_prob(x), ref1.log_prob(x).sum(-1), atol=1e-4)
    mean, std = g1.moments()
    assert torch.allclose(mean, torch.tensor([-10.0, 0.1])) and torch.allclose(std, torch.tensor([0.5, 7.0]))


def test_mode_coverage():
    centers = tsg.ring_centers(4, 5.0)
    x = torch.cat([centers[0].repeat(3, 1), centers[2].repeat(1, 1)])
    assert tsg.mode_coverage(x, centers).tolist() == [0.75, 0.0, 0.25, 0.0]


def test_smoke_with_plot(run, tmp_path):
    r = run(
        "toy_structured_gan.py", "--num-iterations", "4", "--samples-per-iteration", "512", "--plot", "--save-model"
    )
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert s["algo"] == "toy_structured_gan" and len(s["fitted_mean"]) == 2
    assert glob.glob(str(tmp_path / "runs" / "*" / "snapshots.png"))
    assert glob.glob(str(tmp_path / "runs" / "*" / "toy_structured_gan.pt"))


@pytest.mark.parametrize("target", ["gaussian", "mixture"])
def test_smoke_mlp_discriminator(run, tmp_path, target):
    r = run(
        "toy_structured_gan.py",
        "--discriminator",
        "mlp",
        "--target",
        target,
        "--num-iterations",
        "3",
        "--samples-per-iteration",
        "512",
    )
    assert r.returncode == 0, r.stderr
    assert _summary(tmp_path)["discriminator"] == "mlp"


def test_no_cuda_flag():
    """The toy runs on the CPU: there is no --cuda to pretend otherwise."""
    assert "cuda" not in {f.name for f in dataclasses.fields(tsg.Args)}


BAD_FLAGS = [
    ("--num-iterations", "0"),
    ("--samples-per-iteration", "-8"),
    ("--update-epochs", "0"),
    ("--num-minibatches", "0"),
    ("--num-minibatches", "1024", "--samples-per-iteration", "512"),
    ("--num-real", "0"),
    ("--num-modes", "0"),
    ("--num-snapshots", "0"),
    ("--num-components", "-1"),
    ("--learning-rate", "nan"),
    ("--d-learning-rate", "-1e-3"),
    ("--ring-radius", "0"),
    ("--mode-std", "inf"),
    ("--real-std", "0.5", "0"),
    ("--real-mean", "nan", "0.1"),
    ("--hidden-sizes", "0"),
    ("--seed", "-1"),
]


@pytest.mark.parametrize("flags", BAD_FLAGS, ids=lambda f: " ".join(f))
def test_bad_numeric_flag_is_one_sentence(run, tmp_path, flags):
    r = run("toy_structured_gan.py", *flags)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "expected" in last and "found" in last, r.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_default_run_fits_the_notes_gaussian(run, tmp_path):
    r = run("toy_structured_gan.py")
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    for fitted, target in zip(s["fitted_mean"], [-10.0, 0.1]):
        assert abs(fitted - target) <= 0.1, s["fitted_mean"]
    for fitted, target in zip(s["fitted_std"], [0.5, 7.0]):
        assert abs(fitted - target) <= 0.05 * target, s["fitted_std"]


@pytest.mark.slow
def test_mixture_run_covers_every_mode(run, tmp_path):
    r = run("toy_structured_gan.py", "--target", "mixture")
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path)
    assert len(s["mode_coverage"]) == 8
    assert min(s["mode_coverage"]) >= 0.05, s["mode_coverage"]
