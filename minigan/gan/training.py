"""Training runs: a new run from a config, a resumed run from a checkpoint, and the loop they share.

Each epoch: batches from a seeded BatchIterator -> ``trainer.train_step`` -> metrics kept as device
arrays, brought to the host every ``log_every`` steps (every step on the CPU, where it costs
nothing) and checked for NaN/inf -> a log line; at the epoch's end a sample grid, the loss
curve, a checkpoint, then the epoch-end hooks and the warnings of ``diagnostics.diagnose``.
A NaN or inf stops the run before anything bad is saved.

An epoch-end hook is a callable ``hook(trainer, run, epoch) -> {name: [values]}``: it measures
something after epoch ``epoch`` (e.g. ``minigan.evaluate.class_check.ClassCheck``, which asks
the judge how many classes the samples cover). Its lists join the history that ``diagnose``
reads, and the last value of each is written to metrics.jsonl with the epoch. Training itself
knows no judge: whoever starts the run (the CLI, ``minigan ablate``) passes the hooks it wants.
"""

import dataclasses
import os
import time

import numpy as np

from minigan import backend, data, distributed, images
from minigan.errors import MiniganError
from minigan.gan import (averaging, checkpoint, data_parallel, diagnostics, get_trainer_class, losses, penalties,
                        techniques)
from minigan.gan.sampler import SCATTER_POINTS
from minigan.gan.monitor import GracefulInterrupt, Monitor
from minigan.gan.progress import ProgressBar, format_duration
from minigan.gan.run_folder import check_fresh, default_path

# settings a resumed run may change; every other one must stay as the checkpoint has it
RESUMABLE = ("epochs", "log_every", "checkpoint_every", "keep", "sample_every", "device", "run_dir", "data_dir")
OPTION_NAMES = {"run_dir": "--out", "dataset": "DATASET"}


def option_name(field):
    return OPTION_NAMES.get(field, "--" + field.replace("_", "-"))


def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def canonical_dataset(name):
    """The dataset's canonical name (aliases such as "fashion" resolved), or a MiniganError."""
    key = data.ALIASES.get(str(name).lower(), str(name).lower())
    if key not in data.DATASETS:
        raise MiniganError(f"unknown dataset {name!r}; choose one of {', '.join(data.DATASETS)}.")
    return key


def check_settings(config):
    """Raise MiniganError on a setting no model can use (a zero batch, a negative lr, ...)."""
    positive = ("epochs", "batch_size", "nz", "d_steps", "log_every", "sample_every", "lr")
    for field in positive:
        if getattr(config, field) <= 0:
            raise MiniganError(f"{option_name(field)} must be positive, not {getattr(config, field)}.")
    for field in ("lr_g", "lr_d"):
        if getattr(config, field) is not None and getattr(config, field) <= 0:
            raise MiniganError(f"{option_name(field)} must be positive, not {getattr(config, field)}.")
    for field in ("checkpoint_every", "keep", "adam_eps_root"):
        if getattr(config, field) < 0:
            raise MiniganError(f"{option_name(field)} must be 0 or more, not {getattr(config, field)}.")
    for field in ("beta1", "beta2"):
        if not 0 <= getattr(config, field) < 1:
            raise MiniganError(f"{option_name(field)} must be in [0, 1), not {getattr(config, field)}.")
    key = canonical_dataset(config.dataset)
    data.modes.check_options(key, config.image_size, config.channels, config.limit_per_class)
    if key in data.modes.POINT_DATASETS:
        get_trainer_class(config.model).check_shape((2,), key)
    if config.device not in ("cpu", "gpu"):
        raise MiniganError(f"unknown device {config.device!r}; use cpu or gpu.")
    if config.device == "gpu":
        backend.require_gpu()
    loss = losses.get_loss(config.loss)
    if config.adam_eps_root and penalties.optimizer_name(config) != "adam":
        raise MiniganError(f"--adam-eps-root changes Adam's rule; this run's optimizer is "
                           f"{penalties.optimizer_name(config)}.")
    for field in ("label_smoothing", "instance_noise"):
        if getattr(config, field) < 0:
            raise MiniganError(f"{option_name(field)} must be 0 or more, not {getattr(config, field)}.")
    if config.label_smoothing >= 1:
        raise MiniganError(f"--label-smoothing must be below 1, not {config.label_smoothing}.")
    for field in ("limit", "limit_per_class"):
        if getattr(config, field) is not None and getattr(config, field) <= 0:
            raise MiniganError(f"{option_name(field)} must be positive, not {getattr(config, field)}.")
    if config.seed < 0:
        raise MiniganError(f"--seed must be 0 or more, not {config.seed}.")
    averaging.check(config)
    check_labels(config)
    if config.width is not None and config.model != "lapgan":
        raise MiniganError(f"--width sets lapgan's channels; --model {config.model}'s networks have theirs: "
                           "drop --width.")
    if config.width is not None and config.width < 1:
        raise MiniganError(f"--width must be positive, not {config.width}.")
    if config.label_smoothing and loss.d_loss is not losses.bce_d_loss:
        raise MiniganError(f"--label-smoothing works with the BCE losses (--loss non-saturating or minimax), "
                           f"not --loss {config.loss}.")


def check_labels(config):
    """Raise MiniganError when --labels / --supervised-only ask for a classifier the model does not have."""
    classifier = getattr(get_trainer_class(config.model), "classifier", False)
    if config.labels is not None and not classifier:
        raise MiniganError(f"--labels trains a classifier, and --model {config.model}'s D has none; use --model ssgan.")
    if config.supervised_only and config.labels is None:
        raise MiniganError("--supervised-only trains D on the labelled images alone; give their number with --labels N.")
    if config.supervised_only and not classifier:
        raise MiniganError(f"--supervised-only is the baseline of --model ssgan, not of --model {config.model}.")
    if config.labels is not None and config.labels <= 0:
        raise MiniganError(f"--labels must be positive, not {config.labels}.")


def load_data(config):
    return data.load_dataset(config.dataset, data_dir=config.data_dir, image_size=config.image_size,
                             limit=config.limit, channels=config.channels, limit_per_class=config.limit_per_class)


def train(config, echo=print, on_epoch_end=(), comm=distributed.SINGLE):
    """Train a new run.

    Args:
        config (TrainConfig): the settings; ``run_dir`` None picks runs/<dataset>-<model>-<time>.
        echo (callable): prints one line (the CLI passes click.echo).
        on_epoch_end (sequence of callables): epoch-end hooks (see the module docstring).
        comm (Communicator): the ranks of a data-parallel run (gan/data_parallel.py); one process by default.
    Returns:
        the Trainer, trained.
    Raises:
        MiniganError: bad settings or data, a run folder that holds files, a diverged run.
    """
    if comm.rank != 0:  # rank 0 alone prints, writes the run folder and runs the hooks
        echo, on_epoch_end = data_parallel.quiet, ()
    check_settings(config)
    config = dataclasses.replace(config, dataset=canonical_dataset(config.dataset))
    cls = get_trainer_class(config.model)
    cls.check_config(config)
    cls.check_new_run(config)
    techniques.check(config, cls)
    data_parallel.check(config, cls, comm)
    config.run_dir = config.run_dir or default_path(config)
    check_fresh(config.run_dir)  # before the (slow) data loading
    dataset = load_data(config)
    trainer = cls(config, dataset.image_shape, dataset.num_classes)
    trainer.attach_data(dataset)
    data_parallel.attach(trainer, comm)
    run = data_parallel.run_folder_class(comm).create(config.run_dir)
    run.write_config(config)
    echo(f"run folder: {run.path}")
    describe(trainer, dataset, echo)
    fit(trainer, dataset, run, echo, on_epoch_end)
    return trainer


def merged_config(ckpt, overrides):
    """The checkpoint's config with the resumable overrides applied; others must agree."""
    config = ckpt.config
    meta = ckpt.meta
    if "dataset" in overrides:
        overrides = dict(overrides, dataset=canonical_dataset(overrides["dataset"]))
    checkpoint.check_matches(ckpt, overrides.get("model", meta["model"]), overrides.get("dataset", meta["dataset"]),
                             meta["image_shape"], meta["num_classes"])
    for field, value in overrides.items():
        if not hasattr(config, field):
            raise TypeError(f"resume() got an unknown setting {field!r}")
        if field in RESUMABLE:
            if value is not None or field not in ("run_dir", "data_dir"):
                setattr(config, field, value)
        elif value != getattr(config, field):
            raise MiniganError(f"{option_name(field)} {value} differs from the checkpoint's {getattr(config, field)}; "
                               f"a resumed run keeps the settings it started with, so drop {option_name(field)} "
                               "(or start a new run).")
    return config


def resume(path, echo=print, on_epoch_end=(), comm=distributed.SINGLE, **overrides):
    """Continue a run exactly where its checkpoint left it, up to ``epochs`` in total.

    Args:
        path (str): a run folder (its checkpoints/last.npz) or a checkpoint .npz.
        echo (callable): prints one line.
        on_epoch_end (sequence of callables): epoch-end hooks (see the module docstring).
        comm (Communicator): the ranks of a data-parallel run; any number, whatever the checkpoint's run had.
        **overrides: TrainConfig fields. ``epochs`` (the total), ``log_every``, ``device``,
            ``run_dir`` (another, new folder to continue in) and a few others may change;
            any other field must equal the checkpoint's.
    Returns:
        the Trainer.
    """
    if comm.rank != 0:  # every rank reads the checkpoint; rank 0 alone prints, writes and runs the hooks
        echo, on_epoch_end = data_parallel.quiet, ()
    ckpt_path = checkpoint.find(path)
    ckpt = checkpoint.load(ckpt_path)
    config = merged_config(ckpt, overrides)
    check_settings(config)
    data_parallel.check(config, get_trainer_class(config.model), comm)
    if ckpt.meta["epoch"] >= config.epochs:
        raise MiniganError(f"{ckpt_path} has already trained {plural(ckpt.meta['epoch'], 'epoch')} of --epochs "
                           f"{config.epochs}; pass a larger --epochs (the total) to train on.")
    own_folder = checkpoint.run_folder_of(ckpt_path)
    new_folder = overrides.get("run_dir")
    if new_folder and os.path.abspath(new_folder) != os.path.abspath(own_folder):
        check_fresh(new_folder)
    dataset = load_data(config)
    trainer = get_trainer_class(config.model)(config, dataset.image_shape, dataset.num_classes)
    checkpoint.restore(trainer, ckpt)
    trainer.attach_data(dataset)
    data_parallel.attach(trainer, comm)
    run_folder = data_parallel.run_folder_class(comm)
    if new_folder and os.path.abspath(new_folder) != os.path.abspath(own_folder):
        run = run_folder.create(new_folder)
    else:
        run = run_folder.open(own_folder)
        run.truncate_metrics(trainer.step)
    config.run_dir = run.path
    run.write_config(config)
    echo(f"run folder: {run.path}")
    echo(f"resuming from {ckpt_path} after epoch {trainer.epoch}, step {trainer.step}")
    describe(trainer, dataset, echo)
    fit(trainer, dataset, run, echo, on_epoch_end)
    return trainer


def describe(trainer, dataset, echo):
    """The run's data, model and schedule, in a few lines."""
    cfg = trainer.config
    if dataset.is_points:
        echo(f"data: {len(dataset)} points, {dataset.num_classes} modes ({dataset.source})")
    else:
        c, h, w = dataset.image_shape
        echo(f"data: {len(dataset)} images {c}x{h}x{w}, {dataset.num_classes} classes ({dataset.source})")
    sizes = ", ".join(f"{name} {sum(p.size for p in net.parameters()):,} parameters"
                      for name, net in trainer.networks.items())
    lr_g, lr_d = trainer.lr_for("G"), trainer.lr_for("D")
    lr = f"{lr_g:g}" if lr_g == lr_d else f"G {lr_g:g} D {lr_d:g}"
    name = penalties.optimizer_name(cfg)
    root = f", eps {cfg.adam_eps_root:g} under the root" if cfg.adam_eps_root else ""
    optimizer = (f"Adam lr {lr} betas ({cfg.beta1:g}, {cfg.beta2:g}){root}" if name == "adam"
                 else f"{'RMSprop' if name == 'rmsprop' else 'SGD'} lr {lr}")
    echo(f"model: {trainer.name} ({sizes}); loss {cfg.loss}, {optimizer}, {plural(cfg.d_steps, 'D step')} per G step")
    used = techniques.describe(cfg)
    if used:
        echo(f"techniques: {', '.join(used)}")
    steps = len(dataset) // cfg.batch_size
    if trainer.comm.size > 1:
        echo(data_parallel.describe(trainer.comm, cfg))
    echo(f"training {plural(cfg.epochs, 'epoch')} of {plural(steps, 'step')} (batch {cfg.batch_size}) "
         f"on the {cfg.device}, seed {cfg.seed}")


def fit(trainer, dataset, run, echo=print, on_epoch_end=()):
    """Train ``trainer`` from its current epoch/step up to ``config.epochs`` epochs.

    Writes into ``run``: samples/real.png (first), per epoch samples/epoch_NNN.png, loss.png,
    checkpoints; metrics.jsonl per log line and per epoch-end hook result. Ctrl-C finishes the
    step, saves last.npz and stops.
    """
    cfg = trainer.config
    batches = data.BatchIterator(dataset, cfg.batch_size, trainer.rngs["data"])
    trainer.steps_per_epoch = len(batches)  # instance noise anneals over epochs * this many steps
    if trainer.data_state is not None:
        batches.load_state_dict(trainer.data_state)
    monitor = Monitor(trainer, run, len(batches), echo)
    writes = trainer.comm.rank == 0  # the other ranks of a data-parallel run write nothing
    if writes and trainer.step == 0 and dataset.is_points:
        from minigan.data import modes

        images.save_scatter(dataset.images[:SCATTER_POINTS], modes.mode_centres(cfg.dataset),
                            run.file("samples", "real.png"), title="data", std=modes.STD[cfg.dataset])
    elif writes and trainer.step == 0:
        images.save_grid(dataset.images[:trainer.grid_size], run.file("samples", "real.png"))
    # a diverging run overflows before the NaN check names it: that check speaks, not numpy
    with GracefulInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while trainer.epoch < cfg.epochs:
            start = time.perf_counter()
            run_epoch(trainer, batches, run, monitor, interrupt, echo)
            end_epoch(trainer, batches, run, monitor, echo, time.perf_counter() - start, on_epoch_end)


def run_epoch(trainer, batches, run, monitor, interrupt, echo):
    """The rest of the current epoch (all of it unless resumed mid-epoch)."""
    cfg = trainer.config
    steps = len(batches)
    bar = ProgressBar(steps, f"epoch {trainer.epoch + 1}/{cfg.epochs}", batches.index % steps, echo=echo)
    monitor.bar = bar
    for real, labels in batches:
        real, labels = data_parallel.local_batch(trainer.comm, real, labels)  # this rank's rows (all of one process)
        labels = trainer.to_device(labels) if trainer.conditional else None
        out = data_parallel.mean_metrics(trainer.comm, trainer.train_step(trainer.to_device(real), labels))
        trainer.step += 1
        monitor.add(out)
        bar.update()
        if batches.index % cfg.log_every == 0:  # log lines at fixed places in every epoch
            monitor.log(batches.index)
        elif cfg.device == "cpu":
            monitor.collect()  # host values are free on the CPU: stop at the first NaN
        if data_parallel.any_rank(trainer.comm, interrupt.requested):  # every rank stops after the same step
            bar.close()
            save_checkpoint(trainer, batches, run, monitor)
            echo(f"Stopped after step {trainer.step}; saved {run.last_checkpoint}. Continue with: "
                 f"minigan train {cfg.dataset} --resume {run.path}")
            raise KeyboardInterrupt
        if cfg.checkpoint_every and trainer.step % cfg.checkpoint_every == 0:
            save_checkpoint(trainer, batches, run, monitor)
    bar.close()


def end_epoch(trainer, batches, run, monitor, echo, seconds, on_epoch_end=()):
    """Log the last steps, write the sample grid, the loss curve and the checkpoints, then run the
    epoch-end hooks and print the warnings of ``diagnose``."""
    cfg = trainer.config
    monitor.log(len(batches))
    trainer.epoch += 1
    e = trainer.epoch
    written = []
    if trainer.comm.rank == 0:  # the other ranks of a data-parallel run write nothing
        if e % cfg.sample_every == 0 or e == cfg.epochs:
            written += save_samples(trainer, run, e)
        curves = {k: v for k, v in trainer.history.items() if k.startswith("loss")}
        images.save_loss_curve(curves, run.file("loss.png"), title=f"{trainer.name} losses per step")
        for name, curve in trainer.extra_curves().items():  # e.g. BEGAN's convergence measure
            images.save_loss_curve(curve, run.file(f"{name}.png"), title=f"{trainer.name}: {name} per step")
    own = measure(trainer.epoch_hooks(), trainer, run, e)  # before the checkpoint: what they keep is saved
    save_checkpoint(trainer, batches, run, monitor, epoch_end=True)
    written.append(f"{checkpoint.FOLDER}/{checkpoint.epoch_name(e)}")
    echo(f"epoch {e}/{cfg.epochs} done in {format_duration(seconds)}: wrote {', '.join(written)}")
    if own:  # e.g. the semi-supervised D's test errors
        echo(f"epoch {e}: " + ", ".join(f"{k.replace('_', ' ')} {v[-1]:.4g}" for k, v in own.items()))
    summary = run_hooks(on_epoch_end, trainer, run, e, own)
    for warning in diagnostics.diagnose({**trainer.history, **summary}, trainer.num_classes or 10,
                                       scores=trainer.loss.scores):
        echo(f"warning: {warning}")


def save_samples(trainer, run, epoch):
    """The epoch's picture from G's fixed inputs: a sample grid, or for 2-D points a scatter over the
    true modes plus the strip of every scatter so far (samples/strip.png). Returns the paths written."""
    name = f"samples/epoch_{epoch:03d}.png"
    x, nrow = trainer.sample_grid()
    if len(trainer.image_shape) == 1:
        from minigan.data import modes

        centres = modes.mode_centres(trainer.config.dataset)
        images.save_scatter(x, centres, run.file(name), title=f"epoch {epoch}", std=modes.STD[trainer.config.dataset])
        scatters = sorted(f for f in os.listdir(run.file("samples")) if f.startswith("epoch_"))
        images.save_strip([run.file("samples", f) for f in scatters], run.file("samples", "strip.png"))
        return [name, "samples/strip.png"]
    images.save_grid(x, run.file(name), nrow=nrow)
    return [name]


def measure(hooks, trainer, run, epoch):
    """Call each epoch-end hook; their {name: [values]} merged."""
    summary = {}
    for hook in hooks:
        summary.update(hook(trainer, run, epoch) or {})
    return summary


def run_hooks(hooks, trainer, run, epoch, measured=None):
    """Call each epoch-end hook; returns their {name: [values]} merged with ``measured`` (what the model's
    own hooks found), after writing the last value of each to metrics.jsonl as one row with the epoch
    (no row when nothing was measured)."""
    summary = {**(measured or {}), **measure(hooks, trainer, run, epoch)}
    last = {name: values[-1] for name, values in summary.items() if len(values)}
    row = {name: v.item() if hasattr(v, "item") else v for name, v in last.items()}  # numpy scalars as numbers
    if row:
        run.append_metrics({"epoch": epoch, **row})
    return summary


def save_checkpoint(trainer, batches, run, monitor, epoch_end=False):
    """last.npz (and epoch_NNN.npz at an epoch's end), after checking nothing is NaN."""
    monitor.collect()
    monitor.check_parameters()
    trainer.data_state = batches.state_dict()
    if trainer.comm.rank == 0:
        checkpoint.save(trainer, run.last_checkpoint)
        if epoch_end:
            checkpoint.copy_atomic(run.last_checkpoint, run.file(checkpoint.FOLDER, checkpoint.epoch_name(trainer.epoch)))
            checkpoint.prune(run.checkpoints, trainer.config.keep)
    trainer.comm.barrier()  # the other ranks wait for it: a stop right after finds them all together
    monitor.saved = (trainer.epoch, trainer.step)
