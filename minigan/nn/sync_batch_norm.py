"""SyncBatchNorm: batch norm over the global batch of a data-parallel run (PyTorch's name)."""

from minigan.functional.sync_batch_norm import sync_batch_norm
from minigan.nn.module import check_input, replace_modules
from minigan.nn.normalization import BatchNorm


class SyncBatchNorm(BatchNorm):
    """Batch norm whose training statistics are those of the batch spread over the ranks of ``comm``.

    On one process (``comm`` None or of size 1) it is BatchNorm. Parameters, buffers and their
    state_dict names are BatchNorm's, so checkpoints do not depend on the number of ranks.

    Args:
        num_features (int): channels C.
        eps, momentum: as BatchNorm.
        comm (Communicator or None): the ranks (minigan.distributed).
    Shape:
        (n, C) or (n, C, h, w) -> same.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, comm=None):
        super().__init__(num_features, eps, momentum)
        object.__setattr__(self, "comm", comm)  # not state: a checkpoint holds no communicator

    def forward(self, x):
        if self.comm is None or self.comm.size == 1:
            return super().forward(x)
        check_input(self, x, x.ndim if x.ndim in self.input_ndims else self.input_ndims[0], self.num_features)
        return sync_batch_norm(x, self.weight, self.bias, self.comm, self.running_mean, self.running_var,
                               self.training, self.momentum, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module, comm):
        """Swap every BatchNorm1d/BatchNorm2d inside ``module`` for a SyncBatchNorm on ``comm``, in place.

        Each new layer takes over the old one's weight and bias Parameters (and so any optimizer
        holding them), its running statistics, eps, momentum and mode, and keeps its name and place.

        Returns:
            int: the number of layers replaced.
        """
        def synchronised(bn):
            sync = cls(bn.num_features, bn.eps, bn.momentum, comm)
            sync.weight, sync.bias = bn.weight, bn.bias
            sync.register_buffer("running_mean", bn.running_mean)
            sync.register_buffer("running_var", bn.running_var)
            object.__setattr__(sync, "training", bn.training)
            object.__setattr__(sync, "input_ndims", bn.input_ndims)  # a BatchNorm2d stays 4-d only
            return sync

        return replace_modules(module, lambda m: isinstance(m, BatchNorm) and not isinstance(m, cls), synchronised)
