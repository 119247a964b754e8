"""Which CUDA kernel launch sites the emulated test suite ran, from its launch log.

    FASTGAN_CUDA_EMU=1 FASTGAN_EMU_LAUNCH_LOG=launches.tsv scripts/dev.sh test tests/ops tests/nn
    python scripts/emu_coverage.py launches.tsv

Lists every FASTGAN_LAUNCH site of csrc/<op>/*_cuda.cu with its launches, the largest grid it ran
with and the instantiations (parameter types) that ran; exits 1 if a site never ran, since its
kernel was then never tested. The emulator's own self-test kernels (csrc/emu) are left out.
"""

from __future__ import annotations

import collections
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def launch_sites() -> list[tuple[str, str]]:
    """(file relative to csrc, kernel expression) of every FASTGAN_LAUNCH in the op kernels,
    the expression spaced as the preprocessor's # operator gives it."""
    sites = []
    for path in sorted((ROOT / "csrc").glob("*/*_cuda.cu")):
        if path.parent.name == "emu":
            continue
        text = path.read_text()
        for match in re.finditer(r"FASTGAN_LAUNCH\(", text):
            depth, i, commas = 1, match.end(), []
            while depth:
                c = text[i]
                depth += c == "("
                depth -= c == ")"
                if c == "," and depth == 1:
                    commas.append(i)
                i += 1
            kernel = " ".join(text[commas[3] + 1 : i - 1].split())
            sites.append((str(path.relative_to(ROOT / "csrc")), kernel))
    return sites


def main(log_path: str) -> int:
    ran: dict[tuple[str, str], dict] = collections.defaultdict(
        lambda: {"launches": 0, "blocks": 0, "instantiations": set()}
    )
    for line in pathlib.Path(log_path).read_text().splitlines():
        file, _, kernel, signature, launches, blocks, _ = line.split("\t")
        rel = file.split("/csrc/")[-1]
        entry = ran[(rel, kernel)]
        entry["launches"] += int(launches)
        entry["blocks"] = max(entry["blocks"], int(blocks))
        entry["instantiations"].add(signature)
    missing = 0
    for site in launch_sites():
        entry = ran.get(site)
        if entry is None:
            print(f"NEVER RUN  {site[0]}: {site[1]}")
            missing += 1
            continue
        print(
            f"{entry['launches']:>9} launches, up to {entry['blocks']} blocks, "
            f"{len(entry['instantiations'])} instantiations  {site[0]}: {site[1]}"
        )
        for signature in sorted(entry["instantiations"]):
            print(f"{'':>14}({signature})")
    print(f"{len(launch_sites()) - missing} of {len(launch_sites())} launch sites ran")
    return 1 if missing else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
