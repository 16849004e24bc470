"""pixelforest.io.tables: CSV tables written atomically."""

from __future__ import annotations

import csv

import pytest

from pixelforest.io.tables import write_csv


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_rows_written_with_the_first_rows_columns(tmp_path):
    rows = [{"label": 1, "area": 2.5, "name": "a, b"}, {"label": 2, "area": 10, "name": "é"}]
    path = write_csv(rows, tmp_path / "sub" / "objects.csv")
    assert path == tmp_path / "sub" / "objects.csv"
    assert _read(path) == [["label", "area", "name"], ["1", "2.5", "a, b"], ["2", "10", "é"]]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["objects.csv"]


def test_no_rows_is_a_header_only_table(tmp_path):
    assert _read(write_csv([], tmp_path / "none.csv")) == [["label"]]


def test_a_table_that_cannot_be_written_leaves_the_old_one(tmp_path):
    path = write_csv([{"label": 1}], tmp_path / "t.csv")
    with pytest.raises(ValueError, match="fields not in fieldnames"):
        write_csv([{"label": 1}, {"label": 2, "extra": 3}], path)
    assert _read(path) == [["label"], ["1"]] and [p.name for p in tmp_path.iterdir()] == ["t.csv"]
    (tmp_path / "blocked").write_text("a file where the folder should be")
    with pytest.raises(OSError):
        write_csv([{"label": 1}], tmp_path / "blocked" / "t.csv")
