"""A DCGAN on MNIST written as one plain training loop -- the example to read first.

Everything `minigan train mnist` does for a DCGAN is spelled out here, without checkpoints,
logs or resume: the generator G and the discriminator D built from layers by the rules of
Radford, Metz & Chintala (2015), their initialisation, Adam, the discriminator step and the
generator step with BCE-with-logits, and a grid of samples from fixed noise after each epoch.

    python examples/dcgan_mnist.py --limit 6400 --epochs 1    # a couple of minutes on a CPU
    python examples/dcgan_mnist.py --epochs 5                 # digits of every class
    python examples/dcgan_mnist.py --dataset synthetic --limit 128 --epochs 1   # a smoke test
"""

import argparse
import os
import time

import numpy as np

from minigan import Tensor, nn, no_grad, optim
from minigan import functional as F
from minigan.data import load_dataset
from minigan.images import save_grid

NZ = 100  # noise dimensions
BATCH = 128
LR, BETAS = 2e-4, (0.5, 0.999)  # the paper's Adam settings


def make_generator():
    """z (n, 100) -> 128x7x7 -> 64x14x14 -> 1x28x28 in [-1, 1]; BN + ReLU inside, Tanh at the end."""
    return nn.Sequential(
        nn.Linear(NZ, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7)), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1, bias=False), nn.Tanh())


def make_discriminator():
    """1x28x28 -> 64x14x14 -> 128x7x7 -> one logit; strided convolutions instead of pooling,
    LeakyReLU(0.2), no batch norm on the input layer. The sigmoid lives in the loss."""
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, stride=2, padding=1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1))


def dcgan_init(net, rng):
    """The paper's init: conv and linear weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02, rng)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, rng)
            nn.init.constant_(m.bias, 0.0)


def train_step(G, D, opt_G, opt_D, real, rng):
    """One discriminator step, then one generator step, on a batch of real images."""
    bce = F.binary_cross_entropy_with_logits
    z = Tensor(rng.standard_normal((len(real), NZ), dtype=np.float32))
    fake = G(z)

    # D step: maximise log D(x) + log(1 - D(G(z))), i.e. minimise BCE(D(x), 1) + BCE(D(G(z)), 0).
    # fake.detach() cuts the graph: this loss trains D only.
    real_logits, fake_logits = D(real), D(fake.detach())
    loss_D = bce(real_logits, 1.0) + bce(fake_logits, 0.0)
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()

    # G step, non-saturating (Goodfellow et al. 2014): maximise log D(G(z)), i.e. minimise
    # BCE(D(G(z)), 1). The gradient flows back through D into G; D's own weight gradients are
    # not needed, so D is frozen meanwhile (it saves their computation).
    D.requires_grad_(False)
    loss_G = bce(D(fake), 1.0)
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    D.requires_grad_(True)

    d_x, d_g_z = (float(F.sigmoid(y).data.mean()) for y in (real_logits, fake_logits))
    return float(loss_D.data), float(loss_G.data), d_x, d_g_z


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="passes over the data (default 5)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist", "synthetic"], default="mnist",
                        help="28x28 images to learn (synthetic: generated shapes, no files; for smoke tests)")
    parser.add_argument("--out", default="dcgan_mnist_out", help="folder for the sample grids")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    dataset = load_dataset(args.dataset, limit=args.limit)  # float32 (n, 1, 28, 28) in [-1, 1]
    print(f"{len(dataset.images)} images from {dataset.source}")
    G, D = make_generator(), make_discriminator()
    dcgan_init(G, rng)
    dcgan_init(D, rng)
    opt_G = optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_D = optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    fixed_z = Tensor(rng.standard_normal((64, NZ), dtype=np.float32))  # the same noise every epoch

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(dataset.images))
        steps = len(order) // BATCH  # the last, partial batch is dropped
        for step in range(1, steps + 1):
            real = Tensor(dataset.images[order[(step - 1) * BATCH:step * BATCH]])
            loss_D, loss_G, d_x, d_g_z = train_step(G, D, opt_G, opt_D, real, rng)
            if step % 10 == 0 or step == steps:
                print(f"epoch {epoch} step {step}/{steps}  loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  "
                      f"D(x) {d_x:.3f}  D(G(z)) {d_g_z:.3f}  ({time.perf_counter() - start:.0f} s)")
        G.eval()  # batch norm on its running statistics while sampling
        with no_grad():
            samples = G(fixed_z)
        G.train()
        path = os.path.join(args.out, f"epoch_{epoch:03d}.png")
        save_grid(samples, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
