"""Advised indexes that also index an unindexed foreign key.

The check-up's `index.missing_fk` proposes an index on a foreign key's columns; an advised index whose
leading keys are those columns (in any order, plain columns, not partial, as PostgreSQL needs to use it for
the key's lookups) serves the foreign key as well. Saying so keeps a user from creating both: the pair
would be one redundant index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pgdba.advisor.candidates import Candidate
from pgdba.stats.foreign_keys import ForeignKey


def foreign_keys_served(candidate: Candidate, foreign_keys: Iterable[ForeignKey]) -> list[str]:
    """The unindexed foreign keys (constraint names) of the candidate's table it would index."""
    if candidate.is_partial:
        return []
    served = []
    for fk in foreign_keys:
        if fk.has_index or (fk.schema, fk.table) != (candidate.schema, candidate.table):
            continue
        leading = candidate.keys[: len(fk.columns)]
        plain = all(not function and not opclass for _, opclass, function in leading)
        if plain and sorted(column for column, _, _ in leading) == sorted(fk.columns):
            served.append(fk.constraint)
    return served


def foreign_key_note(constraints: Sequence[str]) -> str:
    """The words the advice adds for an index that also indexes foreign keys."""
    names = ", ".join(constraints)
    return (
        f"it also indexes foreign key {names}: the check-up's index.missing_fk index is then not needed "
        "(both would be redundant)"
    )
