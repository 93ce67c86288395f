"""The demo application's traffic as a load-test workload (`pgdba pool bench --workload demo`).

Requests follow the demo's own traffic plan: each round's mix of scenario calls, then the class-start surge
of that round (every enrolled student of one course opening the lesson the teacher just started).
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from pgdba.demo.app_catalog import load_catalog
from pgdba.demo.scenarios import SCENARIO_FUNCTIONS
from pgdba.demo.traffic_plan import DEFAULT_SEED, DEFAULT_SURGE_SIZE, SURGE_SCENARIO, Task, plan_rounds
from pgdba.pool.workload import CallableWorkload
from pgdba.target import Target


def demo_tasks(
    target: Target, *, rounds: int = 3, seed: int = DEFAULT_SEED, surge_size: int = DEFAULT_SURGE_SIZE
) -> list[Task]:
    """The scenario calls of the first `rounds` rounds of the demo's plan, each round ending in its surge."""
    catalog = load_catalog(target)
    tasks: list[Task] = []
    for index, planned in enumerate(
        plan_rounds(catalog, rounds, seed=seed, surge_size=surge_size, surge_every=1)
    ):
        tasks.extend(planned.tasks)
        if planned.surge is None:
            continue
        surge = planned.surge
        students = [s.id for s in catalog.students if surge.course in s.courses][: surge.size]
        tasks.extend(
            Task(SURGE_SCENARIO, (student, surge.course, surge.lesson, _session(seed, index, student)))
            for student in students
        )
    return tasks


def demo_workload(
    target: Target, *, rounds: int = 3, seed: int = DEFAULT_SEED, surge_size: int = DEFAULT_SURGE_SIZE
) -> CallableWorkload:
    """Request i runs task i mod n of demo_tasks: the demo's scenarios, on the connection the pool lends."""
    tasks = demo_tasks(target, rounds=rounds, seed=seed, surge_size=surge_size)

    def request(conn: psycopg.Connection[Any], index: int) -> object:
        task = tasks[index % len(tasks)]
        return SCENARIO_FUNCTIONS[task.scenario](conn, *task.args)

    return CallableWorkload(request, name=f"demo ({len(tasks)} scenario calls, class-start surge)")


def _session(seed: int, index: int, student: object) -> str:
    return hashlib.md5(f"{seed}:{index}:{student}".encode(), usedforsecurity=False).hexdigest()[:16]
