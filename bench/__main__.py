"""`python -m bench [NAME ...]`: run the engine benchmarks (all of them by default)."""

from __future__ import annotations

import subprocess
import sys

from bench._harness import ROOT

ENGINE = ("async_jobs", "throughput", "overhead", "result_memory")


def main(names: list[str]) -> int:
    failed = 0
    for name in names or ENGINE:
        # One process each: a benchmark sets Django up for its own scratch database.
        failed += subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=ROOT).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
