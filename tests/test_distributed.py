"""minigan.distributed and gan/data_parallel in one process: the communicators' contract, bucketed
all-reduce, rows of the global batch's draws, synchronised batch norm against batch norm on the
whole batch, and N thread ranks training exactly as one process (float64). The real MPI backend,
mpiexec and the command line are in tests/test_distributed_mpi.py."""

import io

import numpy as np
import pytest
from distributed_fakes import run_ranks

from minigan import Tensor, data, distributed, gan, nn, optim
from minigan import functional as F
from minigan.distributed import buckets, communicator, launch
from minigan.errors import MiniganError
from minigan.gan import data_parallel
from minigan.gradcheck import gradcheck


# -- the single process and the buckets --------------------------------------------------------------
def test_single_process_leaves_arrays_as_they_are():
    x = np.arange(4.0)
    c = distributed.SINGLE
    assert c.all_reduce(x) is x and c.broadcast(x) is x and c.gather(x)[0] is x
    assert (c.rank, c.size) == (0, 1) and c.rendezvous(0)
    arrays = [np.ones(3), np.zeros((2, 2))]
    assert all(a is b for a, b in zip(distributed.all_reduce_arrays(c, arrays, mean=True), arrays))


def test_buckets_keep_order_and_split_by_dtype_and_size():
    arrays = [np.zeros(10, np.float32), np.zeros(10, np.float32), np.zeros(3, np.float64), np.zeros(30, np.float64),
              np.zeros(1000, np.float64), np.zeros(2, np.float64)]
    assert buckets.buckets(arrays, bucket_bytes=400) == [[0, 1], [2, 3], [4], [5]]


class CountingComm(communicator.Communicator):
    """Wraps a thread rank and counts its all-reduce calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.rank, self.size = inner.rank, inner.size

    def all_reduce(self, x, op="sum"):
        self.calls += 1
        return self.inner.all_reduce(x, op)


def test_gradients_are_averaged_in_one_call_per_bucket():
    def rank(comm):
        counting = CountingComm(comm)
        net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))  # 4 parameters, one bucket
        for i, p in enumerate(net.parameters()):
            p.grad = np.full(p.shape, float(comm.rank * 10 + i), np.float32)
        data_parallel.average_gradients(counting, net)
        return counting.calls, [p.grad for p in net.parameters()]

    (calls, grads), (_, grads1) = run_ranks(2, rank)
    assert calls == 1
    for i, (g, g1) in enumerate(zip(grads, grads1)):
        np.testing.assert_array_equal(g, np.full(g.shape, i + 5.0))  # mean of i and 10 + i
        np.testing.assert_array_equal(g1, g)


def test_collectives_of_thread_ranks():
    def rank(comm):
        x = np.array([1.0, comm.rank + 2.0])
        total = comm.all_reduce(x.copy())
        biggest = comm.all_reduce(x.copy(), "max")
        root = comm.broadcast(np.array([comm.rank + 7.0]), root=1)
        gathered = comm.gather(np.array([comm.rank]), root=0)
        return total, biggest, root, gathered, data_parallel.any_rank(comm, comm.rank == 1)

    r0, r1 = run_ranks(2, rank)
    np.testing.assert_array_equal(r0[0], [2.0, 5.0])
    np.testing.assert_array_equal(r1[1], [1.0, 3.0])
    assert r0[2][0] == r1[2][0] == 8.0
    assert [g.tolist() for g in r0[3]] == [[0], [1]] and r1[3] is None
    assert r0[4] is True and r1[4] is True


def test_logged_metrics_are_the_means_over_the_ranks():
    def rank(comm):
        out = {"loss_D": np.float32(comm.rank + 1.0) * np.ones((), np.float32), "D_x": np.array(0.25 * comm.rank)}
        return data_parallel.mean_metrics(comm, out)

    r0, r1 = run_ranks(2, rank)
    assert list(r0) == ["loss_D", "D_x"] and r0["loss_D"].dtype == np.float32
    assert float(r0["loss_D"]) == float(r1["loss_D"]) == 1.5 and float(r0["D_x"]) == 0.125


# -- rows of the global batch ----------------------------------------------------------------------------
def test_ranks_rows_and_draws_make_up_the_single_process_ones():
    one = np.random.default_rng(3)
    expected = one.standard_normal((8, 2), dtype=np.float32), one.random((8, 3)), one.integers(0, 9, 8)

    def rank(comm):
        rng = np.random.default_rng(3)
        rows = distributed.ShardedGenerator(rng, comm)
        draws = rows.standard_normal((4, 2), dtype=np.float32), rows.random((4, 3)), rows.integers(0, 9, 4)
        return draws, rng.bit_generator.state

    (d0, state0), (d1, state1) = run_ranks(2, rank)
    for e, a, b in zip(expected, d0, d1):
        np.testing.assert_array_equal(np.concatenate([a, b]), e)
    assert state0 == state1 == one.bit_generator.state  # each rank's Generator is where one process's is
    assert distributed.local_rows(distributed.SINGLE, expected[0]) is expected[0]
    with pytest.raises(TypeError, match="batch dimension"):
        distributed.ShardedGenerator(one, distributed.SINGLE).random()


# -- synchronised batch norm ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape, rows", [((10, 3, 4, 5), (6, 4)), ((12, 5), (6, 6))])
def test_sync_batch_norm_is_batch_norm_on_the_global_batch(shape, rows):
    """Forward, input gradient, parameter gradients (summed over ranks) and running statistics equal
    batch norm's on the concatenated batch (float64), also for ranks of different sizes."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1.5
    gy = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])

    def run(xs, gys, comm=None):
        xt, g, b = Tensor(xs, requires_grad=True), Tensor(gamma.copy(), requires_grad=True), Tensor(beta.copy(),
                                                                                                  requires_grad=True)
        mean, var = np.zeros(shape[1]), np.ones(shape[1])
        y = (F.batch_norm(xt, g, b, mean, var) if comm is None else F.sync_batch_norm(xt, g, b, comm, mean, var))
        y.backward(gys)
        return y.data, xt.grad, g.grad, b.grad, mean, var

    whole = run(x, gy)
    starts = np.cumsum((0,) + rows)
    parts = run_ranks(2, lambda comm: run(x[starts[comm.rank]:starts[comm.rank + 1]],
                                          gy[starts[comm.rank]:starts[comm.rank + 1]], comm))
    np.testing.assert_allclose(np.concatenate([p[0] for p in parts]), whole[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), whole[1], rtol=1e-10, atol=1e-12)
    for i in (2, 3):  # dgamma, dbeta: the global ones / N on every rank (their mean over the ranks is the global)
        np.testing.assert_allclose(2 * parts[0][i], whole[i], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(parts[1][i], parts[0][i])
    for i in (4, 5):
        np.testing.assert_allclose(parts[0][i], whole[i], rtol=1e-12)
        np.testing.assert_array_equal(parts[1][i], parts[0][i])


def test_sync_batch_norm_on_one_process_passes_the_gradient_check():
    rng = np.random.default_rng(1)
    x, g, b = (Tensor(rng.standard_normal(s)) for s in ((6, 3, 2, 2), (3,), (3,)))
    assert gradcheck(lambda: F.sync_batch_norm(x, g, b, distributed.SINGLE), [x, g, b]).ok


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_names():
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU())
    opt = optim.Adam(net.parameters())
    weight, running = net[1].weight, net[1].running_mean
    keys = list(net.state_dict())
    assert nn.SyncBatchNorm.convert_sync_batchnorm(net, distributed.SINGLE) == 1
    assert isinstance(net[1], nn.SyncBatchNorm) and net[1].weight is weight and net[1].running_mean is running
    assert list(net.state_dict()) == keys and opt.params[2] is weight
    assert net[1].input_ndims == (2,) and nn.SyncBatchNorm.convert_sync_batchnorm(net, distributed.SINGLE) == 0


# -- thread ranks train exactly as one process --------------------------------------------------------
def _train(comm, model, steps, size, batch, **settings):
    """``steps`` steps of a float64 trainer on ``comm``'s ranks, as gan/training.run_epoch takes them."""
    config = gan.TrainConfig(dataset="synthetic", model=model, batch_size=batch, nz=8, **settings)
    trainer = gan.get_trainer_class(model)(config, (1, size, size), 10)
    for name, net in trainer.networks.items():
        net.double()
        trainer.optimizers[name] = trainer.make_optimizer(net, trainer._roles[name])
    data_parallel.attach(trainer, comm)
    dataset = data.load_dataset("synthetic", image_size=size)
    batches, metrics = data.BatchIterator(dataset, batch, trainer.rngs["data"]), []
    for _ in range(steps):
        real, labels = data_parallel.local_batch(comm, *batches.next_batch())
        out = trainer.train_step(real.astype(np.float64), labels if trainer.conditional else None)
        metrics.append({k: float(v) for k, v in data_parallel.mean_metrics(comm, out).items()})
        trainer.step += 1
    return {f"{n}.{k}": v for n, net in trainer.networks.items() for k, v in net.state_dict().items()}, metrics


@pytest.mark.parametrize("model, steps, size, settings", [
    ("dcgan", 10, 16, {"d_steps": 2, "instance_noise": 0.1}),  # batch norm in G and D
    ("gan", 4, 16, {}),  # dropout masks in D
    ("cgan", 4, 16, {"arch": "conv", "vbn": True}),  # labels, virtual batch norm
    ("lapgan", 3, 28, {}),  # a G/D pair per level
])
def test_two_thread_ranks_step_as_one_process(model, steps, size, settings):
    batch = 8
    one, metrics = _train(distributed.SINGLE, model, steps, size, batch, **settings)
    (two, metrics2), _ = run_ranks(2, lambda comm: _train(comm, model, steps, size, batch, **settings))
    for key, value in one.items():
        scale = max(np.linalg.norm(value), 1e-3)
        assert np.linalg.norm(two[key] - value) <= 1e-10 * scale, key
    for row, row2 in zip(metrics, metrics2):
        assert row.keys() == row2.keys()
        np.testing.assert_allclose([row2[k] for k in row], [row[k] for k in row], rtol=1e-9, atol=1e-12)


# -- what cannot split, and how ranks stop -------------------------------------------------------------------
class TwoRanks(communicator.SingleProcess):
    rank, size = 0, 2


@pytest.mark.parametrize("settings, words", [
    ({"batch_size": 15}, "does not split evenly over 2 ranks"),
    ({"minibatch_discrimination": 10}, "--minibatch-discrimination compares each image"),
    ({"feature_matching": True}, "--feature-matching"),
    ({"replay": 128}, "--replay"),
    ({"loss": "relativistic-average"}, "--loss relativistic-average"),
    ({"gp": "r1"}, "--gp r1"),
    ({"model": "began"}, "--model began has not been made data-parallel"),
])
def test_whole_batch_settings_are_refused_with_ranks(settings, words):
    config = gan.TrainConfig(**{"dataset": "synthetic", "batch_size": 16, **settings})
    cls = gan.get_trainer_class(config.model)
    data_parallel.check(config, cls, distributed.SINGLE)  # one process: all fine
    with pytest.raises(MiniganError, match=words):
        data_parallel.check(config, cls, TwoRanks())


class StopComm(communicator.SingleProcess):
    def __init__(self, rank, together):
        self.rank, self.size, self.together, self.aborted = rank, 2, together, None

    def rendezvous(self, seconds):
        return self.together

    def abort(self, code):
        self.aborted = code


@pytest.mark.parametrize("error, status", [(MiniganError("bad"), 2), (KeyboardInterrupt(), 130), (ValueError("x"), 1)])
def test_ranks_that_stop_together_leave_the_message_to_rank_0(error, status):
    with pytest.raises(type(error)):
        with distributed.stopping_together(StopComm(0, True)):
            raise error
    stream = io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        with distributed.stopping_together(StopComm(1, True), stream):
            raise error
    assert stopped.value.code == status and stream.getvalue() == ""


def test_a_rank_that_stops_alone_says_so_and_aborts_the_run():
    comm, stream = StopComm(1, False), io.StringIO()
    with pytest.raises(MiniganError):
        with distributed.stopping_together(comm, stream):
            raise MiniganError("no MNIST files on this machine")
    assert comm.aborted == 2
    assert stream.getvalue() == "Error: rank 1 of 2 stopped the run: no MNIST files on this machine\n"


def test_a_plain_process_never_starts_mpi(monkeypatch):
    assert not launch.launched_by_mpi({"PATH": "/bin"})
    assert launch.launched_by_mpi({"PMI_SIZE": "2"}) and launch.launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "2"})
    assert distributed.world("cpu", {}) is distributed.SINGLE
    monkeypatch.setitem(__import__("sys").modules, "mpi4py", None)  # as if mpi4py were not installed
    with pytest.raises(MiniganError, match=r"pip install 'minigan\[mpi\]'"):
        distributed.world("cpu", {"PMI_SIZE": "2"})
    assert "PMI_RANK" not in launch.clean_environment({"PMI_RANK": "1", "HOME": "/root"})


def test_each_rank_takes_its_share_of_the_cores_unless_told(monkeypatch):
    assert launch.share_cores(2, {"OMP_NUM_THREADS": "3"}) is None
