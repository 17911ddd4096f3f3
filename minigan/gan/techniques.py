"""The training techniques of the GAN literature that change more than the loss, one flag each.

Notation as in base.py: x data, z noise, G, D; f(x) the features D's encoder gives x (the input
of D's head, see networks.Discriminator); theta a player's parameters; lambda a weight.

    --feature-matching           (Salimans et al. 2016, 3.1)  G minimises ||mean f(x) - mean f(G(z))||^2 / F
    --minibatch-discrimination B (Salimans et al. 2016, 3.2)  D's head sees each sample's similarity to
                                  the rest of its batch (nn.MinibatchDiscrimination)
    --vbn                        (Salimans et al. 2016, 3.5)  G's batch norms take their statistics from
                                  a fixed reference batch plus the example itself (nn.VirtualBatchNorm)
    --historical-averaging L     (Salimans et al. 2016, 3.3)  each player's loss += L ||theta - mean of
                                  its past thetas||^2
    --replay N                   (Shrivastava et al. 2017, 2.3)  D sees half of each fake batch from a
                                  buffer of N earlier fakes
    --latent mixture             (Gurumurthy et al. 2017, DeLiGAN)  z drawn from a learned mixture of
                                  --components K Gaussians, G's loss += --mixture-reg * mean (1 - sigma)^2

(One-sided label smoothing, instance noise and the losses live in losses.py and base.py.)
``check`` refuses the combinations that cannot work before any data is loaded; ``install``
changes the networks a model built; the Trainer calls the rest from its D and G steps.
"""

import numpy as np

from minigan import backend, nn
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.gan import averaging, losses, penalties
from minigan.tensor import Tensor

MBD_KERNEL_DIM = 5  # C of minibatch discrimination: each of the B kernels is a C-vector (the paper's 5)
VBN_REFERENCE_SIZE = 64  # images in virtual batch norm's fixed reference batch
LATENTS = ("gaussian", "mixture")


# -- refusing what cannot combine ----------------------------------------------------------------
def check(config, model):
    """Raise MiniganError when the techniques in ``config`` cannot work with each other or with
    ``model`` (a Trainer class), naming the reason."""
    for field, what in (("minibatch_discrimination", "0 (off) or more"), ("replay", "0 (off) or more"),
                        ("historical_averaging", "0 (off) or more"), ("mixture_reg", "0 or more")):
        if getattr(config, field) < 0:
            raise MiniganError(f"--{field.replace('_', '-')} must be {what}, not {getattr(config, field)}.")
    if 0 < config.replay < config.batch_size:
        raise MiniganError(f"--replay {config.replay} holds less than one batch; keep at least --batch-size "
                           f"{config.batch_size} fakes (the paper: many batches' worth).")
    if config.latent not in LATENTS:
        raise MiniganError(f"unknown --latent {config.latent!r}; choose gaussian or mixture.")
    if config.latent == "mixture" and config.components < 1:
        raise MiniganError(f"a mixture latent needs --components K of 1 or more, not {config.components}.")
    pairwise = losses.get_loss(config.loss).pairwise
    needs_encoder = [name for name, on in (("--feature-matching", config.feature_matching),
                                           ("--minibatch-discrimination", config.minibatch_discrimination),
                                           (f"--loss {config.loss}", pairwise)) if on]
    if needs_encoder and not model.has_encoder:
        raise MiniganError(f"{needs_encoder[0]} needs a discriminator with an encoder (features, then a head), "
                           f"and --model {model.name}'s have none; use --model gan, dcgan or cgan.")
    one_pair = [name for name, on in (("--vbn", config.vbn), ("--latent mixture", config.latent == "mixture"),
                                      ("--replay", config.replay)) if on]
    if one_pair and not model.single_pair:
        raise MiniganError(f"{one_pair[0]} works with a model of one generator and one discriminator, "
                           f"and --model {model.name} has a pair per pyramid level; use --model gan, dcgan or cgan.")
    if pairwise and config.minibatch_discrimination:
        raise MiniganError(f"--minibatch-discrimination compares the images of a batch, but --loss {config.loss} "
                           "feeds D's head differences of paired features; use one or the other.")
    penalties.check(config, model)
    model.check_pack(config)
    from minigan.gan import unrolled  # gan/unrolled.py imports nothing of this module; late to keep floors plain

    unrolled.check(config, model)


def describe(config):
    """The techniques a config turns on, each in a few words (for the run's header)."""
    used = []
    if config.label_smoothing:
        used.append(f"one-sided label smoothing {config.label_smoothing:g}")
    if config.instance_noise:
        used.append(f"instance noise {config.instance_noise:g} annealed to 0")
    if config.feature_matching:
        used.append("feature matching")
    if config.minibatch_discrimination:
        used.append(f"minibatch discrimination ({config.minibatch_discrimination} kernels)")
    if config.vbn:
        used.append(f"virtual batch norm in G (reference batch of {VBN_REFERENCE_SIZE})")
    if config.historical_averaging:
        used.append(f"historical averaging {config.historical_averaging:g}")
    if config.replay:
        used.append(f"replay buffer of {config.replay} fakes")
    if config.latent == "mixture":
        used.append(f"mixture latent of {config.components} Gaussians (sigma penalty {config.mixture_reg:.3g})")
    if config.clip:
        used.append(f"weight clipping to [-{config.clip:g}, {config.clip:g}]")
    if config.gp:
        used.append(f"gradient penalty {config.gp} (weight {config.gp_weight:g})")
    if config.spectral_norm:
        used.append("spectral norm in D")
    if config.d_norm:
        used.append(f"{config.d_norm} norm in D")
    if config.unroll:
        used.append(f"G against D unrolled {config.unroll} steps")
    if config.pack > 1:
        used.append(f"D judges packs of {config.pack} samples (PacGAN)")
    return used


# -- changing the networks ------------------------------------------------------------------------
def install(trainer):
    """Apply the config's network changes to the trainer's freshly built G and D, drawing any new
    weights from rngs['init'] (so a run is still fixed by its seed): minibatch discrimination in
    D's head, the mixture latent in front of G, virtual batch norm in G."""
    cfg, rng = trainer.config, trainer.rngs["init"]
    if cfg.minibatch_discrimination:
        D = trainer.networks["D"]
        A, B = D.num_features, cfg.minibatch_discrimination
        D.head = nn.Sequential(nn.Flatten(), nn.MinibatchDiscrimination(A, B, MBD_KERNEL_DIM, rng=rng),
                               nn.Linear(A + B, 1, rng=rng))
    if cfg.latent == "mixture":
        latent = nn.MixtureLatent(cfg.components, cfg.nz, rng=rng)
        trainer.networks["G"] = MixtureGenerator(latent, trainer.networks["G"])
    if cfg.vbn:
        G = trainer.networks["G"]
        if nn.replace_batch_norm(G) == 0:
            raise MiniganError(f"--vbn replaces batch norm in G, and --model {trainer.name}'s G has none.")
        z = trainer.draw_noise(VBN_REFERENCE_SIZE, rng)
        cond = trainer.cond_args(trainer.draw_labels(VBN_REFERENCE_SIZE, rng))  # CGAN: labels as G takes them
        trainer.networks["G"] = nn.ReferenceBatch(G, z, *(c.data for c in cond))


class MixtureGenerator(nn.Module):
    """G(v, *cond) = body(latent(v), *cond): DeLiGAN's mixture latent in front of any generator.
    v = [eps, w] of nz + K numbers (``Trainer.draw_noise``); ``latent`` maps it to z."""

    def __init__(self, latent, body):
        super().__init__()
        self.latent, self.body = latent, body

    def forward(self, v, *cond):
        return self.body(self.latent(v), *cond)


def mixture_latent_of(module):
    """The nn.MixtureLatent inside ``module`` (a G), or None."""
    return next((m for m in module.modules() if isinstance(m, nn.MixtureLatent)), None)


def mixture_one_hot(n, components, rng):
    """w: (n, K) one-hot rows, each component drawn uniformly (on the device ``rng`` draws on)."""
    picks = rng.integers(0, components, n)
    return backend.get_array_module(picks).eye(components, dtype=np.float32)[picks]


# -- the extra loss terms ------------------------------------------------------------------------
def feature_matching_loss(real_features, fake_features):
    """G's loss under feature matching (Salimans et al. 2016, section 3.1):

        L_G = || mean_i f(x_i) - mean_i f(G(z_i)) ||_2^2 / F

    over the F features of D's encoder; ``real_features`` are a constant here (computed without
    a graph). The paper writes the plain squared norm; dividing by F, as its code does, keeps
    the loss and gradient norms on the scale of the other losses (Adam itself ignores the scale).
    """
    diff = F.mean(real_features, axis=0) - F.mean(fake_features, axis=0)
    return F.mean(diff * diff)


class HistoricalAverage(averaging.SavedAverages):
    """Historical averaging (Salimans et al. 2016, 3.3): the penalty

        L ||theta - (1/t) sum_{i=1..t} theta[i]||^2

    where theta[i] are the player's parameters at its i-th update (the current one included, so
    the penalty is 0 at the first step). The running mean is kept on the device and saved in
    checkpoints, so a resumed run goes on with the same average.

    Args:
        params (list of Parameter): the player's parameters.
        weight (float): L.
    """

    def __init__(self, params, weight):
        self.params, self.weight = list(params), float(weight)
        self.averages = [backend.get_array_module(p.data).zeros_like(p.data) for p in self.params]
        self.count = 0

    def penalty(self):
        """Fold the current parameters into the mean, then return L ||theta - mean||^2 (a Tensor
        whose gradient, 2 L (theta - mean), reaches the parameters)."""
        self.count += 1
        for avg, p in zip(self.averages, self.params):
            avg += (p.data - avg) / self.count  # the running mean of theta[1..t], in place
        total = None
        for avg, p in zip(self.averages, self.params):
            diff = p - Tensor(avg)
            term = F.sum(diff * diff)
            total = term if total is None else total + term
        return self.weight * total


class ReplayBuffer:
    """A buffer of earlier fakes shown to D (Shrivastava et al. 2017, section 2.3).

    While it fills, D sees the current fakes and they are stored. Once full, half of each fake
    batch D sees is swapped with randomly chosen stored fakes: those go to D, the current ones
    take their places in the buffer. G's step still uses its current fakes. D so keeps being
    trained on what G made before, and G cannot win by jumping back to a mode D forgot.

    Args:
        capacity (int): images kept.
        rng (numpy Generator): picks the slots (saved in checkpoints with the other Generators).
        device (str): cpu or gpu, where the buffer lives.
    """

    def __init__(self, capacity, rng, device="cpu"):
        self.capacity, self.rng, self.device = int(capacity), rng, device
        self.images = self.labels = None
        self.size = 0

    def mix(self, fake, labels=None):
        """(images, labels) for D: a Tensor without a graph, and the matching labels (or None)."""
        x = fake.data
        xp = backend.get_array_module(x)
        if self.images is None:
            self.images = xp.zeros((self.capacity,) + x.shape[1:], dtype=x.dtype)
            if labels is not None:
                self.labels = xp.zeros(self.capacity, dtype=labels.dtype)
        n = len(x)
        if self.size < self.capacity:  # still filling: store, show D the current batch
            m = min(n, self.capacity - self.size)
            self.images[self.size:self.size + m] = x[:m]
            if labels is not None:
                self.labels[self.size:self.size + m] = labels[:m]
            self.size += m
            return Tensor(x), labels
        half = n // 2
        slots = xp.asarray(self.rng.choice(self.capacity, half, replace=False))
        mixed = x.copy()
        mixed[:half], self.images[slots] = self.images[slots], x[:half]
        if labels is not None:
            labels = labels.copy()
            labels[:half], self.labels[slots] = self.labels[slots], labels[:half].copy()
        return Tensor(mixed), labels

    def state_dict(self):
        state = {"size": np.asarray(self.size)}
        if self.images is not None:
            state["images"] = self.images
        if self.labels is not None:
            state["labels"] = self.labels
        return state

    def load_state_dict(self, state):
        self.size = int(state["size"])
        self.images, self.labels = (backend.to_device(backend.to_cpu(state[k]), self.device) if k in state else None
                                    for k in ("images", "labels"))
