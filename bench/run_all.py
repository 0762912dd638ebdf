"""Run every benchmark and print one table: `python -m bench.run_all [--smoke] [--only NAME ...]`.

Each figure is a ratio against a baseline measured in the same run. `--smoke` runs each benchmark
in a tiny mode (seconds), for CI: its numbers are not figures. `--only` takes module names
(e.g. `--only resume startup`). Needs PostgreSQL at 127.0.0.1:5432 (tests/support/databases.py)
unless `--no-postgres`, and bench/requirements.txt installed.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable

from bench import (
    audit_chain,
    context_tokens,
    email_parse,
    first_call,
    langgraph_server,
    queue_scale,
    resume,
    slack_ack,
    startup,
    storage_size,
    throughput,
    waiting_scale,
)
from bench._common import Row, table

BENCHMARKS: dict[str, Callable[..., list[Row]]] = {
    "slack_ack": slack_ack.run,
    "resume": resume.run,
    "storage_size": storage_size.run,
    "throughput": throughput.run,
    "waiting_scale": waiting_scale.run,
    "context_tokens": context_tokens.run,
    "startup": startup.run,
    "email_parse": email_parse.run,
    "queue_scale": queue_scale.run,
    "first_call": first_call.run,
    "langgraph_server": langgraph_server.run,
    "audit_chain": audit_chain.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny runs that only show the benchmarks work")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL parts")
    args = parser.parse_args(argv)

    rows: list[Row] = []
    failed: list[str] = []
    started = time.monotonic()
    for name, bench in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        kwargs = {"smoke": args.smoke}
        if "postgres" in inspect.signature(bench).parameters:
            kwargs["postgres"] = not args.no_postgres
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            rows += bench(**kwargs)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"  {name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)

    today = datetime.date.today().isoformat()
    mode = "smoke (not figures)" if args.smoke else "full"
    print(
        f"Signoff benchmarks, {today}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{mode}, {time.monotonic() - started:.0f} s\n"
    )
    print(table(rows))
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
