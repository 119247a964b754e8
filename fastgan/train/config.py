"""Training configuration: presets (`tiny`, `stylegan2`, `paper256`) and the options of
`fastgan train`, as one JSON-serialisable dataclass stored in every run directory."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

__all__ = [
    "LOSSES",
    "PRECISIONS",
    "PRESETS",
    "TrainConfig",
    "blur_sigma_at",
    "make_config",
]

LOSSES = ("logistic", "hinge", "wgan-gp", "rpgan")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ARCHS = ("stylegan2", "stylegan3-t", "stylegan3-r", "dcgan", "progan", "cyclegan")
AUGMENTS = ("translation", "cutout", "color")


@dataclass
class TrainConfig:
    """Every setting of a run. `make_config` fills it from a preset and the user's overrides."""

    data: str = "digits"
    outdir: str = "runs"
    cfg: str = "tiny"
    arch: str = "stylegan2"
    res: int = 16
    channels: int | None = None  # None: the dataset's own
    batch: int = 32  # across all processes
    kimg: float = 60.0
    cond: bool = True
    loss: str = "logistic"
    gamma: float = 0.05  # R1 weight (R1 * gamma / 2); WGAN-GP's lambda for 'wgan-gp'
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing: float = 0.9
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    ema_kimg: float = 10.0  # half-life of the generator EMA
    ema_rampup: float | None = 0.05
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group: int = 4
    mbdisc_kernels: int = 0
    conv_clamp: float | None = 256.0
    diffaugment: str = ""  # comma-separated subset of AUGMENTS
    xflip: bool = False
    compile: bool = False
    precision: str = "auto"
    snap: float = 20.0  # kimg between snapshots (and sample grids, metrics)
    tick: float = 4.0  # kimg between progress lines in the log
    keep: int = 3  # snapshots kept
    metrics: list[str] = field(default_factory=lambda: ["fid", "kid", "acc", "modes"])
    extractor: str = "auto"  # digits for the digits data, else inception
    inception_weights: str | None = None
    metrics_num: int = 1000
    seed: int = 0
    workers: int = 0
    skip_bad: bool = False
    device: str = "auto"
    impl: str = "auto"
    max_bad_steps: int = 10
    # StyleGAN3: synthesis layers, and the Gaussian blur of D's inputs (sigma in pixels, fading
    # linearly to 0 over blur_fade_kimg; 0 = no blur)
    sg3_layers: int = 14
    blur_sigma: float = 0.0
    blur_fade_kimg: float = 0.0
    # ProGAN (--model progan): kimg per growth phase (fade-in, then stable), WGAN-GP drift.
    progan_kimg: float = 10.0
    drift: float = 0.0
    # CycleGAN (--model cyclegan): the two domains' folders / zips (or --data digits-colour),
    # lambda, identity weight (x lambda), pool of past fakes, residual blocks, base width,
    # resampling ('stride' or 'fir').
    data_a: str | None = None
    data_b: str | None = None
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    pool_size: int = 50
    gen_blocks: int = 6
    width: int = 16
    resample: str = "stride"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown settings {unknown}")
        values = dict(values)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


# Presets: the defaults of `--cfg`. `tiny` fits the bundled digits on a 2-core CPU in minutes
# (a small conditional StyleGAN2 at 16x16); like StyleGAN2-ADA's configuration for small images
# (CIFAR-10) it has no path length regularisation or style mixing and a small R1 weight, which on
# the digits reached a Fréchet distance of 7.8 at 40 kimg against 14.5 with the full schedule;
# its learning rate 0.004 (not 0.0025) also helped (8.98 with 0.0025). `stylegan2` is the paper's
# network, its R1 weight from the StyleGAN2-ADA heuristic gamma = 0.0002 R^2 / batch; `paper256`
# is the 256x256 configuration of the paper (channel_base 16384, batch 64 -> 32 here per the
# issue's target).
PRESETS: dict[str, dict] = {
    "tiny": dict(
        res=16,
        batch=32,
        kimg=60.0,
        z_dim=64,
        w_dim=64,
        mapping_layers=2,
        channel_base=1024,
        channel_max=64,
        gamma=0.01,
        ema_kimg=2.0,
        ema_rampup=0.05,
        lr_g=0.004,
        lr_d=0.004,
        snap=20.0,
        tick=2.0,
        style_mixing=0.0,
        pl_weight=0.0,
        mbstd_group=4,
        metrics_num=1000,
    ),
    "stylegan2": dict(
        res=64,
        batch=32,
        kimg=25000.0,
        z_dim=512,
        w_dim=512,
        mapping_layers=8,
        channel_base=32768,
        channel_max=512,
        gamma=None,  # heuristic
        ema_kimg=10.0,
        ema_rampup=0.05,
        snap=200.0,
        tick=4.0,
        metrics=["fid"],
        metrics_num=10000,
    ),
    "paper256": dict(
        res=256,
        batch=32,
        kimg=25000.0,
        z_dim=512,
        w_dim=512,
        mapping_layers=8,
        channel_base=16384,
        channel_max=512,
        gamma=1.0,
        ema_kimg=20.0,
        ema_rampup=None,
        snap=200.0,
        tick=4.0,
        metrics=["fid"],
        metrics_num=50000,
    ),
}


# The defaults of --model progan / cyclegan on top of the preset (the paper's settings, sized
# for the bundled data on a CPU). ProGAN: WGAN-GP (lambda 10) with the drift term 0.001, Adam
# (0, 0.99), a generator EMA of 10 kimg half-life (about the paper's 0.999 per step at batch 16),
# 5 kimg per growth phase and a learning rate of 0.003. On the digits (Fréchet distance in the
# classifier's feature space, 1000 samples): the paper's 0.001 with an EMA of 1 kimg and 10-kimg
# phases 16.4 at 70 kimg; EMA 10 kimg, 5-kimg phases: 10.2 at 60 with 0.001, 9.0 with 0.002,
# 5.8 with 0.003 (5.0 at 70; 5.1 and 4.6 with another seed); EMA 10, 10-kimg phases, 0.002: 9.7
# at 60, 7.3 at 80 (2026-12-06). CycleGAN: LSGAN, Adam (0.5, 0.999) at 0.0002 (linear decay
# to 0 over the second half), batch 1 in the paper; 8 here.
MODEL_DEFAULTS: dict[str, dict] = {
    # StyleGAN3 (Karras et al. 2021) on the tiny preset's sizes: a 2-layer mapping, no path
    # length regularisation or style mixing, D's input blurred (sigma 10 px in the paper, fading
    # over 200 kimg; scaled here to 2 px at 16x16 over 20 kimg), 8 synthesis layers at 16x16
    # (14 in the paper at 256+). R: 1x1 convolutions and radial filters, channels doubled.
    "stylegan3-t": dict(
        mapping_layers=2,
        pl_weight=0.0,
        style_mixing=0.0,
        sg3_layers=8,
        blur_sigma=2.0,
        blur_fade_kimg=20.0,
        ema_kimg=2.0,
    ),
    "progan": dict(
        loss="wgan-gp",
        gamma=10.0,
        drift=0.001,
        lr_g=0.003,
        lr_d=0.003,
        betas=(0.0, 0.99),
        z_dim=128,
        channel_base=1024,
        channel_max=64,
        ema_kimg=10.0,
        pl_weight=0.0,
        style_mixing=0.0,
        kimg=70.0,
        progan_kimg=5.0,
        snap=20.0,
    ),
    "cyclegan": dict(
        data="digits-colour",
        cond=False,
        loss="hinge",  # unused: CycleGAN's step has its own least-squares losses
        gamma=0.0,
        pl_weight=0.0,
        style_mixing=0.0,
        lr_g=0.0002,
        lr_d=0.0002,
        betas=(0.5, 0.999),
        batch=8,
        kimg=10.0,
        snap=2.0,
        tick=0.5,
        metrics=["translate"],
    ),
}


# --cfg stylegan3-t | stylegan3-r: the tiny preset with StyleGAN3's generator (same as
# --cfg tiny --model stylegan3-t).
PRESETS["stylegan3-t"] = dict(PRESETS["tiny"], arch="stylegan3-t")
PRESETS["stylegan3-r"] = dict(PRESETS["tiny"], arch="stylegan3-r")


def make_config(cfg: str = "tiny", **overrides) -> TrainConfig:
    """The preset `cfg` with `overrides` (None values keep the preset's), checked. With
    ``arch='progan'`` or ``'cyclegan'`` the model's defaults (MODEL_DEFAULTS) come between the
    preset and the overrides."""
    if cfg not in PRESETS:
        raise ValueError(f"train: expected --cfg in {tuple(PRESETS)}, got {cfg!r}")
    values = dict(PRESETS[cfg])
    values.update(MODEL_DEFAULTS.get(overrides.get("arch") or values.get("arch") or "", {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["cfg"] = cfg
    if values.get("gamma") is None:
        values["gamma"] = 0.0002 * values["res"] ** 2 / values["batch"]
    config = TrainConfig.from_dict(values)
    check_config(config)
    return config


MODEL_DEFAULTS["stylegan3-r"] = dict(
    MODEL_DEFAULTS["stylegan3-t"], channel_base=2048, channel_max=128
)


def blur_sigma_at(c: TrainConfig, nimg: int) -> float:
    """The sigma of D's input blur after nimg images: blur_sigma fading linearly to 0."""
    if c.blur_sigma <= 0:
        return 0.0
    if c.blur_fade_kimg <= 0:
        return c.blur_sigma
    return c.blur_sigma * max(0.0, 1.0 - nimg / (c.blur_fade_kimg * 1000))


def check_config(c: TrainConfig) -> None:
    """ValueError naming the setting, what was expected and what came."""

    def fail(name: str, expected: str, got: object) -> None:
        raise ValueError(f"train: expected --{name.replace('_', '-')} {expected}, got {got!r}")

    if c.res < 4 or c.res & (c.res - 1):
        fail("res", "a power of two >= 4", c.res)
    if c.batch < 1:
        fail("batch", ">= 1", c.batch)
    if c.blur_sigma < 0 or c.blur_fade_kimg < 0:
        fail("blur_sigma/blur_fade_kimg", ">= 0", (c.blur_sigma, c.blur_fade_kimg))
    if c.sg3_layers < 1:
        fail("sg3_layers", ">= 1", c.sg3_layers)
    if c.kimg <= 0:
        fail("kimg", "> 0", c.kimg)
    if c.loss not in LOSSES:
        fail("loss", f"in {LOSSES}", c.loss)
    if c.precision not in PRECISIONS:
        fail("precision", f"in {PRECISIONS}", c.precision)
    if c.arch not in ARCHS:
        fail("arch", f"in {ARCHS}", c.arch)
    if c.gamma < 0:
        fail("gamma", ">= 0", c.gamma)
    if c.pl_weight < 0:
        fail("pl_weight", ">= 0", c.pl_weight)
    for name in ("r1_interval", "pl_interval", "keep", "mbstd_group", "pl_batch_shrink"):
        if getattr(c, name) < 1:
            fail(name, ">= 1", getattr(c, name))
    for name in ("snap", "tick", "ema_kimg"):
        if getattr(c, name) <= 0:
            fail(name, "> 0", getattr(c, name))
    augments = [a for a in c.diffaugment.split(",") if a]
    bad = [a for a in augments if a not in AUGMENTS]
    if bad:
        fail("diffaugment", f"a comma-separated subset of {AUGMENTS}", c.diffaugment)
    if not 0 <= c.style_mixing <= 1:
        fail("style_mixing", "in [0, 1]", c.style_mixing)
    if c.channels not in (None, 1, 3):
        fail("channels", "1 or 3", c.channels)
    if c.progan_kimg <= 0:
        fail("progan_kimg", "> 0", c.progan_kimg)
    if c.drift < 0:
        fail("drift", ">= 0", c.drift)
    if c.cycle_weight < 0 or c.identity_weight < 0:
        fail("cycle_weight", "and --identity-weight >= 0", (c.cycle_weight, c.identity_weight))
    if c.pool_size < 0:
        fail("pool_size", ">= 0", c.pool_size)
    for name in ("gen_blocks", "width"):
        if getattr(c, name) < 1:
            fail(name, ">= 1", getattr(c, name))
    if c.resample not in ("stride", "fir"):
        fail("resample", "'stride' or 'fir'", c.resample)
    if c.arch == "cyclegan" and c.res % 4:
        fail("res", "a multiple of 4 for --model cyclegan", c.res)
