"""Metrics: hand-checked formulas, real data ranked above noise and a collapsed generator, bad input."""

import json

import numpy as np
import pytest

from minigan import data, evaluate, judge
from minigan.errors import MiniganError
from minigan.evaluate import metrics
from minigan.gan.networks import dcgan_discriminator


@pytest.fixture(scope="module")
def ctx():
    """A synthetic-shapes judge and its test split, shared by the module (a few seconds)."""
    j = judge.train_judge("synthetic", epochs=6, seed=0, width=8, batch_size=64)
    return evaluate.EvalContext("synthetic", j)


@pytest.fixture(scope="module")
def real():
    return data.load_dataset("synthetic", split="train", seed=7)  # other draws than the judge's data


# -- formulas ---------------------------------------------------------------------------------
def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    a, b = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_a_set_against_itself_is_zero():
    f = np.random.default_rng(1).normal(size=(500, 32)) @ np.random.default_rng(2).normal(size=(32, 32))
    fit = metrics.gaussian_fit(f)
    assert metrics.frechet_distance(*fit, *fit) < 1e-8 * np.trace(fit[1])


def test_inception_score_limits():
    k = 10
    confident = np.log(np.clip(np.eye(k)[np.arange(100) % k], 1e-30, None))
    assert metrics.inception_score(confident) == pytest.approx(k, rel=1e-6)
    same = np.log(np.full((50, k), 1.0 / k))
    assert metrics.inception_score(same) == pytest.approx(1.0)


def test_modified_inception_score_by_hand():
    p = np.array([[0.9, 0.1], [0.6, 0.4]])  # both predicted class 0
    def kl(a, b):
        return float((a * np.log(a / b)).sum())

    expected = np.exp((kl(p[0], p[1]) + kl(p[1], p[0])) / 4)  # mean over the 4 ordered pairs (2 are 0)
    assert metrics.modified_inception_score(np.log(p)) == pytest.approx(expected, rel=1e-12)
    assert metrics.modified_inception_score(np.log(np.tile(p[:1], (5, 1)))) == pytest.approx(1.0)


def test_nearest_neighbour_accuracy_by_hand():
    refs = np.array([[0.0, 0.0], [10.0, 10.0]])
    queries = np.array([[1.0, 0.0], [9.0, 9.0], [0.0, 2.0]])
    assert metrics.nearest_neighbour_accuracy(queries, np.array([0, 1, 1]), refs, np.array([0, 1]), chunk=2) == \
        pytest.approx(2 / 3)


def test_classes_covered_needs_one_percent():
    assert metrics.classes_covered(np.array([500, 495, 5, 0])) == 2


# -- orderings on small data -------------------------------------------------------------------
def test_real_data_ranks_far_above_noise_and_a_collapsed_generator(ctx, real):
    noise = np.random.default_rng(0).uniform(-1, 1, real.images.shape).astype(np.float32)
    collapsed = np.repeat(real.images[:1], len(real), axis=0)
    r, n, c = (evaluate.evaluate(x, context=ctx) for x in (real.images, noise, collapsed))
    assert r["fid"] * 5 < n["fid"] and r["fid"] * 5 < c["fid"]
    assert r["inception_score"] > 2 * max(n["inception_score"], c["inception_score"])
    assert r["classes_covered"] == 10 and c["classes_covered"] == 1
    assert r["nn_accuracy"] > 0.8 and max(n["nn_accuracy"], c["nn_accuracy"]) < 0.3
    assert c["modified_is"] == pytest.approx(1.0) and r["modified_is"] > 1.0
    assert r["label_accuracy"] is None


def test_conditional_share_follows_the_asked_labels(ctx, real):
    right = evaluate.evaluate(real.images, real.labels, context=ctx)["label_accuracy"]
    wrong = evaluate.evaluate(real.images, (real.labels + 1) % 10, context=ctx)["label_accuracy"]
    assert right > 0.9 and wrong < 0.1


def test_compare_is_deterministic_and_json_ready(ctx, real):
    a = evaluate.compare(real.images[:200], dataset="synthetic", judge=ctx.judge, seed=4)
    b = evaluate.compare(real.images[:200], dataset="synthetic", judge=ctx.judge, seed=4)
    for row in ("samples", "real"):
        a[row].pop("seconds"), b[row].pop("seconds")
    assert a == b and a["real"]["n"] == 200
    json.dumps(a)
    assert evaluate.reference_row(200, seed=4, context=ctx)["fid"] == pytest.approx(a["real"]["fid"])


def test_format_table_names_every_metric(ctx, real):
    report = evaluate.compare(real.images[:100], dataset="synthetic", judge=ctx.judge)
    text = evaluate.format_table(report)
    for label, *_ in evaluate.scorecard.ROWS:
        assert label in text
    assert "class histogram, samples" in text and "100 samples" in text


def test_the_saved_test_fit_is_the_test_split_fit(ctx):
    features, _ = ctx.judge.outputs(ctx.test.images)
    mu, sigma = metrics.gaussian_fit(features)
    np.testing.assert_allclose(ctx.test_fit[0], mu, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ctx.test_fit[1], sigma, rtol=1e-6, atol=1e-9)


def test_other_sizes_are_resized_with_a_note(ctx, real):
    big = data.load_dataset("synthetic", split="train", seed=7, image_size=32).images[:50]
    row = evaluate.evaluate(big, context=ctx)
    assert row["note"] == "resized from 32x32 to 28x28" and row["classes_covered"] >= 8


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("x, message", [
    (np.zeros((10, 784), np.float32), "shape \\(n, c, h, w\\)"),
    (np.full((10, 1, 28, 28), 200.0, np.float32), "x / 127.5 - 1"),
    (np.full((10, 1, 28, 28), 0.5, np.float32), "x \\* 2 - 1"),
    (np.full((10, 1, 28, 28), -3.0, np.float32), "outside \\[-1, 1\\]"),
    (np.full((10, 1, 28, 28), np.nan, np.float32), "NaN"),
    (np.zeros((10, 3, 28, 28), np.float32), "3 channels"),
    (np.zeros((1, 1, 28, 28), np.float32), "at least 2"),
    (np.zeros((10, 1, 28, 20), np.float32), "square"),
])
def test_bad_samples_raise_one_clear_error(x, message):
    with pytest.raises(MiniganError, match=message):
        evaluate.check_images(x, 1, 28)


def test_bad_labels_are_refused(ctx, real):
    with pytest.raises(MiniganError, match="lie in \\[0, 10\\)"):
        evaluate.evaluate(real.images[:5], np.array([0, 1, 2, 3, 10]), context=ctx)


def test_samples_files(tmp_path):
    x = np.zeros((4, 1, 28, 28), np.float32)
    np.savez(tmp_path / "s.npz", images=x, labels=np.arange(4))
    images, labels = evaluate.load_samples(str(tmp_path / "s.npz"))
    assert images.shape == x.shape and labels.tolist() == [0, 1, 2, 3]
    np.savez(tmp_path / "other.npz", weights=x)
    with pytest.raises(MiniganError, match="no 'images' array"):
        evaluate.load_samples(str(tmp_path / "other.npz"))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(MiniganError, match="not a NumPy samples file"):
        evaluate.load_samples(str(tmp_path / "objects.npy"))
    with pytest.raises(MiniganError, match="minigan sample"):
        evaluate.load_samples(str(tmp_path / "missing.npz"))


def test_missing_judge_for_a_dataset_without_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path))

    def no_data(*args, **kwargs):
        raise MiniganError("Fashion-MNIST was not found.")

    monkeypatch.setattr(data, "load_dataset", no_data)
    with pytest.raises(MiniganError, match="minigan judge fashion-mnist"):
        evaluate.compare(np.zeros((4, 1, 28, 28), np.float32) - 1, dataset="fashion-mnist", echo=lambda s: None)


# -- the DCGAN probe -----------------------------------------------------------------------------
def test_probe_on_discriminator_features_beats_chance():
    D = dcgan_discriminator(28, 1)
    result = evaluate.probe_discriminator(D, "synthetic", n_labels=(20, 100), seed=0, steps=100)
    assert result["feature_size"] == 128 * 7 * 7
    assert result["accuracy"][100] > 0.4 and result["pixel_accuracy"][100] > 0.4
    pooled = evaluate.discriminator_features(D, np.zeros((3, 1, 28, 28), np.float32), pool=4)
    assert pooled.shape == (3, 128 * 4 * 4)
    assert D.training  # modes restored


def test_a_checkpoint_of_an_unknown_model_is_refused(tmp_path):
    meta = {"format": "minigan-checkpoint", "model": "stylegan", "dataset": "mnist", "image_shape": [1, 28, 28],
            "num_classes": 10, "epoch": 1, "step": 1, "networks": ["G", "D"], "config": {"dataset": "mnist"}}
    path = tmp_path / "ckpt.npz"
    np.savez(path, meta=np.array(json.dumps(meta)))
    with pytest.raises(MiniganError, match="unknown model 'stylegan'"):
        evaluate.eval_report(str(path), n=10)
