"""The second reading of the large objects' digests (after pg_dump) keeps to the same byte budget as the
first: objects that grew during the dump share what the first reading left, and one that grew past it is
recorded as "not read: too large" instead of being read whatever its size."""

from __future__ import annotations

from pgdba.backup.catalog import count_large_objects, large_object_digests, note_dump_end_digests
from tests.conftest import TestDatabase

KB = 1024
GROW_SQL = "SELECT lo_put(%s, 0, decode(repeat('cd', 60 * 1024), 'hex'))"  # 60 kB


def test_objects_that_grew_during_the_dump_are_read_within_the_budget(db: TestDatabase) -> None:
    with db.connect() as conn:
        oids = [
            int(conn.execute("SELECT lo_from_bytea(0, decode(repeat('ab', 1024), 'hex'))").fetchone()[0])  # type: ignore[index]
            for _ in range(4)
        ]
        unchanged = int(conn.execute("SELECT lo_from_bytea(0, 'same')").fetchone()[0])  # type: ignore[index]
        digests = large_object_digests(conn, count_large_objects(conn), 1000, 64 * KB)
        assert sorted(d.oid for d in digests.objects) == sorted([*oids, unchanged])
        for oid in oids:  # "during the dump": each grows to 60 kB, under the budget alone, not together
            conn.execute(GROW_SQL, (oid,))
        note_dump_end_digests(conn, digests)
    grown = [d for d in digests.objects if d.oid in oids]
    assert all(d.dump_end_size == 60 * KB for d in grown)
    read = [d for d in grown if d.dump_end_md5 != "not read: too large"]
    assert len(read) == 1  # 4 kB recorded: the 59 kB one grew by fits once in what is left of 64 kB
    assert sum(d.dump_end_size or 0 for d in read) + 4 + 3 * KB <= 64 * KB
    [same] = [d for d in digests.objects if d.oid == unchanged]
    assert same.dump_end_size is None and same.dump_end_md5 is None and digests.read_at_dump_end
