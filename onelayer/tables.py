"""The one table writer: rows (dicts) and their columns give the CSV a program reads and the
Markdown a person reads, from the same numbers.

CSV cells are exact (floats in repr form, so that a table read back compares equal; a missing
value is an empty cell); Markdown cells are formatted per column (a missing value is "–").
``read_csv`` reads a table back with each column's type.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from onelayer.atomic import write_text

MISSING = "–"


@dataclass(frozen=True)
class Column:
    """A column: its key in the rows (and CSV header), its type when read back, its Markdown
    header and how a cell is written there (a format spec such as ".2f", or a function)."""

    key: str
    type: type = str
    header: str | None = None
    fmt: str | Callable | None = None
    right: bool = False  # right-aligned in Markdown (numbers)

    def cell(self, value) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return MISSING
        if callable(self.fmt):
            return self.fmt(value)
        return format(value, self.fmt) if self.fmt else str(value)


def rounded(v, digits: int = 4):
    """A table's number: ``v`` rounded to ``digits``, or None where it is missing or NaN."""
    return None if v is None or v != v else round(float(v), digits)


def csv_text(rows: list[dict], columns: list[Column]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(c.key)) for c in columns])
    return buf.getvalue()


def _csv_cell(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def markdown(rows: list[dict], columns: list[Column]) -> str:
    head = [c.header or c.key for c in columns]
    rule = ["---:" if c.right else "---" for c in columns]
    lines = [head, rule, *([c.cell(row.get(c.key)) for c in columns] for row in rows)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines) + "\n"


def write(rows: list[dict], columns: list[Column], csv_path=None, md_path=None,
          md_keys=None, md_intro: str = "") -> None:  # fmt: skip
    """The table as CSV at ``csv_path`` and as Markdown (after ``md_intro``; the columns of
    ``md_keys`` only, where given) at ``md_path``."""
    if csv_path is not None:
        write_text(csv_path, csv_text(rows, columns))
    if md_path is not None:
        shown = [c for c in columns if md_keys is None or c.key in md_keys]
        write_text(md_path, md_intro + markdown(rows, shown))


def read_csv(path: str | Path, columns: list[Column]) -> list[dict]:
    """The rows of a table ``write`` wrote, each cell as its column's type (empty: None)."""
    types = {c.key: c.type for c in columns}
    with open(path, newline="") as f:
        return [{k: _parse(v, types.get(k, str)) for k, v in row.items()} for row in csv.DictReader(f)]


def _parse(text: str, kind: type):
    if text == "":
        return None
    if kind is bool:
        return text == "True"
    return kind(text)
