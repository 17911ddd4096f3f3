"""What an ablation trains: the techniques it toggles, the base configuration and one variant per technique.

A technique is on in a config when every field of its overrides holds the technique's value; its
variant adds it to the base (name "+technique", folder with-technique/) or, when the base has it,
sets those fields back to the defaults ("-technique", folder without-technique/).
"""

import dataclasses
import os

from minigan import gan
from minigan.errors import MiniganError
from minigan.gan import techniques as gan_techniques
from minigan.gan import training

UNCOMPARED = ("run_dir", "data_dir")  # settings that may differ between a run and its continuation

# name -> (short description, the TrainConfig overrides that turn it on)
TECHNIQUES = {
    "label-smoothing": ("one-sided: D's target on data is 0.9", {"label_smoothing": 0.1}),
    "instance-noise": ("noise on D's inputs, annealed to 0", {"instance_noise": 0.1}),
    "feature-matching": ("G matches the mean of D's features", {"feature_matching": True}),
    "minibatch-discrimination": ("D sees each image's batch similarity", {"minibatch_discrimination": 100}),
    "vbn": ("virtual batch norm in G", {"vbn": True}),
    "historical-averaging": ("pull to the mean of past parameters", {"historical_averaging": 0.01}),
    "replay": ("D sees half its fakes from a buffer", {"replay": 1280}),
    "mixture": ("DeLiGAN's learned mixture latent", {"latent": "mixture", "components": 50}),
    "d-steps-2": ("two D steps per G step", {"d_steps": 2}),
    "loss-minimax": ("the 2014 minimax game", {"loss": "minimax"}),
    "loss-least-squares": ("LSGAN", {"loss": "least-squares"}),
    "loss-hinge": ("the hinge loss", {"loss": "hinge"}),
    "loss-relativistic": ("RSGAN", {"loss": "relativistic"}),
    "loss-relativistic-average": ("RaSGAN", {"loss": "relativistic-average"}),
    "loss-turing": ("T-GAN: a pairwise D on encoded features", {"loss": "turing"}),
    "loss-wasserstein": ("WGAN as the paper: critic clipped to 0.01, RMSprop, 5 critic steps",
                         {"loss": "wasserstein", "clip": 0.01, "d_steps": 5, "lr": 5e-5}),
    "wgan-gp": ("WGAN-GP as the paper: layer-norm critic, lambda 10, 5 critic steps, Adam (0, 0.9)",
                {"loss": "wasserstein", "gp": "wgan-gp", "d_norm": "layer", "d_steps": 5, "lr": 1e-4,
                 "beta1": 0.0, "beta2": 0.9}),
    "wgan-gp-1": ("WGAN-GP with one critic step per G step (as many G updates as the base)",
                  {"loss": "wasserstein", "gp": "wgan-gp", "d_norm": "layer", "lr": 1e-4, "beta1": 0.0,
                   "beta2": 0.9}),
    "dragan": ("DRAGAN's penalty around perturbed reals, lambda 10", {"gp": "dragan"}),
    "r1": ("R1: gamma/2 E||grad D(x)||^2 on reals, gamma 10", {"gp": "r1"}),
    "spectral-norm": ("every layer of D spectrally normalised", {"spectral_norm": True}),
    "unroll-5": ("G against D unrolled 5 steps (Metz et al.)", {"unroll": 5}),
    "unroll-10": ("G against D unrolled 10 steps", {"unroll": 10}),
    "pack-2": ("PacGAN2: D judges pairs of samples", {"pack": 2}),
    "pack-4": ("PacGAN4: D judges four samples at once", {"pack": 4}),
    "began": ("BEGAN: D an autoencoder, equilibrium k_t (gamma 0.5)", {"model": "began"}),
}
DEFAULTS = gan.TrainConfig()


@dataclasses.dataclass
class Variant:
    """One row of the ablation: ``name`` "base", "+technique" or "-technique"; ``change`` the fields it
    sets on the base; ``refused`` the engine's reason when that config cannot train, else None."""

    name: str
    folder: str
    technique: str | None
    change: dict
    config: gan.TrainConfig
    refused: str | None = None


def settings_text(overrides):
    """The `minigan train` options of a technique's overrides: {"latent": "mixture", ...} ->
    '--latent mixture --components 50'."""
    return " ".join(training.option_name(k) + ("" if v is True else f" {v}") for k, v in overrides.items())


def techniques_help():
    """The technique names, their settings and descriptions, one per line (for --help)."""
    settings = {name: settings_text(overrides) for name, (_, overrides) in TECHNIQUES.items()}
    w1, w2 = max(map(len, settings)), max(map(len, settings.values()))
    return "\n".join(f"  {name:<{w1}}  {settings[name]:<{w2}}  {what}" for name, (what, _) in TECHNIQUES.items())


def check_names(names, option):
    """Raise MiniganError unless every name is in TECHNIQUES."""
    for name in names:
        if name not in TECHNIQUES:
            raise MiniganError(f"unknown technique {name!r} for {option}; choose from {', '.join(TECHNIQUES)}.")


def is_on(config, name):
    """True when every field of technique ``name``'s overrides holds the technique's value."""
    return all(getattr(config, k) == v for k, v in TECHNIQUES[name][1].items())


def base_config(with_techniques=(), **settings):
    """The base TrainConfig: ``settings`` (TrainConfig fields) with the ``with_techniques`` switched on.

    Raises:
        MiniganError: an unknown name, or two sources setting one field to different values.
    """
    check_names(with_techniques, "--with")
    config = gan.TrainConfig(**settings)
    set_by = {}
    for name in with_techniques:
        for field, value in TECHNIQUES[name][1].items():
            current = getattr(config, field)
            if current != value and current != getattr(DEFAULTS, field):
                source = f"--with {set_by[field]}" if field in set_by else f"{training.option_name(field)} {current}"
                raise MiniganError(f"{source} and --with {name} both set {training.option_name(field)}; keep one.")
            setattr(config, field, value)
            set_by[field] = name
    return config


def refusal(config):
    """The engine's reason why ``config`` cannot train (the checks `minigan train` runs before loading
    any data), or None."""
    try:
        training.check_settings(config)
        cls = gan.get_trainer_class(config.model)
        cls.check_config(config)
        gan_techniques.check(config, cls)
    except MiniganError as e:
        return str(e)
    return None


def plan(base, out, variants=()):
    """The base and its variants, the base first.

    Args:
        base (TrainConfig): the base settings.
        out (str): the ablation folder; each variant's run_dir is a folder in it.
        variants (sequence of str): technique names to toggle; empty: every technique.
    Returns:
        list of Variant.
    """
    check_names(variants, "--variant")
    rows = [Variant("base", "base", None, {}, dataclasses.replace(base, run_dir=os.path.join(out, "base")))]
    for name in dict.fromkeys(variants or TECHNIQUES):  # in the given order, once each
        overrides = TECHNIQUES[name][1]
        if is_on(base, name):
            sign, folder, change = "-", f"without-{name}", {k: getattr(DEFAULTS, k) for k in overrides}
        else:
            sign, folder, change = "+", f"with-{name}", dict(overrides)
        config = dataclasses.replace(base, run_dir=os.path.join(out, folder), **change)
        rows.append(Variant(sign + name, folder, name, change, config))
    for row in rows:
        row.refused = refusal(row.config)
    if rows[0].refused:
        raise MiniganError(f"the base configuration cannot train: {rows[0].refused}")
    return rows


def comparable(config):
    """The settings that must match for two runs' results to be compared (a dict)."""
    return {k: v for k, v in config.to_dict().items() if k not in UNCOMPARED}
