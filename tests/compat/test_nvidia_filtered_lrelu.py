"""fastgan.compat.nvidia.filtered_lrelu against NVIDIA's definition written out with fastgan's
references (bias, upfirdn2d up, lrelu with gain and clamp, upfirdn2d down), gradients, bad
input."""

import numpy as np
import pytest
import torch

from fastgan.compat.nvidia import filtered_lrelu, upfirdn2d
from fastgan.ops import bias_act_ref, upfirdn2d_ref
from tests.conftest import TOLERANCE, rel_error

# Until fastgan._C has a filtered_lrelu kernel, impl='cuda' runs the reference with one warning.
pytestmark = pytest.mark.filterwarnings("ignore:fastgan.ops.filtered_lrelu:RuntimeWarning")


def definition(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip):
    x = bias_act_ref(x, b)
    x = upfirdn2d_ref(x, fu, up=up, padding=padding, gain=up**2, flip_filter=flip)
    x = bias_act_ref(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d_ref(x, fd, down=down, flip_filter=flip)


@pytest.mark.parametrize("impl", ["cuda", "ref"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_filtered_lrelu_matches_definition(impl, dtype):
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    fu = upfirdn2d.setup_filter(torch.rand(6) + 0.1, separable=True)
    fd = upfirdn2d.setup_filter(torch.rand(4) + 0.1)
    for up, down, padding, gain, slope, clamp, flip in [
        (2, 2, 5, np.sqrt(2), 0.2, None, False),
        (2, 1, [4, 3, 2, 5], 1.3, 0.1, 0.8, True),
        (1, 2, [2, 3], 1.0, 0.3, 2.0, False),
    ]:
        out = filtered_lrelu.filtered_lrelu(
            x.to(dtype), fu, fd, b.to(dtype), up, down, padding, gain, slope, clamp, flip, impl
        )
        ref = definition(x, fu, fd, b, up, down, padding, float(gain), slope, clamp, flip)
        assert out.dtype == dtype
        assert rel_error(out, ref) < TOLERANCE[dtype]
    # NVIDIA's defaults: no filters, no bias: lrelu * sqrt(2).
    out = filtered_lrelu.filtered_lrelu(x, impl=impl)
    assert torch.allclose(out, torch.nn.functional.leaky_relu(x, 0.2) * np.sqrt(2))


@pytest.mark.parametrize("impl", ["cuda", "ref"])
def test_filtered_lrelu_gradients(impl):
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    f = upfirdn2d.setup_filter([1, 3, 3, 1])

    def fn(x):
        return filtered_lrelu.filtered_lrelu(x, f, f, up=2, down=2, padding=3, impl=impl)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,), fast_mode=True)


def test_filtered_lrelu_bad_input():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="impl"):
        filtered_lrelu.filtered_lrelu(x, impl="native")
    with pytest.raises(ValueError, match="clamp >= 0"):
        filtered_lrelu.filtered_lrelu(x, clamp=-1)
    with pytest.raises(TypeError, match="gain"):
        filtered_lrelu.filtered_lrelu(x, gain="2")
