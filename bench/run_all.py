"""Run every benchmark in turn (``make bench``); ``--quick`` runs them at small scale to check that they work.

    python bench/run_all.py           # full: whole SciFact ingest + 300 queries, 20,000-row write path,
                                      #       200,000-chunk filtered search, pgseek vs its peers,
                                      #       HTTP load (30 s per endpoint), server RSS over 8 ingest rounds,
                                      #       1,000,000 vectors unpartitioned vs partitioned by tenant
    python bench/run_all.py --quick   # --limit 300 for ingest, --rows 3000 for write,
                                      # --rows 20000 --base 300 --queries 10 for search,
                                      # --rows 3000 --base 300 for halfvec,
                                      # --corpus-docs 300 --e2e-docs 60 --queries 20 for the peers, --quick for http
                                      # and memory, --runs 5 --docs 5 for the command's wall time

Each benchmark runs in its own process and writes ``bench/results/<name>.{json,png}``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    # (script, full arguments, quick arguments)
    ("bench_write.py", [], ["--rows", "3000"]),
    ("bench_ingest.py", [], ["--limit", "300"]),
    ("bench_search.py", [], ["--rows", "20000", "--base", "300", "--queries", "10"]),
    ("bench_halfvec.py", [], ["--rows", "3000", "--base", "300"]),
    ("bench_peers.py", [], ["--corpus-docs", "300", "--e2e-docs", "60", "--queries", "20", "--filter-queries", "20"]),
    ("bench_http.py", [], ["--quick"]),
    ("bench_memory.py", [], ["--quick"]),
    ("bench_cli.py", [], ["--runs", "5", "--docs", "5"]),
    ("bench_reuse.py", [], ["--documents", "10"]),
    ("bench_doctor.py", [], ["--rows", "20000", "--base", "300", "--queries", "10", "--searches", "100"]),
    ("bench_versions.py", [], ["--limit", "300", "--idle", "5"]),
    ("bench_indexes.py", [], ["--rows", "20000", "--base", "300", "--queries", "20", "--mid-tenants", "4"]),
    ("bench_freshness.py", [], ["--rates", "2", "--workers", "1", "--seconds", "30", "--calibrate", "50"]),
    ("bench_partitions.py", [], ["--quick"]),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs: check that the benchmarks run")
    parser.add_argument(
        "--only",
        choices=[name.removesuffix(".py") for name, *_ in BENCHMARKS],
        action="append",
        help="run only this benchmark (repeatable)",
    )
    args = parser.parse_args(argv)

    failed: list[str] = []
    for script, full, quick in BENCHMARKS:
        if args.only and script.removesuffix(".py") not in args.only:
            continue
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n=== {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command)
        print(f"=== {script}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
