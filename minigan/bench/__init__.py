"""Floor 7: ``minigan bench`` -- full DCGAN training steps, timed beside PyTorch.

A benchmark is a command that prints figures, never a timed test. Machines are noisy, so
minigan and its peer run in the same process, alternating (A B A B) after a warm-up, and
the medians are compared as a ratio. Peak memory is the exception: each side is measured
in a process of its own.

    step        the minigan side: the training step of the benchmark models, the clock
    peer_torch  the PyTorch side: identical models, identical step, ``copy_weights``
    layers      each layer's forward and backward alone, FLOPs and GFLOP/s
    roofline    GFLOP/s as a % of the machine's SGEMM peak, the FLOP floor of a step
    memory      peak RSS (and GPU pool bytes) of one side, in a subprocess
    machine     thread counts (set, read back), machine facts, the SGEMM peak
    report      tables and JSON
    suite       ``run``, what the command calls: the comparison once per thread count
    scaling     ``--ranks N``: minigan train's step on N ranks against one process, in processes of their own

``minigan.bench.peer_torch`` imports torch; nothing else here does until a peer is asked for.
"""

from minigan.bench.suite import run

__all__ = ["run"]
