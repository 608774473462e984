"""common/durable_files.py: appended lines and whole rewrites land as written; no lines removes the file."""
from __future__ import annotations

from common.durable_files import append_line, rewrite_lines


def test_lines_are_appended_in_order_into_a_new_folder(tmp_path):
    path = tmp_path / "novo" / "fila.jsonl"
    append_line(path, '{"n": 1}')
    append_line(path, '{"n": 2}')
    assert path.read_text(encoding="utf-8") == '{"n": 1}\n{"n": 2}\n'


def test_a_rewrite_replaces_everything_and_no_lines_removes_the_file(tmp_path):
    path = tmp_path / "fila.jsonl"
    append_line(path, "a")
    rewrite_lines(path, ["b", "c"])
    assert path.read_text(encoding="utf-8") == "b\nc\n" and not path.with_suffix(".tmp").exists()
    rewrite_lines(path, [])
    assert not path.exists()
    rewrite_lines(path, [])  # nothing to remove: no error
