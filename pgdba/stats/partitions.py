"""A partitioned table's leaf partitions, read lock-free: a partitioned table has no storage of its own, so
its rows and sizes are its leaves'."""

from __future__ import annotations


def leaf_partitions(parent: str) -> str:
    """SQL: a subquery of the pg_class rows of the leaf partitions, at every level, of the partitioned table
    whose OID is the SQL expression `parent` (none for another relation). Read through pg_inherits:
    pg_partition_tree() locks every partition, and would wait behind another session's DDL on one."""
    return f"""(WITH RECURSIVE tree(relid) AS (
                SELECT h.inhrelid FROM pg_inherits AS h WHERE h.inhparent = {parent}
                UNION ALL
                SELECT h.inhrelid FROM pg_inherits AS h JOIN tree ON h.inhparent = tree.relid
            )
            SELECT leaf.*
              FROM tree
              JOIN pg_class AS leaf ON leaf.oid = tree.relid
             WHERE leaf.relkind <> 'p')"""
