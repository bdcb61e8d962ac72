"""Benchmark (not a test): what hostile settings files cost `check-config` now, beside a floor measured in
the same run (plain parsing of a file of the same size), so the figures read on any machine.

- the 1.7 KB YAML alias bomb ("billion laughs": 81 s and 3 GB before it was refused);
- a file of 100k modules and one of 1.2M (40k took 23 s and 1.2M was killed at 120 s with the quadratic
  duplicate check): through load_settings (the file door: refused by its size limit), and past the door,
  through parse_settings on the text (YAML + validation, duplicate check included);
- the duplicate-module check alone on the 1.2M list, beside building a set of it.

Time: best of --repeat runs (time.perf_counter), without tracing. Memory: peak traced by tracemalloc in
one more run (Python allocations; the process's own peak RSS is printed at the end).

    .venv/bin/python bench/settings_bench.py [--repeat 3] [--full]
    # --full: also parse the 1.2M-module text past the size limit (a minute or more: YAML itself, and the
    # floor beside it takes most of that)
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from builder.settings import OdooSettings, SettingsError, load_settings, parse_settings  # noqa: E402
from builder.settings_file import MAX_BYTES  # noqa: E402

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def billion_laughs() -> str:
    """Ten levels of ten aliases (10^10 strings expanded), padded to 1.7 KB like the reported file."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    text = "project: acme\n" + "\n".join(lines) + "\nodoo: {modules: *l9}\n"
    return text + "#" * (1700 - len(text) - 1) + "\n"


def plain_of_size(size: int) -> str:
    """A valid settings file of `size` bytes: the floor for a file of that size."""
    text = "project: acme\nodoo: {image: acme/odoo, modules: [base, web]}\n"
    return text + "#" * (size - len(text) - 1) + "\n"


def modules_file(count: int) -> str:
    return "project: acme\nodoo:\n  modules:\n" + "".join(f"    - module_{i:07d}\n" for i in range(count))


def outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except SettingsError as err:
        first = err.problems[0]
        return f"refused: {first.field}: {first.why}"[:90]
    except ValidationError as err:
        return f"refused: {err.errors()[0]['msg']}"[:90]
    return "accepted"


def measure(call: Callable[[], object], repeat: int) -> tuple[str, float, float]:
    """(outcome, best seconds, peak MiB traced)."""
    result = outcome(call)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        outcome(call)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    try:
        outcome(call)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, best, peak / 2**20


def row(case: str, call: Callable[[], object], repeat: int) -> None:
    result, seconds, peak = measure(call, repeat)
    print(f"{case:<62} {seconds * 1000:>10.1f} ms {peak:>9.1f} MiB  {result}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also parse the 1.2M-module text (slow: YAML itself)")
    args = parser.parse_args(argv)
    r = args.repeat

    print(f"size limit {MAX_BYTES} bytes; PyYAML {yaml.__version__} ({_LOADER.__name__}); Python {sys.version.split()[0]}")
    print(f"{'case':<62} {'time (best)':>13} {'peak traced':>13}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def file_of(name: str, text: str) -> Path:
            path = folder / name
            path.write_text(text)
            return path

        bomb = file_of("bomb.yaml", billion_laughs())
        plain = file_of("plain-1.7k.yaml", plain_of_size(1700))
        row(f"alias bomb, {bomb.stat().st_size} B: load_settings", lambda: load_settings(bomb), r)
        row(f"  floor: plain file, {plain.stat().st_size} B: load_settings", lambda: load_settings(plain), r)

        for count in (100_000, 1_200_000):
            text = modules_file(count) + "    - module_0000005\n"  # one name twice: the check must find it
            path = file_of(f"modules-{count}.yaml", text)
            label = f"{count:,} modules, {len(text) / 2**20:.1f} MiB"
            row(f"{label}: load_settings (the file)", partial(load_settings, path), r)
            if count < 1_000_000 or args.full:
                row(f"{label}: parse_settings (past the size limit)", partial(parse_settings, text), r)
                row("  floor: yaml.load of the same text (libyaml)", partial(yaml.load, text, Loader=_LOADER), r)

        names = [f"module_{i:07d}" for i in range(1_200_000)]
        listed = [*names, names[5]]
        row("1,200,000 modules: OdooSettings (patterns + duplicates)", lambda: OdooSettings(modules=listed), r)
        row("  floor: set() of the same list", lambda: set(listed), r)

    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {peak_rss:.0f} MiB (all cases, interpreter and imports included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
