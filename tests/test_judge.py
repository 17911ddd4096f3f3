"""The judge: trains on the synthetic shapes, saves/loads as .npz, and says what to run when missing."""

import numpy as np
import pytest

from minigan import data, judge
from minigan.errors import MiniganError


@pytest.fixture(scope="module")
def small_judge():
    """A narrow judge trained on the synthetic shapes (a few seconds)."""
    return judge.train_judge("synthetic", epochs=6, seed=0, width=8, batch_size=64)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path))
    return tmp_path


def test_trained_judge_classifies_the_test_split(small_judge):
    assert small_judge.meta["test_accuracy"] >= 0.9
    assert small_judge.meta["dataset"] == "synthetic"
    assert not small_judge.training


def test_features_and_log_probs_have_the_documented_shapes(small_judge):
    x = data.load_dataset("synthetic", split="test").images[:7]
    features, log_p = small_judge.outputs(x, batch_size=3)
    assert features.shape == (7, 128) and log_p.shape == (7, 10)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, rtol=1e-9)
    assert (features >= 0).all()  # the feature layer ends in a ReLU
    assert small_judge.class_histogram(x).sum() == 7


def test_save_and_load_round_trip_without_pickle(small_judge, tmp_path):
    path = str(tmp_path / "j.npz")
    judge.save_judge(small_judge, path)
    with np.load(path, allow_pickle=False) as f:  # plain arrays only
        assert any(k.startswith("state.") for k in f.files)
    loaded = judge.load_judge_file(path)
    x = data.load_dataset("synthetic", split="test").images[:20]
    np.testing.assert_array_equal(loaded.outputs(x)[1], small_judge.outputs(x)[1])
    assert loaded.meta["test_accuracy"] == pytest.approx(small_judge.meta["test_accuracy"])
    for saved, kept in zip(loaded.test_fit, small_judge.test_fit):  # FID's reference travels with the weights
        np.testing.assert_array_equal(saved, kept)


def test_load_judge_reads_the_cache_without_training(small_judge, cache, monkeypatch):
    judge.save_judge(small_judge, judge.judge_path("synthetic"))
    assert judge.judge_path("synthetic") == str(cache / "judges" / "synthetic.npz")
    monkeypatch.setattr(judge, "train_judge", lambda *a, **k: pytest.fail("should not train"))
    assert judge.load_judge("synthetic").config == small_judge.config


def test_load_judge_trains_on_first_use_and_says_so(cache, monkeypatch):
    monkeypatch.setitem(judge.DEFAULT_EPOCHS, "synthetic", 1)  # the real default, on CI's clock, is too slow a test
    lines = []
    j = judge.load_judge("synthetic", echo=lines.append)
    assert "training one now" in lines[0]
    assert (cache / "judges" / "synthetic.npz").is_file()
    assert j.meta["test_accuracy"] > 0.3 and j.meta["epochs"] == 1


def test_training_is_deterministic_for_a_seed():
    a = judge.train_judge("synthetic", epochs=1, seed=3, width=4, limit=100, batch_size=50)
    b = judge.train_judge("synthetic", epochs=1, seed=3, width=4, limit=100, batch_size=50)
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x, y, err_msg=k)


def test_missing_judge_with_no_data_says_what_to_run(cache, monkeypatch):
    def no_data(*args, **kwargs):
        raise MiniganError("Fashion-MNIST was not found.")

    monkeypatch.setattr(data, "load_dataset", no_data)
    with pytest.raises(MiniganError, match="minigan judge fashion-mnist"):
        judge.load_judge("fashion", echo=lambda line: None)
    with pytest.raises(MiniganError, match="run `minigan judge mnist` first"):
        judge.load_judge("mnist", train_if_missing=False)


def test_no_judge_for_unlabelled_or_unknown_datasets():
    with pytest.raises(MiniganError, match="no judge for dataset 'folder'"):
        judge.canonical_dataset("folder")
    assert judge.canonical_dataset("Fashion_MNIST") == "fashion-mnist"


def test_a_damaged_judge_file_is_reported(cache):
    path = judge.judge_path("synthetic")
    (cache / "judges").mkdir()
    with open(path, "wb") as f:
        f.write(b"not a zip")
    with pytest.raises(MiniganError, match="not a readable judge file"):
        judge.load_judge("synthetic")
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(MiniganError, match="not a judge file"):
        judge.load_judge("synthetic")


def shifted_by_hand(img, dy, dx):
    """img (c, h, w) moved down dy and right dx pixels, the uncovered border -1: out[i, j] = img[i - dy, j - dx]."""
    c, h, w = img.shape
    out = np.full_like(img, -1.0)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, i, j] = img[:, i - dy, j - dx]
    return out


def test_shift_images_moves_whole_pixels_and_pads_with_background():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.9, 1.0, (300, 2, 5, 6)).astype(np.float32)  # no -1 inside: every pixel is traceable
    assert judge.shift_images(x, rng, 0) is x
    y = judge.shift_images(x, rng, 2)
    assert y.shape == x.shape and y.dtype == x.dtype
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    seen = []
    for xi, yi in zip(x, y):  # each image is x moved by exactly one offset within +-2, both channels alike
        matches = [o for o in offsets if np.array_equal(yi, shifted_by_hand(xi, *o))]
        assert len(matches) == 1, matches
        seen.append(matches[0])
    assert set(seen) == set(offsets)  # every offset up to the asked 2 pixels occurs, and none beyond
    assert sum(o != (0, 0) for o in seen) > 250  # not the identity: 24 of 25 offsets move the image
    np.testing.assert_array_equal(judge.shift_images(x, np.random.default_rng(5), 2),
                                  judge.shift_images(x, np.random.default_rng(5), 2))  # the rng decides
