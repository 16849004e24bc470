"""Tables written as CSV files (object measurements), atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .atomic import atomic_output


def write_csv(rows: list[dict], path) -> Path:
    """Write ``rows`` (dicts with the same keys; the first row's keys are the columns) as a CSV file."""
    cols = list(rows[0].keys()) if rows else ["label"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            f.write(buf.getvalue())

    return atomic_output(path, write)
