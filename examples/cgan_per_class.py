"""A conditional GAN (Mirza & Osindero 2014) on MNIST, sampled one row per class.

Trains a CGAN with minigan's trainer -- or loads a trained run -- and asks its generator for
each digit in turn: row k shows class k, and column j uses the same noise z_j in every row, so
a column keeps one "handwriting" (thickness, slant) across the ten classes while the label
alone picks the digit.

    python examples/cgan_per_class.py --epochs 1 --limit 6400          # train briefly, then sample
    python examples/cgan_per_class.py --checkpoint runs/mnist-cgan-...  # sample a trained run
"""

import argparse
import os

import numpy as np

from minigan import gan
from minigan.gan import checkpoint
from minigan.images import save_rows


def load_or_train(args):
    """A trained CGAN trainer: the checkpoint's, or a new run's in <out>/run."""
    if args.checkpoint:
        trainer = checkpoint.build_trainer(args.checkpoint)  # a run folder or a .npz
        if not trainer.conditional:
            raise SystemExit(f"{args.checkpoint} holds a {trainer.name} model; this example needs a cgan one.")
        return trainer
    config = gan.TrainConfig(dataset=args.dataset, model="cgan", arch=args.arch, epochs=args.epochs,
                             limit=args.limit, seed=args.seed, run_dir=os.path.join(args.out, "run"))
    return gan.train(config)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a cgan run folder or checkpoint .npz to sample instead of training")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist", "synthetic"], default="mnist",
                        help="what to train on (synthetic: generated shapes, no files; for smoke tests)")
    parser.add_argument("--arch", choices=["mlp", "conv"], default=None, help="mlp (the paper's, default) or conv")
    parser.add_argument("--per-class", type=int, default=10, help="images per class (columns)")
    parser.add_argument("--out", default="cgan_per_class_out", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    trainer = load_or_train(args)
    rng = np.random.default_rng(args.seed)
    z = trainer.draw_noise(args.per_class, rng)  # one noise vector per column, shared by all rows
    rows = []
    for k in range(trainer.num_classes):
        labels = np.full(args.per_class, k, dtype=np.int64)
        rows.append(trainer.sample(z=z, labels=labels))  # (per_class, c, h, w) in [-1, 1]
    path = os.path.join(args.out, "per_class.png")
    save_rows(rows, path, row_labels=[str(k) for k in range(trainer.num_classes)], scale=2)
    print(f"wrote {path}: row k shows class k, each column one noise vector")


if __name__ == "__main__":
    main()
