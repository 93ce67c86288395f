"""A table whose name holds a dot (`public."user.events"`, a name imported from elsewhere): the queries name it
`public.user.events` once parsed, which reads as schema `public.user`. The advisor finds the table either
way, qualified or not, and its SQL quotes the name whole."""

from __future__ import annotations

import pytest

from tests.advisor.helpers import advise
from tests.conftest import TestDatabase


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_table_whose_name_holds_a_dot_is_advised_qualified_or_not(db: TestDatabase) -> None:
    db.execute(
        'CREATE TABLE public."user.events" (id serial PRIMARY KEY, "Kind" text, payload text);'
        "INSERT INTO public.\"user.events\" (\"Kind\", payload) SELECT 'k' || g % 400, 'p' "
        "FROM generate_series(1, 40000) g;"
        'ANALYZE public."user.events"'
    )
    for query in (
        'SELECT id FROM public."user.events" WHERE "Kind" = $1',
        'SELECT id FROM "user.events" WHERE "Kind" = $1',
    ):
        advice = advise(db, [query])

        assert advice.skipped == []
        [chosen] = advice.recommendations
        assert (chosen.candidate.schema, chosen.candidate.table, chosen.candidate.columns) == (
            "public",
            "user.events",
            ("Kind",),
        )
        assert 'ON "public"."user.events"' in chosen.sql
