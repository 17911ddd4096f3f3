"""The semi-supervised GAN (Salimans et al. 2016, "Improved Techniques for Training GANs", section 5;
openai/improved-gan's mnist_svhn_cifar10/train_mnist_feature_matching.py): D is a classifier of the
K data classes, G's fakes are its class K + 1, and a handful of labels teach it what the unlabelled
data and the fakes have already shaped.

Notation: l(x) = D's K logits (K = 10); the fake class's logit is fixed at 0, so with
Z(x) = sum_k exp l_k(x) and LSE = log Z:

    p(y = k | x, real) = softmax(l)_k           D(x) = p(real | x) = Z / (Z + 1) = sigmoid(LSE)

    L_lab = mean over labelled (x, y) of  -l_y(x) + LSE(l(x))                 cross-entropy
    L_unl = -1/2 mean_x_unl LSE + 1/2 mean_x_unl softplus(LSE) + 1/2 mean_z softplus(LSE(l(G(z))))
          = -1/2 mean log D(x_unl) - 1/2 mean log(1 - D(G(z)))                (log D = LSE - softplus(LSE))
    L_D = L_lab + L_unl                     one Adam step of D on a labelled, an unlabelled and a fake batch
    L_G = ||mean f(x_unl') - mean f(G(z))||^2 / F     feature matching on D's last hidden layer (F = 250),
          x_unl' a second unlabelled batch from its own shuffle of the data

Networks (permutation-invariant MNIST: an image is 784 numbers, D knows nothing of 2-D):

    G: u ~ U(0, 1)^100 -> Linear 500 -> BN -> softplus -> Linear 500 -> BN -> softplus
       -> weight-normed Linear 784 -> sigmoid                       (an image in [0, 1])
    D: noise 0.3 -> [weight-normed Linear -> ReLU -> noise 0.5] for 1000, 500, 250, 250, 250
       -> weight-normed Linear 10                                   (noise: nn.GaussianNoise, training only)

as the code has them: D's weights start N(0, 0.1) and are set by the data-dependent init
(nn.utils.data_dependent_init) on 500 training images; D's hidden scales g stay where that init put
them (only the last layer trains its g). Two departures, both measured (docs/semi-supervised.md): G's
batch norms keep their trained scale (the code's have none) and G's output layer starts with g = ||w||
of PyTorch's init (the code's at 1) -- with the code's G, D won from the first epochs and the test
error fell about half as fast per epoch. Adam is the code's (Note [Adam's epsilon]). minigan's images
live in [-1, 1]: G's sigmoid output is mapped there, and D maps its input back to [0, 1] first, so the
noise levels mean what they mean in the paper.

Labels: ``--labels N`` picks N/K images of each class (``select_labelled``, seeded by --label-seed and
recorded in checkpoints); labelled batches of --batch-size cycle through shuffles of those N, the
unlabelled batches are the whole training set. Test error is measured with the exponential moving
average of D's weights (--ema-d, the paper's Polyak averaging with decay 0.9999) at each epoch's end.
``--supervised-only`` trains the same D on L_lab alone: the baseline that shows what the GAN adds.
"""

import numpy as np

from minigan import backend, data, images, nn
from minigan import functional as F
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan import averaging, techniques
from minigan.gan.base import Trainer
from minigan.gan.networks import Discriminator
from minigan.gan.verdicts import _mean_sigmoid
from minigan.tensor import Tensor

# Note [Adam's epsilon]
# The code's Adam (nn.adam_updates) divides by sqrt(v_hat + 1e-8), PyTorch's by sqrt(v_hat) + 1e-8.
# At G's gradient scale here (RMS per weight ~2e-4) the two differ by < 10%. D's hidden layers are
# another matter: by epoch 100 their weight gradients are ~4-6e-5 per weight (RMS, from the logged
# layer norms), below sqrt(1e-8) = 1e-4, so the code's rule moves them only ~0.4x as far as PyTorch's,
# less as the gradients shrink: an annealing the code's D gets and PyTorch's rule does not. So ssgan's
# RECIPE sets --adam-eps-root 1e-8 (optim.Adam's eps_root, eps 0 after the root): the code's rule, for
# both players. Runs saved before the option trained with PyTorch's rule and keep it when resumed
# (TrainConfig.adam_eps_root defaults to 0); docs/semi-supervised.md compares the two.

G_HIDDEN = (500, 500)
D_HIDDEN = (1000, 500, 250, 250, 250)
INPUT_NOISE, HIDDEN_NOISE = 0.3, 0.5
INIT_STD = 0.1  # improved-gan's nn.DenseLayer: theta ~ N(0, 0.1)
INIT_IMAGES = 500  # the data-dependent init's batch
TEST_CHUNK = 1000
# `minigan train --model ssgan` uses these unless the command line says otherwise (the MNIST script's)
RECIPE = {"batch_size": 100, "lr": 0.003, "beta1": 0.5, "adam_eps_root": 1e-8, "ema_d": 0.9999, "labels": 100}
# options that change a loss or a network the paper's model fixes
FIXED = ("label_smoothing", "instance_noise", "feature_matching", "minibatch_discrimination", "vbn",
         "historical_averaging", "replay", "clip", "gp", "spectral_norm", "d_norm", "unroll")


class Affine(nn.Module):
    """x * scale + shift: between minigan's [-1, 1] images and the paper's [0, 1]."""

    def __init__(self, scale, shift):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return x * self.scale + self.shift

    def extra_repr(self):
        return f"scale={self.scale}, shift={self.shift}"


def generator(nz, image_shape, rng):
    """G of the module docstring: uniform noise (n, nz) -> images (n, c, h, w) in [-1, 1]."""
    layers, width = [], nz
    for size in G_HIDDEN:
        layers += [nn.Linear(width, size, bias=False, rng=rng), nn.BatchNorm1d(size), nn.Softplus()]
        width = size
    out = nn.utils.weight_norm(nn.Linear(width, int(np.prod(image_shape)), rng=rng))
    out.module.bias.data[...] = 0
    return nn.Sequential(*layers, out, nn.Sigmoid(), Affine(2.0, -1.0), nn.Unflatten(1, image_shape))


def _dense(n_in, n_out, rng, train_g):
    """A weight-normed Linear with improved-gan's init: v ~ N(0, 0.1), g = 1, b = 0 (before the data init)."""
    layer = nn.Linear(n_in, n_out, rng=rng)
    layer.weight.data[...] = rng.normal(0.0, INIT_STD, layer.weight.shape)
    layer.bias.data[...] = 0
    wn = nn.utils.weight_norm(layer, train_g=train_g)
    g = wn.module.weight_g
    (g.data if isinstance(g, Tensor) else g)[...] = 1  # a Parameter when trained, else a buffer
    return wn


def discriminator(image_shape, num_classes, rng):
    """D of the module docstring: images (n, c, h, w) in [-1, 1] -> K logits; its encoder ends at the
    last hidden layer's ReLU (the features G matches), its head is that layer's noise and the output layer."""
    layers, width = [nn.Flatten(), Affine(0.5, 0.5), nn.GaussianNoise(INPUT_NOISE)], int(np.prod(image_shape))
    for i, size in enumerate(D_HIDDEN):
        if i:
            layers.append(nn.GaussianNoise(HIDDEN_NOISE))
        layers += [_dense(width, size, rng, train_g=False), nn.ReLU()]
        width = size
    head = nn.Sequential(nn.GaussianNoise(HIDDEN_NOISE), _dense(width, num_classes, rng, train_g=True))
    return Discriminator(nn.Sequential(*layers), head, (width,))


def semi_supervised_losses(lab_logits, labels, unl_logits, fake_logits):
    """(L_lab, L_unl) of the module docstring, as scalar Tensors (L_unl None without unl/fake logits)."""
    loss_lab = F.cross_entropy(lab_logits, labels)
    if unl_logits is None:
        return loss_lab, None
    lse_unl, lse_fake = F.logsumexp(unl_logits, axis=1), F.logsumexp(fake_logits, axis=1)
    loss_unl = (-0.5 * F.mean(lse_unl) + 0.5 * F.mean(F.softplus(lse_unl))
                + 0.5 * F.mean(F.softplus(lse_fake)))
    return loss_lab, loss_unl


def select_labelled(labels, n_labels, num_classes, seed):
    """The indices of N labelled examples, N / K of each class: the first of each class in a shuffle
    of the training set seeded by ``seed`` (as the script's data_rng). Sorted by class."""
    order = np.random.default_rng(seed).permutation(len(labels))
    per_class = n_labels // num_classes
    picked = []
    for k in range(num_classes):
        of_k = order[labels[order] == k][:per_class]
        if len(of_k) < per_class:
            raise MiniganError(f"--labels {n_labels} needs {per_class} images of class {k}, and the training "
                               f"data has {len(of_k)}; use fewer labels (or more data than --limit gives).")
        picked.append(of_k)
    return np.concatenate(picked).astype(np.int64)


class Shuffled:
    """An endless stream of batches of indices into ``n`` items: shuffles of range(n) laid end to end
    (so N labelled images and a batch larger than N work: the script's labelled batches), drawn from
    ``rng``. Its state, the indices not yet handed out, is saved in checkpoints."""

    def __init__(self, n, batch_size, rng):
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.queue = np.zeros(0, dtype=np.int64)

    def next(self):
        while len(self.queue) < self.batch_size:
            self.queue = np.concatenate([self.queue, self.rng.permutation(self.n).astype(np.int64)])
        batch, self.queue = self.queue[:self.batch_size], self.queue[self.batch_size:]
        return batch

    def state_dict(self):
        return {"queue": self.queue}

    def load_state_dict(self, state):
        self.queue = np.asarray(state["queue"], dtype=np.int64).copy()


class Labelled(Shuffled):
    """The labelled examples (their indices into the training set) and their shuffled batches."""

    def __init__(self, batch_size, rng):
        super().__init__(0, batch_size, rng)
        self.indices = np.zeros(0, dtype=np.int64)

    def state_dict(self):
        return {"indices": self.indices, **super().state_dict()}

    def load_state_dict(self, state):
        self.indices = np.asarray(state["indices"], dtype=np.int64).copy()
        self.n = len(self.indices)
        super().load_state_dict(state)


class ErrorCurve:
    """D's test errors at each epoch's end (with the averaged weights), kept in checkpoints."""

    def __init__(self):
        self.epochs, self.errors = [], []

    def state_dict(self):
        return {"epochs": np.asarray(self.epochs, dtype=np.int64), "errors": np.asarray(self.errors, dtype=np.int64)}

    def load_state_dict(self, state):
        self.epochs, self.errors = state["epochs"].tolist(), state["errors"].tolist()


class SSGANTrainer(Trainer):
    """The semi-supervised GAN of the module docstring."""

    name = "ssgan"
    unrollable = False
    packable = False
    classifier = True  # D classifies the data's classes (--labels)

    @classmethod
    def check_config(cls, config):
        if config.arch is not None:
            raise MiniganError("--arch applies to --model cgan only; drop it for --model ssgan.")
        if config.labels is None:
            raise MiniganError("--model ssgan needs --labels N, the labelled images (the paper: 20 to 200).")
        if config.loss != "non-saturating" or config.optimizer not in (None, "adam") or config.d_steps != 1:
            raise MiniganError("--model ssgan has the paper's losses and Adam, one D step per G step; drop --loss, "
                               "--optimizer and --d-steps.")
        for field in FIXED:
            if getattr(config, field):
                raise MiniganError(f"--model ssgan is the paper's model (feature matching built in); drop "
                                   f"--{field.replace('_', '-')}.")
        if config.latent != "gaussian" or config.pack != 1:
            raise MiniganError("--model ssgan draws u ~ U(0, 1) for G; drop --latent and --pack.")

    @classmethod
    def check_data(cls, image_shape, num_classes):
        if len(image_shape) != 3 or num_classes < 2:
            raise MiniganError("--model ssgan classifies labelled images; use mnist, fashion-mnist or a folder of "
                               "class subfolders.")

    def build(self):
        cfg, rng = self.config, self.rngs["init"]
        n = cfg.labels
        if n < self.num_classes or n % self.num_classes:
            raise MiniganError(f"--labels {n} must be a multiple of the {self.num_classes} classes (at least "
                               f"{self.num_classes}): the labelled images are balanced over the classes.")
        self.add_network("G", generator(self.nz, self.image_shape, rng), "G")
        self.add_network("D", discriminator(self.image_shape, self.num_classes, rng), "D")

    def make_states(self):
        states = super().make_states()
        states["labelled"] = Labelled(self.config.batch_size, self.rngs["labelled"])
        states["unlabelled"] = Shuffled(0, self.config.batch_size, self.rngs["unlabelled"])
        states["test_errors"] = ErrorCurve()
        return states

    def draw_noise(self, n, rng=None):
        """u ~ U(0, 1)^nz, the script's noise, on the run's device (host with ``rng``)."""
        return (rng or self.draws("noise")).random((n, self.nz), dtype=np.float32)

    # -- data ------------------------------------------------------------------------------
    def attach_data(self, dataset):
        """Pick the labelled images (a resumed run checks they are the ones it trained with) and,
        on a fresh run, initialise D from data."""
        cfg = self.config
        if cfg.labels > len(dataset):
            raise MiniganError(f"--labels {cfg.labels} is more than the {len(dataset)} training images.")
        picked = select_labelled(dataset.labels, cfg.labels, self.num_classes, cfg.label_seed)
        stream = self.states["labelled"]
        if self.step and not np.array_equal(stream.indices, picked):
            raise MiniganError("the checkpoint's labelled images differ from the ones --label-seed picks in this data; "
                               "resume on the data the run started with.")
        stream.indices, stream.n = picked, len(picked)
        self.states["unlabelled"].n = len(dataset)
        self.train_images, self.train_labels = dataset.images, dataset.labels
        if self.step == 0:
            rows = self.rngs["init"].choice(len(dataset), min(INIT_IMAGES, len(dataset)), replace=False)
            nn.utils.data_dependent_init(self.networks["D"], Tensor(self.to_device(dataset.images[rows])))

    def labelled_batch(self):
        rows = self.states["labelled"].indices[self.states["labelled"].next()]
        return Tensor(self.to_device(self.train_images[rows])), self.to_device(self.train_labels[rows])

    # -- steps -------------------------------------------------------------------------------
    def train_step(self, real, labels=None):
        """One D step on a labelled, an unlabelled (``real``) and a fake batch, then G's feature-matching
        step on fresh fakes against a second unlabelled batch (module docstring); --supervised-only:
        L_lab alone."""
        D, n = self.networks["D"], real.shape[0]
        x_lab, y_lab = self.labelled_batch()
        if self.config.supervised_only:
            logits = D(x_lab)
            loss_lab, _ = semi_supervised_losses(logits, y_lab, None, None)
            extra = self.minimize(loss_lab, "D")
            return {"loss_D": loss_lab.data, "loss_lab": loss_lab.data, "train_err": _error_rate(logits.data, y_lab),
                    **extra}
        with no_grad():  # G's step draws fakes of its own, as the code's train_batch_gen does
            fake = self.generate(Tensor(self.to_device(self.draw_noise(n))))
        logits = D(F.concat([x_lab, Tensor(real), fake], axis=0))
        lab, unl, fak = (logits[i * n:(i + 1) * n] for i in range(3))
        loss_lab, loss_unl = semi_supervised_losses(lab, y_lab, unl, fak)
        loss_d = loss_lab + loss_unl
        extra = self.minimize(loss_d, "D")
        out = {"loss_D": loss_d.data, "loss_lab": loss_lab.data, "loss_unl": loss_unl.data,
               "train_err": _error_rate(lab.data, y_lab), "D_x": _mean_real(unl.data), "D_G_z": _mean_real(fak.data),
               **extra}
        rows = self.states["unlabelled"].next()
        D.requires_grad_(False)  # G's gradient runs through D; D's own is not needed
        try:
            f_fake = D.features(self.generate(Tensor(self.to_device(self.draw_noise(n)))))
            with no_grad():
                f_real = D.features(Tensor(self.to_device(self.train_images[rows])))
            loss_g = techniques.feature_matching_loss(f_real, f_fake)
            extra = self.minimize(loss_g, "G")
        finally:
            D.requires_grad_(True)
        return {**out, "loss_G": loss_g.data, **extra}

    # -- D as a classifier -------------------------------------------------------------------
    def classify(self, x):
        """D's class predictions (n,) for images (n, c, h, w) in [-1, 1] (host arrays), with the averaged
        weights when --ema-d is on, in eval mode (no noise)."""
        D, predictions = self.networks["D"], []
        D.eval()
        try:
            with averaging.swapped_in(self, "D"), no_grad():
                for i in range(0, len(x), TEST_CHUNK):
                    logits = D(Tensor(self.to_device(np.asarray(x[i:i + TEST_CHUNK], dtype=np.float32)))).data
                    predictions.append(backend.to_cpu(logits.argmax(axis=1)))
        finally:
            D.train()
        return np.concatenate(predictions)

    def test_errors(self, x, y):
        """How many of the images D classifies wrongly."""
        return int((self.classify(x) != np.asarray(y)).sum())

    def epoch_hooks(self):
        if not hasattr(self, "_hooks"):
            self._hooks = (TestErrorHook(),)  # one: it keeps the test set once loaded
        return self._hooks


class TestErrorHook:
    """At each epoch's end: D's errors on the test set (averaged weights), logged as test_errors and
    plotted in test_error.png over the epochs so far."""

    def __init__(self):
        self.test = None

    def __call__(self, trainer, run, epoch):
        cfg = trainer.config
        if self.test is None:
            self.test = data.load_dataset(cfg.dataset, data_dir=cfg.data_dir, image_size=cfg.image_size,
                                          split="test", channels=cfg.channels)
        errors = trainer.test_errors(self.test.images, self.test.labels)
        measured = {"test_errors": [errors], "test_accuracy": [1 - errors / len(self.test)]}
        if cfg.ema_d:  # what the average adds: the same test with the weights as trained
            with averaging.without_averages(trainer, "D"):
                measured["test_errors_unaveraged"] = [trainer.test_errors(self.test.images, self.test.labels)]
        curve = trainer.states["test_errors"]
        curve.epochs.append(epoch)
        curve.errors.append(errors)
        name = "averaged D" if cfg.ema_d else "D"
        images.save_loss_curve({f"test errors of {len(self.test)} ({name})": curve.errors}, run.file("test_error.png"),
                               title=f"ssgan, {cfg.labels} labels: test errors per epoch")
        return measured


def _error_rate(logits, labels):
    return (logits.argmax(axis=1) != labels).mean()


def _mean_real(logits):
    """mean D(x) = mean sigmoid(LSE(l)): the probability D gives "real" (raw arrays, no graph)."""
    xp = backend.get_array_module(logits)
    m = logits.max(axis=1, keepdims=True)
    return _mean_sigmoid(m + xp.log(xp.exp(logits - m).sum(axis=1, keepdims=True)))
