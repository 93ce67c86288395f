"""Index size estimates from pg_class / pg_stats, including btree deduplication.

`hypopg_relation_size` ignores deduplication and over-estimates indexes on repetitive columns about 2×,
so the advisor budgets with this model and reports HypoPG's figure next to it.
"""

from __future__ import annotations

import math

from pgdba.advisor.candidates import BTREE_DEFAULT_FILLFACTOR, Candidate
from pgdba.advisor.catalog import TableInfo

BLOCK_SIZE = 8192
PAGE_OVERHEAD = 24 + 16  # page header + btree special space
INDEX_TUPLE_HEADER = 8  # IndexTupleData: heap TID (6) + info (2)
LINE_POINTER = 4
HEAP_TID = 6  # one more heap TID inside a posting list
MAXALIGN = 8


def _align(size: float) -> float:
    return math.ceil(size / MAXALIGN) * MAXALIGN


def estimated_index_bytes(candidate: Candidate, table: TableInfo) -> int:
    """Bytes the index would take after CREATE INDEX (leaf pages with deduplication, inner pages, meta)."""
    rows = table.rows
    if candidate.where_column is not None:
        column = table.columns.get(candidate.where_column)
        if candidate.where_operator == "IS NULL":
            rows = rows * (column.null_frac if column else 0.5)
        elif candidate.where_operator == "IS NOT NULL":
            rows = rows * (1 - column.null_frac if column else 0.5)
        else:
            rows = rows / max(column.n_distinct if column else 10.0, 1.0)
    columns = [table.columns[c] for c in (*candidate.columns, *candidate.include) if c in table.columns]
    width = sum(c.avg_width for c in columns)
    null_bitmap = 0 if all(c.null_frac == 0 for c in columns) else 8
    entry = _align(INDEX_TUPLE_HEADER + null_bitmap + width) + LINE_POINTER
    plain = rows * entry
    keys = [table.columns[c] for c in candidate.columns if c in table.columns]
    distinct = min(math.prod(c.n_distinct for c in keys) if keys else rows, rows)
    if not candidate.include and keys and all(c.dedup_ok for c in keys) and distinct < rows:
        # one posting tuple per distinct key holding 6 bytes per heap row (posting lists are split at
        # about a sixth of a page, which adds a header per split)
        per_posting = (BLOCK_SIZE / 6) // HEAP_TID
        postings = max(distinct, rows / per_posting)
        deduplicated = postings * (entry + 8) + rows * HEAP_TID
        leaf_bytes = min(plain, deduplicated)
    else:
        leaf_bytes = plain
    leaf_fill = (candidate.fillfactor or BTREE_DEFAULT_FILLFACTOR) / 100  # CREATE INDEX fills leaves so far
    leaf_pages = math.ceil(leaf_bytes / ((BLOCK_SIZE - PAGE_OVERHEAD) * leaf_fill)) or 1
    fanout = max((BLOCK_SIZE - PAGE_OVERHEAD) * 0.7 / entry, 2)
    inner_pages = 0
    level = leaf_pages
    while level > 1:
        level = math.ceil(level / fanout)
        inner_pages += level
    return int((leaf_pages + inner_pages + 1) * BLOCK_SIZE)
