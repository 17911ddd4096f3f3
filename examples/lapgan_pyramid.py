"""LAPGAN (Denton et al. 2015): the Laplacian pyramid of a real digit and of a generated one.

A LAPGAN makes a 28x28 digit in three steps: a 7x7 image from noise, then for 14x14 and 28x28
a band of detail, generated from noise and the upsampled coarser image, added on top of it.
This script trains one briefly (or loads a trained run), splits real test digits into the same
pyramid, and writes both pictures, one row per step:

    7x7 image | 14x14 band | 14x14 image | 28x28 band | 28x28 image

Bands are signed and small; each row is stretched to its own range so they show.

    python examples/lapgan_pyramid.py --epochs 1 --limit 6400            # train briefly, then draw
    python examples/lapgan_pyramid.py --checkpoint runs/mnist-lapgan-...  # draw a trained run
"""

import argparse
import os

import numpy as np

from minigan import gan
from minigan.data import load_dataset
from minigan.gan import checkpoint, lapgan


def load_or_train(args):
    """A trained LAPGAN trainer: the checkpoint's, or a new run's in <out>/run."""
    if args.checkpoint:
        trainer = checkpoint.build_trainer(args.checkpoint)
        if trainer.name != "lapgan":
            raise SystemExit(f"{args.checkpoint} holds a {trainer.name} model; this example needs a lapgan one.")
        return trainer
    config = gan.TrainConfig(dataset=args.dataset, model="lapgan", epochs=args.epochs, limit=args.limit,
                             seed=args.seed, run_dir=os.path.join(args.out, "run"))
    return gan.train(config)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a lapgan run folder or checkpoint .npz to draw instead of training")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist", "synthetic"], default="mnist",
                        help="what to train on (synthetic: generated shapes, no files; for smoke tests)")
    parser.add_argument("--n", type=int, default=8, help="digits per picture")
    parser.add_argument("--out", default="lapgan_pyramid_out", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    trainer = load_or_train(args)
    cfg, (c, size, _) = trainer.config, trainer.image_shape
    split = "train" if cfg.dataset == "folder" else "test"  # an image folder has one split only
    real = load_dataset(cfg.dataset, data_dir=cfg.data_dir, image_size=size, channels=c, split=split,
                        limit=args.n).images
    real_images, real_bands = lapgan.laplacian_pyramid(real, len(trainer.sizes))
    fake_images, fake_bands = trainer.sample_pyramid(args.n, rng=np.random.default_rng(args.seed))

    for name, pyr_images, bands in (("real", real_images, real_bands), ("generated", fake_images, fake_bands)):
        path = os.path.join(args.out, f"{name}_pyramid.png")
        lapgan.pyramid_image(pyr_images, bands, path, label=name)
        print(f"wrote {path}")
    print("band spread (std) per level -- the generator should match the data's:")
    for s, h_real, h_fake in zip(trainer.sizes[1:], real_bands, fake_bands):
        print(f"  {s}x{s} band: real {float(h_real.data.std()):.3f}  generated {float(np.std(h_fake)):.3f}")


if __name__ == "__main__":
    main()
