"""StackGAN (Zhang et al. 2017), class-conditioned: a stage-I GAN draws a coarse s1-px image from the
class and noise, a stage-II GAN reads that image and the class again and draws the full-size one.

Notation as in gan/stackgan_networks.py: y the class, ŷ one-hot, c = mu + sigma * eps the condition
drawn by conditioning augmentation (CA), s1 the stage-I side (14 for 28 px, 16 for 32 and 64), s
the full side, d the mean over 2x2 blocks (``avg_pool2d``), repeated down to s1.

    stage I:   x1 = G1(z, c1),  c1 = CA1(y, eps1);  D1 judges (d(x), y) against (x1, y)
    stage II:  x2 = G2(x1, c2), c2 = CA2(y, eps2);  D2 judges (x, y) against (x2, y)
    G's loss:  its GAN loss + --kl-weight * KL(N(mu, sigma^2) || N(0, I))  (the paper's lambda = 1)

D is matching-aware (Reed et al. 2016, the paper's section 3.3): besides real images with their own
class and fakes with the class they were asked for, it is shown real images with a wrong class (the
batch's labels rolled by one, any label that stays equal moved on by one), and learns to call that
pair fake too, so it must check that image and class agree, not only that the image looks real:

    L_D = L(D(x, y), real) + 1/2 [L(D(G(z, y), y), fake) + L(D(x, y'), fake)],  y' != y

(with the base Trainer's BCE that is exactly the D loss on real logits and on the fake and wrong
logits stacked). The class enters D's feature map tiled (``MatchingDiscriminator``); with
``--cond projection`` or ``acgan`` D is instead a projection or AC-GAN head on the same image
encoder (gan/conditioning.py; an AC-GAN's D does not see y, so there is no wrong pair).

Stages (``--stage``): "both" trains the two side by side, stage II on stage I's current fakes
(detached: stage II never moves stage I); "1" trains stage I alone; "2" trains stage II on the
frozen stage-I G of another run (``--stage1 RUN``), whose weights are copied into this run's G1 and
saved with it. Sampling chains the stages. The latent is [z, eps1, eps2] in one vector
(``trainer.nz`` numbers), so the fixed grid noise and interpolation work as for other models.
"""

import contextlib
import os

import numpy as np

from minigan import backend, distributed, nn
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import averaging, conditioning, losses
from minigan.gan import stackgan_networks as nets
from minigan.gan.base import SAMPLE_CHUNK, Trainer
from minigan.gan.conditioning import ClassConditioning
from minigan.gan.config import PAPER_KL_WEIGHT
from minigan.tensor import Tensor

STAGE1_SIZES = {28: 14, 32: 16, 64: 16}  # full side -> stage-I side
STAGES = ("1", "2", "both")
GRID_PAIRS = 5  # noise vectors per class in the epoch grid, each drawn by stage I and stage II


def wrong_labels(labels, num_classes):
    """y': the batch's labels rolled by one, where that leaves a label unchanged moved on to (y + 1) mod K."""
    xp = backend.get_array_module(labels)
    rolled = xp.roll(labels, 1)
    return xp.where(rolled == labels, (labels + 1) % num_classes, rolled)


def check_stage1_run(config):
    """Raise MiniganError unless ``config.stage1`` is a stackgan run that trained stage I on this data."""
    from minigan.gan import checkpoint
    from minigan.gan.training import canonical_dataset

    if config.stage1 is None:
        raise MiniganError("--stage 2 trains stage II on a trained stage I; name its run with --stage1 RUN.")
    if not os.path.exists(config.stage1):
        raise MiniganError(f"--stage1 {config.stage1} does not exist; give a stackgan run folder or checkpoint.")
    meta = checkpoint.load(checkpoint.find(config.stage1)).meta
    theirs = meta["config"] if isinstance(meta.get("config"), dict) else {}
    if meta["model"] != "stackgan":
        raise MiniganError(f"--stage1 {config.stage1} holds a {meta['model']} model; give a stackgan run.")
    if theirs.get("stage") == "2":
        raise MiniganError(f"--stage1 {config.stage1} trained stage II only; give a run of --stage 1 or both.")
    if meta["dataset"] != canonical_dataset(config.dataset):
        raise MiniganError(f"--stage1 {config.stage1} was trained on {meta['dataset']}, not {config.dataset}; "
                           "stage II must see the data stage I learned.")
    size = meta["image_shape"][-1]
    if config.image_size is not None and config.image_size != size:
        raise MiniganError(f"--stage1 {config.stage1} draws for {size}x{size} images, not --image-size "
                           f"{config.image_size}; use --image-size {size}.")
    if theirs.get("nz", config.nz) != config.nz:
        raise MiniganError(f"--stage1 {config.stage1} has --nz {theirs['nz']}, not {config.nz}; use --nz {theirs['nz']}.")


class StackGANTrainer(ClassConditioning, Trainer):
    """StackGAN: G1/D1 at s1 px and G2/D2 at full size (``--stage`` picks which train).

    The class attributes size the networks (tests shrink them).
    """

    name = "stackgan"
    has_encoder = False  # its D's judge through a joint head: no feature matching, T-GAN, ...
    single_pair = False
    packable = False
    unrollable = False
    c_dim = 16
    g_width = 64
    d_width = 64
    res_blocks = 2

    @classmethod
    def check_config(cls, config):
        super().check_config(config)
        if config.stage not in STAGES:
            raise MiniganError(f"unknown --stage {config.stage!r}; choose 1, 2 or both.")
        if config.image_size is not None and config.image_size not in STAGE1_SIZES:
            raise MiniganError(f"stackgan draws 28, 32 or 64 px images, not {config.image_size}; "
                               "use --image-size 28, 32 or 64.")
        if losses.get_loss(config.loss).pairwise or config.loss.startswith("relativistic"):
            raise MiniganError(f"--loss {config.loss} compares real and fake logits in pairs, and stackgan's D "
                               "also judges mismatched pairs; use a loss of separate terms (e.g. non-saturating).")
        if config.stage == "2" and config.stage1 is None:
            raise MiniganError("--stage 2 trains stage II on a trained stage I; name its run with --stage1 RUN.")
        if config.stage != "2" and config.stage1 is not None:
            raise MiniganError(f"--stage1 gives --stage 2 its stage I; drop it for --stage {config.stage}.")

    @classmethod
    def check_new_run(cls, config):
        if config.stage == "2":
            check_stage1_run(config)

    @classmethod
    def check_data(cls, image_shape, num_classes):
        if num_classes < 2:
            raise MiniganError("stackgan needs a dataset with class labels and this one has none; "
                               "use --model dcgan or lapgan for unlabelled images.")
        c, h, w = image_shape
        if h != w or h not in STAGE1_SIZES:
            raise MiniganError(f"stackgan draws square 28, 32 or 64 px images, not {h}x{w}; pass --image-size.")

    # -- building -----------------------------------------------------------------------------
    @property
    def sizes(self):
        """(s1, s): the stage-I and the full side."""
        return STAGE1_SIZES[self.image_shape[-1]], self.image_shape[-1]

    @property
    def stages(self):
        """The stages whose G this run has: (1,) or (1, 2) (--stage 2 holds the frozen G1 too)."""
        return (1,) if self.config.stage == "1" else (1, 2)

    @property
    def nz(self):
        """Length of the whole latent [z, eps1, eps2]: config.nz plus c_dim per stage."""
        return self.config.nz + self.c_dim * len(self.stages)

    def build(self):
        rng, K, c = self.rngs["init"], self.num_classes, self.image_shape[0]
        s1, s = self.sizes
        G1 = nets.StageIGenerator(self.config.nz, K, self.c_dim, s1, c, self.g_width, rng=rng)
        self.add_network("G1", nn.init.dcgan_(G1, rng), "G")
        if self.config.stage != "2":
            self.add_network("D1", self.build_discriminator(s1, rng), "D")
        if self.config.stage == "1":
            return
        G2 = nets.StageIIGenerator(K, self.c_dim, s1, s, c, self.g_width, self.res_blocks, rng=rng)
        self.add_network("G2", nn.init.dcgan_(G2, rng), "G")
        self.add_network("D2", self.build_discriminator(s, rng), "D")
        if self.config.stage == "2" and os.path.exists(self.config.stage1):
            self.config.stage1 = os.path.abspath(self.config.stage1)  # the run records where its stage I came from
            self.load_stage1()

    def build_discriminator(self, size, rng):
        c, K = self.image_shape[0], self.num_classes
        if self.cond_kind == "concat":
            D = nets.MatchingDiscriminator(K, size, c, self.d_width, rng=rng)
        else:
            encoder, shape = nets.image_encoder(size, c, self.d_width)
            D = conditioning.build_discriminator(self.cond_kind, encoder, shape, K, rng=rng)
        return nn.init.dcgan_(D, rng)

    def load_stage1(self):
        """Copy the --stage1 run's G1 into this run's. A rebuilt run (sample, eval, resume) reads its own
        checkpoint afterwards, which holds that G1 too: it needs the stage-I run no more."""
        from minigan.gan import checkpoint

        state = checkpoint.load(checkpoint.find(self.config.stage1)).group("net/G1")
        try:
            self.networks["G1"].load_state_dict(state)
        except (KeyError, ValueError) as e:
            raise MiniganError(f"--stage1 {self.config.stage1}'s stage I does not fit this run ({e}); "
                               "train stage II with the settings stage I had.") from e

    def d_network(self, x):
        return "D1" if x.shape[-1] == self.sizes[0] else "D2"

    # -- one stage ------------------------------------------------------------------------------
    def split_latent(self, latent):
        """(z, [eps per stage]) of raw latents (n, self.nz)."""
        nz, k = self.config.nz, self.c_dim
        return latent[:, :nz], [latent[:, nz + i * k:nz + (i + 1) * k] for i in range(len(self.stages))]

    def downsample(self, x):
        """d(x), repeated until the side is s1: the real images stage I learns from."""
        while x.shape[-1] > self.sizes[0]:
            x = F.avg_pool2d(x, 2)
        return x

    def generate_stage(self, stage, latent, labels, x1=None):
        """G1(z, ŷ, eps1), or G2(x1, ŷ, eps2) (x1 detached: stage II never moves stage I), from raw
        latents (n, self.nz) and labels on the device."""
        z, eps = self.split_latent(latent)
        y = self.cond_args(labels)[0]
        if stage == 1:
            return self.networks["G1"](Tensor(z), y, Tensor(eps[0]))
        return self.networks["G2"](x1.detach(), y, Tensor(eps[1]))

    def generate_stages(self, latent, labels):
        """[x1, x2 (when this run has stage II)] as Tensors."""
        xs = [self.generate_stage(1, latent, labels)]
        if len(self.stages) == 2:
            xs.append(self.generate_stage(2, latent, labels, xs[0]))
        return xs

    def generate(self, z, cond=None):
        """Full-size images: stage II's, or a stage-I run's images enlarged (nearest neighbour)."""
        x = self.generate_stages(z.data, cond)[-1]
        while x.shape[-1] < self.image_shape[-1]:
            x = F.upsample_nearest2d(x, 2)
        return x

    # -- training -------------------------------------------------------------------------------
    def d_logits(self, real_in, cond, fake_in, fake_cond, d="D"):
        """Real with its class, and the fakes stacked with real images under a wrong class (a D that sees y)."""
        real, fake = super().d_logits(real_in, cond, fake_in, fake_cond, d)
        self._fake_mean = self.mean_output(fake.data)
        if self.cond_kind == "acgan":
            return real, fake
        wrong = self.judge(real_in, wrong_labels(cond, self.num_classes), d)[0]
        self._wrong_mean = self.mean_output(wrong.data)
        return real, F.concat([fake, wrong], axis=0)

    def d_step(self, real, cond, fake, fake_cond, d="D"):
        out = super().d_step(real, cond, fake, fake_cond, d)
        out["D_G_z"] = self._fake_mean  # the fakes alone, without the mismatched real pairs
        if self.cond_kind != "acgan":
            out["D_wrong"] = self._wrong_mean
        return out

    def penalties(self, net):
        terms = super().penalties(net)
        weight = PAPER_KL_WEIGHT if self.config.kl_weight is None else self.config.kl_weight
        if net.startswith("G") and weight:
            terms["kl"] = weight * self.networks[net].ca.kl
        return terms

    def train_step(self, real, labels=None):
        """One D step per trained stage, and their G steps after every k-th D step.

        Returns:
            dict of 0-d device arrays: loss_D1, loss_G1, kl1 (stage I), loss_D2, loss_G2, kl2 (stage II),
            D_x and D_G_z averaged over the stages.
        """
        n = real.shape[0] * self.comm.size
        latent = self.to_device(distributed.local_rows(self.comm, self.draw_noise(n)))
        fake_labels = self.to_device(distributed.local_rows(self.comm, self.draw_labels(n)))
        g_turn = (self.step + 1) % self.config.d_steps == 0
        frozen = self.config.stage == "2"
        with contextlib.nullcontext() if g_turn and not frozen else no_grad(), self.in_eval(["G1"] if frozen else []):
            x1 = self.generate_stage(1, latent, fake_labels)
        real = Tensor(real)
        out, rows = {}, []
        for stage in (2,) if frozen else self.stages:
            target = real if stage == 2 else self.downsample(real)
            with contextlib.nullcontext() if g_turn else no_grad():
                fake = x1 if stage == 1 else self.generate_stage(2, latent, fake_labels, x1)
            row = self.d_step(target, labels, fake, fake_labels, d=f"D{stage}")
            if g_turn:
                row.update(self.g_step(fake, fake_labels, target, labels, g=f"G{stage}", d=f"D{stage}"))
            out.update({f"{k}{stage}": v for k, v in row.items() if k.startswith(("loss", "kl", "class", "D_wrong"))})
            rows.append(row)
        out["D_x"] = sum(r["D_x"] for r in rows) / len(rows)
        out["D_G_z"] = sum(r["D_G_z"] for r in rows) / len(rows)
        return out

    # -- sampling -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def in_eval(self, names):
        """The named networks in eval mode (batch norm on running statistics) inside the block."""
        for name in names:
            self.networks[name].eval()
        try:
            yield
        finally:
            for name in names:
                self.networks[name].train()

    def sample_stages(self, n=None, z=None, labels=None, rng=None):
        """Every stage's images from the chained sampler, in eval mode, on the host.

        Returns:
            list of numpy float32 arrays in [-1, 1]: (n, c, s1, s1), and (n, c, s, s) with stage II.
        """
        rng = rng or self.rngs["sample"]
        z = self.draw_noise(n, rng) if z is None else np.asarray(z, dtype=np.float32)
        labels = self.draw_labels(len(z), rng) if labels is None else np.asarray(labels)
        chunks = []
        with self.in_eval([f"G{s}" for s in self.stages]), no_grad(), averaging.swapped_in(self, "G"):
            for i in range(0, len(z), SAMPLE_CHUNK):
                xs = self.generate_stages(self.to_device(z[i:i + SAMPLE_CHUNK]), self.to_device(labels[i:i + SAMPLE_CHUNK]))
                chunks.append([backend.to_cpu(x.data) for x in xs])
        return [np.concatenate(parts) for parts in zip(*chunks)]

    def sample(self, n=None, z=None, labels=None, rng=None, stage=None):
        """Full-size images: numpy float32 (n, c, s, s) in [-1, 1].

        Args:
            stage (int or None): 1: stage I's images, enlarged (each pixel a block, nearest neighbour);
                2 or None: stage II's (a stage-I run has only stage I, enlarged).
        """
        if stage not in (None, *self.stages):
            raise MiniganError(f"this StackGAN run has stages {self.stages}, not stage {stage}.")
        xs = self.sample_stages(n, z, labels, rng)
        x = xs[-1] if stage is None else xs[stage - 1]
        factor = self.image_shape[-1] // x.shape[-1]
        return x.repeat(factor, axis=2).repeat(factor, axis=3)

    def make_fixed_inputs(self):
        """One row per class, the same GRID_PAIRS latents in every row."""
        z = self.draw_noise(GRID_PAIRS, self.rngs["sample"])
        labels = np.repeat(np.arange(self.num_classes, dtype=np.int64), GRID_PAIRS)
        return {"z": np.tile(z, (self.num_classes, 1)), "labels": labels}

    def sample_grid(self):
        """One row per class: stage I (enlarged) and stage II side by side for each latent."""
        xs = self.sample_stages(z=self.fixed["z"], labels=self.fixed["labels"])
        full = self.image_shape[-1]
        xs = [x.repeat(full // x.shape[-1], axis=2).repeat(full // x.shape[-1], axis=3) for x in xs]
        pairs = np.stack(xs, axis=1).reshape(-1, *xs[0].shape[1:])  # x1 of latent i, x2 of latent i, ...
        return pairs, GRID_PAIRS * len(xs)
