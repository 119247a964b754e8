"""fastgan.nn resampling layers: equal to the functional ops, buffers, dtypes, training, compile."""

import pytest
import torch
from torch import nn

from fastgan.nn import Blur, Downsample2d, Upsample2d
from fastgan.ops import downsample2d, filter2d, setup_filter, upsample2d
from tests.conftest import DEVICES, TOLERANCE, rel_error

LAYERS = [
    (Upsample2d, dict(), upsample2d, dict(up=2)),
    (
        Upsample2d,
        dict(up=[3, 2], filter=[1, 2, 1], padding=[1, 0, 2, 1], gain=0.5),
        upsample2d,
        dict(up=[3, 2], padding=[1, 0, 2, 1], gain=0.5),
    ),
    (Downsample2d, dict(), downsample2d, dict(down=2)),
    (
        Downsample2d,
        dict(down=[1, 2], filter=[1, 2, 3, 4, 4, 3, 2, 1], flip_filter=True),
        downsample2d,
        dict(down=[1, 2], flip_filter=True),
    ),
    (Blur, dict(), filter2d, dict()),
    (
        Blur,
        dict(filter=[1, 2, 5], padding=1, gain=2.0, flip_filter=True),
        filter2d,
        dict(padding=1, gain=2.0, flip_filter=True),
    ),
]


def layer_id(case):
    cls, kwargs, _, _ = case
    return cls.__name__ + ("" if not kwargs else "-custom")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", LAYERS, ids=layer_id)
def test_layer_equals_functional(device, case):
    cls, kwargs, fn, fn_kwargs = case
    layer = cls(**kwargs).to(device)
    f = setup_filter(kwargs.get("filter", (1, 3, 3, 1)), device=device)
    assert torch.equal(layer.filter, f) and layer.filter.device.type == device
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 3, 12, 10, device=device).to(memory_format=fmt)
        y = layer(x)
        assert torch.equal(y, fn(x, f, **fn_kwargs))
        assert y.is_contiguous(memory_format=fmt)


def test_output_sizes():
    x = torch.randn(2, 3, 8, 6)
    assert Upsample2d()(x).shape == (2, 3, 16, 12)
    assert Upsample2d(up=[3, 1])(x).shape == (2, 3, 8, 18)
    assert Downsample2d()(x).shape == (2, 3, 4, 3)
    assert Downsample2d(down=[2, 4])(x).shape == (2, 3, 2, 3)
    assert Blur()(x).shape == x.shape
    assert Blur(padding=1)(x).shape == (2, 3, 10, 8)


def test_filter_buffer_is_not_persistent():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Upsample2d(), Blur(), Downsample2d())
    names = [name for name, _ in model.named_buffers()]
    assert names == ["1.filter", "2.filter", "3.filter"]
    state = model.state_dict()
    assert not any("filter" in key for key in state), list(state)
    assert set(state) == {"0.weight", "0.bias"}
    other = nn.Sequential(nn.Conv2d(3, 4, 3), Upsample2d(), Blur(), Downsample2d())
    other.load_state_dict(state, strict=True)
    assert torch.equal(other[0].weight, model[0].weight)
    assert not list(Upsample2d().parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_filter_follows_to(device):
    layer = Downsample2d().to(device)
    assert layer.filter.device.type == device
    meta = Upsample2d().to("meta")
    assert meta.filter.device.type == "meta"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_module_dtype_conversion(device, dtype):
    """module.double() / .half() leave the filter an exact float32 buffer on the module's
    device; the layer's output has the input's dtype."""
    factories = [Upsample2d, lambda: Downsample2d(down=[2, 1]), lambda: Blur(padding=1)]
    for make in factories:
        layer = make()
        converted = {
            torch.float64: lambda m: m.double(),
            torch.float16: lambda m: m.half(),
            torch.bfloat16: lambda m: m.bfloat16(),
        }[dtype](layer.to(device))
        assert converted.filter.dtype == torch.float32 and converted.filter.device.type == device
        assert torch.equal(converted.filter.cpu(), make().filter)
        x = torch.randn(2, 3, 8, 10, dtype=torch.float64).to(device, dtype)
        y = converted(x)
        assert y.dtype == dtype
        ref = make()(x.double().cpu())
        assert rel_error(y, ref) < TOLERANCE[dtype], type(layer).__name__
    back = Upsample2d().half().float()
    assert back.filter.dtype == torch.float32 and torch.equal(back.filter, Upsample2d().filter)


def make_model():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        Upsample2d(),
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 8, 3, padding=1),
        Blur(),
        Downsample2d(),
        nn.Conv2d(8, 3, 1),
    )


@pytest.mark.parametrize("device", DEVICES)
def test_small_model_trains_one_step(device):
    model = make_model().to(device)
    x = torch.randn(4, 3, 12, 12, device=device)
    target = torch.randn(4, 3, 12, 12, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    loss = (model(x) - target).square().mean()
    opt.zero_grad()
    loss.backward()
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    opt.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    with torch.no_grad():
        after = (model(x) - target).square().mean()
    assert after < loss, f"{after.item()} >= {loss.item()}"


@pytest.mark.parametrize("device", DEVICES)
def test_compile_model_fullgraph_forward_and_backward(device):
    model = make_model().to(device)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(2, 3, 10, 14, device=device, requires_grad=True)
    y = compiled(x)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, *model.parameters()), g)
    y_ref = model(x)
    refs = torch.autograd.grad(y_ref, (x, *model.parameters()), g)
    assert y.shape == (2, 3, 10, 14)
    assert rel_error(y, y_ref) < 1e-5
    for a, b in zip(grads, refs, strict=True):
        assert rel_error(a, b) < 1e-5
    torch._dynamo.reset()


def test_extra_repr():
    assert "up=[2, 2]" in repr(Upsample2d())
    assert "up=[3, 1]" in repr(Upsample2d(up=[3, 1]))
    assert "down=[2, 2]" in repr(Downsample2d())
    assert "down=[1, 4]" in repr(Downsample2d(down=[1, 4]))
    text = repr(Blur(padding=[1, 2], gain=2, flip_filter=True))
    assert "filter=[4, 4]" in text and "padding=[1, 1, 2, 2]" in text
    assert "gain=2" in text and "flip_filter=True" in text
    assert "filter=[8]" in repr(Upsample2d(filter=[1] * 8))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Upsample2d: expected up >= 1"):
        Upsample2d(up=0)
    with pytest.raises(ValueError, match="Downsample2d: expected down >= 1"):
        Downsample2d(down=[1, 0])
    with pytest.raises(TypeError, match="Blur: expected padding"):
        Blur(padding=[1, 2, 3])
    with pytest.raises(ValueError, match="non-empty 1-D or 2-D"):
        Blur(filter=torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match=r"expected x of shape \[N, C, H, W\]"):
        Blur()(torch.randn(3, 8, 8))
