"""FIR low-pass filter design for StyleGAN3's alias-free layers: Kaiser-windowed sinc filters
(separable, 1-D) and Kaiser-windowed jinc filters (radially symmetric, 2-D).

Kaiser's empirical design formulas (Kaiser 1974; Oppenheim & Schafer, "Discrete-Time Signal
Processing", section 7.6): a window of N taps and transition width Δω (radians per sample) reaches a
stopband attenuation of about

    A = 2.285 (N - 1) Δω + 7.95    dB

with the shape parameter

    β = 0.1102 (A - 8.7)                              for A > 50
    β = 0.5842 (A - 21)^0.4 + 0.07886 (A - 21)        for 21 <= A <= 50
    β = 0                                             for A < 21

and the window w[n] = I0(β √(1 - (2n / (N - 1) - 1)²)) / I0(β), n = 0 .. N - 1.

The ideal low-pass of cutoff fc at sampling rate fs has the impulse response
h(t) = 2 fc sinc(2 fc t) (1-D) and, radially symmetric in 2-D, h(r) = fc J1(2π fc r) / r (the
"jinc"); sampled at t = (n - (N - 1) / 2) / fs, windowed and normalised to unit DC gain.

Everything is computed in float64 and returned as float32 (the dtype fastgan's FIR ops take).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "design_lowpass_filter",
    "kaiser_attenuation",
    "kaiser_beta",
    "kaiser_window",
]


def kaiser_attenuation(numtaps: int, width: float) -> float:
    """Stopband attenuation in dB that a Kaiser-windowed filter of ``numtaps`` taps reaches with a
    transition band of ``width``, given as a fraction of the Nyquist frequency (1 = fs / 2)."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(attenuation: float) -> float:
    """Kaiser's shape parameter β for a stopband attenuation in dB."""
    a = float(attenuation)
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a >= 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def kaiser_window(numtaps: int, beta: float) -> torch.Tensor:
    """The Kaiser window of ``numtaps`` samples, float64 (1 at the centre, symmetric)."""
    if numtaps == 1:
        return torch.ones(1, dtype=torch.float64)
    # Distances from the centre, computed symmetrically so that the window is exactly symmetric.
    half = (numtaps - 1) / 2
    ratio = ((torch.arange(numtaps, dtype=torch.float64) - half) / half).clamp(-1, 1)
    beta_t = torch.tensor(beta, dtype=torch.float64)
    return torch.special.i0(beta_t * (1 - ratio.square()).sqrt()) / torch.special.i0(beta_t)


def _check(numtaps: int, cutoff: float, width: float, fs: float) -> None:
    if not isinstance(numtaps, int) or isinstance(numtaps, bool) or numtaps < 1:
        raise ValueError(f"design_lowpass_filter: expected numtaps an int >= 1, got {numtaps!r}")
    if not fs > 0:
        raise ValueError(f"design_lowpass_filter: expected fs > 0, got {fs!r}")
    if not 0 < cutoff < fs / 2:
        raise ValueError(
            f"design_lowpass_filter: expected 0 < cutoff < fs / 2 = {fs / 2}, got {cutoff!r}"
        )
    if not width > 0:
        raise ValueError(f"design_lowpass_filter: expected width > 0, got {width!r}")


def design_lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass FIR filter with unit DC gain.

    Args:
        numtaps: taps per dimension; 1 gives None (the identity, no filtering).
        cutoff: cutoff frequency fc (the -6 dB point), in the units of ``fs``.
        width: width of the transition band (centred on ``cutoff``), in the units of ``fs``; it
            sets the window's β through Kaiser's attenuation formula.
        fs: sampling rate.
        radial: False: the separable 1-D windowed sinc ``[numtaps]``; True: the radially
            symmetric 2-D windowed jinc ``[numtaps, numtaps]``, its window the Kaiser window of
            the distance from the centre (0 beyond the 1-D window's half-length), so that the
            filter depends on the distance only.

    Returns a float32 tensor summing to 1, or None for ``numtaps == 1``.
    """
    if numtaps == 1:
        return None
    _check(numtaps, cutoff, width, fs)
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / (fs / 2)))
    window = kaiser_window(numtaps, beta)
    t = (torch.arange(numtaps, dtype=torch.float64) - (numtaps - 1) / 2) / fs
    if not radial:
        f = 2 * cutoff * torch.sinc(2 * cutoff * t) * window
        return (f / f.sum()).float()
    r = torch.hypot(t[:, None], t[None, :])
    arg = 2 * math.pi * cutoff * r
    # fc J1(2π fc r) / r, whose limit at r = 0 is π fc².
    safe_r = torch.where(r > 0, r, torch.ones_like(r))
    jinc = torch.where(
        r > 0,
        cutoff * torch.special.bessel_j1(arg) / safe_r,
        torch.full_like(r, math.pi * cutoff**2),
    )
    f = jinc * _radial_kaiser(r, (numtaps - 1) / 2 / fs, beta)
    return (f / f.sum()).float()


def _radial_kaiser(r: torch.Tensor, radius: float, beta: float) -> torch.Tensor:
    """The Kaiser window as a function of the distance r from the centre (radius: where the 1-D
    window ends), 0 beyond: the 2-D window of the radial filters, radially symmetric."""
    ratio = (r / radius).clamp(max=1)
    beta_t = torch.tensor(beta, dtype=torch.float64)
    w = torch.special.i0(beta_t * (1 - ratio.square()).sqrt()) / torch.special.i0(beta_t)
    return torch.where(r <= radius * (1 + 1e-12), w, torch.zeros_like(w))
