"""`minigan sample` and `minigan interpolate`: images from a trained generator."""

import click

from minigan.cli.decorators import device_option, friendly_errors, seed_option


@click.command()
@click.argument("ckpt", type=click.Path())
@click.option("--n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option("--out", default="samples.png", show_default=True,
              help="A .png grid, or an .npz holding images (N, C, H, W) in [-1, 1] (and labels).")
@click.option("--label", type=int, default=None, help="Conditional models: the class of every image.")
@seed_option("Seeds the noise.")
@device_option
@friendly_errors
def sample(ckpt, n, out, label, seed, device):
    """Draw images from a trained generator (CKPT: a run folder or a checkpoint .npz).

    \b
    Examples:
      minigan sample runs/mnist-dcgan-20250101-120000 --n 64 --out grid.png
      minigan sample runs/mnist-cgan-20250101-120000 --label 7 --n 16 --out sevens.png
      minigan sample runs/mnist-dcgan-20250101-120000/checkpoints/epoch_003.npz --n 1000 --out samples.npz
    """
    from minigan import sampling

    x, labels = sampling.sample(ckpt, n, out, label, device, seed)
    what = "" if labels is None else f", labels {sorted(set(labels.tolist()))}"
    kind = "points in 2-D" if x.ndim == 2 else f"images of {'x'.join(map(str, x.shape[1:]))}"
    click.echo(f"wrote {out}: {len(x)} {kind}{what}")


@click.command()
@click.argument("ckpt", type=click.Path())
@click.option("--out", default="walk.png", show_default=True, help="A .png grid (one walk per row) or an .npz.")
@click.option("--steps", type=int, default=10, show_default=True, help="Images per walk, both ends included.")
@click.option("--rows", type=int, default=8, show_default=True, help="Number of walks.")
@click.option("--mode", type=click.Choice(["lerp", "slerp"]), default="lerp", show_default=True,
              help="Straight line (lerp) or great circle (slerp) between the two noise vectors.")
@click.option("--label", type=int, default=None, help="Conditional models: the class of every walk.")
@seed_option("Seeds the walks' end points.")
@device_option
@friendly_errors
def interpolate(ckpt, out, steps, rows, mode, label, seed, device):
    """Walk the latent space between random noise vectors (CKPT: a run folder or .npz).

    \b
    Examples:
      minigan interpolate runs/mnist-dcgan-20250101-120000 --out walk.png
      minigan interpolate runs/mnist-dcgan-20250101-120000 --mode slerp --steps 12 --rows 6
      minigan interpolate runs/mnist-cgan-20250101-120000 --label 3 --out threes.png
    """
    from minigan import sampling

    sampling.interpolate(ckpt, out, steps, rows, mode, label, device, seed)
    click.echo(f"wrote {out}: {rows} walks of {steps} images ({mode})")
