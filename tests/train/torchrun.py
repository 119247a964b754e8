"""`fastgan train` under `torchrun` with two processes, for the trainer tests."""

from __future__ import annotations

import os
import subprocess
import sys


def torchrun_train(port: int, *args: str) -> subprocess.CompletedProcess:
    """Runs `python -m torch.distributed.run --nproc_per_node=2 -m fastgan train *args` on
    `port`, one OpenMP thread per process; the output is captured."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"),
            *(f"--master_port={port}", "-m", "fastgan", "train", *args),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
