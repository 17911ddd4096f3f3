"""StackGAN (Zhang et al. 2017) in two runs: stage I first, then stage II on the frozen stage I.

Stage I learns to draw 14x14 digits of a given class; stage II reads those coarse digits (and the
class again) and learns to draw 28x28 ones. Here the stages are trained one after the other, as in
the paper: the second run copies the first run's stage-I generator and never changes it. The
script then writes one picture, one row per class, each stage-I digit (drawn in 2x2 blocks) beside
the stage-II digit made from it:

    <out>/stages.png

    python examples/stackgan_two_stages.py --epochs 5               # MNIST, both runs 5 epochs
    python examples/stackgan_two_stages.py --dataset synthetic --limit 128 --epochs 1   # a smoke test
"""

import argparse
import os

from minigan import gan, images


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of each stage (default 5)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist", "synthetic"], default="mnist",
                        help="what to train on (synthetic: generated shapes, no files; for smoke tests)")
    parser.add_argument("--kl-weight", type=float, default=1.0, help="weight of the KL term (the paper's 1)")
    parser.add_argument("--out", default="stackgan_out", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    common = {"dataset": args.dataset, "model": "stackgan", "epochs": args.epochs, "limit": args.limit,
              "seed": args.seed, "kl_weight": args.kl_weight, "image_size": 28}
    stage1_dir = os.path.join(args.out, "stage1")
    gan.train(gan.TrainConfig(stage="1", run_dir=stage1_dir, **common))
    trainer = gan.train(gan.TrainConfig(stage="2", stage1=stage1_dir, run_dir=os.path.join(args.out, "stage2"),
                                        **common))

    x, per_row = trainer.sample_grid()  # per class: stage I (enlarged), stage II, for each of the fixed latents
    path = os.path.join(args.out, "stages.png")
    images.save_grid(x, path, nrow=per_row)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
