"""Data of known modes (ring, grid, stacked MNIST), their metrics and pictures, PacGAN, BEGAN and
ablate --seeds: the mode-collapse issue, piece by piece."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gan_helpers import assert_same_networks, quiet, tiny, trainer_of
from test_data import write_mnist_like
from minigan import ablate, data, gan, images
from minigan.cli import main
from minigan.data import modes as data_modes
from minigan.errors import MiniganError
from minigan.evaluate import modes
from minigan.tensor import Tensor


# -- datasets -----------------------------------------------------------------------------------------
def test_ring_and_grid_are_seeded_gaussians_around_their_centres():
    for name, k, std in (("ring", 8, 0.02), ("grid", 25, 0.05)):
        ds = data.load_dataset(name, limit=20000)
        assert ds.is_points and ds.image_shape == (2,) and ds.num_classes == k and len(ds) == 20000
        centres = data_modes.mode_centres(name)
        offsets = ds.images - centres[ds.labels]
        np.testing.assert_allclose(offsets.std(axis=0), std, rtol=0.05)
        assert np.bincount(ds.labels, minlength=k).min() > 20000 / k * 0.8
        np.testing.assert_array_equal(ds.images, data.load_dataset(name, limit=20000).images)
        assert not np.array_equal(ds.images[:100], data.load_dataset(name, split="test", limit=100).images)
    np.testing.assert_allclose(np.linalg.norm(data_modes.mode_centres("ring"), axis=1), 2.0)
    assert sorted(set(data_modes.mode_centres("grid").ravel())) == [-4, -2, 0, 2, 4]


def test_stacked_mnist_stacks_three_digits_with_their_mode():
    raw = np.arange(10, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)  # digit k: all pixels k
    labels = np.arange(10)
    stacked, mode = data_modes.stack_digits(raw, labels, 500, seed=3)
    assert stacked.shape == (500, 28, 28, 3) and mode.min() >= 0 and mode.max() < 1000
    digits = stacked[:, 0, 0].astype(np.int64)
    np.testing.assert_array_equal(100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2], mode)
    again, _ = data_modes.stack_digits(raw, labels, 500, seed=3)
    np.testing.assert_array_equal(stacked, again)


# -- metrics ------------------------------------------------------------------------------------------
def test_point_metrics_count_covered_modes_quality_and_kl():
    centres = data_modes.mode_centres("ring")
    rng = np.random.default_rng(0)
    perfect = centres[np.arange(8000) % 8] + 0.02 * rng.standard_normal((8000, 2))
    rep = modes.point_report(perfect, "ring")
    assert rep["modes_covered"] == 8 and rep["high_quality"] > 0.98 and rep["kl"] < 0.01
    collapsed = centres[np.zeros(1000, int)] + 0.02 * rng.standard_normal((1000, 2))
    rep = modes.point_report(collapsed, "ring")
    assert rep["modes_covered"] == 1 and rep["kl"] == pytest.approx(np.log(8))
    between = np.zeros((500, 2))  # the ring's centre: far from every mode
    rep = modes.point_report(between, "ring")
    assert rep["modes_covered"] == 0 and rep["high_quality"] == 0 and np.isfinite(rep["kl"])


class DigitReader:
    """A stand-in judge: reads a 1-channel plane's digit from its mean pixel (see the stacked test)."""

    def outputs(self, images, batch_size=1000):
        digit = np.rint((images.reshape(len(images), -1).mean(axis=1) + 1) * 4.5).astype(int)
        return None, np.log(np.eye(10)[digit] + 1e-12)


def test_stacked_metrics_read_each_plane_as_a_digit():
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 10, (2600, 3))
    x = (digits[:, :, None, None] / 4.5 - 1).astype(np.float32) * np.ones((1, 1, 28, 28), np.float32)
    rep = modes.stacked_report(x, DigitReader())
    expected = len(set(map(tuple, digits)))
    assert rep["modes_covered"] == expected and rep["samples"] == 2600 and rep["modes"] == 1000
    one = modes.stacked_report(x[:1].repeat(50, axis=0), DigitReader())
    assert one["modes_covered"] == 1 and one["top_mode_share"] == 1.0 and one["kl"] == pytest.approx(np.log(1000))
    # one mode: all the KL is in the planes; rounding must not print a dependence of "-0.000"
    assert one["dependence_kl"] == 0.0 and "-0.000" not in modes.format_report(one)


def test_stacked_kl_splits_into_the_planes_and_their_dependence():
    # independent planes: the dependence term is sampling noise only; a plane of only 3s and 8s costs ln 5
    rng = np.random.default_rng(1)
    digits = rng.integers(0, 10, (20000, 3))
    digits[:, 1] = rng.choice([3, 8], 20000)
    x = (digits[:, :, None, None] / 4.5 - 1).astype(np.float32) * np.ones((1, 1, 28, 28), np.float32)
    rep = modes.stacked_report(x, DigitReader())
    assert rep["plane_kl"][1] == pytest.approx(np.log(5), abs=1e-3)
    assert rep["plane_kl"][0] < 0.01 and rep["plane_kl"][2] < 0.01 and 0 <= rep["dependence_kl"] < 0.02
    assert rep["plane_shares"][1][3] + rep["plane_shares"][1][8] == 1 and abs(rep["plane_shares"][1][3] - 0.5) < 0.02
    assert "plane G: most read as 3" in modes.format_report(rep) or "plane G: most read as 8" in modes.format_report(rep)
    assert sum(rep["plane_kl"]) + rep["dependence_kl"] == pytest.approx(rep["kl"])
    # the G plane copies the R plane: each plane is uniform, all the KL is dependence (ln 10 of 2 ln 10)
    digits[:, 1] = digits[:, 0]
    x = (digits[:, :, None, None] / 4.5 - 1).astype(np.float32) * np.ones((1, 1, 28, 28), np.float32)
    rep = modes.stacked_report(x, DigitReader())
    assert max(rep["plane_kl"]) < 0.01 and rep["dependence_kl"] == pytest.approx(np.log(10), abs=0.02)
    assert "the planes' dependence" in modes.format_report(rep)


def test_eval_reference_reads_the_first_training_examples_as_their_own_modes(tmp_path):
    write_mnist_like(tmp_path / "mnist", n_train=400)  # MNIST's format, random digits (CI has no MNIST)
    ds = data.load_dataset("stacked-mnist", data_dir=str(tmp_path / "mnist"), limit=300)
    planes = {}  # each plane's bytes -> its digit, from the dataset's own labels: a judge that is always right
    for image, mode in zip(ds.images, ds.labels):
        for p in range(3):
            planes[image[p].tobytes()] = mode // 10 ** (2 - p) % 10

    class LabelReader:
        def outputs(self, images, batch_size=1000):
            digits = [planes[im[0].tobytes()] for im in images]
            return None, np.log(np.eye(10)[digits] + 1e-12)

    rep = modes.reference_report("stacked-mnist", 300, LabelReader(), data_dir=str(tmp_path / "mnist"))
    histogram = np.bincount(ds.labels, minlength=1000)
    assert rep["samples"] == 300 and rep["modes_covered"] == (histogram > 0).sum() > 200
    assert rep["kl"] == pytest.approx(modes.kl_to_uniform(histogram))
    assert "first 300 training examples" in rep["description"]


# -- training on points: networks, pictures, eval ---------------------------------------------------------
def test_minigan_train_ring_uses_the_points_recipe_and_draws_scatters(tmp_path):
    out = tmp_path / "ring"
    result = CliRunner().invoke(main, ["train", "ring", "--epochs", "2", "--limit", "2048", "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["nz"], config["batch_size"], config["lr_g"], config["lr_d"]) == \
        ("gan", 256, 512, 1e-3, 1e-4)
    for name in ("real.png", "epoch_001.png", "epoch_002.png", "strip.png"):
        assert Image.open(out / "samples" / name).size[1] > 100
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    checks = [r for r in rows if "modes_covered" in r]
    assert [r["epoch"] for r in checks] == [1, 2] and all(0 <= r["high_quality"] <= 1 for r in checks)
    result = CliRunner().invoke(main, ["eval", str(out), "--json", "-"])
    report = json.loads(result.output)
    assert report["kind"] == "modes" and report["samples"] == 2500 and report["modes"] == 8
    real = report["reference"]  # the ring's own points: every mode, ~98.9% within 3 std (2-D: 1 - e^-4.5)
    assert real["samples"] == 2500 and real["modes_covered"] == 8 and 0.98 < real["high_quality"] < 0.995
    result = CliRunner().invoke(main, ["eval", str(out), "--no-reference"])
    assert result.exit_code == 0 and "real data" not in result.output and "modes covered" in result.output


def test_scatter_marks_the_modes_and_counts_points_outside(tmp_path):
    centres = data_modes.mode_centres("ring")
    images.save_scatter(np.array([[0.0, 0.0], [50.0, 50.0]]), centres, str(tmp_path / "s.png"), std=0.02)
    picture = np.asarray(Image.open(tmp_path / "s.png"))
    assert (picture == [44, 160, 44]).all(axis=-1).sum() > 8 * 10  # a green circle per mode
    assert (picture == [31, 119, 180]).all(axis=-1).sum() == 9  # one 3x3 dot: the other point is outside
    images.save_strip([str(tmp_path / "s.png")] * 3, str(tmp_path / "strip.png"), height=90)
    assert Image.open(tmp_path / "strip.png").size == (3 * 90 + 4, 90)


# -- PacGAN -------------------------------------------------------------------------------------------
def test_pack_concatenates_consecutive_samples_along_channels():
    tr = trainer_of("dcgan", pack=2)
    assert tr.d_input_shape == (2, 16, 16)
    assert tr.networks["D"].encoder[0].weight.shape[1] == 2
    x = np.arange(4 * 16 * 16, dtype=np.float32).reshape(4, 1, 16, 16)
    packed = tr.packed(Tensor(x)).data
    assert packed.shape == (2, 2, 16, 16)
    np.testing.assert_array_equal(packed[1, 0], x[2, 0])
    np.testing.assert_array_equal(packed[1, 1], x[3, 0])
    assert tr.discriminate(Tensor(x)).shape == (2, 1)


def test_packed_run_trains_and_resumes_exactly(tmp_path):
    whole = gan.train(tiny(tmp_path, "whole", epochs=2, pack=4), echo=quiet)
    gan.train(tiny(tmp_path, "half", epochs=1, pack=4), echo=quiet)
    assert_same_networks(whole, gan.resume(str(tmp_path / "half"), echo=quiet, epochs=2))


def test_pack_one_is_the_plain_gan(tmp_path):
    assert_same_networks(gan.train(tiny(tmp_path, "a", epochs=1), echo=quiet),
                         gan.train(tiny(tmp_path, "b", epochs=1, pack=1), echo=quiet))


# -- BEGAN --------------------------------------------------------------------------------------------
def test_began_equilibrium_follows_the_paper():
    from minigan.gan.began import Equilibrium

    eq = Equilibrium(gamma=0.5)
    m = eq.update(l_real=0.4, l_fake=0.1)  # fakes reconstruct better than gamma L(x): k rises
    assert eq.k == pytest.approx(0.001 * (0.5 * 0.4 - 0.1)) and m == pytest.approx(0.4 + 0.1)
    eq.k = 0.0
    eq.update(0.1, 0.4)
    assert eq.k == 0.0  # clipped at 0
    eq.k = 1.0
    eq.update(10.0, 0.0)
    assert eq.k == 1.0  # clipped at 1


def test_began_trains_logs_and_resumes_exactly(tmp_path):
    cfg = tiny(tmp_path, "whole", model="began", epochs=2)
    whole = gan.train(cfg, echo=quiet)
    assert {"L_x", "L_G_z", "k", "M_global"} <= set(whole.history)
    assert whole.equilibrium.k > 0 and (tmp_path / "whole" / "convergence.png").exists()
    gan.train(tiny(tmp_path, "half", model="began", epochs=1), echo=quiet)
    resumed = gan.resume(str(tmp_path / "half"), echo=quiet, epochs=2)
    assert_same_networks(whole, resumed)
    assert resumed.equilibrium.k == whole.equilibrium.k


def test_began_on_points_reconstructs_2d_data():
    tr = gan.get_trainer_class("began")(gan.TrainConfig(dataset="ring", model="began", nz=8), (2,), 8)
    x = data.load_dataset("ring", limit=64).images
    assert tr.networks["D"](Tensor(x)).shape == (64, 2)
    out = tr.train_step(x)
    assert {"loss_D", "loss_G", "k", "M_global"} <= set(out)


# -- ablate --seeds -----------------------------------------------------------------------------------
class FakeTrain:
    def __call__(self, config, echo):
        from minigan.gan.run_folder import RunFolder

        RunFolder.create(config.run_dir).write_config(config)
        return type("T", (), {"step": 10})()


def fake_scores(run_dir, n, seed, dataset, **kw):
    """Modes covered = 6 + seed: known means and spreads."""
    return {"modes_covered": 6 + seed, "high_quality": 0.5, "kl": 0.1 * seed}


def test_ablate_seeds_trains_each_variant_per_seed_and_reports_mean_and_std(tmp_path):
    lines = []
    result = ablate.ablate("ring", epochs=1, limit=1024, variants=["pack-2"], seeds=3, out=str(tmp_path / "ab"),
                           echo=lines.append, train=FakeTrain(), evaluate=fake_scores)
    order = [line for line in lines if line.startswith("[")]
    assert [f"{line.split()[1].rstrip(',')} seed {line[-1]}" for line in order] == [
        "base seed 0", "+pack-2 seed 0", "base seed 1", "+pack-2 seed 1", "base seed 2", "+pack-2 seed 2"]
    base = result["rows"][0]
    assert base["seeds"] == 3 and [r["seed"] for r in base["runs"]] == [0, 1, 2]
    assert base["metrics"]["modes_covered"] == pytest.approx(7.0)
    assert base["metrics_std"]["modes_covered"] == pytest.approx(np.std([6, 7, 8]))
    for s in range(3):
        assert (tmp_path / "ab" / "with-pack-2" / f"seed-{s}" / "config.json").exists()
    table = ablate.format_table(result)
    assert "7.0 ± 0.8" in table and "modes" in table.splitlines()[0]
    assert "3 seeds (0 to 2; mean ± std" in " ".join(table.split())
    assert "--seeds 3" in result["command"]


@pytest.mark.parametrize("options, lr_g, lr_d", [
    ([], 1e-3, 1e-4),                            # the unrolled GAN's recipe
    (["--lr-d", "1e-3"], 1e-3, 1e-3),            # D as fast as G
    (["--lr", "5e-4"], 5e-4, 5e-4),              # --lr sets both, over the recipe
    (["--lr", "5e-4", "--lr-d", "2e-4"], 5e-4, 2e-4),
    (["--lr-d", "1e-3", "--ema", "0.999"], 1e-3, 1e-3),  # and G's moving average
])
def test_ablate_takes_the_bases_learning_rates_and_ema_and_its_continue_command_keeps_them(
        tmp_path, monkeypatch, options, lr_g, lr_d):
    trained = []
    real_ablate = ablate.ablate
    monkeypatch.setattr(ablate, "ablate", lambda *a, **kw: real_ablate(*a, **kw, train=lambda c, e: trained.append(c)
                                                                      or FakeTrain()(c, e), evaluate=fake_scores))
    out = str(tmp_path / "ab")
    result = CliRunner().invoke(main, ["ablate", "ring", "--epochs", "1", "--limit", "1024", "--variant", "pack-2",
                                       "--out", out, *options])
    assert result.exit_code == 0, result.output
    assert len(trained) == 2 and all((c.lr_g or c.lr, c.lr_d or c.lr) == (lr_g, lr_d) for c in trained)
    ema = float(options[options.index("--ema") + 1]) if "--ema" in options else 0.0
    assert all(c.ema == ema for c in trained)
    words = json.load(open(f"{out}/ablation.json"))["command"].split()
    for flag, value in zip(options[::2], options[1::2]):
        assert float(words[words.index(flag) + 1]) == float(value)
    assert not {"--lr", "--lr-g", "--lr-d", "--ema"} - set(options[::2]) & set(words)  # nothing the user did not give


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings,words", [
    ({"pack": 3}, "--pack 3 must divide --batch-size 16"),
    ({"pack": 0}, "--pack must be 1"),
    ({"pack": 2, "model": "cgan"}, "--model cgan does not have"),
    ({"pack": 2, "minibatch_discrimination": 10}, "drop --minibatch-discrimination"),
    ({"model": "began", "loss": "hinge"}, "--loss hinge changes a logit-based D"),
    ({"model": "began", "gamma": 0}, "--gamma must be in (0, 1]"),
    ({"model": "began", "unroll": 2}, "--model began has no such D"),
    ({"dataset": "ring", "model": "dcgan", "image_size": None}, "ring is a set of 2-D points"),
    ({"dataset": "ring", "model": "gan"}, "not images: drop --image-size"),
    ({"dataset": "stacked-mnist", "channels": 1, "image_size": None}, "needs --channels 3"),
])
def test_mode_options_refuse_what_cannot_work_before_data_loads(tmp_path, monkeypatch, settings, words):
    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data was loaded"))
    with pytest.raises(MiniganError, match=words.replace("(", r"\(").replace(")", r"\)")):
        gan.train(tiny(tmp_path, "bad", **settings), echo=quiet)


def test_eval_of_points_without_their_dataset_is_one_sentence(tmp_path):
    np.savez(tmp_path / "points.npz", images=np.zeros((10, 2), np.float32))
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "points.npz")])
    assert result.exit_code == 2 and "--dataset ring or --dataset grid" in result.output
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "points.npz"), "--dataset", "ring", "--json", "-"])
    assert result.exit_code == 0 and json.loads(result.output)["modes_covered"] == 0


def test_sample_and_interpolate_of_a_points_run_draw_scatters(tmp_path):
    gan.train(gan.TrainConfig(dataset="ring", nz=4, batch_size=64, limit=128, epochs=1, run_dir=str(tmp_path / "r")),
              echo=quiet)
    result = CliRunner().invoke(main, ["sample", str(tmp_path / "r"), "--n", "300", "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 0 and "300 points in 2-D" in result.output
    assert Image.open(tmp_path / "s.png").size == (360, 360)
    result = CliRunner().invoke(main, ["interpolate", str(tmp_path / "r"), "--out", str(tmp_path / "w.png")])
    assert result.exit_code == 0 and Image.open(tmp_path / "w.png").size == (360, 360)
