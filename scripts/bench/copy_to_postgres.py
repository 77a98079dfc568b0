"""Copy a loaded benchmark database from SQLite into an empty PostgreSQL database, row for row.

Loading 100,000 Patients through the write path into PostgreSQL takes over an hour on a
shared 2-core machine (each Patient is two FHIR writes plus person-index rows, a round trip
per statement). The rows the write path stored in SQLite are the same rows it would store
in PostgreSQL (same code, same schema), so for the read and search benchmark the second
database is filled from the first with ``COPY``: every table of ``ehr.db.schema``, in
foreign-key order, then the id sequences moved past the copied keys and ``VACUUM (ANALYZE)``
run: what autovacuum does after a bulk load in production. The vacuum matters, not only the
statistics: it sets the visibility map, without which PostgreSQL reads every heap page an
index points at even for a question the index answers alone (the count of a ``$match``
block: 1.5 ms with heap fetches, 0.16 ms index-only), and this machine's PostgreSQL runs
with autovacuum off (``/etc/postgresql/*/main/conf.d/90-ci.conf``), so nothing else would.
The ids file of the SQLite load serves both.

    .venv/bin/python scripts/bench/copy_to_postgres.py sqlite:////tmp/ehr_bench.db \\
        postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_patients import analyze_url

from ehr.db.migrate import upgrade
from ehr.db.schema import SQLModel

CHUNK = 20_000


def copy(source_url: str, target_url: str) -> None:
    upgrade(target_url)
    source = create_engine(source_url)
    target = create_engine(target_url)
    tables = [t for t in SQLModel.metadata.sorted_tables]
    with source.connect() as reader, target.begin() as writer:
        for table in tables:
            writer.execute(text(f"TRUNCATE {table.name} CASCADE"))
        raw = writer.connection.dbapi_connection
        assert raw is not None
        for table in tables:
            started = time.perf_counter()
            columns = [c.name for c in table.columns]
            rows = 0
            result = reader.execution_options(stream_results=True).execute(select(table))
            statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as out:
                for partition in result.partitions(CHUNK):
                    for row in partition:
                        out.write_row(tuple(row))
                    rows += len(partition)
            print(f"{table.name:<24} {rows:>10,} rows  {time.perf_counter() - started:6.1f} s")
            keys = list(table.primary_key.columns)
            if len(keys) == 1 and keys[0].type.python_type is int:
                column = keys[0]
                writer.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'),"
                        f" COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1,"
                        " false) WHERE pg_get_serial_sequence("
                        f"'{table.name}', '{column.name}') IS NOT NULL"
                    )
                )
    print(f"VACUUM (ANALYZE) {analyze_url(target_url):.1f} s")
    source.dispose()
    target.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source_url", help="the loaded SQLite database")
    parser.add_argument("target_url", help="an empty (or disposable) PostgreSQL database")
    args = parser.parse_args(argv)
    copy(args.source_url, args.target_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
