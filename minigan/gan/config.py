"""What a training run is built from: its settings (``TrainConfig``, one field per ``minigan train``
option) and the seeded random streams every draw of the run goes through (``make_generators``,
``seed_dropout``).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from minigan.nn.container import RandomLayer

DEFAULT_EPOCHS = 5
LAPGAN_WIDTH_BEFORE_THE_OPTION = 64  # lapgan's channels in runs saved before --width (now 32 by default)
PAPER_KL_WEIGHT = 1.0  # StackGAN's lambda: the weight kl_weight None stands for (and the old default of every model)
RNG_NAMES = ("init", "data", "noise", "sample", "dropout", "instance_noise", "replay", "penalty", "labelled",
             "unlabelled")  # append only: spawn order seeds them


@dataclass
class TrainConfig:
    """Everything a training run is built from; each field is one ``minigan train`` option.

    Attributes:
        dataset (str): mnist, fashion-mnist, folder, synthetic, ring, grid or stacked-mnist.
        model (str or None): gan, dcgan, cgan, lapgan, began or ssgan; None: the dataset's own
            (``default_model``: gan for the 2-D point sets, dcgan for images).
        arch (str or None): cgan only: "mlp" (the paper's, default) or "conv".
        cond (str or None): how a class label enters D of a conditional model (cgan, stackgan):
            concat, acgan or projection (gan/conditioning.py); None: concat.
        kl_weight (float or None): stackgan: the weight of the conditioning augmentation's KL term in
            G's loss; None: 1, the paper's (refused on other models when set).
        stage (str): stackgan: "1" (stage I alone), "2" (stage II on the frozen stage I of
            ``stage1``) or "both" (the two trained side by side in one run).
        stage1 (str or None): stackgan --stage 2: the stage-I run folder or checkpoint.
        epochs (int): total passes over the data (a resumed run stops at this total).
        batch_size (int): images per step.
        nz (int): noise dimensions.
        lr, lr_g, lr_d (float): Adam's learning rate; lr_g / lr_d override it for G / D.
        beta1, beta2 (float): Adam's betas.
        adam_eps_root (float): Adam's epsilon under the square root (optim.Adam's eps_root); when > 0
            the one after the root is 0: openai/improved-gan's rule with 1e-8 (ssgan's default). 0:
            PyTorch's rule, eps = 1e-8 after the root (runs saved before the option had it).
        d_steps (int): D steps per G step (k in Goodfellow et al.'s Algorithm 1).
        loss (str): a name from ``losses.LOSSES``: non-saturating (default), minimax, least-squares,
            hinge, relativistic, relativistic-average or turing (T-GAN).
        image_size (int or None): image side; None keeps the dataset's own.
        channels (int or None): 1 or 3; None keeps the dataset's own.
        seed (int): the one seed every random Generator is spawned from.
        data_dir (str or None): where the data files are (the image folder for "folder").
        limit (int or None): train on the first ``limit`` images only.
        run_dir (str or None): the run folder; None means runs/<dataset>-<model>-<timestamp>.
        log_every (int): steps between log lines (and, on the GPU, between NaN checks).
        checkpoint_every (int): steps between mid-epoch checkpoints; 0: at epoch ends only.
        keep (int): epoch checkpoints kept besides last.npz; 0 keeps them all.
        sample_every (int): epochs between sample grids (the last epoch always gets one).
        device (str): cpu or gpu.
        label_smoothing (float): one-sided label smoothing A (Salimans et al. 2016): D's target on
            data is 1 - A, on fakes still 0; BCE losses (non-saturating, minimax) only; 0: off.
        instance_noise (float): instance noise sigma S (Sonderby et al. 2016): N(0, sigma^2) added
            to every image D sees, real and fake, in the D and the G step, sigma annealed
            linearly from S to 0 over the run's epochs * steps per epoch (a resume that raises
            --epochs stretches the rest of the schedule); 0: off.
        feature_matching (bool): G minimises ||mean f(x) - mean f(G(z))||^2 / F over D's F features
            instead of its --loss G loss (Salimans et al. 2016); D keeps its --loss.
        minibatch_discrimination (int): B > 0 puts a minibatch discrimination layer of B kernels
            (of 5 dimensions each) in D's head (Salimans et al. 2016); 0: off.
        vbn (bool): virtual batch norm in G: statistics from a fixed reference batch of 64 noise
            vectors plus the example itself (Salimans et al. 2016).
        historical_averaging (float): L > 0 adds L ||theta - mean of past thetas||^2 to both
            players' losses (Salimans et al. 2016); 0: off.
        replay (int): N > 0 keeps N earlier fakes and shows D half a batch of them each step
            (Shrivastava et al. 2017); 0: off.
        latent (str): "gaussian" (z ~ N(0, I)) or "mixture" (DeLiGAN: a learned mixture of
            ``components`` Gaussians, Gurumurthy et al. 2017).
        components (int): K, the mixture's Gaussians.
        mixture_reg (float): weight of DeLiGAN's penalty mean((1 - sigma)^2) in G's loss.
        limit_per_class (int or None): train on the first N images of each class only (DeLiGAN's
            little-data setting).
        clip (float): C > 0 clamps every weight of D to [-C, C] after each D step (WGAN,
            Arjovsky et al. 2017; with --loss wasserstein); 0: off.
        gp (str or None): a gradient penalty in D's loss: wgan-gp, dragan, r1 or r2 (gan/penalties.py).
        gp_weight (float): its weight (lambda of WGAN-GP and DRAGAN, gamma of R1/R2).
        spectral_norm (bool): every convolution and linear layer of D spectrally normalised
            (Miyato et al. 2018).
        d_norm (str or None): the layer after D's inner convolutions (conv D's only): batch,
            layer, instance or none; None: the model's own (batch norm for DCGAN).
        optimizer (str or None): adam, rmsprop or sgd for both players; None: RMSprop with --clip
            (as the WGAN paper), Adam otherwise.
        unroll (int): K > 0: G's loss is computed against D after K differentiable update steps
            of D on the step's batch (the unrolled GAN, Metz et al. 2016; gan/unrolled.py); 0: off.
        pack (int): M > 1: D judges M samples at once, concatenated along channels (PacGAN, Lin
            et al. 2018); the batch size must be a multiple of M; 1: off.
        gamma (float): BEGAN's diversity ratio gamma = E L(G(z)) / E L(x) that k_t steers toward.
        labels (int or None): ssgan: N labelled training images, N / K of each class; None: no labels used.
        label_seed (int): ssgan: picks which N images are labelled.
        supervised_only (bool): ssgan: D trained on the labelled images alone (the baseline), no G.
        ema (float): decay of the moving average of G's weights that samples use (gan/averaging.py); 0: off.
        ema_d (float): the same for D (the semi-supervised D is tested with it; the paper's 0.9999); 0: off.
        width (int or None): lapgan: the channels of the finer levels' G and D and of the coarse D
            (None: 32, Note [the pyramid's width] in gan/lapgan.py; runs saved before the option had 64).
    """

    dataset: str = "mnist"
    model: str | None = None
    arch: str | None = None
    cond: str | None = None
    kl_weight: float | None = None
    stage: str = "both"
    stage1: str | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 128
    nz: int = 100
    lr: float = 2e-4
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    adam_eps_root: float = 0.0
    d_steps: int = 1
    loss: str = "non-saturating"
    image_size: int | None = None
    channels: int | None = None
    seed: int = 0
    data_dir: str | None = None
    limit: int | None = None
    run_dir: str | None = None
    log_every: int = 50
    checkpoint_every: int = 0
    keep: int = 5
    sample_every: int = 1
    device: str = "cpu"
    label_smoothing: float = 0.0
    instance_noise: float = 0.0
    feature_matching: bool = False
    minibatch_discrimination: int = 0
    vbn: bool = False
    historical_averaging: float = 0.0
    replay: int = 0
    latent: str = "gaussian"
    components: int = 10
    mixture_reg: float = 1 / 3  # DeLiGAN's MNIST code
    limit_per_class: int | None = None
    clip: float = 0.0
    gp: str | None = None
    gp_weight: float = 10.0
    spectral_norm: bool = False
    d_norm: str | None = None
    optimizer: str | None = None
    unroll: int = 0
    pack: int = 1
    gamma: float = 0.5
    labels: int | None = None
    label_seed: int = 0
    supervised_only: bool = False
    ema: float = 0.0
    ema_d: float = 0.0
    width: int | None = None

    def __post_init__(self):
        if self.model is None:
            self.model = default_model(self.dataset)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """A config from a saved dict; keys this version does not know are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in names}
        if values.get("model") != "stackgan" and values.get("kl_weight") == PAPER_KL_WEIGHT:
            values["kl_weight"] = None  # saved when every model's config held StackGAN's default weight
        if values.get("model") == "lapgan" and "width" not in values:
            values["width"] = LAPGAN_WIDTH_BEFORE_THE_OPTION  # saved when every level had 64 channels
        return cls(**values)


def default_model(dataset):
    """The model a dataset trains with when --model is not given: the MLP GAN for 2-D points, else DCGAN."""
    from minigan.data.modes import POINT_DATASETS

    return "gan" if str(dataset).lower() in POINT_DATASETS else "dcgan"


def make_generators(seed):
    """One independent numpy Generator per role, all spawned from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_NAMES))
    return {name: np.random.default_rng(s) for name, s in zip(RNG_NAMES, children)}


def seed_dropout(networks, rngs):
    """Give each Dropout and GaussianNoise layer of ``networks`` (name -> Module) its own Generator, seeded from
    rngs["dropout"] and added to ``rngs`` (so saved with the others): a resumed run drops the same units."""
    for net_name, net in networks.items():
        for path, m in net.named_modules():
            if isinstance(m, RandomLayer):
                seed = int(rngs["dropout"].integers(2**63))
                m.reseed(seed)  # the layer's one Generator serves the GPU too (nn.Dropout)
                m._rngs["cpu"] = rngs[f"dropout:{net_name}.{path}"] = np.random.default_rng(seed)
