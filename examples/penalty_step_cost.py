"""What keeping D in check costs: one DCGAN training step with each Wasserstein-family option.

A gradient penalty (WGAN-GP, DRAGAN, R1) differentiates D's input gradient again with respect to
D's weights -- a double backward through D, recorded by ``minigan.grad(..., create_graph=True)``.
This script times one ``train_step`` (a D step and a G step) of the MNIST DCGAN for each option,
alone, on random images, and prints each beside the plain step:

    python examples/penalty_step_cost.py                     # batch 128, 3 rounds of 5 steps
    python examples/penalty_step_cost.py --batch 32 --steps 2 --rounds 1

Each option gets a fresh trainer and two untimed warm-up steps; the figure is the median over
rounds of the median step. Keep the machine idle while it runs.
"""

import argparse
import time

import numpy as np

from minigan import gan

OPTIONS = {
    "base": {},
    "wgan, weights clipped": {"loss": "wasserstein", "clip": 0.01},
    "base, layer-norm D": {"d_norm": "layer"},
    "wgan-gp, layer-norm D": {"loss": "wasserstein", "gp": "wgan-gp", "d_norm": "layer"},
    "dragan": {"gp": "dragan"},
    "r1": {"gp": "r1"},
    "spectral norm": {"spectral_norm": True},
}


def step_seconds(options, real, steps):
    """Median seconds of ``steps`` train_step calls of a fresh DCGAN trainer with ``options``."""
    config = gan.TrainConfig(dataset="mnist", model="dcgan", batch_size=len(real), **options)
    trainer = gan.get_trainer_class("dcgan")(config, real.shape[1:], 10)
    for _ in range(2):
        trainer.train_step(real)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step(real)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="images per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per option and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all options (interleaved)")
    args = parser.parse_args()
    real = np.random.default_rng(0).uniform(-1, 1, (args.batch, 1, 28, 28)).astype(np.float32)
    seconds = {name: [] for name in OPTIONS}
    for _ in range(args.rounds):
        for name, options in OPTIONS.items():
            seconds[name].append(step_seconds(options, real, args.steps))
    base = np.median(seconds["base"])
    print(f"one dcgan28 training step, batch {args.batch}, median of {args.rounds} x {args.steps} steps")
    for name, values in seconds.items():
        print(f"{name:24s} {np.median(values) * 1000:8.1f} ms   {np.median(values) / base:5.2f}x base")


if __name__ == "__main__":
    main()
