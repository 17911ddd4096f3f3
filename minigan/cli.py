"""Floor 8: the `minigan` command. Options map 1:1 to library arguments; no logic of its own.

A MiniganError (a user mistake) is printed as one sentence on stderr, without a
traceback, and the command exits with status 2.
"""

import functools
import os
import sys

import click
from click.core import ParameterSource

from minigan import __version__
from minigan import ablate as ablation
from minigan.errors import MiniganError
from minigan.gan.base import DEFAULT_EPOCHS
from minigan.gan.losses import LOSSES as LOSS_NAMES


def friendly_errors(fn):
    """Turn MiniganError into one clear line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MiniganError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper


def device_option(fn):
    return click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
                        help="Where the arrays live: cpu (NumPy + Numba) or gpu (CuPy + CUDA kernels).")(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="minigan")
def main():
    """minigan: a GAN engine written from scratch.

    \b
    Start here:
      minigan train mnist            train a DCGAN on MNIST with sensible defaults
      minigan gradcheck              watch every op's gradient being checked
      minigan bench --against torch  time a DCGAN step beside PyTorch
      minigan ablate                 compare the GAN training techniques on MNIST
    """


@main.command()
@click.option("--op", "names", multiple=True, help="Check only this op or layer (repeatable).")
@click.option("--seed", default=0, show_default=True, help="Seed for inputs and upstream gradients.")
@friendly_errors
def gradcheck(names, seed):
    """Check every op's and layer's backward against float64 finite differences.

    Prints one row per check: shapes, max abs error, max relative error, pass/fail.
    Exits with status 1 when any check fails.

    \b
    Examples:
      minigan gradcheck
      minigan gradcheck --op conv2d\\ s2\\ p1 --op nn.BatchNorm2d
    """
    from minigan import gradcheck_cases

    unknown = [n for n in names if n not in gradcheck_cases.CASES]
    if unknown:
        raise MiniganError(f"unknown check {unknown[0]!r}; run `minigan gradcheck` to list them all.")
    results = gradcheck_cases.run_all(seed, names or None)
    width = max(len(r.name) for r in results)
    click.echo(f"{'op / layer':<{width}}  {'input shapes':<28} {'max abs err':>11} {'max rel err':>11}  result")
    for r in results:
        verdict = click.style("pass", fg="green") if r.ok else click.style("FAIL", fg="red", bold=True)
        click.echo(f"{r.name:<{width}}  {r.shapes:<28} {r.max_abs:11.2e} {r.max_rel:11.2e}  {verdict}")
    failed = sum(not r.ok for r in results)
    click.echo(f"\n{len(results) - failed}/{len(results)} checks passed (float64 central differences).")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--model", "models", multiple=True, type=click.Choice(["dcgan28", "dcgan64"]),
              help="Benchmark model (repeatable; default: dcgan28).")
@click.option("--batch", type=int, default=None, help="Batch size (default: 128 for dcgan28, 64 for dcgan64).")
@click.option("--steps", type=int, default=10, show_default=True, help="Timed training steps per side.")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed steps first.")
@click.option("--against", type=click.Choice(["none", "torch"]), default="none", show_default=True,
              help="Also time the identical PyTorch model in the same run, alternating, and print the ratio.")
@click.option("--threads", type=int, default=0, help="CPU threads for both sides (0: leave as is).")
@click.option("--per-layer/--no-per-layer", default=True, show_default=True,
              help="Time each layer's forward and backward.")
@click.option("--tf32/--no-tf32", default=False, show_default=True,
              help="GPU only: let the peer's (and our) GEMMs use TF32 instead of strict FP32.")
@click.option("--memory/--no-memory", default=True, show_default=True,
              help="Measure peak memory (RSS; GPU pool bytes), each side in its own process.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also save every figure to this JSON file.")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
              help="wall: elapsed time. cpu: the process's CPU seconds, steadier on a busy machine "
                   "(exact with --threads 1; with more threads it counts spin-waiting too).")
@device_option
@friendly_errors
def bench(models, batch, steps, warmup, against, threads, per_layer, tf32, memory, json_path, clock, device):
    """Time full DCGAN training steps (D step, G step, Adam on both).

    Prints ms/step, images/s, each layer's forward and backward time and peak
    memory; with --against torch the identical PyTorch model runs in the same
    process, alternating with minigan, and the ratio minigan/PyTorch is printed
    (below 1.0 means minigan is faster). Peak memory is measured with each side
    in a process of its own.

    \b
    Examples:
      minigan bench
      minigan bench --against torch --threads 2
      minigan bench --model dcgan64 --against torch --threads 2 --steps 3
      minigan bench --against torch --threads 1 --clock cpu     (a busy machine)
      minigan bench --device gpu --against torch --tf32 --json gpu.json
    """
    from minigan import bench as bench_module

    bench_module.run(models or ("dcgan28",), batch, steps, warmup, against, threads, per_layer, tf32, device,
                     memory, json_path, click.echo, clock)



# -- train, sample, interpolate ----------------------------------------------------------------
TRAIN_DATASETS = ("mnist", "fashion-mnist", "folder", "synthetic")
TRAIN_MODELS = ("gan", "dcgan", "cgan", "lapgan")


@main.command(context_settings={"max_content_width": 110})
@click.argument("dataset", metavar="DATASET")
@click.argument("path", required=False, type=click.Path())
@click.option("--model", default="dcgan", show_default=True, metavar="|".join(TRAIN_MODELS),
              help="Which GAN: gan (Goodfellow 2014, MLPs), dcgan (Radford 2015), cgan (Mirza 2014), lapgan.")
@click.option("--arch", type=click.Choice(["mlp", "conv"]), default=None,
              help="cgan only: mlp (the paper's, default) or conv (DCGAN networks, labels as planes).")
@click.option("--epochs", type=int, default=DEFAULT_EPOCHS, show_default=True,
              help="Total passes over the data; with --resume, the total including those already done.")
@click.option("--batch-size", type=int, default=128, show_default=True, help="Images per step.")
@click.option("--nz", type=int, default=100, show_default=True, help="Noise dimensions.")
@click.option("--lr", type=float, default=2e-4, show_default=True, help="Adam learning rate of G and D.")
@click.option("--lr-g", type=float, default=None, help="G's learning rate (default: --lr).")
@click.option("--lr-d", type=float, default=None, help="D's learning rate (default: --lr).")
@click.option("--beta1", type=float, default=0.5, show_default=True, help="Adam beta1.")
@click.option("--beta2", type=float, default=0.999, show_default=True, help="Adam beta2.")
@click.option("--d-steps", type=int, default=1, show_default=True, help="D steps per G step (k in Algorithm 1).")
@click.option("--loss", type=click.Choice(list(LOSS_NAMES)), default="non-saturating", show_default=True,
              help="The GAN objective: non-saturating (-log D(G(z))), minimax (the 2014 game), least-squares "
                   "(LSGAN), hinge, relativistic (RSGAN), relativistic-average (RaSGAN) or turing (T-GAN: a pairwise "
                   "discriminator on D's encoded features); "
                   "equations in minigan/gan/losses.py.")
@click.option("--label-smoothing", type=float, default=0.0, show_default=True, metavar="A",
              help="One-sided label smoothing (Salimans et al. 2016): D's target on real images is 1 - A "
                   "(0.1: 0.9), on fakes still 0. BCE losses only (non-saturating, minimax); 0: off.")
@click.option("--instance-noise", type=float, default=0.0, show_default=True, metavar="S",
              help="Instance noise (Sonderby et al. 2016): Gaussian noise of std sigma added to real and fake "
                   "images whenever D sees them (D and G steps), sigma annealed linearly from S to 0 over "
                   "the run's steps; 0: off.")
@click.option("--feature-matching", is_flag=True, default=False,
              help="Feature matching (Salimans et al. 2016): G minimises ||mean f(x) - mean f(G(z))||^2 (per "
                   "feature) over the features f of D's last hidden layer instead of its --loss G loss.")
@click.option("--minibatch-discrimination", type=int, default=0, show_default=True, metavar="B",
              help="Minibatch discrimination (Salimans et al. 2016): D's head also sees each image's L1-kernel "
                   "similarity to the rest of its batch, through B kernels (100: the paper's); 0: off.")
@click.option("--vbn", is_flag=True, default=False,
              help="Virtual batch norm in G (Salimans et al. 2016): each example normalised with the statistics "
                   "of a fixed reference batch plus itself, not of its own batch.")
@click.option("--historical-averaging", type=float, default=0.0, show_default=True, metavar="L",
              help="Historical averaging (Salimans et al. 2016): adds L ||theta - mean of past thetas||^2 to "
                   "G's and D's losses; 0: off.")
@click.option("--replay", type=int, default=0, show_default=True, metavar="N",
              help="Replay buffer (Shrivastava et al. 2017): keep N earlier fakes; once full, half of each fake "
                   "batch D sees comes from it; 0: off.")
@click.option("--latent", type=click.Choice(["gaussian", "mixture"]), default="gaussian", show_default=True,
              help="z ~ N(0, I), or DeLiGAN's (Gurumurthy et al. 2017) learned mixture of --components Gaussians "
                   "(learned means and scales, reparameterised sampling), meant for little data.")
@click.option("--components", type=int, default=10, show_default=True, metavar="K",
              help="--latent mixture: the number of Gaussians.")
@click.option("--mixture-reg", type=float, default=1 / 3, show_default="1/3", metavar="L",
              help="--latent mixture: weight of the scale penalty mean((1 - sigma)^2) in G's loss "
                   "(1/3 as DeLiGAN's MNIST code).")
@click.option("--image-size", type=int, default=None,
              help="Resize images to this side (default: the data's own; 64 for a folder).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="1 (gray) or 3 (RGB); default: the data's.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds init, data order, noise and dropout.")
@click.option("--data-dir", type=click.Path(), default=None,
              help="Where the MNIST/Fashion-MNIST files are (default: $MINIGAN_DATA or ~/.cache/minigan).")
@click.option("--limit", type=int, default=None, help="Train on the first N images only (quick tries, smoke tests).")
@click.option("--limit-per-class", type=int, default=None, metavar="N",
              help="Train on the first N images of each class only (little data, e.g. DeLiGAN's 50 per class).")
@click.option("--out", "--run-dir", "run_dir", type=click.Path(), default=None,
              help="Run folder (default: runs/<dataset>-<model>-<time>); never overwritten.")
@click.option("--resume", type=click.Path(), default=None,
              help="Continue a run exactly: its folder or a checkpoint .npz.")
@click.option("--log-every", type=int, default=50, show_default=True, help="Steps between log lines.")
@click.option("--checkpoint-every", type=int, default=0, show_default=True,
              help="Steps between mid-epoch checkpoints (0: at each epoch's end only).")
@click.option("--keep", type=int, default=5, show_default=True, help="Epoch checkpoints kept (0: all).")
@click.option("--sample-every", type=int, default=1, show_default=True, help="Epochs between sample grids.")
@device_option
@friendly_errors
def train(dataset, path, resume, **options):
    """Train a GAN on DATASET: mnist, fashion-mnist, folder PATH or synthetic.

    Prints the run folder first, then a progress bar and every --log-every steps
    loss_D, loss_G, D(x) and D(G(z)). Each epoch writes a sample grid from fixed
    noise (samples/epoch_NNN.png), the loss curve (loss.png), metrics.jsonl and a
    checkpoint. Ctrl-C saves a checkpoint and stops; --resume continues exactly.

    \b
    Examples:
      minigan train mnist                                  # DCGAN, 5 epochs, CPU
      minigan train mnist --model cgan --epochs 20
      minigan train fashion-mnist --model dcgan --image-size 32
      minigan train folder ./faces --image-size 64 --channels 3
      minigan train synthetic --epochs 1 --limit 256       # a smoke test, no files needed
      minigan train mnist --resume runs/mnist-dcgan-20250101-120000 --epochs 10
    """
    from minigan import gan

    options["channels"] = None if options["channels"] is None else int(options["channels"])
    if path is not None:
        if options["data_dir"] is not None and options["data_dir"] != path:
            raise MiniganError(f"give the data folder once: PATH {path} or --data-dir {options['data_dir']}.")
        options["data_dir"] = path
    if dataset == "folder" and options["data_dir"] is None:
        raise MiniganError("`minigan train folder` needs the image folder: minigan train folder PATH.")
    if resume is None:
        gan.train(gan.TrainConfig(dataset=dataset, **options), echo=click.echo)
        return
    ctx = click.get_current_context()
    given = {k: v for k, v in options.items()
             if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    if path is not None:
        given["data_dir"] = path
    gan.resume(resume, echo=click.echo, dataset=dataset, **given)


@main.command()
@click.argument("ckpt", type=click.Path())
@click.option("--n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option("--out", default="samples.png", show_default=True,
              help="A .png grid, or an .npz holding images (N, C, H, W) in [-1, 1] (and labels).")
@click.option("--label", type=int, default=None, help="Conditional models: the class of every image.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the noise.")
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
    click.echo(f"wrote {out}: {len(x)} images of {'x'.join(map(str, x.shape[1:]))}{what}")


@main.command()
@click.argument("ckpt", type=click.Path())
@click.option("--out", default="walk.png", show_default=True, help="A .png grid (one walk per row) or an .npz.")
@click.option("--steps", type=int, default=10, show_default=True, help="Images per walk, both ends included.")
@click.option("--rows", type=int, default=8, show_default=True, help="Number of walks.")
@click.option("--mode", type=click.Choice(["lerp", "slerp"]), default="lerp", show_default=True,
              help="Straight line (lerp) or great circle (slerp) between the two noise vectors.")
@click.option("--label", type=int, default=None, help="Conditional models: the class of every walk.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the walks' end points.")
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

@main.command("judge")
@click.argument("dataset", type=click.Choice(["mnist", "fashion-mnist", "synthetic"]))
@click.option("--epochs", type=int, default=None,
              help="Passes over the train split (default: 3 for mnist, 5 for fashion-mnist, 30 for synthetic).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the weights, data order, shifts and dropout.")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to save it (default: $MINIGAN_CACHE/judges or ~/.cache/minigan/judges/DATASET.npz, "
                   "where `minigan eval` looks).")
@friendly_errors
def judge_command(dataset, epochs, seed, data_dir, out):
    """Train the classifier that `minigan eval` scores samples with (once per dataset).

    A small LeNet-style network trained by minigan itself with Adam on the train split and
    tested on the 10k test images (MNIST >= 99%, Fashion-MNIST >= 90%). `minigan eval` trains
    it on first use; run this to train it ahead of time or again.

    \b
    Examples:
      minigan judge mnist
      minigan judge fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
    """
    from minigan import judge

    path = out or judge.judge_path(dataset)
    judge.train_judge(dataset, epochs, seed, path, data_dir=data_dir, progress=True, echo=click.echo)
    click.echo(f"saved {path}")


@main.command("eval")
@click.argument("target", type=click.Path())
@click.option("--dataset", default=None,
              help="Whose judge and test images (default: the checkpoint's dataset; mnist for a samples file).")
@click.option("--num", "n", type=int, default=10000, show_default=True, help="Samples drawn from a checkpoint.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the samples and the real reference images.")
@click.option("--reference/--no-reference", default=True, show_default=True,
              help="Also score as many real train images (the 'real data' column).")
@click.option("--probe", is_flag=True,
              help="Also fit a linear classifier on D's features with 100 and 1000 labels (DCGAN Sec. 5).")
@click.option("--pool", type=int, default=None, help="--probe: max-pool D's feature map to a POOL x POOL grid first.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every figure as JSON to this file ('-': print JSON instead of the table).")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@device_option
@friendly_errors
def eval_command(target, dataset, n, seed, reference, probe, pool, json_path, data_dir, device):
    """Score a generator: FID, Inception-style and DeLiGAN scores, classes, 1-NN.

    TARGET is a run folder, a checkpoint .npz, or a samples .npz with `images` in [-1, 1]
    and optional `labels`. Every metric uses the dataset's judge (see `minigan judge`); the
    same metrics on as many real train images are printed beside them as the reference.

    \b
    Examples:
      minigan eval runs/mnist-dcgan-20250101-120000
      minigan eval samples.npz --dataset mnist --json scores.json
      minigan eval runs/mnist-dcgan-20250101-120000 --probe
    """
    from minigan import evaluate

    report = evaluate.eval_report(target, dataset, n, seed, reference, probe, pool, data_dir, device, click.echo)
    if json_path == "-":
        click.echo(evaluate.write_json(report, "-"), nl=False)
        return
    click.echo(evaluate.format_report(report))
    if json_path:
        evaluate.write_json(report, json_path)
        click.echo(f"wrote {json_path}")


@main.command("inspect")
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


@main.command("ablate", context_settings={"max_content_width": 110},
              epilog="\b\nTechniques (NAME for --with and --variant), each with the `minigan train` options it sets:\n"
                     + ablation.techniques_help())
@click.argument("dataset", default="mnist", metavar="[DATASET]")
@click.option("--model", default="dcgan", show_default=True, metavar="|".join(TRAIN_MODELS), help="Which GAN.")
@click.option("--epochs", type=int, default=1, show_default=True, help="Passes over the data, the same for each variant.")
@click.option("--limit", type=int, default=30000, show_default=True, help="Train on the first N images.")
@click.option("--batch-size", type=int, default=128, show_default=True, help="Images per step.")
@click.option("--loss", type=click.Choice(list(LOSS_NAMES)), default="non-saturating", show_default=True,
              help="The base's GAN objective (the loss-* techniques swap it).")
@click.option("--with", "with_techniques", multiple=True, metavar="NAME",
              help="Switch this technique on in the base (repeatable); its variant then removes it.")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Toggle only this technique (repeatable; default: every technique, one variant each).")
@click.option("--eval-samples", type=int, default=2000, show_default=True,
              help="Samples each variant's last checkpoint is scored on.")
@click.option("--out", type=click.Path(), default=None,
              help="The ablation folder (default: runs/ablate-<dataset>-<model>-<time>); give an earlier one's "
                   "to continue it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds every variant's training and samples.")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@device_option
@friendly_errors
def ablate_command(dataset, model, epochs, limit, batch_size, loss, with_techniques, variants, eval_samples, out,
                   seed, data_dir, device):
    """Train a base configuration and its variants (each technique added or removed) for a fixed
    budget on DATASET (mnist, fashion-mnist or synthetic), and print one table with the evaluation
    metrics per variant and the time each took.

    Every variant trains with the base's seed, data and budget in a `minigan train` run folder of
    its own (OUT/base, OUT/with-NAME, OUT/without-NAME), and its last checkpoint is scored as
    `minigan eval` does: FID on the judge's
    features (lower is better), the Inception-style score, classes covered, the top class's share
    (and the asked-label accuracy of a conditional model). A variant is "+NAME" when the base lacks
    the technique and "-NAME" when the base has it (--with); a variant the engine refuses shows its
    reason in the table and the others go on. The table is also written to OUT/ablation.md, every
    figure to OUT/ablation.json.

    Ctrl-C stops it; the same command with the same --out continues: finished variants are kept,
    an unfinished one trains again from its start.

    \b
    Examples:
      minigan ablate                                        # every technique, 1 epoch of 30000 images each
      minigan ablate --variant feature-matching --variant vbn
      minigan ablate --with feature-matching                # the variants of a base with feature matching
      minigan ablate fashion-mnist --loss hinge --epochs 2 --out runs/ablate-hinge
      minigan ablate synthetic --limit 256 --variant vbn --eval-samples 200   # a smoke test
    """
    result = ablation.ablate(dataset, model, epochs, limit, batch_size, loss, with_techniques, variants, eval_samples,
                             out, seed, device, data_dir, echo=click.echo)
    click.echo("")
    click.echo(ablation.format_table(result))
    out = result["out"]
    click.echo(f"wrote {os.path.join(out, 'ablation.md')} and {os.path.join(out, 'ablation.json')}")


if __name__ == "__main__":
    main()
