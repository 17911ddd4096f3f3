"""`minigan train`: a new run, or --resume of an earlier one."""

import click
from click.core import ParameterSource

from minigan import gan
from minigan.cli.decorators import data_parallel, device_option, friendly_errors, seed_option
from minigan.errors import MiniganError
from minigan.gan.losses import LOSSES as LOSS_NAMES

TRAIN_DATASETS = ("mnist", "fashion-mnist", "folder", "synthetic", "ring", "grid", "stacked-mnist")
TRAIN_MODELS = ("gan", "dcgan", "cgan", "lapgan", "began", "stackgan")


@click.command(context_settings={"max_content_width": 110})
@click.argument("dataset", metavar="DATASET")
@click.argument("path", required=False, type=click.Path())
@click.option("--model", default=None, metavar="|".join(TRAIN_MODELS),
              help="Which GAN: gan (Goodfellow 2014, MLPs), dcgan (Radford 2015), cgan (Mirza 2014), lapgan, began "
                   "(Berthelot 2017, D an autoencoder), ssgan (Salimans 2016: D a classifier taught by --labels images). "
                   "Default: dcgan; gan for ring and grid.")
@click.option("--arch", type=click.Choice(["mlp", "conv"]), default=None,
              help="cgan only: mlp (the paper's, default) or conv (DCGAN networks, labels as planes).")
@click.option("--cond", type=click.Choice(["concat", "acgan", "projection"]), default=None,
              help="Conditional models (cgan, stackgan): how D gets the label -- concat (as an input, default), "
                   "acgan (Odena 2017: D also classifies, both players add the class loss) or projection "
                   "(Miyato 2018: logit psi(phi(x)) + y^T V phi(x)).")
@click.option("--kl-weight", type=float, default=None, metavar="L",
              help="stackgan: weight of the conditioning augmentation's KL(N(mu, sigma^2) || N(0, I)) in G's loss "
                   "(default 1, the paper's; 0: off).")
@click.option("--stage", type=click.Choice(["1", "2", "both"]), default="both", show_default=True,
              help="stackgan: train stage I alone, stage II on the frozen stage I of --stage1 RUN, or both at once.")
@click.option("--stage1", type=click.Path(), default=None, metavar="RUN",
              help="stackgan --stage 2: the stage-I run (folder or checkpoint .npz) whose G draws the coarse images.")
@click.option("--width", type=int, default=None, metavar="C",
              help="lapgan: channels of the 14- and 28-px levels' G and D and of the 7-px D (default 32: a step in "
                   "0.7x DCGAN's time; 64: 1.8x, a little better per epoch, worse per unit of time).")
@click.option("--epochs", type=int, default=gan.TrainConfig.epochs, show_default=True,
              help="Total passes over the data; with --resume, the total including those already done.")
@click.option("--batch-size", type=int, default=128, show_default=True, help="Images per step.")
@click.option("--nz", type=int, default=100, show_default=True, help="Noise dimensions.")
@click.option("--lr", type=float, default=2e-4, show_default=True, help="Adam learning rate of G and D.")
@click.option("--lr-g", type=float, default=None, help="G's learning rate (default: --lr).")
@click.option("--lr-d", type=float, default=None, help="D's learning rate (default: --lr).")
@click.option("--beta1", type=float, default=0.5, show_default=True, help="Adam beta1.")
@click.option("--beta2", type=float, default=0.999, show_default=True, help="Adam beta2.")
@click.option("--adam-eps-root", type=float, default=0.0, show_default="0; 1e-8 for ssgan", metavar="EPS",
              help="Adam's epsilon under the square root, dividing by sqrt(v + EPS) with none after it (the rule "
                   "of openai/improved-gan's code, which damps weights whose gradients are below sqrt(EPS)); 0: "
                   "PyTorch's rule, sqrt(v) + 1e-8.")
@click.option("--d-steps", "--n-critic", "d_steps", type=int, default=1, show_default=True,
              help="D steps per G step (k in Algorithm 1; WGAN calls it n_critic: 5 in its papers).")
@click.option("--loss", type=click.Choice(list(LOSS_NAMES)), default="non-saturating", show_default=True,
              help="The GAN objective: non-saturating (-log D(G(z))), minimax (the 2014 game), least-squares "
                   "(LSGAN), hinge, relativistic (RSGAN), relativistic-average (RaSGAN), turing (T-GAN: a pairwise "
                   "discriminator on D's encoded features) or wasserstein (WGAN: D a critic, keep it Lipschitz with "
                   "--clip, --gp wgan-gp or --spectral-norm); "
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
@click.option("--clip", type=float, default=0.0, show_default=True, metavar="C",
              help="WGAN's weight clipping (Arjovsky et al. 2017): D's weights clamped to [-C, C] after each D "
                   "step (0.01: the paper's); --loss wasserstein only; uses RMSprop unless --optimizer says; 0: off.")
@click.option("--gp", type=click.Choice(["wgan-gp", "dragan", "r1", "r2"]), default=None,
              help="A gradient penalty in D's loss, through a double backward: wgan-gp (Gulrajani et al. 2017, "
                   "lambda E(||grad D(x_hat)|| - 1)^2 between real and fake; --loss wasserstein, no batch norm in "
                   "D), dragan (Kodali et al. 2017, around perturbed reals), r1 / r2 (Mescheder et al. 2018, "
                   "gamma/2 E||grad D||^2 on reals / fakes).")
@click.option("--gp-weight", type=float, default=10.0, show_default=True, metavar="W",
              help="--gp's weight (lambda, or gamma for r1/r2).")
@click.option("--spectral-norm", is_flag=True, default=False,
              help="Spectral normalisation (Miyato et al. 2018): every conv and linear layer of D divided by its "
                   "largest singular value (one power iteration per step).")
@click.option("--d-norm", type=click.Choice(["batch", "layer", "instance", "none"]), default=None,
              help="The norm after D's inner convolutions (dcgan, cgan --arch conv): batch (DCGAN's, default), "
                   "layer (WGAN-GP's critic), instance or none.")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop", "sgd"]), default=None,
              help="Both players' optimizer (default: adam; rmsprop with --clip, as the WGAN paper).")
@click.option("--unroll", type=int, default=0, show_default=True, metavar="K",
              help="The unrolled GAN (Metz et al. 2016): G's loss is D's verdict after K more differentiable "
                   "update steps of D on the same batch (G's gradient runs back through them; the paper: 5 or 10); "
                   "costs ~K+1 times D's work per G step; 0: off.")
@click.option("--pack", type=int, default=1, show_default=True, metavar="M",
              help="PacGAN (Lin et al. 2018): D judges M samples at once, concatenated along channels (real with "
                   "real, fake with fake); M must divide --batch-size (the paper: 2 to 4); 1: off.")
@click.option("--gamma", type=float, default=0.5, show_default=True,
              help="--model began: the diversity ratio E L(G(z)) / E L(x) that the equilibrium term k_t steers "
                   "to (lower: sharper, less varied).")
@click.option("--labels", type=int, default=None, metavar="N",
              help="--model ssgan: N labelled training images, N/10 per class (default 100, the paper's headline; "
                   "it reports 20, 50, 100 and 200); the rest of the data is used unlabelled.")
@click.option("--label-seed", type=int, default=0, show_default=True,
              help="--model ssgan: which images are labelled (recorded in the checkpoint; the paper averages 10).")
@click.option("--supervised-only", is_flag=True, default=False,
              help="--model ssgan: train D on the --labels images alone, no GAN (the baseline that shows what the GAN adds).")
@click.option("--ema", type=float, default=0.0, show_default=True, metavar="DECAY",
              help="Sample with a moving average of G's weights (e.g. 0.999; Yazici et al. 2019); any model; 0: off.")
@click.option("--ema-d", type=float, default=0.0, show_default="0; 0.9999 for ssgan", metavar="DECAY",
              help="Keep a moving average of D's weights (the paper's Polyak averaging): ssgan's test error uses it; 0: off.")
@click.option("--image-size", type=int, default=None,
              help="Resize images to this side (default: the data's own; 64 for a folder).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="1 (gray) or 3 (RGB); default: the data's.")
@seed_option("Seeds init, data order, noise and dropout.")
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
@data_parallel
def train(dataset, path, resume, comm, **options):
    """Train a GAN on DATASET: mnist, fashion-mnist, folder PATH, synthetic, or one of known modes:
    ring (8 Gaussians), grid (25) or stacked-mnist (1000 modes).

    Prints the run folder first, then a progress bar and every --log-every steps
    loss_D, loss_G, D(x) and D(G(z)). Each epoch writes a sample grid from fixed
    noise (samples/epoch_NNN.png), the loss curve (loss.png), metrics.jsonl and a
    checkpoint. Ctrl-C (or SIGTERM) saves a checkpoint and stops; --resume continues exactly.
    Under `mpiexec -n N`, N processes train the one model data-parallel (--batch-size stays the
    global batch); rank 0 prints and writes the run folder.

    \b
    Examples:
      minigan train mnist                                  # DCGAN, 5 epochs, CPU
      minigan train mnist --model cgan --epochs 20
      minigan train mnist --loss wasserstein --gp wgan-gp --d-norm layer --n-critic 5 --lr 1e-4 --beta1 0
      minigan train mnist --loss wasserstein --clip 0.01 --n-critic 5 --lr 5e-5   # WGAN, RMSprop
      minigan train fashion-mnist --model dcgan --image-size 32
      minigan train folder ./faces --image-size 64 --channels 3
      minigan train synthetic --epochs 1 --limit 256       # a smoke test, no files needed
      minigan train ring --unroll 5                        # the unrolled GAN on 8 Gaussians
      minigan train stacked-mnist --pack 2                 # PacGAN2 on 1000 modes
      minigan train mnist --model ssgan --labels 100       # semi-supervised: D a classifier, 100 labels
      minigan train mnist --resume runs/mnist-dcgan-20250101-120000 --epochs 10
      mpiexec -n 2 minigan train mnist                     # data-parallel, 2 processes
    """
    from minigan import data
    from minigan.data import modes
    from minigan.evaluate.class_check import ClassCheck
    from minigan.evaluate.modes import ModeCheck

    options["channels"] = None if options["channels"] is None else int(options["channels"])
    if path is not None:
        if options["data_dir"] is not None and options["data_dir"] != path:
            raise MiniganError(f"give the data folder once: PATH {path} or --data-dir {options['data_dir']}.")
        options["data_dir"] = path
    if dataset == "folder" and options["data_dir"] is None:
        raise MiniganError("`minigan train folder` needs the image folder: minigan train folder PATH.")
    hooks = [ClassCheck(), ModeCheck()]  # each epoch's samples classified / placed: mode collapse shows
    if resume is None:
        recipe = dict(modes.RECIPES.get(data.ALIASES.get(dataset.lower(), dataset.lower()), {}))
        if options["model"] == "ssgan":  # the paper's settings (gan/ssgan.py), unless the command line says otherwise
            from minigan.gan.ssgan import RECIPE

            recipe.update({k: v for k, v in RECIPE.items() if k != "labels" or not options["supervised_only"]})
        ctx = click.get_current_context()
        for field, value in recipe.items():
            if ctx.get_parameter_source(field) == ParameterSource.DEFAULT:
                options[field] = value
        gan.train(gan.TrainConfig(dataset=dataset, **options), echo=click.echo, on_epoch_end=hooks, comm=comm)
        return
    ctx = click.get_current_context()
    given = {k: v for k, v in options.items()
             if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    if path is not None:
        given["data_dir"] = path
    gan.resume(resume, echo=click.echo, on_epoch_end=hooks, comm=comm, dataset=dataset, **given)
