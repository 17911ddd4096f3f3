"""Data-parallel training: N processes (ranks) train one model as one process would on the global batch.

Notation: N ranks, a global batch of n images (--batch-size); rank r holds rows r*n/N up to
(r+1)*n/N of every batch, in the single-process data order (minigan.distributed.rows).

What makes N ranks compute the step one process computes, up to float summation order:
    data       every rank iterates the same seeded BatchIterator and keeps its rows
    noise      every rank draws the global batch's z, labels, instance noise and dropout masks
               from the same Generators and keeps its rows (Generators advance as in one process)
    start      parameters and buffers broadcast from rank 0
    gradients  each rank's loss is a mean over its n/N rows, so its gradient is N times its share
               of the global gradient: their mean over the ranks (one bucketed all-reduce per
               network per step, between backward and the optimizer) is the global gradient
    batch norm synchronised (nn.SyncBatchNorm): statistics and their gradients over all ranks
    metrics    the logged means (losses, D(x), ...) averaged over the ranks: the global means
Only rank 0 prints, writes the run folder and runs the epoch-end hooks; checkpoints are the
single-process state, so --resume works from any number of ranks to any other. A Ctrl-C or
SIGTERM on any rank stops all of them after the same step (``any_rank``).

Techniques that look at the whole batch at once are refused with more than one rank (``check``).
"""

import numpy as np

from minigan import cuda, distributed
from minigan.errors import MiniganError
from minigan.gan.run_folder import RunFolder
from minigan.nn.container import Dropout
from minigan.nn.sync_batch_norm import SyncBatchNorm

MODELS = ("gan", "dcgan", "cgan", "lapgan")  # the models whose steps are proven to split (tests/test_distributed_mpi.py)


def whole_batch_options(config):
    """[(option, what it does with the whole batch)] of ``config``'s options that one rank's rows cannot do."""
    found = [("--minibatch-discrimination", config.minibatch_discrimination,
              "compares each image with the rest of its batch"),
             ("--feature-matching", config.feature_matching, "matches the mean features of the whole batch"),
             ("--replay", config.replay, "mixes a buffer of earlier fakes into the batch"),
             ("--loss relativistic-average", config.loss == "relativistic-average",
              "compares each logit with the mean logit of the batch"),
             (f"--gp {config.gp}", config.gp, "differentiates D twice, through batch statistics"),
             ("--unroll", getattr(config, "unroll", 0), "differentiates through D's own steps"),
             ("--pack", getattr(config, "pack", 1) > 1, "concatenates samples of the batch for D")]
    return [(option, why) for option, on, why in found if on]


def check(config, model, comm):
    """Raise MiniganError, before any data is loaded, when ``config`` cannot train on ``comm``'s ranks."""
    if comm.size == 1:
        return
    if model.name not in MODELS:
        raise MiniganError(f"--model {model.name} has not been made data-parallel (only {', '.join(MODELS)} have); "
                           "train it with one process.")
    if config.batch_size % comm.size:
        raise MiniganError(f"--batch-size {config.batch_size} does not split evenly over {comm.size} ranks; use a "
                           f"multiple of {comm.size} (each rank takes an equal share of every batch).")
    for option, why in whole_batch_options(config):
        raise MiniganError(f"{option} {why}, which a rank holding part of the batch cannot do; "
                           f"train with one process, or drop {option}.")


def attach(trainer, comm):
    """Make ``trainer`` one rank of a data-parallel run on ``comm``: synchronised batch norm, dropout
    masks drawn for the global batch, and every parameter and buffer broadcast from rank 0."""
    trainer.comm = comm
    if comm.size == 1:
        return
    for net in trainer.networks.values():
        SyncBatchNorm.convert_sync_batchnorm(net, comm)
        for m in net.modules():
            if isinstance(m, Dropout):  # its one host Generator, on the GPU drawing there (nn.Dropout)
                rng = m._rng()
                m._rngs["cpu"] = distributed.ShardedGenerator(
                    cuda.DeviceDraws(rng) if trainer.config.device == "gpu" else rng, comm)
        for p in net.parameters():
            comm.broadcast(p.data)
        for _, _, _, buffer in net.named_buffers():
            comm.broadcast(buffer)


def average_gradients(comm, net):
    """Each parameter's gradient <- its mean over the ranks, in one all-reduce per bucket."""
    if comm.size == 1:
        return
    params = [p for p in net.parameters() if p.grad is not None]
    for p, g in zip(params, distributed.all_reduce_arrays(comm, [p.grad for p in params], mean=True)):
        p.grad = g


def mean_metrics(comm, out):
    """The step's metrics ({name: 0-d array}) averaged over the ranks, in one all-reduce."""
    if comm.size == 1 or not out:
        return out
    names = list(out)  # the same order on every rank: each built its dict the same way
    values = [out[k] for k in names]
    stacked = distributed.all_reduce_arrays(comm, [v.reshape(1).astype(np.float64) for v in values], mean=True)
    return {k: s.reshape(()).astype(v.dtype) for k, s, v in zip(names, stacked, values)}


def any_rank(comm, flag):
    """True on every rank when ``flag`` is true on any (a Ctrl-C seen by one rank stops them all)."""
    if comm.size == 1:
        return bool(flag)
    return bool(comm.all_reduce(np.array([1 if flag else 0], np.int32), "max")[0])


def local_batch(comm, real, labels):
    """This rank's rows of a global batch (host arrays) and of its labels (None stays None)."""
    return distributed.local_rows(comm, real), distributed.local_rows(comm, labels)


def quiet(line):
    """The echo of ranks other than 0: they print nothing."""


class FollowerRun(RunFolder):
    """The run folder as a rank other than 0 sees it: its paths, and no file ever written."""

    @classmethod
    def create(cls, path):
        return cls(path)  # rank 0 checks and makes the folder

    @classmethod
    def open(cls, path):
        return cls(path)

    def write_config(self, config):
        pass

    def append_metrics(self, row):
        pass

    def truncate_metrics(self, step):
        pass


def run_folder_class(comm):
    """RunFolder on rank 0, FollowerRun on the others."""
    return RunFolder if comm.rank == 0 else FollowerRun


def describe(comm, config):
    """The run's ranks in one line, for its header."""
    threads = getattr(comm, "threads", None)
    each = f", {threads} thread{'s' if threads != 1 else ''} each" if threads else ""
    return (f"data-parallel: {comm.size} ranks over {comm.name}{each}; {config.batch_size // comm.size} images of "
            f"every batch of {config.batch_size} per rank, synchronised batch norm")
