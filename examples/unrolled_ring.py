"""The unrolled GAN (Metz et al. 2016) on the ring of 8 Gaussians, written as a plain training loop.

G is trained against where D is going: its loss is D's verdict after K more SGD steps of D on the
same batch, and G's gradient runs back through those steps -- gradients of gradients, recorded by
``minigan.grad(..., create_graph=True)``. The loop spells out what ``minigan train ring --unroll K``
does inside (minigan/gan/unrolled.py, which also unrolls Adam), with the paper's tanh MLPs:

    python examples/unrolled_ring.py                     # K = 5, 3000 steps, a scatter every 500
    python examples/unrolled_ring.py --unroll 0          # the plain GAN, for comparison

Writes OUT/step_NNNNN.png (samples over the 8 modes) and prints the modes covered and the share of
high-quality samples (within 3 std of a mode) at each picture.
"""

import argparse
import os

import numpy as np

import minigan
from minigan import data, images, nn, optim
from minigan import functional as F
from minigan.data import modes
from minigan.evaluate.modes import point_report
from minigan.gan.unrolled import parameters_replaced


def mlp(n_in, n_out, rng, hidden=128):
    return nn.Sequential(nn.Linear(n_in, hidden, rng=rng), nn.Tanh(), nn.Linear(hidden, hidden, rng=rng), nn.Tanh(),
                         nn.Linear(hidden, n_out, rng=rng))


def d_loss(D, real, fake):
    """BCE of D on real (target 1) and fake (target 0) points."""
    real_logits, fake_logits = D(real), D(fake)
    ones = minigan.Tensor(np.ones(real_logits.shape, np.float32))
    zeros = minigan.Tensor(np.zeros(fake_logits.shape, np.float32))
    return F.binary_cross_entropy_with_logits(real_logits, ones) + F.binary_cross_entropy_with_logits(fake_logits, zeros)


def unrolled_g_loss(G, D, real, z, k, lr):
    """-log D_K(G(z)) with D_K = D after k SGD steps on this batch, each step differentiable."""
    fake = G(z)
    theta = [minigan.Tensor(p.data, requires_grad=True) for p in D.parameters()]
    for _ in range(k):
        with parameters_replaced(D, theta):
            loss = d_loss(D, real, fake)  # fake is not detached: D's step depends on G
        grads = minigan.grad(loss, theta, create_graph=True)
        theta = [t - g * lr for t, g in zip(theta, grads)]
    with parameters_replaced(D, theta):
        fake_logits = D(fake)
    return F.binary_cross_entropy_with_logits(fake_logits, minigan.Tensor(np.ones(fake_logits.shape, np.float32)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unroll", type=int, default=5, help="K, D's unrolled steps (0: the plain GAN)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps")
    parser.add_argument("--every", type=int, default=500, help="steps between pictures")
    parser.add_argument("--batch", type=int, default=256, help="points per step")
    parser.add_argument("--nz", type=int, default=64, help="noise dimensions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="unrolled_ring", help="folder for the pictures")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    points = data.load_dataset("ring").images
    G, D = mlp(args.nz, 2, rng), mlp(2, 1, rng)
    d_lr = 0.05  # plain SGD for D, so the unrolled steps are the optimizer's own rule
    opt_g, opt_d = optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999)), optim.SGD(D.parameters(), lr=d_lr)
    fixed_z = rng.standard_normal((1000, args.nz), dtype=np.float32)
    os.makedirs(args.out, exist_ok=True)
    for step in range(1, args.steps + 1):
        real = minigan.Tensor(points[rng.integers(0, len(points), args.batch)])
        z = minigan.Tensor(rng.standard_normal((args.batch, args.nz), dtype=np.float32))
        # G step against D unrolled from its current weights (the real D step below is the first of them)
        opt_g.zero_grad()
        unrolled_g_loss(G, D, real, z, args.unroll, d_lr).backward()
        opt_g.step()
        # D step: plain SGD on the same batch
        with minigan.no_grad():
            fake = G(z)
        opt_d.zero_grad()
        d_loss(D, real, fake).backward()
        opt_d.step()
        if step % args.every == 0 or step == args.steps:
            with minigan.no_grad():
                samples = G(minigan.Tensor(fixed_z)).numpy()
            rep = point_report(samples, "ring")
            path = os.path.join(args.out, f"step_{step:05d}.png")
            images.save_scatter(samples, modes.mode_centres("ring"), path, title=f"K={args.unroll}, step {step}",
                                std=modes.STD["ring"])
            print(f"step {step}: {rep['modes_covered']} of 8 modes, {rep['high_quality']:.1%} high quality")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
