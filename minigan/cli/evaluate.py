"""`minigan eval`, `minigan judge` and `minigan inspect`: how good a generator is, and what is inside it."""

import click

from minigan.cli.decorators import device_option, friendly_errors, seed_option


@click.command("judge")
@click.argument("dataset", type=click.Choice(["mnist", "fashion-mnist", "synthetic"]))
@click.option("--epochs", type=int, default=None,
              help="Passes over the train split (default: 3 for mnist, 5 for fashion-mnist, 30 for synthetic).")
@seed_option("Seeds the weights, data order, shifts and dropout.")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to save it (default: $MINIGAN_CACHE/judges or ~/.cache/minigan/judges/DATASET.npz, "
                   "where `minigan eval` looks).")
@friendly_errors
def judge_command(dataset, epochs, seed, data_dir, out):
    """Train the classifier that `minigan eval` scores samples with (once per dataset).

    A small LeNet-style network trained by minigan itself with Adam on the train split and
    tested on the 10k test images (MNIST >= 99%, Fashion-MNIST >= 90%). `minigan eval` trains
    it on first use; run this to train it ahead of time or again. It trains on the CPU
    (NumPy + Numba), a few minutes for MNIST.

    \b
    Examples:
      minigan judge mnist
      minigan judge fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
    """
    from minigan import judge

    path = out or judge.judge_path(dataset)
    judge.train_judge(dataset, epochs, seed, path, data_dir=data_dir, progress=True, echo=click.echo)
    click.echo(f"saved {path}")


@click.command("eval")
@click.argument("target", type=click.Path())
@click.option("--dataset", default=None,
              help="Whose judge and test images (default: the checkpoint's dataset; mnist for a samples file).")
@click.option("--num", "n", type=int, default=None,
              help="Samples drawn from a checkpoint (default 10000; 2500 for ring and grid, 26000 for stacked-mnist).")
@seed_option("Seeds the samples and the real reference images.")
@click.option("--reference/--no-reference", default=True, show_default=True,
              help="Also score as many real train images (the 'real data' column).")
@click.option("--probe", is_flag=True,
              help="Also fit a linear classifier on D's features with 100 and 1000 labels (DCGAN Sec. 5).")
@click.option("--pool", type=int, default=None, help="--probe: max-pool D's feature map to a POOL x POOL grid first.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every figure as JSON to this file ('-': print JSON instead of the table).")
@click.option("--stage", type=click.IntRange(1, 2), default=None,
              help="StackGAN runs: score stage I's images (enlarged to the full size, 2x2 blocks) or stage II's "
                   "(default: the run's last stage).")
@click.option("--as-trained", is_flag=True,
              help="Sample G with its weights as trained, not the moving average a run with --ema keeps "
                   "(which G samples with by default).")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@device_option
@friendly_errors
def eval_command(target, dataset, n, seed, reference, probe, pool, json_path, stage, as_trained, data_dir, device):
    """Score a generator: FID, Inception-style and DeLiGAN scores, classes, 1-NN; for a run on data of
    known modes (ring, grid, stacked-mnist): modes covered, high-quality share and KL to uniform.

    TARGET is a run folder, a checkpoint .npz, or a samples .npz with `images` (n, c, h, w),
    float in [-1, 1] or uint8 in [0, 255], and optional `labels`. Every metric uses the
    dataset's judge (see `minigan judge`); the same metrics on as many real train images are
    printed beside them as the reference. The samples are checked before the judge is loaded
    (or trained).

    \b
    Examples:
      minigan eval runs/mnist-dcgan-20250101-120000
      minigan eval samples.npz --dataset mnist --json scores.json
      minigan eval runs/mnist-dcgan-20250101-120000 --probe
      minigan eval runs/ring-gan-20250101-120000          # modes covered, high-quality share, KL
      minigan eval runs/mnist-stackgan-20250101-120000 --stage 1   # StackGAN's stage I alone
      minigan eval runs/ring-gan-20250101-120000 --as-trained      # G's weights, not its --ema average
    """
    from minigan import evaluate

    report = evaluate.eval_report(target, dataset, n, seed, reference, probe, pool, data_dir, device, click.echo,
                                  json_path, stage, as_trained)
    if json_path == "-":
        click.echo(evaluate.write_json(report, "-"), nl=False)
        return
    click.echo(evaluate.format_report(report))
    if json_path:
        click.echo(f"wrote {json_path}")


@click.command("inspect")
@click.argument("target")
@click.option("--dataset", default="mnist", show_default=True,
              help="Model names only: the data the model is built for; also --step's batch.")
@click.option("--image-size", type=int, default=None, help="Model names only: image side (default 28).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Model names only: 1 or 3 (default 1).")
@click.option("--step", "step", is_flag=True,
              help="Run one training step: per-layer forward/backward time, activations, dead ReLUs, gradient norms.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Images in that step.")
@click.option("--graph", type=click.Path(dir_okay=False), default=None,
              help="Write the step's autograd graph in Graphviz DOT to this file (runs the step).")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@device_option
@friendly_errors
def inspect_command(target, dataset, image_size, channels, step, batch_size, graph, data_dir, device):
    """Look inside a model (TARGET: gan, dcgan, cgan, lapgan, or a run folder / checkpoint .npz).

    Prints each network's layers with output shapes, parameters and FLOPs per image.

    \b
    Examples:
      minigan inspect dcgan
      minigan inspect dcgan --image-size 64 --step
      minigan inspect runs/mnist-dcgan-20250101-120000 --step --graph step.dot
    """
    from minigan import inspect

    click.echo(inspect.inspect_report(target, dataset, image_size, channels and int(channels), step, batch_size,
                                      graph, data_dir, device))
