"""`minigan ablate`: a base configuration and its variants, trained and scored side by side."""

import os

import click

from minigan import ablate as ablation
from minigan import files
from minigan.cli.decorators import device_option, friendly_errors, seed_option
from minigan.cli.train import TRAIN_MODELS
from minigan.gan.losses import LOSSES as LOSS_NAMES


EPILOG = ("\b\nTechniques (NAME for --with and --variant), each with the `minigan train` options it sets:\n"
          + ablation.techniques_help())


@click.command("ablate", context_settings={"max_content_width": 110}, epilog=EPILOG)
@click.argument("dataset", default="mnist", metavar="[DATASET]")
@click.option("--model", default=None, metavar="|".join(TRAIN_MODELS),
              help="Which GAN (default: dcgan; gan for ring and grid).")
@click.option("--epochs", type=int, default=ablation.run.DEFAULT_EPOCHS, show_default=True,
              help="Passes over the data, the same for each variant (5 x 30000 MNIST images: enough for DCGAN's base "
                   "to cover all ten classes).")
@click.option("--limit", type=int, default=30000, show_default=True, help="Train on the first N images.")
@click.option("--batch-size", type=int, default=None, help="Images per step (default 128; 512 for ring and grid).")
@click.option("--loss", type=click.Choice(list(LOSS_NAMES)), default="non-saturating", show_default=True,
              help="The base's GAN objective (the loss-* techniques swap it).")
@click.option("--lr", type=float, default=None,
              help="The base's Adam learning rate of G and D (default: minigan train's, or the point set's recipe).")
@click.option("--lr-g", type=float, default=None, help="The base's G learning rate (default: --lr).")
@click.option("--lr-d", type=float, default=None,
              help="The base's D learning rate (default: --lr; ring and grid: the unrolled GAN's 1e-4).")
@click.option("--ema", type=float, default=None, metavar="DECAY",
              help="The base's moving average of G's weights, which its samples are scored with "
                   "(e.g. 0.999; default off).")
@click.option("--with", "with_techniques", multiple=True, metavar="NAME",
              help="Switch this technique on in the base (repeatable); its variant then removes it.")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Toggle only this technique (repeatable; default: every technique, one variant each).")
@click.option("--eval-samples", type=int, default=None,
              help="Samples each variant's last checkpoint is scored on (default 2000; ring and grid 2500, "
                   "stacked-mnist 26000, as the papers).")
@click.option("--seeds", type=int, default=1, show_default=True, metavar="N",
              help="Train every variant N times (seeds --seed .. --seed + N - 1) and show each metric's mean ± std.")
@click.option("--out", type=click.Path(), default=None,
              help="The ablation folder (default: runs/ablate-<dataset>-<model>-<time>); give an earlier one's "
                   "to continue it.")
@seed_option("Seeds every variant's training and samples.")
@click.option("--data-dir", type=click.Path(), default=None, help="Where the dataset's files are.")
@device_option
@friendly_errors
def ablate_command(dataset, model, epochs, limit, batch_size, loss, lr, lr_g, lr_d, ema, with_techniques, variants,
                   eval_samples, seeds, out, seed, data_dir, device):
    """Train a base configuration and its variants (each technique added or removed) for a fixed
    budget on DATASET (mnist, fashion-mnist, synthetic, or ring, grid, stacked-mnist: data of known
    modes), and print one table with the evaluation metrics per variant and the time each took
    (with --seeds N, mean ± std over N seeds).

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
      minigan ablate                                        # every technique, 5 epochs of 30000 images each
      minigan ablate --variant feature-matching --variant vbn
      minigan ablate --with feature-matching                # the variants of a base with feature matching
      minigan ablate fashion-mnist --loss hinge --epochs 2 --out runs/ablate-hinge
      minigan ablate synthetic --limit 256 --variant vbn --eval-samples 200   # a smoke test
      minigan ablate ring --model gan --epochs 20 --limit 100000 --variant unroll-5 --variant pack-2 --seeds 3
      minigan ablate ring --lr-d 1e-3 --epochs 25 --limit 100000 --variant pack-2 --seeds 3   # D as fast as G
      minigan ablate ring --lr-d 1e-3 --ema 0.999 --epochs 40 --limit 100000 --variant pack-2 --seeds 3
    """
    # ablate() finds an unwritable --out only when it writes ablation.json: checked here first
    from minigan.gan.config import default_model

    model = model or default_model(dataset)
    files.check_writable(out or ablation.default_out(dataset, model), "--out", folder=True, what="ablation folder")
    given = {"lr": lr, "lr_g": lr_g, "lr_d": lr_d, "ema": ema}
    settings = {key: value for key, value in given.items() if value is not None}
    result = ablation.ablate(dataset, model, epochs, limit, batch_size, loss, with_techniques, variants, eval_samples,
                             out, seed, device, data_dir, settings=settings, echo=click.echo, seeds=seeds)
    click.echo("")
    click.echo(ablation.format_table(result))
    out = result["out"]
    click.echo(f"wrote {os.path.join(out, 'ablation.md')} and {os.path.join(out, 'ablation.json')}")
