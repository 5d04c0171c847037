"""``floe-lineage-dbt``: the ``dbt`` command, that also reports each finished node's facts
(``reader``: error text, rows written, and on DuckDB columns and row counts).

It runs dbt's own click command as the ``dbt`` console script does (same arguments, output and
exit codes: 0 success, 1 failure, 2 error; ``--version`` and ``--help`` as dbt answers them), with
``reader.FactsReader`` as an event callback. Before the process exits the reader's worker gets
up to ``DRAIN_WAIT`` seconds (``FLOE_LINEAGE_FACTS_DRAIN``) to write the facts still queued, so
they precede the end of dbt's output.
"""

from __future__ import annotations

import os
import sys

from .reader import (
    FactsReader,
    adapter_connection,
    dbt_logs_json,
    run_graph,
    write_as_dbt_stdout,
)

DRAIN_WAIT = 60.0
DRAIN_ENV = "FLOE_LINEAGE_FACTS_DRAIN"


def main(argv: list[str] | None = None) -> None:
    """Run dbt with ``argv`` (default ``sys.argv[1:]``); exits with dbt's exit code."""
    from dbt.cli.main import cli

    reader = FactsReader(
        adapter_connection, run_graph, write_as_dbt_stdout(sys.stdout), dbt_logs_json
    )
    try:
        cli.main(
            args=sys.argv[1:] if argv is None else argv,
            prog_name="dbt",
            obj={"callbacks": [reader.record]},
        )
    finally:
        reader.drain(float(os.environ.get(DRAIN_ENV, DRAIN_WAIT)))


if __name__ == "__main__":
    main()
