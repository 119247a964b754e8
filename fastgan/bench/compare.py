"""`fastgan bench compare A.json B.json`: two benchmark runs side by side, row by row.

Rows match on (op, mode, shape, dtype, params). For each matched row: the fused median in A and
in B and their ratio B/A (> 1: B is slower), and the same ratio for the eager reference and
torch.compile(reference) where both runs have them -- if those moved as much as the fused op,
the machine changed, not the kernel. `--fail-if-slower PCT` makes it a regression gate.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastgan.bench.harness import (
    IMPLS,
    ResultsFileError,
    load_results,
    row_key,
    row_label,
    text_table,
)

__all__ = ["Comparison", "compare_results", "format_comparison", "main", "slower_rows"]

PROG = "fastgan bench compare"


@dataclass
class Match:
    key: tuple[str, ...]
    a: dict
    b: dict

    def ratio(self, impl: str) -> float | None:
        """Median time in B over median time in A of one implementation (None if either lacks
        it or A's is zero)."""
        ta, tb = self.a["timings"].get(impl), self.b["timings"].get(impl)
        if not ta or not tb or not ta.get("median_ms"):
            return None
        return tb["median_ms"] / ta["median_ms"]


@dataclass
class Comparison:
    matched: list[Match] = field(default_factory=list)
    only_a: list[dict] = field(default_factory=list)
    only_b: list[dict] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # "file: label", first one kept


def _index(rows: Sequence[dict], name: str, duplicates: list[str]) -> dict[tuple, dict]:
    index: dict[tuple, dict] = {}
    for row in rows:
        key = row_key(row)
        if key in index:
            duplicates.append(f"{name}: {row_label(row)}")
        else:
            index[key] = row
    return index


def compare_results(a: dict, b: dict, name_a: str = "A", name_b: str = "B") -> Comparison:
    """Matches the rows of two loaded bench files (see harness.load_results), in A's order."""
    result = Comparison()
    index_a = _index(a["rows"], name_a, result.duplicates)
    index_b = _index(b["rows"], name_b, result.duplicates)
    for key, row in index_a.items():
        if key in index_b:
            result.matched.append(Match(key, row, index_b[key]))
        else:
            result.only_a.append(row)
    result.only_b = [row for key, row in index_b.items() if key not in index_a]
    return result


def slower_rows(comparison: Comparison, pct: float) -> list[Match]:
    """The matched rows whose fused median in B is more than `pct` percent above A's."""
    return [
        m for m in comparison.matched if (r := m.ratio("fused")) is not None and r > 1 + pct / 100
    ]


def _ms(row: dict, impl: str) -> str:
    t = row["timings"].get(impl)
    return f"{t['median_ms']:.4f}" if t else "-"


def format_comparison(
    comparison: Comparison, fail_if_slower: float | None = None, markdown: bool = False
) -> str:
    """One line per matched row: fused ms in A and B, B/A for fused, eager and compiled."""
    flagged = (
        {id(m) for m in slower_rows(comparison, fail_if_slower)}
        if fail_if_slower is not None
        else set()
    )
    header = ["op", "pass", "shape", "dtype", "params", "fused A ms", "fused B ms", "fused B/A"]
    header += [f"{impl} B/A" for impl in IMPLS[1:]]
    lines = []
    for m in comparison.matched:
        ratios = [m.ratio(impl) for impl in IMPLS]
        cells = [f"{r:.3f}" if r is not None else "-" for r in ratios]
        if id(m) in flagged:
            cells[0] += " SLOWER"
        lines.append([*m.key, _ms(m.a, "fused"), _ms(m.b, "fused"), *cells])
    return text_table(header, lines, left=5, markdown=markdown)


def _describe(name: str, data: dict) -> str:
    env = data["environment"]
    return (
        f"{name}: {env.get('device_name', '?')} ({env.get('device', '?')}), "
        f"torch {env.get('torch', '?')}, fastgan {env.get('fastgan', '?')}, {env.get('date', '?')}"
    )


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0 such as 5, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Compares two `fastgan bench --json` files row by row (rows match on op, pass, "
            "shape, dtype and params): fused median in A and B, and B/A for the fused op, the "
            "eager reference and torch.compile. Exit status: 0, 1 when --fail-if-slower finds "
            "a slower row (or no row in common), 2 for an unreadable file."
        ),
    )
    parser.add_argument("a", metavar="A.json", help="the baseline run")
    parser.add_argument("b", metavar="B.json", help="the run compared with it")
    parser.add_argument(
        "--fail-if-slower",
        metavar="PCT",
        type=_percent,
        help="exit 1 if any row's fused median in B is more than PCT percent above A's",
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`fastgan bench compare`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        a, b = load_results(args.a), load_results(args.b)
    except ResultsFileError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    comparison = compare_results(a, b, args.a, args.b)
    print(_describe("A", a) + f" -- {args.a}")
    print(_describe("B", b) + f" -- {args.b}")
    if a["environment"].get("device_name") != b["environment"].get("device_name"):
        print("note: the two runs are from different devices")
    print()
    if comparison.matched:
        print(format_comparison(comparison, args.fail_if_slower, markdown=args.markdown))
    for name, rows in ((args.a, comparison.only_a), (args.b, comparison.only_b)):
        if rows:
            print(f"\nonly in {name} ({len(rows)}):")
            print("\n".join(f"  {row_label(row)}" for row in rows))
    for duplicate in comparison.duplicates:
        print(f"note: a second row {duplicate} was ignored (the first is compared)")
    if args.fail_if_slower is None:
        return 0
    if not comparison.matched:
        print(
            f"{PROG}: --fail-if-slower: no row of {args.b} matches a row of {args.a}; "
            "nothing was checked",
            file=sys.stderr,
        )
        return 1
    slower = slower_rows(comparison, args.fail_if_slower)
    if slower:
        print(
            f"{PROG}: {len(slower)} row(s) more than {args.fail_if_slower:g}% slower in "
            f"{args.b} than in {args.a}:",
            file=sys.stderr,
        )
        for m in slower:
            print(
                f"  {row_label(m.a)}: fused {_ms(m.a, 'fused')} -> {_ms(m.b, 'fused')} ms "
                f"({100 * (m.ratio('fused') - 1):+.1f}%)",
                file=sys.stderr,
            )
        return 1
    print(f"\nno row more than {args.fail_if_slower:g}% slower")
    return 0
