"""Writes fastgan/data/digits.npz, the bundled handwritten digits, from scikit-learn's copy.

scikit-learn's `load_digits` holds the test set of the UCI "Optical Recognition of Handwritten
Digits" data set (E. Alpaydin, C. Kaynak; CC BY 4.0): 1,797 images of 8x8 pixels with values
0..16, 10 classes. fastgan vendors it so that it needs no scikit-learn at run time. scikit-learn is
needed only here, e.g. installed apart from the project's environment:

    pip install --no-deps --target /tmp/sk scikit-learn joblib threadpoolctl narwhals
    PYTHONPATH=/tmp/sk .venv/bin/python scripts/make_digits_data.py
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

DEFAULT_OUT = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "fastgan", "data", "digits.npz")
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="the .npz to write")
    args = parser.parse_args()
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        print(
            f"make_digits_data: needs scikit-learn ({error}); see this script's docstring",
            file=sys.stderr,
        )
        return 1
    digits = load_digits()
    images = digits.images
    if images.shape != (1797, 8, 8) or images.min() < 0 or images.max() > 16:
        print(f"make_digits_data: unexpected digits images {images.shape}", file=sys.stderr)
        return 1
    if not np.array_equal(images, np.round(images)):
        print("make_digits_data: expected integer pixel values", file=sys.stderr)
        return 1
    np.savez_compressed(
        args.out, images=images.astype(np.uint8), labels=digits.target.astype(np.int64)
    )
    counts = np.bincount(digits.target, minlength=10)
    print(
        f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {len(images)} images, "
        f"per class {counts.tolist()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
