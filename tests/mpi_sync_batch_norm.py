"""Run under `mpiexec -n N`: synchronised batch norm on each rank's rows against batch norm on the
whole batch, forward and backward, in float64; rank 0 prints the largest relative error and exits
with status 1 when it is above 1e-10 (tests/test_distributed_mpi.py)."""

import sys

import numpy as np

from minigan import Tensor, distributed
from minigan import functional as F


def norm_and_grads(x, gy, gamma, beta, comm=None):
    xt, g, b = (Tensor(a.copy(), requires_grad=True) for a in (x, gamma, beta))
    mean, var = np.zeros(x.shape[1]), np.ones(x.shape[1])
    y = F.batch_norm(xt, g, b, mean, var) if comm is None else F.sync_batch_norm(xt, g, b, comm, mean, var)
    y.backward(gy)
    return [y.data, xt.grad, g.grad, b.grad, mean, var]


def main():
    comm = distributed.world("cpu")
    rng = np.random.default_rng(0)
    n = 4 * comm.size
    x, gy = rng.standard_normal((n, 3, 5, 5)) * 2 + 1, rng.standard_normal((n, 3, 5, 5))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    mine = norm_and_grads(distributed.local_rows(comm, x), distributed.local_rows(comm, gy), gamma, beta, comm)
    mine[2], mine[3] = mine[2] * comm.size, mine[3] * comm.size  # each rank holds the global dgamma, dbeta / N
    rows = [comm.gather(np.ascontiguousarray(a)) for a in mine[:2]]
    if comm.rank != 0:
        return 0
    whole = norm_and_grads(x, gy, gamma, beta)
    got = [np.concatenate(rows[0]), np.concatenate(rows[1])] + mine[2:]
    worst = max(np.abs(a - b).max() / np.abs(b).max() for a, b in zip(got, whole))
    print(f"{comm.size} ranks over {comm.name}: largest relative error {worst:.2e}")
    return 0 if worst < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
