"""Vector arithmetic on averaged latents, the DCGAN paper's Sec. 6.3.2 demo, on digits.

Radford, Metz & Chintala (2015) show that "smiling woman" - "neutral woman" + "neutral man"
gives a smiling man, once each concept is the AVERAGE of the z vectors of three samples (single
vectors are unstable). Digits have no smiles; they have stroke weight. This script draws many
samples, lets the judge name their digits, measures their ink (mean brightness), and computes

    z = mean z(bold A) - mean z(thin A) + mean z(thin B)          ->  G(z) should be a bold B

then, as in the paper, shows G(z) and G(z + u) for uniform noise u in [-0.25, 0.25].

    python examples/latent_arithmetic.py runs/mnist-dcgan-.../checkpoints/last.npz --from-digit 7 --to-digit 1

Only the public API is used: a checkpoint's Trainer, the judge, and the PNG writer.
"""

import argparse
import sys

import numpy as np

from minigan import images, judge
from minigan.errors import MiniganError
from minigan.gan import checkpoint


def ink(x):
    """Mean brightness of each image in [0, 1]: a bolder stroke lights more pixels."""
    return ((x + 1) / 2).reshape(len(x), -1).mean(axis=1)


def exemplars(x, digits, confidence, digit, bold, k, min_confidence=0.9):
    """Rows of the k boldest (or thinnest) samples the judge is sure show ``digit``."""
    sure = np.flatnonzero((digits == digit) & (confidence > min_confidence))
    if len(sure) < 2 * k:
        raise MiniganError(f"only {len(sure)} confident samples of {digit}; draw more with --pool "
                           "(or lower --confidence).")
    order = sure[np.argsort(ink(x[sure]))]
    return order[-k:] if bold else order[:k]


def arithmetic(trainer, digit_a, digit_b, k=3, pool=2000, seed=0, noise=0.25, variants=7, min_confidence=0.9):
    """The concept rows and the result row of bold A - thin A + thin B.

    Returns:
        (rows of images, row captions, result images).
    """
    rng = np.random.default_rng(seed)
    z = trainer.draw_noise(pool, rng)
    x = trainer.sample(z=z)
    j = judge.load_judge(trainer.config.dataset)
    _, log_p = j.outputs(x)
    digits, confidence = log_p.argmax(axis=1), np.exp(log_p.max(axis=1))
    groups = {"bold A": (digit_a, True), "thin A": (digit_a, False), "thin B": (digit_b, False)}
    rows, captions, means = [], [], {}
    for name, (digit, bold) in groups.items():
        picked = exemplars(x, digits, confidence, digit, bold, k, min_confidence)
        means[name] = z[picked].mean(axis=0)
        rows.append(np.concatenate([x[picked], trainer.sample(z=means[name][None])]))
        captions.append(f"{'bold' if bold else 'thin'} {digit}")
    target = means["bold A"] - means["thin A"] + means["thin B"]
    jitter = rng.uniform(-noise, noise, size=(variants, len(target))).astype(np.float32)
    result = trainer.sample(z=np.concatenate([target[None], target[None] + jitter]))
    rows.append(result)
    captions.append(f"= bold {digit_b}?")
    return rows, captions, result, j


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a run folder or checkpoint .npz of an unconditional model")
    parser.add_argument("--from-digit", type=int, default=7, help="A: the digit whose bold/thin contrast is taken")
    parser.add_argument("--to-digit", type=int, default=1, help="B: the digit the contrast is added to")
    parser.add_argument("--exemplars", type=int, default=3, help="samples averaged per concept (the paper: 3)")
    parser.add_argument("--pool", type=int, default=2000, help="samples drawn to find the exemplars")
    parser.add_argument("--confidence", type=float, default=0.9,
                        help="the judge's least probability for an exemplar's digit (default 0.9)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="latent_arithmetic.png")
    args = parser.parse_args(argv)
    try:
        trainer = checkpoint.build_trainer(args.checkpoint)
        if trainer.conditional:
            raise MiniganError("vector arithmetic on z needs an unconditional model (gan, dcgan), not cgan.")
        rows, captions, result, j = arithmetic(trainer, args.from_digit, args.to_digit, args.exemplars,
                                               args.pool, args.seed, min_confidence=args.confidence)
    except MiniganError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    images.save_rows(rows, args.out, row_labels=captions, scale=2)
    _, log_p = j.outputs(result)
    share = np.mean(log_p.argmax(axis=1) == args.to_digit)
    print(f"wrote {args.out}: rows {', '.join(captions)} (exemplars, then G(mean z)).")
    print(f"result: {share:.0%} judged as {args.to_digit}; ink {ink(result).mean():.3f} vs thin "
          f"{args.to_digit} {ink(rows[2][:-1]).mean():.3f} and bold {args.from_digit} {ink(rows[0][:-1]).mean():.3f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
