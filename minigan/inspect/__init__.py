"""Looking inside a model: its layer table, one training step layer by layer, its autograd graph.

    from minigan import inspect
    trainer = inspect.trainer_for("dcgan")                  # or a checkpoint / run folder
    for name, table in inspect.network_tables(trainer).items():
        print(inspect.format_layer_table(table, name))
    report = inspect.trainer_step_report(trainer)
    print(inspect.format_step_report(report))
    inspect.write_dot(report["roots"], "step.dot", trainer.networks, ["loss_D", "loss_G"])

The pieces work on bare Modules too: ``layer_table(model, input_shape)``, ``step_report(G, D,
batch)``, ``write_dot(loss, path)``; ``grad_norms`` and ``diagnose`` serve the trainer's logs.
"""

import contextlib
import os

import numpy as np

from minigan import data
from minigan.errors import MiniganError
from minigan.function import no_grad
from minigan.gan.diagnostics import class_summary, diagnose, grad_norms, total_grad_norm
from minigan.inspect.graph import to_dot, write_dot
from minigan.inspect.hooks import preserved_modes, watch
from minigan.inspect.step import format_step_report, step_report, watched_step
from minigan.inspect.table import format_layer_table, layer_table, table_from_calls


def trainer_for(target, dataset="mnist", image_size=None, channels=None, device="cpu"):
    """A Trainer to look at: a fresh model by name, or the one a checkpoint holds.

    Args:
        target (str): a model name (gan, dcgan, cgan, lapgan) or a checkpoint .npz / run folder.
        dataset, image_size, channels (fresh models only): the data the model is built for
            (default 1 x 28 x 28, 10 classes, as MNIST).
        device (str): cpu or gpu.
    Returns:
        Trainer.
    """
    from minigan import gan
    from minigan.gan import checkpoint

    if target not in gan.MODELS:
        if not os.path.exists(target):
            raise MiniganError(f"{target!r} is neither a model ({', '.join(gan.MODELS)}) nor a run folder or "
                               f"checkpoint; try `minigan inspect dcgan`.")
        return checkpoint.build_trainer(target, device)
    config = gan.TrainConfig(model=target, dataset=dataset, image_size=image_size, channels=channels, device=device)
    cls = gan.get_trainer_class(target)
    cls.check_config(config)
    size = image_size or 28
    return cls(config, (channels or 1, size, size), 0 if dataset == "folder" else 10)


def network_tables(trainer):
    """{network name: layer table} of every network of a Trainer (see ``layer_table``).

    The shapes come from one forward-only pass of ``trainer.train_step`` on two blank images:
    networks in eval mode and no graph, so ``backward()`` and the optimizers find nothing to
    do and no parameter, running statistic or random Generator changes.
    """
    calls = {name: [] for name in trainer.networks}
    states = {k: g.bit_generator.state for k, g in trainer.rngs.items()}
    blank = trainer.to_device(np.zeros((2,) + tuple(trainer.image_shape), dtype=np.float32))
    labels = trainer.to_device(trainer.draw_labels(2, np.random.default_rng(0)))
    try:
        with contextlib.ExitStack() as stack:
            for name, net in trainer.networks.items():
                stack.enter_context(preserved_modes(net))
                stack.enter_context(watch(net, lambda n, layer, a, y, s, calls=calls[name]: calls.append(
                    (n, layer, a, y))))
                net.eval()
            stack.enter_context(no_grad())
            trainer.train_step(blank, labels)
    finally:
        for k, state in states.items():
            trainer.rngs[k].bit_generator.state = state
    tables = {}
    for name, net in trainer.networks.items():
        seen, first = set(), []  # each layer's first call (D runs on real and on fake images)
        for call in calls[name]:
            if call[0] not in seen:
                seen.add(call[0])
                first.append(call)
        shape = tuple(first[0][2][0].shape[1:]) if first else ()
        tables[name] = table_from_calls(net, first, shape)
    return tables


def real_batch(trainer, batch_size=64, data_dir=None):
    """(images, labels) of the first ``batch_size`` images of the trainer's dataset, at its size."""
    cfg = trainer.config
    c, size, _ = trainer.image_shape
    ds = data.load_dataset(cfg.dataset, data_dir=data_dir or cfg.data_dir, image_size=size, channels=c,
                           limit=batch_size)
    if len(ds) < 2:
        raise MiniganError(f"a training step needs at least 2 images; {cfg.dataset} gave {len(ds)}.")
    return ds.images, (ds.labels if trainer.conditional else None)


def trainer_step_report(trainer, batch_size=64, data_dir=None):
    """``step_report`` of one ``trainer.train_step`` on a real batch (the parameters do change)."""
    images, labels = real_batch(trainer, batch_size, data_dir)
    return watched_step(trainer.networks, images, labels,
                        lambda x, y: trainer.train_step(trainer.to_device(x), trainer.to_device(y)))


def check_options(target, dataset="mnist", image_size=None, channels=None, step=False, batch_size=64, graph=None):
    """Raise MiniganError, before any model is built or data loaded, on options that cannot work."""
    from minigan import files, gan

    if target in gan.MODELS:
        data.check_image_size(image_size)
        data.check_channels(channels)
        key = data.ALIASES.get(str(dataset).lower(), str(dataset).lower())
        if key not in data.DATASETS:
            raise MiniganError(f"unknown dataset {dataset!r}; choose one of {', '.join(data.DATASETS)}.")
    elif image_size is not None or channels is not None:
        raise MiniganError(f"--image-size and --channels apply to model names only; the checkpoint {target} "
                           "fixes its own image shape, so drop them.")
    if (step or graph) and batch_size < 2:
        raise MiniganError(f"a training step needs --batch-size of 2 or more, not {batch_size}.")
    if graph:
        files.check_writable(graph, "--graph", what="graph file")


def inspect_report(target, dataset="mnist", image_size=None, channels=None, step=False, batch_size=64, graph=None,
                   data_dir=None, device="cpu"):
    """What ``minigan inspect`` prints: the layer tables, and with ``step`` (or ``graph``) one watched step.

    Args:
        target (str): a model name or a checkpoint / run folder (see ``trainer_for``).
        dataset, image_size, channels: fresh models only; dataset also gives the step's batch.
        step (bool): run one training step and show its per-layer report.
        batch_size (int): images in that step.
        graph (str or None): write the step's autograd graph here (DOT); implies ``step``.
        data_dir (str or None): where the dataset's files are.
        device (str): cpu or gpu.
    Returns:
        str: the text to print.
    """
    check_options(target, dataset, image_size, channels, step, batch_size, graph)
    trainer = trainer_for(target, dataset, image_size, channels, device)
    parts = [format_layer_table(table, f"{trainer.name} {name}") for name, table in network_tables(trainer).items()]
    if step or graph:
        report = trainer_step_report(trainer, batch_size, data_dir)
        parts.append(f"one training step of {trainer.name} on {batch_size} {trainer.config.dataset} images:\n"
                     + format_step_report(report))
        if graph:
            names = ["loss_D", "loss_G"] if len(report["roots"]) == 2 else None  # one D step, one G step
            write_dot(report["roots"], graph, trainer.networks, names)
            parts.append(f"wrote {graph} (render it with `dot -Tsvg {graph} -o step.svg`).")
    return "\n\n".join(parts)


__all__ = ["class_summary", "diagnose", "format_layer_table", "format_step_report", "grad_norms", "inspect_report",
           "layer_table", "network_tables", "real_batch", "step_report", "to_dot", "total_grad_norm",
           "trainer_for", "trainer_step_report", "watched_step", "write_dot"]
