"""Writes NVIDIA network pickles in NVIDIA's persistence format from the networks of
:mod:`tests.compat.nvidia_net` (StyleGAN2-ADA) and :mod:`tests.compat.nvidia_sg3_net`
(StyleGAN3), for the loader tests.

Every module of those networks is pickled the way ``torch_utils.persistence`` pickles a
persistent class: a call ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with
``meta = {type: 'class', version: 6, module_src, class_name, state}``, the state being the
module's ``__dict__`` plus the constructor's ``_init_args`` / ``_init_kwargs``. The top level is a
dict with ``G``, ``D``, ``G_ema``, ``augment_pipe`` and ``training_set_kwargs`` (a
``dnnlib.util.EasyDict``). The modules ``torch_utils.persistence`` and ``dnnlib.util`` exist only
as throwaway stubs in ``sys.modules`` while dumping.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types
from pathlib import Path

import torch

from tests.compat import nvidia_net, nvidia_sg3_net

MODULE_SRC = Path(nvidia_net.__file__).read_text()
# Fixture modules whose classes are pickled as persistent objects, with their source text (the
# StyleGAN2-ADA layout of nvidia_net, the StyleGAN3 layout of nvidia_sg3_net).
FIXTURE_MODULES = {
    nvidia_net.__name__: MODULE_SRC,
    nvidia_sg3_net.__name__: Path(nvidia_sg3_net.__file__).read_text(),
}
_STUBS = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")


@contextlib.contextmanager
def stub_modules():
    """``torch_utils.persistence._reconstruct_persistent_obj`` and ``dnnlib.util.EasyDict`` as
    importable names while the block runs; ``sys.modules`` is restored afterwards."""
    saved = {name: sys.modules.get(name) for name in _STUBS}
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pickled by name only; never called here
        raise AssertionError("the test pickles are never loaded with NVIDIA's code")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    easy_dict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = easy_dict
    package, dnnlib = types.ModuleType("torch_utils"), types.ModuleType("dnnlib")
    package.persistence, dnnlib.util = persistence, util
    sys.modules.update(
        {"torch_utils": package, "torch_utils.persistence": persistence, "dnnlib": dnnlib}
    )
    sys.modules["dnnlib.util"] = util
    try:
        yield persistence, util
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _PersistencePickler(pickle.Pickler):
    def __init__(self, file, persistence, init_kwargs: dict[int, dict]) -> None:
        super().__init__(file, protocol=pickle.DEFAULT_PROTOCOL)
        self.persistence, self.init_kwargs = persistence, init_kwargs

    def reducer_override(self, obj):
        module_src = FIXTURE_MODULES.get(type(obj).__module__)
        if isinstance(obj, torch.nn.Module) and module_src is not None:
            state = dict(obj.__dict__)
            state["_init_args"] = ()
            state["_init_kwargs"] = self.init_kwargs.get(id(obj), {})
            meta = dict(
                type="class",
                version=6,
                module_src=module_src,
                class_name=type(obj).__name__,
                state=state,
            )
            return self.persistence._reconstruct_persistent_obj, (meta,)
        return NotImplemented


def nvidia_pickle_bytes(
    networks: dict[str, torch.nn.Module],
    init_kwargs: dict[str, dict] | None = None,
    extra: dict | None = None,
) -> bytes:
    """The bytes of a ``network-snapshot.pkl`` holding `networks` (``G``, ``D``, ``G_ema``),
    ``augment_pipe=None``, a ``training_set_kwargs`` EasyDict and the entries of `extra`."""
    init_kwargs = init_kwargs or {}
    with stub_modules() as (persistence, util):
        data = dict(networks)
        data["augment_pipe"] = None
        data["training_set_kwargs"] = util.EasyDict(
            class_name="training.dataset.ImageFolderDataset", path="data.zip", use_labels=False
        )
        data.update(extra or {})
        by_id = {id(net): init_kwargs.get(key, {}) for key, net in networks.items()}
        buffer = io.BytesIO()
        _PersistencePickler(buffer, persistence, by_id).dump(data)
    return buffer.getvalue()
