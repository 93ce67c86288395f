"""A list setting's entries as PostgreSQL splits them (shared_preload_libraries, search_path)."""

from __future__ import annotations

import pytest

from pgdba.server import list_setting_entries, list_setting_items


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        ("pg_stat_statements, hypopg", ("pg_stat_statements", "hypopg")),
        ('pg_stat_statements,"$libdir/hypopg"', ("pg_stat_statements", "$libdir/hypopg")),
        ('"a,b" , c', ("a,b", "c")),
        ('"x""y"', ('x"y',)),
        ('" a "', (" a ",)),  # a quoted name keeps its blanks
        ('  "", , x', ("x",)),
    ],
)
def test_entries_are_split_at_commas_outside_quotes_and_unquoted(
    value: str, entries: tuple[str, ...]
) -> None:
    assert list_setting_entries(value) == entries


def test_items_keep_the_quotes_and_say_which_were_quoted() -> None:
    """A search_path reader folds an unquoted name to lower case, never a quoted one."""
    assert list_setting_items('"$user", Public, "My Schema"') == [
        ('"$user"', True),
        ("Public", False),
        ('"My Schema"', True),
    ]
