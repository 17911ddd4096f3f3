"""The Trainer every GAN model subclasses: its networks, optimizers and Generators, and the D and G steps.

Notation: z is noise (n, nz) ~ N(0, I), y class labels (n,), x images (n, c, h, w) in [-1, 1],
G the generator, D the discriminator (logits (n, 1)), k = ``d_steps``.

One step on a batch of real x (Goodfellow et al. 2014, Algorithm 1):

    D step: fake = G(z); minimise L_D(D(x), D(fake.detach())); Adam on D
    G step (after every k-th D step): minimise L_G(D(fake)); Adam on G, with D's parameters
            frozen so that their gradients are not even computed

The G step reuses the D step's fake, so G runs forward once per step (as pytorch/examples does).
Each step is three pieces: D's verdicts (``d_logits``, ``g_logits``, in gan/verdicts.py), the loss,
and ``minimize`` (the loss plus ``penalties`` and --gp's term, backward, the optimizer); a new
loss or penalty changes one of them. After a WGAN critic's step its weights are clipped (--clip).
A subclass overrides only what differs: ``build`` (its networks, registered by name with
``add_network``), ``generate``/``discriminate``/``draw_labels`` (conditioning) and, for a model
with several G/D pairs (LAPGAN: one per pyramid level), ``train_step`` -- calling ``d_step`` and
``g_step`` with each pair's names -- ``sample`` and ``sample_grid``. Checkpoints save every
registered network, optimizer and Generator by name, so such a model needs nothing more.
The settings and random streams are in ``config``, G's inputs and samples in ``sampler``, D's
inputs and verdicts in ``verdicts``.
"""

import contextlib
import math


from minigan import backend, distributed, optim
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import averaging, conditioning, data_parallel, diagnostics, losses, penalties, techniques, unrolled
from minigan.gan.config import DEFAULT_EPOCHS, RNG_NAMES, TrainConfig, make_generators, seed_dropout
from minigan.gan.sampler import SAMPLE_CHUNK, Sampler
from minigan.gan.verdicts import Verdicts
from minigan.tensor import Tensor

# TrainConfig and the random streams live in config, SAMPLE_CHUNK in sampler: importable from here too
__all__ = ["DEFAULT_EPOCHS", "RNG_NAMES", "SAMPLE_CHUNK", "TrainConfig", "Trainer", "make_generators"]


class Trainer(Sampler, Verdicts):
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
    has_encoder = True  # D is a networks.Discriminator (features, then a head)
    single_pair = True  # one G and one D, named "G" and "D"
    comm = distributed.SINGLE  # the ranks of a data-parallel run (set by gan/data_parallel.attach)
    unrollable = True  # G's loss is D's verdict on its samples (--unroll can differentiate through D's steps)
    packable = True  # D can judge M samples at once (--pack M)
    draws_points = False  # can train on 2-D point data (ring, grid)

    @classmethod
    def check_config(cls, config):
        """Raise MiniganError, before any data is loaded, when ``config`` cannot work."""
        if config.arch is not None:
            raise MiniganError(f"--arch applies to --model cgan only; drop it for --model {cls.name}.")
        conditioning.check(config, cls)

    @classmethod
    def check_new_run(cls, config):
        """Raise MiniganError when a new run of ``config`` cannot start (inputs that only a new run reads,
        such as StackGAN's --stage1 run; a restored run has them in its checkpoint)."""

    @classmethod
    def check_data(cls, image_shape, num_classes):
        """Raise MiniganError when this model cannot train on such images or labels."""

    @classmethod
    def check_shape(cls, image_shape, dataset):
        """Raise MiniganError when this model cannot train on 2-D points, or only on points."""
        if len(image_shape) == 1 and not cls.draws_points:
            raise MiniganError(f"--model {cls.name} draws images, and {dataset} is a set of 2-D points; "
                               "use --model gan (its default) or began.")

    @classmethod
    def check_pack(cls, config):
        """Raise MiniganError when --pack cannot work."""
        if config.pack < 1:
            raise MiniganError(f"--pack must be 1 (off) or more, not {config.pack}.")
        if config.pack == 1:
            return
        if not cls.packable or cls.conditional:
            raise MiniganError(f"--pack concatenates samples for one unconditional D, which --model {cls.name} "
                               "does not have; use --model gan or dcgan.")
        if config.batch_size % config.pack:
            raise MiniganError(f"--pack {config.pack} must divide --batch-size {config.batch_size}: D judges "
                               f"packs of {config.pack} samples, real with real and fake with fake.")
        if config.minibatch_discrimination or losses.get_loss(config.loss).pairwise:
            raise MiniganError("--pack already shows D several samples at once; drop --minibatch-discrimination "
                               "(or a pairwise --loss).")

    def __init__(self, config, image_shape, num_classes=0):
        type(self).check_config(config)
        techniques.check(config, type(self))
        type(self).check_shape(tuple(image_shape), config.dataset)
        type(self).check_data(tuple(image_shape), num_classes)
        if config.device == "gpu":
            backend.require_gpu()
        self.config, self.image_shape, self.num_classes = config, tuple(image_shape), int(num_classes)
        self.loss = losses.get_loss(config.loss)
        self.rngs = make_generators(config.seed)
        self.networks, self._roles = {}, {}
        self.build()
        techniques.install(self)
        if config.spectral_norm:
            penalties.spectral_normalize(self.networks["D"], self.rngs["init"])
        self.mixture_latent = techniques.mixture_latent_of(self.networks["G"]) if self.single_pair else None
        seed_dropout(self.networks, self.rngs)
        self.optimizers = {}
        for name, net in self.networks.items():
            net.to(config.device)
            self.optimizers[name] = self.make_optimizer(net, self._roles[name])
        self.states = self.make_states()
        self.unroller = unrolled.Unroller(self, config.unroll) if config.unroll else None
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

    def make_optimizer(self, net, role):
        """Adam (betas from the config), RMSprop or SGD (penalties.optimizer_name) on ``net``'s parameters."""
        lr = self.lr_for(role)
        if penalties.optimizer_name(self.config) == "rmsprop":
            return optim.RMSprop(net.parameters(), lr=lr)
        if penalties.optimizer_name(self.config) == "sgd":
            return optim.SGD(net.parameters(), lr=lr)
        root = self.config.adam_eps_root  # > 0: the epsilon under the root replaces Adam's own
        epsilons = {"eps": 0.0, "eps_root": root} if root else {}
        return optim.Adam(net.parameters(), lr=lr, betas=(self.config.beta1, self.config.beta2), **epsilons)

    @classmethod
    def critic_norm(cls, config):
        """The norm after D's inner convolutions (batch, layer, instance, none), or None when D has
        no such layer (the MLP discriminators); networks.norm_layers builds it."""
        return None

    def lr_for(self, role):
        own = self.config.lr_g if role == "G" else self.config.lr_d
        return own if own is not None else self.config.lr

    # -- networks -------------------------------------------------------------------------
    def cond_args(self, cond):
        """The extra inputs G and D take for a condition (CGAN: the one-hot labels): a tuple."""
        return ()

    def generate(self, z, cond=None):
        """G(z) as a Tensor of images; ``cond`` is the condition (CGAN: class labels), if any."""
        return self.networks["G"](z, *self.cond_args(cond))

    def make_states(self):
        """Name -> the technique objects saved in checkpoints (historical averages, replay buffer)."""
        cfg, states = self.config, {}
        if cfg.historical_averaging:
            for name, net in self.networks.items():
                states[f"historical_average:{name}"] = techniques.HistoricalAverage(net.parameters(),
                                                                                   cfg.historical_averaging)
        if cfg.replay:
            states["replay"] = techniques.ReplayBuffer(cfg.replay, self.rngs["replay"], cfg.device)
        states.update(averaging.make_averages(self))  # --ema, --ema-d
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
        n = real.shape[0] * self.comm.size  # each rank draws the global batch's noise and keeps its rows
        z = Tensor(self.to_device(distributed.local_rows(self.comm, self.draw_noise(n))))
        fake_labels = self.to_device(distributed.local_rows(self.comm, self.draw_labels(n)))
        g_turn = (self.step + 1) % self.config.d_steps == 0
        with contextlib.nullcontext() if g_turn else no_grad():  # no G graph when G does not step
            fake = self.generate(z, fake_labels)
        real = Tensor(real)
        if g_turn and self.unroller is not None:
            self.unroller.snapshot()  # the unrolled steps start where this D step starts
        d_fake, d_fake_labels = fake, fake_labels
        if "replay" in self.states:  # D sees half a batch of earlier fakes (techniques.ReplayBuffer)
            d_fake, d_fake_labels = self.states["replay"].mix(fake, fake_labels)
        out = self.d_step(real, labels, d_fake, d_fake_labels)
        if g_turn:
            out.update(self.g_step(fake, fake_labels, real, labels))
        return out

    def minimize(self, loss, net, extra_terms=None):
        """loss (+ the penalties of ``net``, + ``extra_terms``) -> backward -> optimizer step on ``net``.
        Returns the penalties' values and the gradient norms, as 0-d device arrays."""
        terms = {**self.penalties(net), **(extra_terms or {})}
        total = loss
        for term in terms.values():
            total = total + term
        self.optimizers[net].zero_grad()
        total.backward()
        data_parallel.average_gradients(self.comm, self.networks[net])  # one process: nothing to do
        norms = diagnostics.device_grad_norms(self.networks[net], net)
        self.optimizers[net].step()
        averaging.update(self, net)  # --ema / --ema-d: the moving average of the weights follows
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
        real_logits, fake_logits = self.d_logits(real_in, cond, fake_in, fake_cond, d)
        if self.config.label_smoothing:  # one-sided: only the real target drops (BCE losses only)
            loss = self.loss.d_loss(real_logits, fake_logits, real_target=1.0 - self.config.label_smoothing)
        else:
            loss = self.loss.d_loss(real_logits, fake_logits)
        gp = {"gp": self.gradient_penalty(real_in, cond, fake_in, fake_cond)} if self.config.gp else None
        extra = self.minimize(loss, d, gp)
        if self.config.clip:
            penalties.clip_weights(self.networks[d], self.config.clip)
        return {"loss_D": loss.data, "D_x": self.mean_output(real_logits.data),
                "D_G_z": self.mean_output(fake_logits.data), **extra}

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
            if self.unroller is not None:  # D's verdict after K more (differentiable) steps of its own
                fake_logits, real_logits = self.unroller.g_logits(fake_in, fake_cond, real, cond)
                f_real = f_fake = None
            else:
                fake_logits, real_logits, f_real, f_fake = self.g_logits(fake_in, fake_cond, real, cond, d)
            if self.config.feature_matching:
                loss = techniques.feature_matching_loss(f_real, f_fake)
            else:
                loss = self.loss.g_loss(fake_logits, real_logits)
            extra = self.minimize(loss, g)
        finally:
            D.requires_grad_(True)
        # D(G(z)) once more, now judged by the updated D (pytorch/examples' "D(G(z)) before / after").
        return {"loss_G": loss.data, "D_G_z2": self.mean_output(fake_logits.data), **extra}

    # -- bookkeeping ------------------------------------------------------------------------
    def attach_data(self, dataset):
        """Called once the training data is loaded (after a resume's restore): a model that needs the
        data itself (the semi-supervised GAN: its labelled images, D's data-dependent init) takes it here."""

    def epoch_hooks(self):
        """The model's own epoch-end hooks (``training`` module docstring), run before the checkpoint is
        written so what they keep in ``states`` is saved with the epoch; none for most models."""
        return ()

    def extra_curves(self):
        """{picture name: {series: values}} plotted beside loss.png at each epoch's end (BEGAN: its
        convergence measure); none for most models."""
        return {}

    def record(self, rows):
        """Append host metric rows (dicts of floats) to ``history``, one value per step in every
        series (NaN where a metric did not exist yet), so the curves share their x axis."""
        for row in rows:
            n = max((len(v) for v in self.history.values()), default=0)
            for key, value in row.items():
                self.history.setdefault(key, [math.nan] * n).append(value)
