"""The ImageNet-trained backbone: its weights read right, and read safely."""

import collections
import pickle
import struct
import sys
import types

import numpy as np
import pytest
from PIL import Image

from colorizer.backbone import (BACKBONES, BN_EPSILON, WeightsError, read_state_dict,
                                weights_path)
from colorizer.config import BACKBONES as BACKBONE_NAMES
from colorizer.config import SHARED_CALTECH_DIR

LEGACY_HEADER = [0x1950A86A20F9469CFC6C, 1001,
                 {"protocol_version": 1001, "little_endian": True,
                  "type_sizes": {"short": 2, "int": 4, "long": 4}}]


def test_the_packaged_weights_read_whole():
    state = read_state_dict(weights_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].dtype == np.float32 and state["_fc.weight"].shape == (1000, 1280)
    # variances are never negative (a few channels are dead, at 0): bytes read at a wrong
    # offset would be
    variances = [v for k, v in state.items() if k.endswith("running_var")]
    assert len(variances) == 49 and all((v >= 0).all() and v.mean() > 0 for v in variances)


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("where", ["first pickle", "state dict"])
def test_a_weight_file_that_runs_code_is_refused_with_nothing_run(tmp_path, where):
    marker = tmp_path / "ran"
    evil = RunsACommand(marker)
    pickles = [evil] if where == "first pickle" else [*LEGACY_HEADER, {"w": evil}, ["1"]]
    path = tmp_path / "weights.pth"
    path.write_bytes(b"".join(pickle.dumps(p, protocol=2) for p in pickles))
    with pytest.raises(WeightsError, match="system"):
        read_state_dict(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(evil))  # the same pickle, unrestricted, does run: the test can fail
    assert marker.exists()


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"".join(pickle.dumps(p, protocol=2) for p in LEGACY_HEADER[:2]))
    with pytest.raises(WeightsError, match="not a state dict"):
        read_state_dict(path)


def caltech_grays(categories=10, per_category=10):
    folders = sorted(p for p in SHARED_CALTECH_DIR.iterdir() if p.is_dir())
    grays, labels = [], []
    for label, folder in enumerate(folders[::len(folders) // categories][:categories]):
        for path in sorted(folder.glob("*.jpg"))[:per_category]:
            gray = Image.open(path).convert("L").resize((112, 112), Image.BICUBIC)
            grays.append(np.asarray(gray, np.float32)[..., None])
            labels.append(label)
    return np.stack(grays), np.array(labels)


def nearest_class_mean_accuracy(backbone, grays, labels):
    """Each photo classed by the nearest mean of the others' pooled deepest map (cosine)."""
    features = backbone.predict(grays, verbose=0)["lite0_stride32"].mean(axis=(1, 2))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    hits = 0
    for i in range(len(grays)):
        others = np.arange(len(grays)) != i
        means = np.stack([features[others & (labels == c)].mean(0) for c in np.unique(labels)])
        hits += np.argmax(means @ features[i]) == labels[i]
    return hits / len(grays)


@pytest.mark.skipif(not SHARED_CALTECH_DIR.is_dir(), reason="needs ../shared/data's Caltech-101")
def test_the_backbone_knows_what_things_are():
    """Weights loaded wrong (a kernel transposed, a stride or padding off, a block skipped) read
    the gray as a random network does: its features do not tell Caltech-101's categories."""
    assert set(BACKBONES) == set(BACKBONE_NAMES)
    grays, labels = caltech_grays()
    lite0 = BACKBONES["efficientnet-lite0"]()
    trained = nearest_class_mean_accuracy(lite0.build(112), grays, labels)
    rng = np.random.default_rng(0)
    state = read_state_dict(weights_path())
    # He-initialized convolutions, the trained batch norms kept: a network of the same shape
    random = {name: (rng.standard_normal(w.shape).astype(np.float32)
                     * np.sqrt(2 / np.prod(w.shape[1:])) if w.ndim == 4 else w)
              for name, w in state.items()}
    untrained = nearest_class_mean_accuracy(lite0.build(112, random), grays, labels)
    assert trained >= 0.8 and untrained <= 0.5, (trained, untrained)


def test_the_batch_norms_folded_into_the_convolutions_are_the_norms():
    """Each norm moved into its convolution's weights by hand (ε kept, so the norm left is
    the identity) gives the same maps as the packaged weights: a norm folded on the wrong axis,
    or its shift lost, would not."""
    state = read_state_dict(weights_path())
    moved = dict(state)
    for name in [n for n in state if n.endswith("running_var")]:
        bn = name.removesuffix(".running_var")
        conv = {"_bn0": "_conv_stem"}.get(bn) or bn.replace("._bn0", "._expand_conv").replace(
            "._bn1", "._depthwise_conv").replace("._bn2", "._project_conv")
        scale = state[f"{bn}.weight"] / np.sqrt(state[name] + BN_EPSILON)
        moved[f"{conv}.weight"] = state[f"{conv}.weight"] * scale[:, None, None, None]
        moved[f"{bn}.bias"] = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
        moved[f"{bn}.weight"] = np.ones_like(scale)
        moved[f"{bn}.running_mean"] = np.zeros_like(scale)
        moved[f"{bn}.running_var"] = np.full_like(scale, 1 - BN_EPSILON)
    gray = np.random.default_rng(0).uniform(0, 255, (2, 112, 112, 1)).astype(np.float32)
    lite0 = BACKBONES["efficientnet-lite0"]()
    packaged, by_hand = lite0.build(112)(gray), lite0.build(112, moved)(gray)
    assert list(packaged) == [name for name, _ in lite0.features.values()]
    for name, maps in packaged.items():
        np.testing.assert_allclose(by_hand[name], maps, atol=1e-3 * float(np.abs(maps).max()))



class Storage:
    def __init__(self, key, values):
        self.key, self.values = key, values


def write_legacy(path, tensors, monkeypatch):
    """Writes {name: (Storage, offset, shape, stride)} as torch's legacy format does, without
    torch: a stand-in torch._utils._rebuild_tensor_v2 gives the pickle torch's names."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")
    utils._rebuild_tensor_v2, torch.FloatStorage = _rebuild_tensor_v2, type("FloatStorage", (), {})
    torch.FloatStorage.__module__ = "torch"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Tensor:
        def __init__(self, storage, offset, shape, stride):
            self.args = storage, offset, shape, stride

        def __reduce__(self):
            return _rebuild_tensor_v2, (*self.args, False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return "storage", torch.FloatStorage, obj.key, "cpu", len(obj.values), None
            return None

    storages = {id(t[0]): t[0] for t in tensors.values()}.values()
    with open(path, "wb") as f:
        for header in LEGACY_HEADER:
            pickle.dump(header, f, protocol=2)
        Pickler(f, protocol=2).dump(collections.OrderedDict(
            (name, Tensor(*args)) for name, args in tensors.items()))
        pickle.dump([s.key for s in storages], f, protocol=2)
        for storage in storages:
            f.write(struct.pack("<q", len(storage.values)))
            f.write(np.asarray(storage.values, "<f4").tobytes())


def test_views_read_as_torch_lays_them_out(tmp_path, monkeypatch):
    storage = Storage("7", np.arange(12))
    write_legacy(tmp_path / "w.pth", {"whole": (storage, 0, (3, 4), (4, 1)),
                                      "transposed": (storage, 0, (4, 3), (1, 4)),
                                      "tail": (storage, 10, (2,), (1,))}, monkeypatch)
    state = read_state_dict(tmp_path / "w.pth")
    assert np.array_equal(state["whole"], np.arange(12).reshape(3, 4))
    assert np.array_equal(state["transposed"], np.arange(12).reshape(3, 4).T)
    assert np.array_equal(state["tail"], [10, 11])


def test_a_tensor_outside_its_storage_is_refused(tmp_path, monkeypatch):
    """A crafted shape must not make the reader show the memory past its storage."""
    write_legacy(tmp_path / "w.pth", {"w": (Storage("1", np.zeros(4)), 0, (1000,), (1,))},
                 monkeypatch)
    with pytest.raises(WeightsError, match="outside its storage"):
        read_state_dict(tmp_path / "w.pth")


def test_maps_coded_in_a_byte_lose_at_most_half_a_step_of_their_channels_scale():
    from colorizer.data import CODE_MAX, QuantizedMaps

    rng = np.random.default_rng(0)
    sample = rng.normal(0, [0.1, 5, 40], (64, 4, 4, 3)).astype(np.float32)  # channels apart
    sample[..., 2] = np.abs(sample[..., 2])
    scale = QuantizedMaps.scale_for(np.concatenate([sample, np.zeros((1, 4, 4, 3))]))
    assert np.allclose(scale * CODE_MAX, np.abs(sample).max(axis=(0, 1, 2)))
    maps = QuantizedMaps(QuantizedMaps(None, scale).encode(sample), scale)
    assert maps.codes.dtype == np.int8 and maps.codes.nbytes * 2 == sample.astype(np.float16).nbytes
    assert np.all(np.abs(maps.rows(slice(None)) - sample) <= scale / 2 + 1e-7)
    assert np.array_equal(maps[[3, 1]].rows([1]), maps.rows([1]))
    beyond = QuantizedMaps(None, scale).encode(sample * 3)  # past the calibration: clipped
    assert beyond.min() >= -CODE_MAX and beyond.max() == CODE_MAX
    assert QuantizedMaps.scale_for(np.zeros((2, 4, 4, 3))).tolist() == [1, 1, 1]  # a dead channel


def test_the_maps_are_kept_for_the_next_run_on_the_same_images_only(color_photos, tmp_path):
    import tensorflow as tf

    from colorizer.backbone import backbone_model
    from colorizer.data import backbone_maps, cache_folder

    size, cache_dir = 32, tmp_path / "cache"
    paths = [tmp_path / f"image{i}.png" for i in range(3)]
    for photo, path in zip(color_photos, paths):
        Image.fromarray(photo[:size, :size]).save(path)
    cache_dir.mkdir()
    (cache_dir / "notes.txt").write_text("the user's")
    backbone = backbone_model("efficientnet-lite0", size)
    in_memory = backbone_maps(backbone, paths, size)
    cache = cache_folder(cache_dir, backbone, paths, size)
    written = backbone_maps(backbone, paths, size, cache)
    assert list(written) == list(in_memory) == ["lite0_stride8", "lite0_stride16", "lite0_stride32"]
    assert all(isinstance(m.codes, np.memmap) and m.codes.dtype == np.int8
               for m in written.values())
    assert all(np.array_equal(in_memory[name].codes, m.codes)
               and np.array_equal(in_memory[name].scale, m.scale) for name, m in written.items())

    def stamps():
        return {p.name: p.stat().st_mtime_ns for p in sorted(cache_dir.rglob("*"))}

    before = stamps()
    read = backbone_maps(backbone, paths, size, cache)  # an earlier run's: read, not written
    assert stamps() == before
    assert all(np.array_equal(in_memory[name].codes, m.codes) for name, m in read.items())

    Image.fromarray(color_photos[3][:size, :size]).save(paths[0])  # an image changed
    changed = cache_folder(cache_dir, backbone, paths, size)
    assert changed != cache
    maps = backbone_maps(backbone, paths, size, changed)["lite0_stride8"]
    assert not np.array_equal(maps.rows([0]), in_memory["lite0_stride8"].rows([0]))
    assert np.allclose(maps.rows([1, 2]), in_memory["lite0_stride8"].rows([1, 2]),
                       atol=maps.scale.max())  # the same images under another calibration
    assert sorted(p.name for p in cache_dir.iterdir()) == [changed.name, "notes.txt"]

    paths[1].write_bytes(paths[1].read_bytes()[:60])  # damaged: the pass stops, nothing is kept
    with pytest.raises(tf.errors.OpError):
        backbone_maps(backbone, paths, size, cache_folder(cache_dir, backbone, paths, size))
    assert sorted(p.name for p in cache_dir.iterdir()) == [changed.name, "notes.txt"]
