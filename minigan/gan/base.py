"""The Trainer every GAN model subclasses, and the configuration it is built from.

Notation: z is noise (n, nz) ~ N(0, I), y class labels (n,), x images (n, c, h, w) in [-1, 1],
G the generator, D the discriminator (logits (n, 1)), k = ``d_steps``.

One step on a batch of real x (Goodfellow et al. 2014, Algorithm 1):

    D step: fake = G(z); minimise L_D(D(x), D(fake.detach())); Adam on D
    G step (after every k-th D step): minimise L_G(D(fake)); Adam on G, with D's parameters
            frozen so that their gradients are not even computed

The G step reuses the D step's fake, so G runs forward once per step (as pytorch/examples does).
A subclass overrides only what differs: ``build`` (its networks, registered by name with
``add_network``), ``generate``/``discriminate``/``draw_labels`` (conditioning) and, for a model
with several G/D pairs (LAPGAN: one per pyramid level), ``train_step`` -- calling ``d_step`` and
``g_step`` with each pair's names -- ``sample`` and ``sample_grid``. Checkpoints save every
registered network, optimizer and Generator by name, so such a model needs nothing more.
"""

import contextlib
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from minigan import backend, optim
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import diagnostics, losses, techniques
from minigan.nn.container import Dropout
from minigan.tensor import Tensor

DEFAULT_EPOCHS = 5
RNG_NAMES = ("init", "data", "noise", "sample", "dropout", "instance_noise", "replay")  # append only: spawn order seeds them
SAMPLE_CHUNK = 512  # images generated at once by ``sample``: bounds memory for large n


@dataclass
class TrainConfig:
    """Everything a training run is built from; each field is one ``minigan train`` option.

    Attributes:
        dataset (str): mnist, fashion-mnist, folder or synthetic.
        model (str): gan, dcgan, cgan or lapgan.
        arch (str or None): cgan only: "mlp" (the paper's, default) or "conv".
        epochs (int): total passes over the data (a resumed run stops at this total).
        batch_size (int): images per step.
        nz (int): noise dimensions.
        lr, lr_g, lr_d (float): Adam's learning rate; lr_g / lr_d override it for G / D.
        beta1, beta2 (float): Adam's betas.
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
    """

    dataset: str = "mnist"
    model: str = "dcgan"
    arch: str | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 128
    nz: int = 100
    lr: float = 2e-4
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
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

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """A config from a saved dict; keys this version does not know are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def make_generators(seed):
    """One independent numpy Generator per role, all spawned from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_NAMES))
    return {name: np.random.default_rng(s) for name, s in zip(RNG_NAMES, children)}


def _mean_sigmoid(logits):
    """mean(D) from logits, left on the device (converted only when logged).
    sigmoid(l) = (1 + tanh(l / 2)) / 2 cannot overflow; a (n, 1) array needs no kernel of its own."""
    xp = backend.get_array_module(logits)
    return ((xp.tanh(0.5 * logits) + 1) * 0.5).mean()


class Trainer:
    """Networks, optimizers, random Generators and the steps of one GAN model.

    Args:
        config (TrainConfig): the run's settings.
        image_shape (tuple): (c, h, w) of the images.
        num_classes (int): number of classes (conditional models need > 0).

    Attributes:
        networks (dict): name -> Module ("G", "D"; LAPGAN adds one pair per level).
        optimizers (dict): name -> optim.Adam, one per network.
        rngs (dict): name -> numpy Generator: init, data, noise, sample, dropout, instance_noise
            and one per Dropout layer; all saved in checkpoints.
        fixed (dict): name -> numpy array: the inputs of the sample grids (noise "z", "labels").
        epoch, step (int): completed epochs, completed steps.
        history (dict): name -> list of per-step floats (loss_D, loss_G, D_x, D_G_z).
        data_state (dict or None): the BatchIterator position to resume from.
        steps_per_epoch (int or None): set by the training loop; instance noise anneals over
            epochs * steps_per_epoch steps (over epochs when None).
    """

    name = None  # the --model name
    conditional = False  # G and D take class labels
    has_encoder = True  # D is a networks.Discriminator (features, then a head)
    single_pair = True  # one G and one D, named "G" and "D"
    grid_size = 64  # images in a sample grid

    @classmethod
    def check_config(cls, config):
        """Raise MiniganError, before any data is loaded, when ``config`` cannot work."""
        if config.arch is not None:
            raise MiniganError(f"--arch applies to --model cgan only; drop it for --model {cls.name}.")

    @classmethod
    def check_data(cls, image_shape, num_classes):
        """Raise MiniganError when this model cannot train on such images or labels."""

    def __init__(self, config, image_shape, num_classes=0):
        type(self).check_config(config)
        techniques.check(config, type(self))
        type(self).check_data(tuple(image_shape), num_classes)
        if config.device == "gpu":
            backend.require_gpu()
        self.config, self.image_shape, self.num_classes = config, tuple(image_shape), int(num_classes)
        self.loss = losses.get_loss(config.loss)
        self.rngs = make_generators(config.seed)
        self.networks, self._roles = {}, {}
        self.build()
        techniques.install(self)
        self.mixture_latent = techniques.mixture_latent_of(self.networks["G"]) if self.single_pair else None
        self._seed_dropout()
        self.optimizers = {}
        for name, net in self.networks.items():
            net.to(config.device)
            self.optimizers[name] = optim.Adam(net.parameters(), lr=self.lr_for(self._roles[name]),
                                               betas=(config.beta1, config.beta2))
        self.states = self.make_states()
        self.fixed = self.make_fixed_inputs()
        self.epoch, self.step, self.history, self.data_state = 0, 0, {}, None
        self.steps_per_epoch = None

    # -- building -----------------------------------------------------------------------
    def build(self):
        """Create the networks with ``add_network`` (init drawn from ``self.rngs['init']``)."""
        raise NotImplementedError(f"{type(self).__name__} must define build()")

    def add_network(self, name, module, role):
        """Register a network; ``role`` "G" or "D" picks its learning rate (lr_g or lr_d)."""
        if role not in ("G", "D"):
            raise ValueError(f"role must be 'G' or 'D', not {role!r}")
        self.networks[name], self._roles[name] = module, role
        return module

    def lr_for(self, role):
        own = self.config.lr_g if role == "G" else self.config.lr_d
        return own if own is not None else self.config.lr

    def _seed_dropout(self):
        """Give each Dropout layer its own Generator, seeded from rngs['dropout'] and saved with
        the others, so that a resumed run drops the same units."""
        for net_name, net in self.networks.items():
            for path, m in net.named_modules():
                if isinstance(m, Dropout):
                    seed = int(self.rngs["dropout"].integers(2**63))
                    m.reseed(seed)  # the GPU generator, made lazily by the layer, starts from it
                    m._rngs["cpu"] = self.rngs[f"dropout:{net_name}.{path}"] = np.random.default_rng(seed)

    # -- inputs -------------------------------------------------------------------------
    @property
    def nz(self):
        return self.config.nz

    def draw_noise(self, n, rng=None):
        """The latent vectors of n fakes, float32 on the host (the same draws on any device):
        z ~ N(0, I) of shape (n, nz); with --latent mixture, [eps, w] of shape (n, nz + K),
        eps ~ N(0, I) and w a one-hot choice of the mixture component (techniques.MixtureGenerator)."""
        rng = rng or self.rngs["noise"]
        z = rng.standard_normal((n, self.nz), dtype=np.float32)
        if self.config.latent == "mixture":
            z = np.concatenate([z, techniques.mixture_one_hot(n, self.config.components, rng)], axis=1)
        return z

    def draw_labels(self, n, rng=None):
        """Class labels for n fakes (uniform over the classes), or None when unconditional."""
        if not self.conditional:
            return None
        return (rng or self.rngs["noise"]).integers(0, self.num_classes, n, dtype=np.int64)

    def make_fixed_inputs(self):
        """The sample grid's inputs, drawn once from rngs['sample'] and kept all run long."""
        rng = self.rngs["sample"]
        fixed = {"z": self.draw_noise(self.grid_size, rng)}
        labels = self.draw_labels(self.grid_size, rng)
        if labels is not None:
            fixed["labels"] = labels
        return fixed

    def to_device(self, array):
        """A host array on the run's device (None stays None)."""
        return None if array is None else backend.to_device(array, self.config.device)

    def instance_noise_sigma(self):
        """sigma = S * (1 - t), t the fraction of the run done: completed steps over
        epochs * steps_per_epoch (completed epochs over epochs when steps_per_epoch is unknown).
        S at the first step, 0 once the run is over."""
        s, epochs = self.config.instance_noise, self.config.epochs
        if not s:
            return 0.0
        t = self.epoch / epochs if not self.steps_per_epoch else self.step / (epochs * self.steps_per_epoch)
        return s * max(0.0, 1.0 - t)

    def with_instance_noise(self, x):
        """x + N(0, sigma^2) (drawn from rngs['instance_noise'] on the host), or x itself when
        sigma is 0. Gradients flow through the sum to x (G's fakes in the G step)."""
        sigma = self.instance_noise_sigma()
        if sigma == 0:
            return x
        noise = self.rngs["instance_noise"].standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
        return x + Tensor(self.to_device(noise))

    # -- networks -------------------------------------------------------------------------
    def cond_args(self, cond):
        """The extra inputs G and D take for a condition (CGAN: the one-hot labels): a tuple."""
        return ()

    def generate(self, z, cond=None):
        """G(z) as a Tensor of images; ``cond`` is the condition (CGAN: class labels), if any."""
        return self.networks["G"](z, *self.cond_args(cond))

    def discriminate(self, x, cond=None):
        """D(x) as logits (n, 1); ``cond`` as in ``generate``. A model with several D's picks
        the one that ``d_step``/``g_step`` are working on from x or cond (LAPGAN: x's size)."""
        return self.networks["D"](x, *self.cond_args(cond))

    def features(self, x, cond=None, d="D"):
        """f(x): the output of D's encoder, the input of its head (networks.Discriminator)."""
        return self.networks[d].features(x, *self.cond_args(cond))

    def pairwise_logits(self, f_real, f_fake, d="D"):
        """(T(x_r, x_f), T(x_f, x_r)) of the T-GAN from encoded features: T(a, b) = head(E(a) - E(b))."""
        head = self.networks[d].head
        return head(f_real - f_fake), head(f_fake - f_real)

    def make_states(self):
        """Name -> the technique objects saved in checkpoints (historical averages, replay buffer)."""
        cfg, states = self.config, {}
        if cfg.historical_averaging:
            for name, net in self.networks.items():
                states[f"historical_average:{name}"] = techniques.HistoricalAverage(net.parameters(),
                                                                                   cfg.historical_averaging)
        if cfg.replay:
            states["replay"] = techniques.ReplayBuffer(cfg.replay, self.rngs["replay"], cfg.device)
        return states

    def penalties(self, net):
        """{name: scalar Tensor} added to network ``net``'s loss: the historical-averaging pull and,
        for G with a mixture latent, DeLiGAN's sigma penalty."""
        terms = {}
        average = self.states.get(f"historical_average:{net}")
        if average is not None:
            terms[f"hist_avg_{net}"] = average.penalty()
        if net == "G" and self.mixture_latent is not None:
            terms["sigma_penalty"] = self.config.mixture_reg * self.mixture_latent.sigma_penalty()
        return terms

    # -- steps ----------------------------------------------------------------------------
    def train_step(self, real, labels=None):
        """One D step, and a G step after every k-th D step.

        Args:
            real: raw array (n, c, h, w) on the run's device.
            labels: raw int64 array (n,) on the device (conditional models), else None.
        Returns:
            dict name -> 0-d array on the device (loss_D, D_x, D_G_z; loss_G when G stepped).
        """
        n = real.shape[0]
        z = Tensor(self.to_device(self.draw_noise(n)))
        fake_labels = self.to_device(self.draw_labels(n))
        g_turn = (self.step + 1) % self.config.d_steps == 0
        with contextlib.nullcontext() if g_turn else no_grad():  # no G graph when G does not step
            fake = self.generate(z, fake_labels)
        real = Tensor(real)
        d_fake, d_fake_labels = fake, fake_labels
        if "replay" in self.states:  # D sees half a batch of earlier fakes (techniques.ReplayBuffer)
            d_fake, d_fake_labels = self.states["replay"].mix(fake, fake_labels)
        out = self.d_step(real, labels, d_fake, d_fake_labels)
        if g_turn:
            out.update(self.g_step(fake, fake_labels, real, labels))
        return out

    def minimize(self, loss, net):
        """loss (+ the penalties of ``net``) -> backward -> Adam step on ``net``.
        Returns the penalties' values and the gradient norms, as 0-d device arrays."""
        terms = self.penalties(net)
        total = loss
        for term in terms.values():
            total = total + term
        self.optimizers[net].zero_grad()
        total.backward()
        norms = diagnostics.device_grad_norms(self.networks[net], net)
        self.optimizers[net].step()
        return {**{k: v.data for k, v in terms.items()}, **norms}

    def d_step(self, real, cond, fake, fake_cond, d="D"):
        """Minimise L_D(D(x), D(G(z))) over the parameters of network ``d`` (G's output is a constant).

        Args:
            real, fake (Tensor): a batch of data and G's output on it; cond, fake_cond their conditions.
        Returns:
            dict of 0-d device arrays: loss_D, D_x = mean D(x), D_G_z = mean D(G(z)) (for a
            pairwise loss, mean sigmoid T(x_r, x_f) and T(x_f, x_r)), penalties, gradient norms.
        """
        real_in, fake_in = self.with_instance_noise(real), self.with_instance_noise(fake.detach())
        if self.loss.pairwise:
            real_logits, fake_logits = self.pairwise_logits(self.features(real_in, cond, d),
                                                            self.features(fake_in, fake_cond, d), d)
        else:
            real_logits, fake_logits = self.discriminate(real_in, cond), self.discriminate(fake_in, fake_cond)
        if self.config.label_smoothing:  # one-sided: only the real target drops (BCE losses only)
            loss = self.loss.d_loss(real_logits, fake_logits, real_target=1.0 - self.config.label_smoothing)
        else:
            loss = self.loss.d_loss(real_logits, fake_logits)
        extra = self.minimize(loss, d)
        return {"loss_D": loss.data, "D_x": _mean_sigmoid(real_logits.data),
                "D_G_z": _mean_sigmoid(fake_logits.data), **extra}

    def g_step(self, fake, fake_cond, real, cond, g="G", d="D"):
        """Minimise L_G(D(G(z))) over the parameters of network ``g``, ``d`` frozen.

        With --feature-matching, L_G is ||mean f(x) - mean f(G(z))||^2 / F instead; a pairwise loss
        (T-GAN) compares encoded fakes with encoded data. D's view of data is a constant here.

        Returns:
            dict with loss_G (a 0-d device array), D_G_z2, penalties and gradient norms.
        """
        D = self.networks[d]
        D.requires_grad_(False)  # gradients flow through D to G, but D's own are not needed
        try:
            fake_in = self.with_instance_noise(fake)
            real_logits = None
            if self.loss.pairwise or self.config.feature_matching:
                f_fake = self.features(fake_in, fake_cond, d)
                with no_grad():
                    f_real = self.features(self.with_instance_noise(real), cond, d)
                if self.loss.pairwise:
                    real_logits, fake_logits = self.pairwise_logits(f_real, f_fake, d)
                else:
                    fake_logits = D.head(f_fake)
                    if self.loss.g_needs_real:
                        with no_grad():
                            real_logits = D.head(f_real)
            else:
                fake_logits = self.discriminate(fake_in, fake_cond)
                if self.loss.g_needs_real:
                    with no_grad():
                        real_logits = self.discriminate(self.with_instance_noise(real), cond)
            if self.config.feature_matching:
                loss = techniques.feature_matching_loss(f_real, f_fake)
            else:
                loss = self.loss.g_loss(fake_logits, real_logits)
            extra = self.minimize(loss, g)
        finally:
            D.requires_grad_(True)
        # D(G(z)) once more, now judged by the updated D (pytorch/examples' "D(G(z)) before / after").
        return {"loss_G": loss.data, "D_G_z2": _mean_sigmoid(fake_logits.data), **extra}

    # -- sampling -------------------------------------------------------------------------
    def sample(self, n=None, z=None, labels=None, rng=None):
        """Images from G in eval mode (batch norm uses its running statistics).

        Args:
            n (int): how many (ignored when z is given).
            z (numpy array or None): noise (n, nz); None draws it from ``rng``.
            labels (numpy int array or None): conditional models: the class of each image;
                None draws them from ``rng``.
            rng (numpy Generator or None): default rngs['sample'].
        Returns:
            numpy float32 (n, c, h, w) in [-1, 1].
        """
        rng = rng or self.rngs["sample"]
        z = self.draw_noise(n, rng) if z is None else np.asarray(z, dtype=np.float32)
        if self.conditional and labels is None:
            labels = self.draw_labels(len(z), rng)
        G, chunks = self.networks["G"], []
        G.eval()
        try:
            with no_grad():
                for i in range(0, len(z), SAMPLE_CHUNK):
                    y = None if labels is None else self.to_device(np.asarray(labels[i:i + SAMPLE_CHUNK]))
                    x = self.generate(Tensor(self.to_device(z[i:i + SAMPLE_CHUNK])), y)
                    chunks.append(backend.to_cpu(x.data))
        finally:
            G.train()
        return np.concatenate(chunks)

    def sample_grid(self):
        """(images, images per row) of the grid drawn from the fixed inputs."""
        return self.sample(z=self.fixed["z"], labels=self.fixed.get("labels")), None

    # -- bookkeeping ------------------------------------------------------------------------
    def record(self, rows):
        """Append host metric rows (dicts of floats) to ``history``, one value per step in every
        series (NaN where a metric did not exist yet), so the curves share their x axis."""
        for row in rows:
            n = max((len(v) for v in self.history.values()), default=0)
            for key, value in row.items():
                self.history.setdefault(key, [math.nan] * n).append(value)
