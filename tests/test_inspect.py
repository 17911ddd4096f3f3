"""Inspect: FLOPs counted by hand, one watched step whose gradient norms match the real gradients,
the DOT graph, and the training diagnostics."""

import math

import numpy as np
import pytest

from minigan import Tensor, backward, inspect, nn
from minigan.function import no_grad
from minigan import functional as F
from minigan.gan import diagnostics


def tiny_pair():
    """G: z (8,) -> 1x8x8 images; D: conv -> BN -> ReLU -> linear. Small enough for a fast step."""
    rng = np.random.default_rng(0)
    G = nn.Sequential(nn.Linear(8, 16 * 4 * 4, rng=rng), nn.Unflatten(1, (16, 4, 4)), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False, rng=rng), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1, rng=rng), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 4 * 4, 1, rng=rng))
    return G, D


def test_layer_table_flops_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.ConvTranspose2d(8, 2, 4, 2, 1, bias=False), nn.Flatten(), nn.Linear(2 * 20 * 20, 4))
    table = inspect.layer_table(model, (3, 10, 10))
    rows = {r["name"]: r for r in table["rows"]}
    # conv: each of the 8*10*10 outputs is 3*3*3 multiply-adds, plus its bias
    assert rows["0"]["flops"] == 2 * 27 * 800 + 800 and rows["0"]["params"] == 8 * 27 + 8
    assert rows["1"]["flops"] == 4 * 800 and rows["2"]["flops"] == 800
    # transposed conv: each of the 8*10*10 inputs is spread over 2*4*4 outputs
    assert rows["3"]["flops"] == 2 * 800 * 32 and rows["3"]["output_shape"] == (2, 20, 20)
    assert rows["4"]["flops"] == 0 and rows["5"]["flops"] == 2 * 800 * 4 + 4
    assert table["total_flops"] == sum(r["flops"] for r in table["rows"])
    assert table["total_params"] == sum(p.size for p in model.parameters())
    assert "total" in inspect.format_layer_table(table)


def test_layer_table_leaves_the_model_as_it_was():
    G, _ = tiny_pair()
    G[2].eval()  # a mixed-mode model keeps its modes
    inspect.layer_table(G, (8,))
    assert G.training and not G[2].training
    assert all("forward" not in m.__dict__ for m in G.modules())


def test_step_report_times_every_layer_and_matches_the_true_gradients():
    G, D = tiny_pair()
    batch = np.random.default_rng(1).uniform(-1, 1, (6, 1, 8, 8)).astype(np.float32)
    original = backward.run_backward
    report = inspect.step_report(G, D, batch, seed=0)
    assert backward.run_backward is original
    assert all("forward" not in m.__dict__ for m in G.modules() + D.modules())
    rows = {(r["net"], r["name"]): r for r in report["rows"]}
    assert len(rows) == 6 + 5 and rows[("D", "0")]["calls"] == 3 and rows[("G", "0")]["calls"] == 1
    assert rows[("D", "0")]["backward_s"] > 0 and rows[("D", "0")]["forward_s"] > 0
    # after the step p.grad still holds the step's gradients (G's from the G step, D's from the D step)
    for net, tag in ((G, "G"), (D, "D")):
        for layer, norm in inspect.grad_norms(net).items():
            if layer != "total":
                assert rows[(tag, layer)]["grad_norm"] == pytest.approx(norm, rel=1e-5)
    assert rows[("D", "1")]["mean"] == pytest.approx(0.0, abs=1e-5)  # BN output on the real batch
    _, twin = tiny_pair()  # the same D before the step: its ReLU units that are 0 for the whole real batch
    with no_grad():
        relu_out = twin[2](twin[1](twin[0](Tensor(batch)))).numpy()
    dead = np.mean([np.all(relu_out[:, c, i, j] == 0) for c in range(8) for i in range(4) for j in range(4)])
    assert 0 < dead < 1 and rows[("D", "2")]["dead"] == dead and rows[("D", "1")]["dead"] is None
    assert set(report["losses"]) == {"loss_D", "loss_G"} and len(report["roots"]) == 2
    assert "fwd ms" in inspect.format_step_report(report)


def test_dead_relu_share():
    layer = nn.Linear(4, 5)
    layer.bias.data[:3] = -100.0  # three units never fire
    layer.bias.data[3:] = 100.0  # and two always do, whatever the random weights
    G = nn.Sequential(layer, nn.ReLU())
    recorder = inspect.step.StepRecorder()
    with inspect.hooks.watch(G, recorder.watcher("G")):
        G(Tensor(np.random.default_rng(0).uniform(-1, 1, (10, 4)).astype(np.float32)))
    assert recorder.rows[("G", "1")]["dead"] == pytest.approx(3 / 5)


def test_dot_graph_names_the_ops_and_parameters(tmp_path):
    G, D = tiny_pair()
    batch = np.zeros((4, 1, 8, 8), np.float32)
    report = inspect.step_report(G, D, batch)
    path = inspect.write_dot(report["roots"], str(tmp_path / "step.dot"), {"G": G, "D": D}, ["loss_D", "loss_G"])
    text = (tmp_path / "step.dot").read_text()
    assert path == str(tmp_path / "step.dot")
    assert text.startswith("digraph autograd {") and text.rstrip().endswith("}")
    for op in ("Conv2d", "ConvTranspose2d", "BatchNorm", "ReLU", "Tanh", "Linear", "BCEWithLogits", "Add"):
        assert f'label="{op}\\n' in text, op
    assert "D.0.weight" in text and "G.0.weight" in text and 'label="loss_G\\n' in text
    declared = {line.split()[0] for line in text.splitlines() if "[label=" in line}
    for line in text.splitlines():
        if "->" in line:
            a, b = line.strip().rstrip(";").split(" -> ")
            assert a in declared and b in declared


def test_grad_norms_by_hand():
    layer = nn.Linear(2, 1)
    layer.weight.grad = np.array([[3.0, 0.0]], np.float32)
    layer.bias.grad = np.array([4.0], np.float32)
    model = nn.Sequential(layer)
    assert inspect.grad_norms(model) == {"0": 5.0, "total": 5.0}
    assert float(inspect.total_grad_norm(model)) == pytest.approx(5.0)
    assert inspect.total_grad_norm(nn.Sequential(nn.Linear(2, 1))) is None


def test_trainer_tables_and_step_on_synthetic_data():
    trainer = inspect.trainer_for("dcgan", dataset="synthetic")
    tables = inspect.network_tables(trainer)
    conv = tables["D"]["rows"][0]
    assert conv["flops"] == 2 * (1 * 4 * 4) * 64 * 14 * 14  # Conv2d(1, 64, 4, 2, 1), no bias
    assert tables["G"]["total_params"] == sum(p.size for p in trainer.networks["G"].parameters())
    report = inspect.trainer_step_report(trainer, batch_size=8)
    assert {"loss_D", "loss_G", "D_x", "D_G_z"} <= set(report["losses"])
    assert {r["net"] for r in report["rows"]} == {"G", "D"}


# -- diagnostics ------------------------------------------------------------------------------
def test_healthy_history_gives_no_warning():
    rng = np.random.default_rng(0)
    history = {"loss_D": list(1.2 + 0.1 * rng.standard_normal(200)), "D_x": [0.6] * 200, "D_G_z": [0.4] * 200,
               "grad_norm_D": list(1 + 0.1 * rng.random(200)), "classes_covered": [10] * 200,
               "top_class_share": [0.12] * 200}
    assert inspect.diagnose(history) == []


def test_d_collapse_explosion_and_mode_collapse_are_named():
    n = 100
    history = {"loss_D": [1.0] * 50 + [1e-4] * 50, "D_x": [0.5] * 50 + [0.9999] * 50,
               "D_G_z": [0.5] * 50 + [1e-4] * 50, "grad_norm_G": [1.0] * (n - 1) + [5e3],
               "classes_covered": [10] * (n - 1) + [2], "top_class_share": [0.1] * (n - 1) + [0.8]}
    warnings = inspect.diagnose(history)
    assert len(warnings) == 3
    assert "collapsed to ~0" in warnings[0] and "D(x) ~ 1.000" in warnings[0]
    assert "grad_norm_G" in warnings[1] and "exploding" in warnings[1]
    assert "only 2 of 10 classes" in warnings[2] and "80%" in warnings[2]


def test_diagnose_reads_metric_rows_and_nan():
    rows = [{"step": i, "loss_D": 1.0, "class_histogram": [100] + [0] * 9} for i in range(10)]
    assert "only 1 of 10 classes" in inspect.diagnose(rows)[0]
    padded = {"loss_G": [math.nan] * 3 + [0.7] * 5}  # a late metric, padded by Trainer.record: fine
    assert inspect.diagnose(padded) == []
    assert "became nan" in inspect.diagnose({"loss_G": [0.7, 0.7, math.nan]})[0]


def test_class_summary_uses_the_judge():
    class FakeJudge:
        def class_histogram(self, images):
            return np.array([90, 10] + [0] * 8)

    assert diagnostics.class_summary(FakeJudge(), None) == {"classes_covered": 2, "top_class_share": 0.9}


def test_functional_ops_of_a_loss_appear_in_to_dot():
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True, name="x")
    text = inspect.to_dot(F.mean(F.sigmoid(x) * 2))
    assert 'label="Sigmoid\\n(2, 3)"' in text and 'label="x\\n(2, 3)"' in text and "lightyellow" in text


@pytest.mark.parametrize("model", ["gan", "dcgan", "cgan", "lapgan"])
def test_network_tables_change_nothing(model):
    trainer = inspect.trainer_for(model, dataset="synthetic")
    before = {name: {k: v.copy() for k, v in net.state_dict().items()} for name, net in trainer.networks.items()}
    rng_before = {k: g.bit_generator.state for k, g in trainer.rngs.items()}
    tables = inspect.network_tables(trainer)
    assert set(tables) == set(trainer.networks)
    for name, net in trainer.networks.items():
        assert tables[name]["rows"] and tables[name]["total_params"] == sum(p.size for p in net.parameters())
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(v, before[name][k], err_msg=f"{name}.{k}")
        assert net.training and all("forward" not in m.__dict__ for m in net.modules())
    assert {k: g.bit_generator.state for k, g in trainer.rngs.items()} == rng_before
