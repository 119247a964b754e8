"""The FID Inception network: its state dict is exactly that of pt_inception-2015-12-05-6726825d.pth
(keys and shapes), such a state dict loads strictly, the forward gives 2048-d features and 1008
logits, the FID-specific pooling, clear errors for missing or wrong weights."""

import pytest
import torch
import torch.nn.functional as F

from fastgan.metrics import InceptionV3FID, load_extractor, load_inception
from fastgan.metrics.inception import INCEPTION_WEIGHTS_ENV, INCEPTION_WEIGHTS_URL

# The convolutions of pt_inception-2015-12-05-6726825d.pth (torchvision's InceptionV3 module
# names): conv.weight shape [out, in, kh, kw]; each is followed by a batch norm of `out` channels.
CONV_SHAPES = {
    "Conv2d_1a_3x3": (32, 3, 3, 3),
    "Conv2d_2a_3x3": (32, 32, 3, 3),
    "Conv2d_2b_3x3": (64, 32, 3, 3),
    "Conv2d_3b_1x1": (80, 64, 1, 1),
    "Conv2d_4a_3x3": (192, 80, 3, 3),
    "Mixed_5b.branch1x1": (64, 192, 1, 1),
    "Mixed_5b.branch5x5_1": (48, 192, 1, 1),
    "Mixed_5b.branch5x5_2": (64, 48, 5, 5),
    "Mixed_5b.branch3x3dbl_1": (64, 192, 1, 1),
    "Mixed_5b.branch3x3dbl_2": (96, 64, 3, 3),
    "Mixed_5b.branch3x3dbl_3": (96, 96, 3, 3),
    "Mixed_5b.branch_pool": (32, 192, 1, 1),
    "Mixed_5c.branch1x1": (64, 256, 1, 1),
    "Mixed_5c.branch5x5_1": (48, 256, 1, 1),
    "Mixed_5c.branch5x5_2": (64, 48, 5, 5),
    "Mixed_5c.branch3x3dbl_1": (64, 256, 1, 1),
    "Mixed_5c.branch3x3dbl_2": (96, 64, 3, 3),
    "Mixed_5c.branch3x3dbl_3": (96, 96, 3, 3),
    "Mixed_5c.branch_pool": (64, 256, 1, 1),
    "Mixed_5d.branch1x1": (64, 288, 1, 1),
    "Mixed_5d.branch5x5_1": (48, 288, 1, 1),
    "Mixed_5d.branch5x5_2": (64, 48, 5, 5),
    "Mixed_5d.branch3x3dbl_1": (64, 288, 1, 1),
    "Mixed_5d.branch3x3dbl_2": (96, 64, 3, 3),
    "Mixed_5d.branch3x3dbl_3": (96, 96, 3, 3),
    "Mixed_5d.branch_pool": (64, 288, 1, 1),
    "Mixed_6a.branch3x3": (384, 288, 3, 3),
    "Mixed_6a.branch3x3dbl_1": (64, 288, 1, 1),
    "Mixed_6a.branch3x3dbl_2": (96, 64, 3, 3),
    "Mixed_6a.branch3x3dbl_3": (96, 96, 3, 3),
    "Mixed_6b.branch1x1": (192, 768, 1, 1),
    "Mixed_6b.branch7x7_1": (128, 768, 1, 1),
    "Mixed_6b.branch7x7_2": (128, 128, 1, 7),
    "Mixed_6b.branch7x7_3": (192, 128, 7, 1),
    "Mixed_6b.branch7x7dbl_1": (128, 768, 1, 1),
    "Mixed_6b.branch7x7dbl_2": (128, 128, 7, 1),
    "Mixed_6b.branch7x7dbl_3": (128, 128, 1, 7),
    "Mixed_6b.branch7x7dbl_4": (128, 128, 7, 1),
    "Mixed_6b.branch7x7dbl_5": (192, 128, 1, 7),
    "Mixed_6b.branch_pool": (192, 768, 1, 1),
    "Mixed_6c.branch1x1": (192, 768, 1, 1),
    "Mixed_6c.branch7x7_1": (160, 768, 1, 1),
    "Mixed_6c.branch7x7_2": (160, 160, 1, 7),
    "Mixed_6c.branch7x7_3": (192, 160, 7, 1),
    "Mixed_6c.branch7x7dbl_1": (160, 768, 1, 1),
    "Mixed_6c.branch7x7dbl_2": (160, 160, 7, 1),
    "Mixed_6c.branch7x7dbl_3": (160, 160, 1, 7),
    "Mixed_6c.branch7x7dbl_4": (160, 160, 7, 1),
    "Mixed_6c.branch7x7dbl_5": (192, 160, 1, 7),
    "Mixed_6c.branch_pool": (192, 768, 1, 1),
    "Mixed_6d.branch1x1": (192, 768, 1, 1),
    "Mixed_6d.branch7x7_1": (160, 768, 1, 1),
    "Mixed_6d.branch7x7_2": (160, 160, 1, 7),
    "Mixed_6d.branch7x7_3": (192, 160, 7, 1),
    "Mixed_6d.branch7x7dbl_1": (160, 768, 1, 1),
    "Mixed_6d.branch7x7dbl_2": (160, 160, 7, 1),
    "Mixed_6d.branch7x7dbl_3": (160, 160, 1, 7),
    "Mixed_6d.branch7x7dbl_4": (160, 160, 7, 1),
    "Mixed_6d.branch7x7dbl_5": (192, 160, 1, 7),
    "Mixed_6d.branch_pool": (192, 768, 1, 1),
    "Mixed_6e.branch1x1": (192, 768, 1, 1),
    "Mixed_6e.branch7x7_1": (192, 768, 1, 1),
    "Mixed_6e.branch7x7_2": (192, 192, 1, 7),
    "Mixed_6e.branch7x7_3": (192, 192, 7, 1),
    "Mixed_6e.branch7x7dbl_1": (192, 768, 1, 1),
    "Mixed_6e.branch7x7dbl_2": (192, 192, 7, 1),
    "Mixed_6e.branch7x7dbl_3": (192, 192, 1, 7),
    "Mixed_6e.branch7x7dbl_4": (192, 192, 7, 1),
    "Mixed_6e.branch7x7dbl_5": (192, 192, 1, 7),
    "Mixed_6e.branch_pool": (192, 768, 1, 1),
    "Mixed_7a.branch3x3_1": (192, 768, 1, 1),
    "Mixed_7a.branch3x3_2": (320, 192, 3, 3),
    "Mixed_7a.branch7x7x3_1": (192, 768, 1, 1),
    "Mixed_7a.branch7x7x3_2": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_3": (192, 192, 7, 1),
    "Mixed_7a.branch7x7x3_4": (192, 192, 3, 3),
    "Mixed_7b.branch1x1": (320, 1280, 1, 1),
    "Mixed_7b.branch3x3_1": (384, 1280, 1, 1),
    "Mixed_7b.branch3x3_2a": (384, 384, 1, 3),
    "Mixed_7b.branch3x3_2b": (384, 384, 3, 1),
    "Mixed_7b.branch3x3dbl_1": (448, 1280, 1, 1),
    "Mixed_7b.branch3x3dbl_2": (384, 448, 3, 3),
    "Mixed_7b.branch3x3dbl_3a": (384, 384, 1, 3),
    "Mixed_7b.branch3x3dbl_3b": (384, 384, 3, 1),
    "Mixed_7b.branch_pool": (192, 1280, 1, 1),
    "Mixed_7c.branch1x1": (320, 2048, 1, 1),
    "Mixed_7c.branch3x3_1": (384, 2048, 1, 1),
    "Mixed_7c.branch3x3_2a": (384, 384, 1, 3),
    "Mixed_7c.branch3x3_2b": (384, 384, 3, 1),
    "Mixed_7c.branch3x3dbl_1": (448, 2048, 1, 1),
    "Mixed_7c.branch3x3dbl_2": (384, 448, 3, 3),
    "Mixed_7c.branch3x3dbl_3a": (384, 384, 1, 3),
    "Mixed_7c.branch3x3dbl_3b": (384, 384, 3, 1),
    "Mixed_7c.branch_pool": (192, 2048, 1, 1),
}


def expected_shapes(num_batches_tracked: bool = True) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for name, shape in CONV_SHAPES.items():
        shapes[f"{name}.conv.weight"] = shape
        for parameter in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{parameter}"] = (shape[0],)
        if num_batches_tracked:
            shapes[f"{name}.bn.num_batches_tracked"] = ()
    shapes["fc.weight"] = (1008, 2048)
    shapes["fc.bias"] = (1008,)
    return shapes


def random_state_dict(num_batches_tracked: bool = False) -> dict[str, torch.Tensor]:
    """Weights of the expected keys and shapes that keep activations of order one."""
    state = {}
    for key, shape in expected_shapes(num_batches_tracked).items():
        if key.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = torch.randn(shape) * (2 / fan_in) ** 0.5
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape) + 0.5
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("bn.weight"):
            state[key] = torch.rand(shape) + 0.5
        else:
            state[key] = torch.randn(shape) * 0.01
    return state


@pytest.fixture(scope="module")
def state_dict():
    return random_state_dict(num_batches_tracked=True)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, state_dict):
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save({k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}, path)
    return path


def test_state_dict_is_that_of_the_fid_weights_file():
    model = InceptionV3FID()
    assert len(CONV_SHAPES) == 94
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(norms) == len(convs) == 94
    assert all(m.eps == 0.001 for m in norms) and all(c.bias is None for c in convs)


@pytest.fixture(scope="module")
def forward_run(weights_file):
    """One forward pass of two tiny images, recording what the pool branches see."""
    with pytest.warns(UserWarning, match="6726825d"):
        model = load_inception(weights_file)
    seen = {}

    def record(name):
        def hook(module, args):
            seen[name] = args[0].detach().clone()

        return hook

    for name in ("Mixed_5b", "Mixed_6b", "Mixed_7b", "Mixed_7c"):
        block = getattr(model, name)
        block.register_forward_pre_hook(record(name))
        block.branch_pool.register_forward_pre_hook(record(name + ".branch_pool"))
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    with torch.no_grad():
        features, logits = model(images)
        float_features, _ = model(images.float() / 127.5 - 1)
    return model, features, logits, float_features, seen


def test_forward_gives_2048_features_and_1008_logits(forward_run):
    model, features, logits, float_features, _ = forward_run
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(features).all() and torch.isfinite(logits).all()
    assert (features >= 0).all() and features.std() > 0  # averages of ReLU outputs
    # uint8 [0, 255] and float [-1, 1] inputs are the same images
    assert torch.allclose(features, float_features, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(model.fc(features), logits, rtol=1e-4, atol=1e-5)


def test_fid_pooling_variants(forward_run):
    *_, seen = forward_run
    for name in ("Mixed_5b", "Mixed_6b", "Mixed_7b"):
        x = seen[name]
        excluded = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        included = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)
        assert torch.allclose(seen[name + ".branch_pool"], excluded), name
        assert not torch.allclose(seen[name + ".branch_pool"], included), name
    x = seen["Mixed_7c"]
    assert torch.equal(seen["Mixed_7c.branch_pool"], F.max_pool2d(x, 3, stride=1, padding=1))


def test_loads_with_or_without_num_batches_tracked_and_from_the_environment(
    tmp_path, monkeypatch, state_dict
):
    path = tmp_path / "with_tracked.pth"
    state = state_dict
    torch.save(state, path)
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(path))
    with pytest.warns(UserWarning, match="does not start with 6726825d"):
        extractor = load_extractor("inception", device="cpu")
    assert extractor.num_features == 2048 and extractor.num_classes == 1008
    loaded = extractor.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert not extractor.model.training


def test_missing_weights_name_the_file_and_where_it_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV, raising=False)
    with pytest.raises(ValueError, match=r"pt_inception-2015-12-05-6726825d\.pth") as error:
        load_inception()
    assert INCEPTION_WEIGHTS_URL in str(error.value) and "--inception-weights" in str(error.value)
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError, match="expected inception_weights to be a file"):
        load_inception(missing)
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match=r"pt_inception-2015-12-05-6726825d\.pth"):
        load_extractor("inception", device="cpu")


def test_wrong_weights_are_refused_with_the_keys_and_shapes(tmp_path, state_dict):
    state = dict(state_dict)
    del state["Mixed_6c.branch7x7_2.conv.weight"]
    state["fc.weight"] = torch.zeros(1000, 2048)
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as error:
        load_inception(path)
    message = str(error.value)
    assert "missing keys: Mixed_6c.branch7x7_2.conv.weight" in message
    assert "unexpected keys: AuxLogits.fc.weight" in message
    assert "fc.weight: expected [1008, 2048], got [1000, 2048]" in message
    torch.save(torch.zeros(3), path)
    with pytest.raises(TypeError, match="expected a state dict"):
        load_inception(path)
