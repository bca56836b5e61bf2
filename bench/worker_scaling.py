"""Scale-out: zero-latency jobs per second with 1, 2 and 4 worker processes.

    .venv/bin/python -m bench.worker_scaling [--jobs 200] [--workers 1,2,4]
        [--backends postgres+redis,sqlite]

The same measurement as bench.throughput (sandbox Ideogram with no latency, the whole
pipeline), repeated for each worker count on PostgreSQL with the Redis broker and, in the
same run, on SQLite with the ORM broker, so the two can be compared under the same load.
"""

from __future__ import annotations

import argparse

from bench import throughput


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--backends", default="postgres+redis,sqlite")
    args = parser.parse_args(argv)
    for workers in args.workers.split(","):
        throughput.main(
            ["--jobs", str(args.jobs), "--workers", workers, "--backends", args.backends]
        )


if __name__ == "__main__":
    main()
