"""NVIDIA StyleGAN2-ADA and StyleGAN3 network pickles (``network-snapshot-*.pkl``) into fastgan's
StyleGAN2 / StyleGAN3 models, read without running anything the file holds.

The format (StyleGAN2-ADA's ``torch_utils.persistence``): ``pickle.dump`` of a dict with ``G``,
``D``, ``G_ema``, ``augment_pipe`` and ``training_set_kwargs`` (a ``dnnlib.util.EasyDict``). Each
network is pickled as a call ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with
``meta = {type: 'class', version, module_src, class_name, state}``: ``module_src`` is the source
text of the module that defined the class (NVIDIA's loader imports and runs it), ``class_name``
the class's name in it (e.g. ``Generator``), ``state`` the instance's ``__dict__`` (``_parameters``,
``_buffers``, ``_modules`` of further persistent objects or plain ``torch.nn`` modules, the
constructor's ``_init_args`` / ``_init_kwargs`` and attributes such as ``z_dim``). Tensors come
as torch's own reduce functions, storages as ``torch.storage._load_from_bytes`` of a
``torch.save`` byte string.

`load_nvidia_pickle` reads it with a restricted unpickler: only tensors, storages (read with
``torch.load(weights_only=True)``), plain containers, numpy scalars / numeric arrays (decoded
without numpy's reconstructors) and the names above are allowed; the persistent objects are
kept as records (:class:`PersistentObject`) whose source text is never executed. Any other global
(``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) raises `UnsafePickleError` when the
unpickler meets it, before it can be called.

Conventions of the mapping (outputs equal for the same z, c and ``noise_mode='const'``):
NVIDIA's upsampling ``SynthesisLayer`` (``up=2``) runs its weight as a true convolution
(``flip_weight=False``) where fastgan correlates, so those weights are stored flipped; the
noise buffers ``noise_const`` and the truncation centre ``w_avg`` are copied. The block
architecture must be StyleGAN2's default ('skip' generator, 'resnet' discriminator).

StyleGAN3 generators (``training.networks_stylegan3``, recognised by the synthesis network's
``input`` module) are built by :func:`_stylegan3_generator` as
:class:`~fastgan.models.StyleGAN3Generator` from the record's ``_init_kwargs`` (missing keys at
NVIDIA's defaults): ``mapping.*`` as StyleGAN2's mapping; ``synthesis.input.{affine, weight,
transform, freqs, phases}`` to ``input.*``; each ``synthesis.L{i}_{size}_{channels}`` (names
checked against the schedule) to ``layers.{i}``: ``affine`` to ``conv.affine``, ``weight`` to
``conv.weight`` (both store N(0, 1) weights, no flip), ``bias`` and ``magnitude_ema``. The
``up_filter`` / ``down_filter`` buffers (fastgan's are non-persistent, designed from the
schedule) must have the shapes the schedule gives and are then copied over fastgan's, so the
loaded model uses exactly the file's filters. Outputs equal NVIDIA's in float32
(``force_fp32=True`` where ``num_fp16_res`` marks float16 layers). An SG3 pickle's ``D`` is
StyleGAN2's 'resnet' discriminator.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import struct
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fastgan.models._foreign import (
    DEFAULT_FILTER,
    ForeignNetworkError,
    UnsupportedNetworkError,
    check_filter_buffer,
    filter_from_2d,
    fit_channels,
    load_mapped,
)
from fastgan.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = [
    "ForeignNetworkError",
    "PersistentObject",
    "UnsafePickleError",
    "UnsupportedNetworkError",
    "is_nvidia_pickle",
    "load_nvidia_pickle",
    "read_nvidia_pickle",
]

NETWORK_KEYS = ("G", "G_ema", "D")


class UnsafePickleError(ForeignNetworkError, pickle.UnpicklingError):
    """The pickle names something other than tensors, containers and StyleGAN's records: it is
    refused before that object is built or called."""


# --- records of what the pickle holds --------------------------------------------------------


@dataclass
class PersistentObject:
    """A network module as NVIDIA's persistence format records it, never instantiated:
    ``class_name``, ``module_src`` (source text, never executed), ``version`` and ``state`` (the
    instance ``__dict__``)."""

    class_name: str
    module_src: str
    version: int
    state: dict = field(repr=False)

    def children(self) -> dict[str, Any]:
        modules = self.state.get("_modules") or {}
        return {k: v for k, v in modules.items() if v is not None}

    def child(self, name: str) -> Any | None:
        return self.children().get(name)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.state.get(name, default)

    def init_kwargs(self) -> dict:
        kwargs = self.state.get("_init_kwargs")
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Every parameter and buffer, recursively, under dotted names (like ``state_dict``)."""
        out: dict[str, torch.Tensor] = {}
        for group in ("_parameters", "_buffers"):
            for name, value in (self.state.get(group) or {}).items():
                if value is None:
                    continue
                if not isinstance(value, torch.Tensor):
                    raise ForeignNetworkError(
                        f"{prefix}{name}: expected a tensor in {group}, got {type(value).__name__}"
                    )
                out[prefix + name] = value
        for name, module in self.children().items():
            if not isinstance(module, PersistentObject):
                raise ForeignNetworkError(
                    f"{prefix}{name}: expected a network module, got {type(module).__name__}"
                )
            out.update(module.tensors(f"{prefix}{name}."))
        return out


class _PlainModule(PersistentObject):
    """A plain ``torch.nn`` module inside a network (pickled by class, e.g. ModuleList): its
    state is kept; the class is never instantiated."""

    torch_class = "torch.nn.Module"

    def __init__(self) -> None:
        super().__init__(self.torch_class, "", 0, {})

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ForeignNetworkError(
                f"{self.torch_class}: expected a dict state, got {type(state).__name__}"
            )
        self.state = dict(state)


_PLAIN_CLASSES: dict[str, type] = {}


def _plain_class(qualified: str) -> type:
    if qualified not in _PLAIN_CLASSES:
        _PLAIN_CLASSES[qualified] = type(
            "PlainModule", (_PlainModule,), {"torch_class": qualified, "__module__": __name__}
        )
    return _PLAIN_CLASSES[qualified]


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a dict with attribute access)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state: Any) -> None:
        if state:  # EasyDict has no instance attributes of its own
            raise ForeignNetworkError("dnnlib.util.EasyDict: unexpected instance state")


# --- numpy values, decoded without numpy --------------------------------------------------------

_NUMPY_KINDS = {
    "f2": (torch.float16, "e"),
    "f4": (torch.float32, "f"),
    "f8": (torch.float64, "d"),
    "i1": (torch.int8, "b"),
    "i2": (torch.int16, "h"),
    "i4": (torch.int32, "i"),
    "i8": (torch.int64, "q"),
    "u1": (torch.uint8, "B"),
    "b1": (torch.bool, "?"),
}


class _NumpyDType:
    """Stand-in for ``numpy.dtype(spec, align, copy)``: numeric kinds only."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        if not isinstance(spec, str) or spec not in _NUMPY_KINDS:
            raise UnsafePickleError(
                f"numpy.dtype({spec!r}): only numeric dtypes ({', '.join(_NUMPY_KINDS)}) are read"
            )
        self.spec, self.order = spec, "<"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "="):
            self.order = "<" if state[1] in ("|", "=") else state[1]

    def decode(self, raw: bytes) -> list:
        _, code = _NUMPY_KINDS[self.spec]
        size = struct.calcsize(code)
        if len(raw) % size:
            raise ForeignNetworkError(f"numpy {self.spec} data of {len(raw)} bytes")
        return list(struct.unpack(f"{self.order}{len(raw) // size}{code}", raw))


def _numpy_scalar(dtype: Any, raw: Any = None) -> Any:
    if not isinstance(dtype, _NumpyDType) or not isinstance(raw, bytes):
        raise UnsafePickleError("numpy scalar: expected a numeric dtype and its bytes")
    values = dtype.decode(raw)
    if len(values) != 1:
        raise ForeignNetworkError(f"numpy scalar of {len(values)} values")
    return values[0]


class _NumpyArrayMarker:
    """Stands for ``numpy.ndarray`` as the first argument of ``_reconstruct``."""


class _NumpyArray:
    """A numeric numpy array, decoded into ``self.tensor`` by its pickled state."""

    tensor: torch.Tensor | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise ForeignNetworkError("numpy array: unexpected state")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _NumpyDType) or not isinstance(raw, bytes):
            raise UnsafePickleError("numpy array: only numeric arrays stored as bytes are read")
        if not isinstance(shape, tuple) or not all(isinstance(s, int) for s in shape):
            raise ForeignNetworkError(f"numpy array: bad shape {shape!r}")
        torch_dtype, _ = _NUMPY_KINDS[dtype.spec]
        flat = torch.tensor(dtype.decode(raw), dtype=torch_dtype)
        if fortran:
            self.tensor = flat.reshape(tuple(reversed(shape))).permute(*reversed(range(len(shape))))
        else:
            self.tensor = flat.reshape(shape)


def _numpy_reconstruct(cls: Any, shape: Any = None, dtype_code: Any = None) -> _NumpyArray:
    if cls is not _NumpyArrayMarker:
        raise UnsafePickleError("numpy _reconstruct: only numpy.ndarray is read")
    return _NumpyArray()


# --- tensors ------------------------------------------------------------------------------------


def _check_hooks(hooks: Any, what: str) -> None:
    if hooks not in (None, {}) and not (isinstance(hooks, dict) and not hooks):
        raise UnsafePickleError(f"{what}: tensors with backward hooks are not read")


def _is_storage(value: Any) -> bool:
    return isinstance(value, (torch.storage.TypedStorage, torch.storage.UntypedStorage))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks, *metadata):
    if not _is_storage(storage):
        raise UnsafePickleError(f"tensor: expected a storage, got {type(storage).__name__}")
    ints = (storage_offset, *size, *stride)
    if not all(isinstance(v, int) for v in ints) or not isinstance(requires_grad, bool):
        raise ForeignNetworkError("tensor: corrupt size, stride or offset")
    _check_hooks(hooks, "tensor")
    if storage_offset < 0 or any(s < 0 for s in (*size, *stride)) or len(size) != len(stride):
        raise ForeignNetworkError("tensor: corrupt size, stride or offset")
    end = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
    with warnings.catch_warnings():  # TypedStorage.size() warns that TypedStorage is deprecated
        warnings.simplefilter("ignore")
        length = storage.size()
    if all(n > 0 for n in size) and end > length:
        raise ForeignNetworkError(
            f"tensor: size {list(size)} reaches past its storage of {length} elements"
        )
    t = torch._utils._rebuild_tensor(storage, storage_offset, tuple(size), tuple(stride))
    t.requires_grad = requires_grad
    return t


def _rebuild_parameter(data, requires_grad, hooks, state=None):
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f"parameter: expected a tensor, got {type(data).__name__}")
    _check_hooks(hooks, "parameter")
    if state:
        raise UnsafePickleError("parameter: extra Python state is not read")
    return nn.Parameter(data, requires_grad=bool(requires_grad))


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor_v2, _rebuild_parameter) or new_type not in (
        torch.Tensor,
        nn.Parameter,
    ):
        raise UnsafePickleError("tensor subclass: only plain tensors and parameters are read")
    if state:
        raise UnsafePickleError("tensor: extra Python state is not read")
    t = func(*args)
    return t if type(t) is new_type else new_type(t) if new_type is nn.Parameter else t.data


def _load_storage(data: Any) -> Any:
    if not isinstance(data, bytes):
        raise UnsafePickleError(f"storage: expected bytes, got {type(data).__name__}")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ForeignNetworkError(
            f"a tensor storage could not be read with torch.load(weights_only=True): "
            f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
        ) from None


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, _PlainModule)) or base is not object:
        raise UnsafePickleError("copyreg._reconstructor: only torch.nn module classes are read")
    return cls()


def _record_persistent(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict):
        raise ForeignNetworkError(
            f"_reconstruct_persistent_obj: expected a dict, got {type(meta).__name__}"
        )
    kind, name = meta.get("type"), meta.get("class_name")
    src, state, version = meta.get("module_src"), meta.get("state"), meta.get("version")
    if kind != "class" or not isinstance(name, str) or not isinstance(src, str):
        raise ForeignNetworkError(
            "_reconstruct_persistent_obj: expected meta with type='class', a class_name and "
            f"module_src, got type={kind!r}, class_name={name!r}"
        )
    if not isinstance(state, dict):
        raise ForeignNetworkError(f"{name}: expected a dict state, got {type(state).__name__}")
    return PersistentObject(name, src, version if isinstance(version, int) else -1, dict(state))


_ALLOWED: dict[str, Any] = {
    "torch_utils.persistence._reconstruct_persistent_obj": _record_persistent,
    "dnnlib.util.EasyDict": EasyDict,
    "dnnlib.EasyDict": EasyDict,
    "collections.OrderedDict": OrderedDict,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch.storage._load_from_bytes": _load_storage,
    "torch.Size": torch.Size,
    "copyreg._reconstructor": _reconstructor,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.complex": complex,
    "builtins.bytearray": bytearray,
    "numpy.dtype": _NumpyDType,
    "numpy.ndarray": _NumpyArrayMarker,
}
for _np in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[f"{_np}.scalar"] = _numpy_scalar
    _ALLOWED[f"{_np}._reconstruct"] = _numpy_reconstruct


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the names in `_ALLOWED`, torch dtypes and ``torch.nn`` module classes (as
    records); anything else raises UnsafePickleError before it is called."""

    def __init__(self, file, path: str) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        qualified = f"{module}.{name}"
        if qualified in _ALLOWED:
            return _ALLOWED[qualified]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if re.fullmatch(r"torch\.nn\.modules\.\w+", module) and re.fullmatch(r"[A-Za-z]\w*", name):
            import sys

            cls = getattr(sys.modules.get(module), name, None)
            if isinstance(cls, type) and issubclass(cls, nn.Module):
                return _plain_class(qualified)
        raise UnsafePickleError(
            f"{self.path}: refused to load: the pickle references {qualified}, which is not a "
            "tensor, storage, container or part of NVIDIA's network format; a pickle can run "
            "any code it names, so nothing from it was run"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            f"{self.path}: refused to load: a persistent id ({type(pid).__name__}) is not part "
            "of NVIDIA's network pickles"
        )


class _ProgressReader(io.RawIOBase):
    """A binary file that reports bytes read to `callback(done)`."""

    def __init__(self, file, callback: Callable[[int], None] | None) -> None:
        self.file, self.callback, self.done = file, callback, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.file.readinto(buffer)
        self.done += n or 0
        if self.callback is not None:
            self.callback(self.done)
        return n


def _describe_error(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def is_nvidia_pickle(path: str | os.PathLike) -> bool:
    """Whether the file starts like a pickle (protocol 2 or later) and is not a torch zip
    archive or a legacy ``torch.save`` file; says nothing about what it holds."""
    with open(path, "rb") as f:
        head = f.read(64)
    if len(head) < 2 or head[0] != 0x80 or head[1] < 2:
        return False
    # Legacy torch.save files begin with the pickled magic number 0x1950a86a20f9469cfc6c.
    return b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19" not in head[:16]


def read_nvidia_pickle(
    path: str | os.PathLike, progress: Callable[[int, int], None] | None = None
) -> dict:
    """The top-level dict of an NVIDIA network pickle with networks as :class:`PersistentObject`
    records (nothing executed). `progress(done_bytes, total_bytes)` is called as it reads.

    UnsafePickleError for a pickle naming anything else than the format's tensors, containers
    and records; ForeignNetworkError (a ValueError) for a missing, truncated or corrupt file or
    one that is not a pickle of a dict."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ForeignNetworkError(f"{name}: no such file")
    total = os.path.getsize(name)
    if not is_nvidia_pickle(name):
        raise ForeignNetworkError(
            f"{name}: not an NVIDIA network pickle (it does not start like a pickle of "
            "protocol 2 or later, or it is a torch.save file)"
        )
    callback = None if progress is None else (lambda done: progress(done, total))
    with open(name, "rb") as raw:
        reader = io.BufferedReader(_ProgressReader(raw, callback), buffer_size=1 << 20)
        try:
            data = _RestrictedUnpickler(reader, name).load()
        except ForeignNetworkError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError,
                AttributeError, struct.error, MemoryError, RecursionError) as e:  # fmt: skip
            raise ForeignNetworkError(
                f"{name}: not a readable NVIDIA network pickle (truncated or corrupt file?): "
                f"{_describe_error(e)}"
            ) from None
    if not isinstance(data, dict):
        raise ForeignNetworkError(
            f"{name}: expected a pickled dict with G, D and G_ema, got {type(data).__name__}"
        )
    return data


# --- architecture checks ------------------------------------------------------------------------


def _is_stylegan3(obj: PersistentObject) -> bool:
    synthesis = obj.child("synthesis")
    if isinstance(synthesis, PersistentObject) and "input" in synthesis.children():
        return True
    return "class SynthesisInput" in obj.module_src or "networks_stylegan3" in obj.class_name


_SG3_SYNTHESIS_DEFAULTS = dict(
    channel_base=32768,
    channel_max=512,
    num_layers=14,
    num_critical=2,
    first_cutoff=2,
    first_stopband=2**2.1,
    last_stopband_rel=2**0.3,
    margin_size=10,
    output_scale=0.25,
    num_fp16_res=4,
    conv_kernel=3,
    filter_size=6,
    lrelu_upsampling=2,
    use_radial_filters=False,
    conv_clamp=256,
    magnitude_ema_beta=0.999,
)


def _sg3_config(obj: PersistentObject, where: str) -> tuple[dict, dict]:
    """(synthesis kwargs, mapping kwargs) of a StyleGAN3 Generator record: its ``_init_kwargs``
    over NVIDIA's defaults."""
    kwargs = obj.init_kwargs()
    mapping_kwargs = kwargs.pop("mapping_kwargs", None) or {}
    if not isinstance(mapping_kwargs, dict):
        raise ForeignNetworkError(
            f"{where}: expected a dict mapping_kwargs, got {mapping_kwargs!r}"
        )
    for key in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        kwargs.pop(key, None)
    synthesis = obj.child("synthesis")
    if isinstance(synthesis, PersistentObject):  # the synthesis record's own kwargs come first
        kwargs = {**synthesis.init_kwargs(), **kwargs}
        for key in ("w_dim", "img_resolution", "img_channels"):
            kwargs.pop(key, None)
    unknown = sorted(set(kwargs) - set(_SG3_SYNTHESIS_DEFAULTS))
    if unknown:
        raise UnsupportedNetworkError(
            f"{where}: StyleGAN3 synthesis options fastgan does not know: {unknown}"
        )
    config = {**_SG3_SYNTHESIS_DEFAULTS, **kwargs}
    return config, dict(mapping_kwargs)


def _generator_parts(obj: PersistentObject, where: str) -> tuple:
    """What every NVIDIA Generator record has (StyleGAN2 and 3): z_dim, c_dim, w_dim,
    img_resolution, img_channels and its mapping and synthesis records."""
    return (
        _int_attr(obj, "z_dim", where),
        _int_attr(obj, "c_dim", where),
        _int_attr(obj, "w_dim", where),
        _int_attr(obj, "img_resolution", where),
        _int_attr(obj, "img_channels", where),
        _require(obj, "mapping", where),
        _require(obj, "synthesis", where),
    )


def _stylegan3_generator(obj: PersistentObject, where: str) -> nn.Module:
    """A StyleGAN3 generator (``training.networks_stylegan3``, T or R) as fastgan's
    :class:`~fastgan.models.StyleGAN3Generator`."""
    from fastgan.models.stylegan3 import StyleGAN3Generator

    if _short_name(obj) != "Generator":
        raise _unsupported(where, f"a StyleGAN3 {obj.class_name} where a Generator was expected")
    z_dim, c_dim, w_dim, R, img_channels, mapping, synthesis = _generator_parts(obj, where)
    config, mapping_kwargs = _sg3_config(obj, where)
    lr = mapping_kwargs.get("lr_multiplier", 0.01)
    if lr != 0.01:
        raise _unsupported(f"{where}.mapping", f"lr_multiplier {lr!r} (fastgan's is 0.01)")
    num_layers, mapped = _mapping(
        mapping, "mapping_network.", "mapping.", w_dim, f"{where}.mapping"
    )
    beta = mapping.attr("w_avg_beta", mapping_kwargs.get("w_avg_beta", 0.998))
    try:
        G = StyleGAN3Generator(
            z_dim=z_dim,
            c_dim=c_dim,
            w_dim=w_dim,
            img_resolution=R,
            img_channels=img_channels,
            mapping_layers=num_layers,
            w_avg_beta=float(beta) if isinstance(beta, (int, float)) else 0.998,
            **config,
        )
    except (ValueError, TypeError) as e:
        raise UnsupportedNetworkError(
            f"{where}: a StyleGAN3 generator fastgan cannot build: {e}"
        ) from None
    if G.num_ws != obj.attr("num_ws", G.num_ws):
        raise ForeignNetworkError(
            f"{where}: num_ws {obj.attr('num_ws')!r} where the configuration gives {G.num_ws}"
        )
    src = obj.tensors()
    if "mapping.w_avg" not in src:
        raise ForeignNetworkError(f"{where}: the mapping network has no w_avg buffer")
    sw = f"{where}.synthesis"
    names = [f"L{i}_{layer.out_size}_{layer.out_channels}" for i, layer in enumerate(G.layers)]
    recorded = synthesis.attr("layer_names")
    if recorded is not None and list(recorded) != names:
        raise _unsupported_sg3(sw, f"layers {list(recorded)} where the configuration gives {names}")
    expected = {"input", *names}
    if set(synthesis.children()) != expected:
        raise _unsupported_sg3(
            sw, f"submodules {sorted(synthesis.children())}, expected {sorted(expected)}"
        )

    def take(dst: str, name: str) -> None:
        if name not in src:
            raise ForeignNetworkError(f"{where}: missing tensor {name} (StyleGAN3 has one)")
        mapped[dst] = (name, src[name])

    inp = synthesis.child("input")
    _fc_checks(inp.child("affine") or inp, 1.0, f"{sw}.input.affine", "linear")
    for part in ("affine.weight", "affine.bias", "weight", "transform", "freqs", "phases"):
        take(f"input.{part}", f"synthesis.input.{part}")
    ignored: set[str] = set()
    for i, (name, layer) in enumerate(zip(names, G.layers, strict=True)):
        rec = synthesis.child(name)
        s, d = f"synthesis.{name}.", f"layers.{i}."
        _fc_checks(rec.child("affine") or rec, 1.0, f"{sw}.{name}.affine", "linear")
        take(f"{d}conv.affine.weight", s + "affine.weight")
        take(f"{d}conv.affine.bias", s + "affine.bias")
        take(f"{d}conv.weight", s + "weight")
        take(f"{d}bias", s + "bias")
        take(f"{d}magnitude_ema", s + "magnitude_ema")
        if "conv_clamp" in rec.state and rec.attr("conv_clamp") != layer.conv_clamp:
            raise _unsupported_sg3(
                f"{sw}.{name}",
                f"conv_clamp {rec.attr('conv_clamp')!r} where the generator's is "
                f"{layer.conv_clamp!r}",
            )
        # The filters: fastgan's are non-persistent buffers (designed from the schedule); the
        # file's are the ones the network was trained with, copied over after the check.
        for buf in ("up_filter", "down_filter"):
            want = getattr(layer, buf)
            have = src.get(s + buf)
            if (want is None) != (have is None) or (
                have is not None and tuple(have.shape) != tuple(want.shape)
            ):
                raise ForeignNetworkError(
                    f"{sw}.{name}.{buf}: "
                    f"{'absent' if have is None else 'shape ' + str(list(have.shape))} where the "
                    f"configuration gives "
                    f"{'none' if want is None else 'shape ' + str(list(want.shape))}"
                )
            if have is not None:
                if not have.is_floating_point():
                    raise ForeignNetworkError(f"{sw}.{name}.{buf}: expected floating point values")
                ignored.add(s + buf)
    G = load_mapped(G, src, mapped, ignored, where)
    with torch.no_grad():
        for i, name in enumerate(names):
            layer = G.layers[i]
            for buf in ("up_filter", "down_filter"):
                have = src.get(f"synthesis.{name}.{buf}")
                if have is not None:
                    setattr(layer, buf, have.detach().to(torch.float32).clone())
    return G


def _unsupported_sg3(where: str, what: str) -> UnsupportedNetworkError:
    return UnsupportedNetworkError(
        f"{where}: {what}; fastgan loads StyleGAN3 generators of training.networks_stylegan3 "
        "(configurations T and R)"
    )


_SUPPORTED = (
    "fastgan loads StyleGAN2 networks of StyleGAN2-ADA (training.networks): Generator with "
    "architecture 'skip', Discriminator with architecture 'resnet'"
)


def _unsupported(where: str, what: str) -> UnsupportedNetworkError:
    return UnsupportedNetworkError(f"{where}: {what}; {_SUPPORTED}")


def _short_name(obj: PersistentObject) -> str:
    return obj.class_name.rsplit(".", 1)[-1]


def _require(obj: Any, name: str, where: str) -> PersistentObject:
    child = obj.child(name) if isinstance(obj, PersistentObject) else None
    if not isinstance(child, PersistentObject):
        raise _unsupported(where, f"no submodule {name!r} where StyleGAN2 has one")
    return child


def _int_attr(obj: PersistentObject, name: str, where: str, default: Any = None) -> int:
    value = obj.attr(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ForeignNetworkError(f"{where}: expected an int attribute {name}, got {value!r}")
    return value


def _check_gain(obj: PersistentObject, attr: str, expected: float, where: str) -> None:
    value = obj.attr(attr)
    if isinstance(value, (int, float)) and not abs(float(value) - expected) <= 1e-6 * max(
        1.0, abs(expected)
    ):
        raise _unsupported(
            where, f"{attr} = {float(value):.6g} where fastgan's layer uses {expected:.6g}"
        )


def _check_activation(obj: PersistentObject, expected: str, where: str) -> None:
    value = obj.attr("activation")
    if value is not None and value != expected:
        raise _unsupported(where, f"activation {value!r} where StyleGAN2 uses {expected!r}")


def _clamp_of(layers: list[tuple[str, PersistentObject]], where: str) -> float | None:
    clamps = {}
    for name, layer in layers:
        if "conv_clamp" in layer.state:
            value = layer.attr("conv_clamp")
            clamps[name] = None if value is None else float(value)
    values = set(clamps.values())
    if len(values) > 1:
        raise _unsupported(where, f"different conv_clamp per layer ({clamps})")
    return values.pop() if values else None


def _fc_checks(fc: PersistentObject, lr: float, where: str, activation: str) -> None:
    w = fc.tensors().get("weight")
    if w is not None:
        _check_gain(fc, "weight_gain", lr / w.shape[1] ** 0.5, where)
    _check_gain(fc, "bias_gain", lr, where)
    _check_activation(fc, activation, where)


def _resample_filter(
    tensors: dict[str, torch.Tensor], names: list[str], where: str
) -> tuple[float, ...]:
    """The 1-D filter of the resampling layers' ``resample_filter`` buffers `names` (those
    present; all must agree), [1, 3, 3, 1] when there are none."""
    names = [n for n in names if n in tensors]
    if not names:
        return DEFAULT_FILTER
    f = filter_from_2d(tensors[names[0]], f"{where}.{names[0]}")
    for n in names[1:]:
        check_filter_buffer(tensors[n], f, f"{where}.{n}")
    return f


def _mapping(
    mapping: PersistentObject, prefix: str, src_prefix: str, w_dim: int, where: str
) -> tuple[int, dict[str, tuple[str, torch.Tensor]]]:
    """(num_layers, fastgan name -> (source name, tensor)) of a MappingNetwork."""
    tensors = mapping.tensors()
    fcs = sorted(
        (int(m.group(1)), k)
        for k in mapping.children()
        if (m := re.fullmatch(r"fc(\d+)", k)) is not None
    )
    if not fcs or [i for i, _ in fcs] != list(range(len(fcs))):
        raise _unsupported(where, f"mapping layers {[k for _, k in fcs]} (expected fc0, fc1, ...)")
    out: dict[str, tuple[str, torch.Tensor]] = {}
    for i, name in fcs:
        fc = mapping.child(name)
        weight = tensors[f"{name}.weight"]
        if weight.shape[0] != w_dim:
            raise _unsupported(
                where,
                f"mapping layer {name} has {weight.shape[0]} features, not w_dim={w_dim} "
                "(fastgan's mapping network has w_dim features in every layer)",
            )
        _fc_checks(fc, 0.01, f"{where}.{name}", "lrelu")
        for part in ("weight", "bias"):
            out[f"{prefix}layers.{i}.{part}"] = (
                f"{src_prefix}{name}.{part}",
                tensors[f"{name}.{part}"],
            )
    if "embed" in mapping.children():
        embed = mapping.child("embed")
        _fc_checks(embed, 1.0, f"{where}.embed", "linear")
        if tensors["embed.weight"].shape[0] != w_dim:
            raise _unsupported(
                where,
                f"the label embedding has {tensors['embed.weight'].shape[0]} features, not "
                f"w_dim={w_dim} (fastgan embeds labels to w_dim features)",
            )
        for part in ("weight", "bias"):
            out[f"{prefix}embed.{part}"] = (f"{src_prefix}embed.{part}", tensors[f"embed.{part}"])
    if "w_avg" in tensors:
        out[f"{prefix}w_avg"] = (f"{src_prefix}w_avg", tensors["w_avg"])
    return len(fcs), out


# --- generator ----------------------------------------------------------------------------------


def _generator(obj: PersistentObject, where: str) -> nn.Module:
    if _is_stylegan3(obj):
        return _stylegan3_generator(obj, where)
    if _short_name(obj) != "Generator":
        raise _unsupported(where, f"a {obj.class_name} where a Generator was expected")
    z_dim, c_dim, w_dim, R, img_channels, mapping, synthesis = _generator_parts(obj, where)
    src = obj.tensors()
    resolutions = [2**i for i in range(2, R.bit_length())]
    if 2 ** (R.bit_length() - 1) != R or R < 4:
        raise ForeignNetworkError(f"{where}: img_resolution {R} is not a power of two >= 4")
    blocks = {r: _require(synthesis, f"b{r}", f"{where}.synthesis") for r in resolutions}
    extra = sorted(set(synthesis.children()) - {f"b{r}" for r in resolutions})
    if extra:
        raise _unsupported(f"{where}.synthesis", f"unexpected submodules {extra}")

    channels, layers = {}, []
    for r, block in blocks.items():
        bw = f"{where}.synthesis.b{r}"
        arch = block.attr("architecture", "skip")
        if arch != "skip":
            raise _unsupported(bw, f"generator architecture {arch!r}")
        names = set(block.children())
        expected = {"conv1", "torgb"} | (set() if r == 4 else {"conv0"})
        if names != expected:
            raise _unsupported(
                bw, f"submodules {sorted(names)} (StyleGAN2 'skip' has {sorted(expected)})"
            )
        for lname in sorted(expected):
            layer = block.child(lname)
            layers.append((f"b{r}.{lname}", layer))
            if lname != "torgb":
                _check_activation(layer, "lrelu", f"{bw}.{lname}")
                weight = layer.tensors().get("weight")
                if weight is None or weight.ndim != 4 or tuple(weight.shape[2:]) != (3, 3):
                    raise _unsupported(f"{bw}.{lname}", "a convolution that is not 3x3")
                up = layer.attr("up", 2 if lname == "conv0" else 1)
                if up != (2 if lname == "conv0" else 1):
                    raise _unsupported(f"{bw}.{lname}", f"up={up}")
        channels[r] = block.child("conv1").tensors()["weight"].shape[0]
    channel_base, channel_max = fit_channels(channels, f"{where}.synthesis")
    conv_clamp = _clamp_of(layers, where)
    used = [f"b{r}.{n}resample_filter" for r in resolutions[1:] for n in ("", "conv0.")]
    resample_filter = _resample_filter(synthesis.tensors(), used, f"{where}.synthesis")
    num_layers, mapped = _mapping(
        mapping, "mapping_network.", "mapping.", w_dim, f"{where}.mapping"
    )
    beta = mapping.attr("w_avg_beta", 0.995)
    G = StyleGAN2Generator(
        z_dim=z_dim,
        c_dim=c_dim,
        w_dim=w_dim,
        img_resolution=R,
        img_channels=img_channels,
        channel_base=channel_base,
        channel_max=channel_max,
        mapping_layers=num_layers,
        conv_clamp=conv_clamp,
        w_avg_beta=float(beta) if isinstance(beta, (int, float)) else 0.995,
        resample_filter=resample_filter,
    )
    if "mapping.w_avg" not in src:
        raise ForeignNetworkError(f"{where}: the mapping network has no w_avg buffer")
    ignored = {n for n in src if n.endswith("resample_filter")}
    for i, r in enumerate(resolutions):
        block = blocks[r]
        s, d = f"synthesis.b{r}.", f"synthesis_network.blocks.{i}."
        if r == 4:
            mapped["synthesis_network.const"] = (s + "const", src[s + "const"])
        for lname in ("conv0", "conv1") if r > 4 else ("conv1",):
            layer = block.child(lname)
            lt = layer.tensors()
            ls = f"{s}{lname}."
            weight = lt["weight"]
            # NVIDIA's up=2 layer is a true convolution (flip_weight=False); fastgan correlates.
            if lname == "conv0":
                weight = weight.flip([2, 3])
            mapped[f"{d}{lname}.conv.weight"] = (ls + "weight", weight)
            mapped[f"{d}{lname}.conv.affine.weight"] = (ls + "affine.weight", lt["affine.weight"])
            mapped[f"{d}{lname}.conv.affine.bias"] = (ls + "affine.bias", lt["affine.bias"])
            _fc_checks(layer.child("affine"), 1.0, f"{where}.{ls}affine", "linear")
            mapped[f"{d}{lname}.bias"] = (ls + "bias", lt["bias"])
            if "noise_strength" in lt:
                mapped[f"{d}{lname}.noise_strength"] = (ls + "noise_strength", lt["noise_strength"])
                mapped[f"{d}{lname}.noise_const"] = (ls + "noise_const", lt["noise_const"])
            else:  # use_noise=False: no noise, which a zero strength reproduces
                mapped[f"{d}{lname}.noise_strength"] = (ls + "noise_strength", torch.zeros([]))
                mapped[f"{d}{lname}.noise_const"] = (ls + "noise_const", torch.zeros(r, r))
        rgb = block.child("torgb")
        rt = rgb.tensors()
        ts = f"{s}torgb."
        _check_gain(rgb, "weight_gain", 1 / rt["weight"][0].numel() ** 0.5, f"{where}.{ts}")
        _fc_checks(rgb.child("affine"), 1.0, f"{where}.{ts}affine", "linear")
        mapped[f"{d}torgb.conv.weight"] = (ts + "weight", rt["weight"])
        mapped[f"{d}torgb.conv.affine.weight"] = (ts + "affine.weight", rt["affine.weight"])
        mapped[f"{d}torgb.conv.affine.bias"] = (ts + "affine.bias", rt["affine.bias"])
        mapped[f"{d}torgb.bias"] = (ts + "bias", rt["bias"])
    return load_mapped(G, src, mapped, ignored, where)


# --- discriminator ------------------------------------------------------------------------------


def _discriminator(obj: PersistentObject, where: str) -> nn.Module:
    if _short_name(obj) != "Discriminator":
        raise _unsupported(where, f"a {obj.class_name} where a Discriminator was expected")
    c_dim = _int_attr(obj, "c_dim", where)
    R = _int_attr(obj, "img_resolution", where)
    img_channels = _int_attr(obj, "img_channels", where)
    if R < 4 or R & (R - 1):
        raise ForeignNetworkError(f"{where}: img_resolution {R} is not a power of two >= 4")
    src = obj.tensors()
    resolutions = [2**i for i in range(R.bit_length() - 1, 2, -1)]
    names = set(obj.children())
    expected = {f"b{r}" for r in [*resolutions, 4]} | ({"mapping"} if c_dim > 0 else set())
    if names != expected:
        raise _unsupported(
            where, f"submodules {sorted(names)} (StyleGAN2's discriminator has {sorted(expected)})"
        )
    channels, layers, mapped = {}, [], {}
    for i, r in enumerate(resolutions):
        block = obj.child(f"b{r}")
        bw = f"{where}.b{r}"
        arch = block.attr("architecture", "resnet")
        if arch != "resnet":
            raise _unsupported(bw, f"discriminator architecture {arch!r}")
        want = {"conv0", "conv1", "skip"} | ({"fromrgb"} if r == R else set())
        if set(block.children()) != want:
            raise _unsupported(
                bw,
                f"submodules {sorted(block.children())} (StyleGAN2 'resnet' has {sorted(want)})",
            )
        bt = block.tensors()
        channels[r] = bt["conv0.weight"].shape[0]
        channels[r // 2] = bt["conv1.weight"].shape[0]
        for lname in sorted(want):
            layer = block.child(lname)
            if lname != "skip":
                layers.append((f"b{r}.{lname}", layer))
                _check_activation(layer, "lrelu", f"{bw}.{lname}")
            w = layer.tensors()["weight"]
            _check_gain(layer, "weight_gain", 1 / w[0].numel() ** 0.5, f"{bw}.{lname}")
            down = layer.attr("down", 2 if lname in ("conv1", "skip") else 1)
            if down != (2 if lname in ("conv1", "skip") else 1):
                raise _unsupported(f"{bw}.{lname}", f"down={down}")
            dst = "fromrgb." if lname == "fromrgb" else f"blocks.{i}.{lname}."
            for part in ("weight", "bias"):
                if f"{lname}.{part}" in bt:
                    mapped[dst + part] = (f"b{r}.{lname}.{part}", bt[f"{lname}.{part}"])
    epilogue = obj.child("b4")
    ew = f"{where}.b4"
    arch = epilogue.attr("architecture", "resnet")
    if arch != "resnet":
        raise _unsupported(ew, f"discriminator architecture {arch!r}")
    et = epilogue.tensors()
    channels[4] = et["conv.weight"].shape[0]
    mbstd = epilogue.child("mbstd")
    mbstd_channels = et["conv.weight"].shape[1] - channels[4]
    group = 4
    if mbstd is not None:
        group = _int_attr(mbstd, "group_size", f"{ew}.mbstd", 4)
        mbstd_channels = _int_attr(mbstd, "num_channels", f"{ew}.mbstd", mbstd_channels)
    elif mbstd_channels:
        raise _unsupported(ew, "extra input channels of the 4x4 conv without a mbstd layer")
    want = {"conv", "fc", "out"} | ({"mbstd"} if mbstd is not None else set())
    if set(epilogue.children()) != want:
        raise _unsupported(ew, f"submodules {sorted(epilogue.children())}")
    layers.append(("b4.conv", epilogue.child("conv")))
    _fc_checks(epilogue.child("fc"), 1.0, f"{ew}.fc", "lrelu")
    _fc_checks(epilogue.child("out"), 1.0, f"{ew}.out", "linear")
    for lname in ("conv", "fc", "out"):
        for part in ("weight", "bias"):
            mapped[f"epilogue.{lname}.{part}"] = (f"b4.{lname}.{part}", et[f"{lname}.{part}"])
    cmap_dim = et["out.weight"].shape[0] if c_dim > 0 else 0
    channel_base, channel_max = fit_channels(channels, where)
    conv_clamp = _clamp_of(layers, where)
    used = [f"b{r}.{n}.resample_filter" for r in resolutions for n in ("conv1", "skip")]
    resample_filter = _resample_filter(src, used, where)
    mapping_layers = 8
    if c_dim > 0:
        mapping = obj.child("mapping")
        mapping_layers, mm = _mapping(mapping, "mapping.", "mapping.", cmap_dim, f"{where}.mapping")
        mapped.update(mm)
    D = StyleGAN2Discriminator(
        c_dim=c_dim,
        img_resolution=R,
        img_channels=img_channels,
        channel_base=channel_base,
        channel_max=channel_max,
        mbstd_group_size=group,
        mbstd_num_channels=mbstd_channels,
        conv_clamp=conv_clamp,
        cmap_dim=cmap_dim or None,
        mapping_layers=mapping_layers,
        resample_filter=resample_filter,
    )
    if c_dim > 0:  # NVIDIA's label mapping has no w_avg (it never truncates); fastgan's is unused
        mapped["mapping.w_avg"] = ("", torch.zeros(cmap_dim))
    ignored = {n for n in src if n.endswith("resample_filter")} | {""}
    return load_mapped(D, src, mapped, ignored, where)


def network_from_record(obj: Any, key: str, where: str) -> nn.Module:
    """fastgan's module for the record of ``G`` / ``G_ema`` (generators) or ``D``."""
    if not isinstance(obj, PersistentObject):
        raise ForeignNetworkError(
            f"{where}: expected a pickled network (torch_utils.persistence), got "
            f"{type(obj).__name__}"
        )
    return _discriminator(obj, where) if key == "D" else _generator(obj, where)


def load_nvidia_pickle(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, nn.Module]:
    """fastgan modules for the networks of an NVIDIA StyleGAN2-ADA or StyleGAN3 pickle:
    ``{"G", "G_ema", "D"}`` (those the file holds) as :class:`~fastgan.models.StyleGAN2Generator`
    (StyleGAN3: :class:`~fastgan.models.StyleGAN3Generator`) /
    :class:`~fastgan.models.StyleGAN2Discriminator` in float32 and eval mode on `device`.

    The file is read without executing anything in it (see the module docstring). Their
    outputs equal the original networks' in float32 for the same z, c, truncation and
    ``noise_mode='const'``. Raises UnsafePickleError for a pickle naming other code,
    UnsupportedNetworkError for an architecture fastgan cannot represent ('orig' or
    'resnet' generators, 'orig' or 'skip' discriminators, ...) and ForeignNetworkError for an
    unreadable file; all are ValueErrors naming the file."""
    name = os.fspath(path)
    data = read_nvidia_pickle(name, progress=progress)
    present = [k for k in NETWORK_KEYS if k in data]
    if not present:
        raise ForeignNetworkError(
            f"{name}: expected a dict with G, G_ema or D, got keys {sorted(map(str, data))}"
        )
    out = {}
    for key in present:
        out[key] = network_from_record(data[key], key, f"{name}: {key}").to(device)
    return out
