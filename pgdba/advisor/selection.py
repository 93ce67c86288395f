"""Workload-level index selection: a lazy greedy over benefit per byte under a storage budget.

Each step either adds a candidate or widens an already chosen index by one column (Extend's move), picking
the option with the largest (cost removed − write cost) per added byte. Benefits are re-evaluated lazily
(an option is re-costed only when it reaches the top of the queue), which is exact when benefits only shrink
as the configuration grows and saves most what-if calls. A final pass removes chosen indexes that later
steps made unnecessary (their removal costs less than the minimum improvement).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pgdba.advisor.candidates import Candidate, CandidateSet
from pgdba.advisor.whatif import CostedPlan, WhatIfSession
from pgdba.advisor.workload import WorkloadQuery

if TYPE_CHECKING:  # sampling reads PREFILTER_BATCH from here
    from pgdba.advisor.sampling import BoundQuery

DEFAULT_MIN_IMPROVEMENT_PCT = 0.5
DEFAULT_WRITE_COST_PER_ROW = 1.0


@dataclass
class SelectionSettings:
    """budget_bytes: None = no limit. min_improvement_pct: the least share of the workload's cost a step
    must remove. write_cost_per_row: planner cost units charged per index entry a write adds."""

    budget_bytes: int | None
    min_improvement_pct: float = DEFAULT_MIN_IMPROVEMENT_PCT
    max_width: int = 3
    write_cost_per_row: float = DEFAULT_WRITE_COST_PER_ROW
    size_exponent: float = 1.0  # score = benefit / added bytes ** size_exponent (1: Extend's ratio)


@dataclass
class Selection:
    chosen: list[Candidate]
    baseline: dict[int, float]
    final: dict[int, float]
    used_bytes: int
    steps: list[str] = field(default_factory=list)

    def total_after(self, coster: WorkloadCoster) -> float:
        return sum(coster.weights[n] * cost for n, cost in self.final.items())


@dataclass
class WorkloadCoster:
    """Weighted workload cost of a configuration, one cached what-if call per (query, relevant indexes)."""

    session: WhatIfSession
    queries: Sequence[WorkloadQuery]
    candidates: CandidateSet
    weights: dict[int, float]
    # queries costed with constants (observed, or sampled from pg_stats): number → the query bound to them
    sampled: dict[int, BoundQuery] = field(default_factory=dict)

    def _costed(self, number: int, config: frozenset[Candidate]) -> CostedPlan:
        relevant = self.relevant(number, config)
        if number in self.sampled:
            bound = self.sampled[number]
            return self.session.cost(number, bound.sql, len(bound.values), relevant, bound.values)
        query = self.queries[number]
        return self.session.cost(number, query.sql, query.param_count, relevant)

    def relevant(self, number: int, config: frozenset[Candidate]) -> frozenset[Candidate]:
        tables = self.candidates.query_tables.get(number, set())
        return frozenset(c for c in config if c.relation in tables)

    def cost(self, number: int, config: frozenset[Candidate]) -> float:
        return self._costed(number, config).cost

    def plan_indexes(self, number: int, config: frozenset[Candidate]) -> frozenset[str]:
        return self._costed(number, config).indexes

    def affected(self, candidate: Candidate) -> list[int]:
        """Queries that read the candidate's table and use its leading column."""
        return [
            number
            for number, tables in self.candidates.query_tables.items()
            if candidate.relation in tables
            and candidate.columns[0] in self.candidates.query_columns[number].get(candidate.relation, set())
        ]


# Greedy by benefit per byte (Extend) can starve large, widely useful indexes; a softer size penalty finds
# those. Both runs share the what-if cache, and the cheaper final configuration wins.
SIZE_EXPONENTS = (1.0, 0.7)


def select_best(
    coster: WorkloadCoster,
    size_of: Callable[[Candidate], int],
    write_rows: Callable[[Candidate], float],
    settings: SelectionSettings,
) -> Selection:
    """The better of the greedy runs with each size exponent (lowest weighted workload cost)."""
    best: Selection | None = None
    for exponent in SIZE_EXPONENTS:
        settings.size_exponent = exponent
        selection = select_indexes(coster, size_of, write_rows, settings)
        if best is None or selection.total_after(coster) < best.total_after(coster) - 1e-9:
            best = selection
    assert best is not None
    return best


PREFILTER_BATCH = 1000


def prefilter(coster: WorkloadCoster) -> set[Candidate]:
    """Candidates some query's plan picks when all of that query's candidates exist at once (and when those
    are gone), with their leading-column prefixes: DB2Advis' trick, two what-if calls per query instead of
    one per candidate and query."""
    names = {c.name(): c for c in coster.candidates.candidates}
    pool: set[Candidate] = set()
    for number, candidates in coster.candidates.by_query.items():
        if not candidates:
            continue
        used: set[str] = set()
        # in batches: HypoPG without real OIDs holds ~2 800 hypothetical indexes at once (a candidate on a
        # partitioned table takes one per partition)
        for batch in _batches(sorted(candidates), coster.session.hypothetical_count):
            first = coster.plan_indexes(number, frozenset(batch))
            used |= first
            # and the runners-up: what the plan picks once the first choices are gone
            rest = frozenset(c for c in batch if c.name() not in first)
            if rest:
                used |= coster.plan_indexes(number, rest)
        for name in used:
            candidate = names.get(name)
            if candidate is None:
                continue
            pool.add(candidate)
            for width in range(1, len(candidate.columns)):
                prefix = candidate.keyed(candidate.columns[:width])
                if prefix in coster.candidates.candidates:
                    pool.add(prefix)
            if candidate.include:
                plain = candidate.keyed(candidate.columns)
                if plain in coster.candidates.candidates:
                    pool.add(plain)
    return pool


def _batches(candidates: list[Candidate], weight: Callable[[Candidate], int]) -> list[list[Candidate]]:
    """Consecutive runs of candidates whose hypothetical indexes add up to at most PREFILTER_BATCH."""
    batches: list[list[Candidate]] = []
    total = 0
    for candidate in candidates:
        size = weight(candidate)
        if not batches or total + size > PREFILTER_BATCH:
            batches.append([])
            total = 0
        batches[-1].append(candidate)
        total += size
    return batches


def select_indexes(
    coster: WorkloadCoster,
    size_of: Callable[[Candidate], int],
    write_rows: Callable[[Candidate], float],
    settings: SelectionSettings,
) -> Selection:
    """Choose indexes for the whole workload within the budget."""
    numbers = list(range(len(coster.queries)))
    baseline = {n: coster.cost(n, frozenset()) for n in numbers}
    total_before = sum(coster.weights[n] * baseline[n] for n in numbers)
    min_gain = total_before * settings.min_improvement_pct / 100.0
    budget = settings.budget_bytes
    chosen: set[Candidate] = set()
    current = dict(baseline)
    used = 0
    steps: list[str] = []
    affected_cache: dict[Candidate, list[int]] = {}

    def affected(candidate: Candidate) -> list[int]:
        if candidate not in affected_cache:
            affected_cache[candidate] = coster.affected(candidate)
        return affected_cache[candidate]

    def gain(option: Candidate, replaces: Candidate | None) -> tuple[float, int]:
        config = frozenset((chosen - {replaces}) | {option}) if replaces else frozenset(chosen | {option})
        queries = set(affected(option)) | (set(affected(replaces)) if replaces else set())
        removed = sum(coster.weights[n] * (current[n] - coster.cost(n, config)) for n in queries)
        write = settings.write_cost_per_row * write_rows(option)
        if replaces is not None:
            write -= settings.write_cost_per_row * write_rows(replaces)
        delta = size_of(option) - (size_of(replaces) if replaces else 0)
        return removed - write, delta

    counter = itertools.count()
    heap: list[tuple[float, int, int, Candidate, Candidate | None]] = []
    version = 0

    def push(option: Candidate, replaces: Candidate | None) -> None:
        benefit, delta = gain(option, replaces)
        if benefit <= 0:
            return
        score = benefit / max(delta, 8192) ** settings.size_exponent
        heapq.heappush(heap, (-score, next(counter), version, option, replaces))

    def extensions(base: Candidate) -> list[Candidate]:
        """Wider variants of a chosen index: one more key column (Extend's move), or any candidate that
        starts with the same keys (adds keys or INCLUDE columns)."""
        if base.is_partial:
            return []
        wider = {
            c
            for c in pool
            if c != base
            and c.relation == base.relation
            and c.keys[: len(base.keys)] == base.keys
            and not c.is_partial
        }
        if len(base.columns) < settings.max_width:
            columns: set[str] = set()
            for number in affected(base):
                columns |= coster.candidates.query_columns[number].get(base.relation, set())
            wider |= {base.extended(c) for c in columns - set(base.columns)}
        return sorted(wider)

    pool = prefilter(coster)
    for candidate in sorted(pool):
        push(candidate, None)

    while heap:
        _, _, evaluated, option, replaces = heapq.heappop(heap)
        if option in chosen or (replaces is not None and replaces not in chosen):
            continue
        if evaluated != version:
            push(option, replaces)  # stale: re-cost against the current configuration
            continue
        benefit, delta = gain(option, replaces)
        # a widening adds no index, only bytes: it must pay the minimum in proportion to the bytes it adds
        needed = (
            min_gain if replaces is None else min_gain * min(1.0, max(delta, 0) / max(size_of(option), 1))
        )
        if benefit < needed or (budget is not None and used + delta > budget):
            continue
        if replaces is not None:
            chosen.discard(replaces)
        chosen.add(option)
        used += delta
        config = frozenset(chosen)
        for number in set(affected(option)) | (set(affected(replaces)) if replaces else set()):
            current[number] = coster.cost(number, config)
        steps.append(f"{'widen ' + replaces.label() + ' to' if replaces else 'add'} {option.label()}")
        version += 1
        for extension in extensions(option):
            push(extension, option)

    chosen_list = _prune(coster, chosen, current, min_gain, settings, write_rows, steps)
    used = sum(size_of(c) for c in chosen_list)
    return Selection(chosen_list, baseline, current, used, steps)


def _prune(
    coster: WorkloadCoster,
    chosen: set[Candidate],
    current: dict[int, float],
    min_gain: float,
    settings: SelectionSettings,
    write_rows: Callable[[Candidate], float],
    steps: list[str],
) -> list[Candidate]:
    """Drop chosen indexes whose removal costs less than the minimum improvement (later steps took over)."""
    for candidate in sorted(chosen, key=lambda c: c.label()):
        without = frozenset(chosen - {candidate})
        queries = coster.affected(candidate)
        loss = sum(coster.weights[n] * (coster.cost(n, without) - current[n]) for n in queries)
        loss -= settings.write_cost_per_row * write_rows(candidate)
        if loss < min_gain:
            chosen.discard(candidate)
            for n in queries:
                current[n] = coster.cost(n, without)
            steps.append(f"remove {candidate.label()} (superseded)")
    return sorted(chosen, key=lambda c: c.label())
