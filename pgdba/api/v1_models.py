"""Pydantic models of /api/v1 (camelCase like the seed's endpoints; numbers are raw units): the responses,
and the action bodies (only JSON `true` confirms; unknown fields and NaN/Infinity are refused)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from pgdba.render import to_json

# PostgreSQL identifiers cannot hold NUL, and a name with any other control character is no name a
# caller means (it would also reach the action log): such a name is a 422, before any database is asked
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]+$"
ObjectName = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS)]


def as_the_cli_writes(value: Any) -> Any:
    """`value` as `pgdba … -f json` writes it: a datetime in a free-form field as its isoformat()
    (`+00:00`, like every other timestamp of the API) where pydantic would write `Z`, a Decimal as a number."""
    return json.loads(to_json(value))


# a free-form object of library data (a finding's metrics, settings, inputs): values as the CLI writes them
CliJsonObject = Annotated[dict[str, Any], BeforeValidator(as_the_cli_writes)]


class DatabaseEntry(BaseModel):
    name: str
    key: str


class DatabasesResponse(BaseModel):
    schema_version: int
    databases: list[DatabaseEntry]


class QueryHistoryPoint(BaseModel):
    takenAt: str
    calls: int
    totalMs: float
    meanMs: float


class QueryHistoryResponse(BaseModel):
    schema_version: int
    queryid: str
    query: str | None
    points: list[QueryHistoryPoint]


class ActionRequest(BaseModel):
    """The body of a POST action: `confirm: true` and the action's own fields, nothing else."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    confirm: Literal[True] = Field(description="Must be true: the caller confirms the database will change")

    @field_validator("confirm", mode="before")
    @classmethod
    def confirm_is_json_true(cls, value: Any) -> Any:
        # Literal[True] alone lets 1 and 1.0 through (they equal True in Python)
        if value is not True:
            raise PydanticCustomError("literal_error", "Input should be true", {"expected": "true"})
        return value


class ActionResponse(BaseModel):
    schema_version: int
    action: str
    subject: str
    status: str
    sql: list[str]
    detail: str


class FindingModel(BaseModel):
    """pgdba's one finding shape (code, severity, title, object, metrics, recommendation, sql)."""

    code: str
    severity: str
    title: str
    object: str
    metrics: CliJsonObject
    recommendation: str
    sql: str | None


class PoolServerLimits(BaseModel):
    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int
    connections_by_application: dict[str, int]
    application_name: str | None
    mean_call_ms: float | None
    calls: int
    average_calls_per_s: float | None
    statements_note: str
    server_cpus: int | None
    server_cpus_source: str
    reserved_total: int
    app_connections: int
    other_clients: int
    database_connection_limit: int = -1
    other_clients_in_database: int = 0
    hidden_sessions: int = 0
    # client connections to the served database by application (those count against its CONNECTION LIMIT)
    database_connections_by_application: dict[str, int] = Field(default_factory=dict)
    # the login role, its CONNECTION LIMIT (-1: none or a superuser) and its sessions by application
    role_name: str = ""
    role_connection_limit: int = -1
    other_clients_of_role: int = 0
    role_connections_by_application: dict[str, int] = Field(default_factory=dict)


class PoolAdviceStep(BaseModel):
    rule: str
    formula: str
    value: float | None


class PoolAdviceResponse(BaseModel):
    schema_version: int
    server: PoolServerLimits
    inputs: CliJsonObject
    per_instance: int
    total: int
    instances: int
    available_connections: int
    server_cap_per_instance: int
    demand_per_instance: int
    demand_source: str
    pooler_needed: bool
    # where available_connections comes from: "server", "database" or "role" (CONNECTION LIMIT)
    binding_limit: Literal["server", "database", "role"] = "server"
    steps: list[PoolAdviceStep]
    notes: list[str]
    findings: list[FindingModel]


class PoolBenchResult(BaseModel):
    pool_size: int
    mode: str
    requests: int
    ok: int
    errors: int
    timeouts: int
    overloaded: int
    connection_errors: int
    not_run: int
    failed: int
    duration_s: float
    throughput_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    wait_p99_ms: float | None
    peak_server_connections: int
    peak_active_connections: int
    pool_connection_errors: int = 0  # absent from bench files written before pgdba recorded it
    # of the errors, writes the server refused in a READ ONLY run (absent from older bench files)
    read_only_refusals: int = 0
    # the peak of server connections reached the pool size (None: direct connections, or a bench file
    # written before pgdba pre-opened its pools and recorded it)
    size_reached: bool | None = None


class PoolBenchResponse(BaseModel):
    schema_version: int
    started_at: str
    workload: str
    config: CliJsonObject
    results: list[PoolBenchResult]
    recommended_pool_size: int | None
    recommendation: str


class SkippedCheckModel(BaseModel):
    check: str
    reason: str


class DeductionModel(BaseModel):
    check: str
    weight: float
    severity: str
    findings: int
    points: float


class HealthResponse(BaseModel):
    schema_version: int
    score: float
    uncapped_score: float
    cap: float | None
    checks_run: int
    coverage: float
    deductions: list[DeductionModel]
    skipped: list[SkippedCheckModel]


class CheckupResponse(BaseModel):
    schema_version: int
    generated_at: str
    score: HealthResponse
    findings: list[FindingModel]
    skipped: list[SkippedCheckModel]
    notes: list[str]


class MaintenanceTable(BaseModel):
    table: str
    reasons: list[str]
    sql: str
    status: str
    seconds: float | None
    error: str | None


class MaintenanceResponse(BaseModel):
    schema_version: int
    applied: bool
    notPlanned: str | None = Field(
        None, description="Why nothing was planned without looking at the tables (a replica), or null"
    )
    tables: list[MaintenanceTable]


class VacuumAnalyzeRequest(ActionRequest):
    confirm: Literal[True] = Field(
        description="Must be true: VACUUM (ANALYZE) runs on the planned (or listed) tables"
    )
    tables: list[ObjectName] | None = Field(
        None,
        max_length=500,
        description="Only these tables (schema.table), planned or not; an unknown one is 422. Default: the plan",
    )


class ForecastTable(BaseModel):
    table: str
    totalBytes: int
    bytesPerDay: int | None
    forecastBytes: int | None


class ForecastResponse(BaseModel):
    schema_version: int
    forecastDays: int
    historySince: str | None
    tables: list[ForecastTable]
    notes: list[str] = []  # why growth and forecast are empty (no snapshot old enough)


class SizePoint(BaseModel):
    takenAt: str
    bytes: int


class SizeHistoryResponse(BaseModel):
    schema_version: int
    object: str
    points: list[SizePoint]


class FindingChangeModel(BaseModel):
    code: str
    object: str
    severity: str
    title: str
    previous_severity: str | None


class ReportDiffModel(BaseModel):
    previous_at: str | None
    previous_score: float | None
    new: list[FindingChangeModel]
    fixed: list[FindingChangeModel]
    worse: list[FindingChangeModel]


class ReportQuery(BaseModel):
    queryid: str
    query: str
    calls: int
    total_ms: float
    mean_ms: float


class GrowthModel(BaseModel):
    object: str
    bytes_now: int
    bytes_then: int
    window_seconds: int
    bytes_per_day: int


class ReportResponse(BaseModel):
    schema_version: int
    target: str
    generated_at: str
    score: HealthResponse
    top_findings: list[FindingModel]
    findings: list[FindingModel]
    skipped: list[SkippedCheckModel]
    notes: list[str]
    queries_window: str
    top_queries: list[ReportQuery]
    growth: list[GrowthModel]
    growth_notes: list[str] = []  # why growth is empty (no snapshot old enough)
    diff: ReportDiffModel


class SessionModel(BaseModel):
    pid: int
    database: str | None
    user: str | None
    application: str
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    xact_seconds: float | None
    query_seconds: float | None
    state_seconds: float | None
    blocked_by: list[int]
    query: str


class ActivityResponse(BaseModel):
    schema_version: int
    connections: int
    maxConnections: int
    reserved: int
    sessions: list[SessionModel]
    blockedChains: list[FindingModel]


class FindingsResponse(BaseModel):
    schema_version: int
    generated_at: str
    findings: list[FindingModel]
    skipped: list[SkippedCheckModel]
    notes: list[str]


class SchemaSourceModel(BaseModel):
    source: str
    kind: str
    label: str
    tables: int
    enums: int
    notes: list[str]


class SchemaPairModel(BaseModel):
    left: str
    right: str
    consistent: bool
    compared: dict[str, int]
    findings: list[FindingModel]


class SchemaCheckResponse(BaseModel):
    schema_version: int
    consistent: bool
    config: str | None
    sources: list[SchemaSourceModel]
    pairs: list[SchemaPairModel]
    ignored: int


class TopStatement(BaseModel):
    queryid: str
    query: str
    calls: int
    totalMs: float
    meanMs: float
    rowsPerCall: float
    cacheHitRatio: float | None


class TopStatementsResponse(BaseModel):
    schema_version: int
    order: str
    statements: list[TopStatement]
    # e.g. other roles' statements this role may not read (no pg_read_all_stats): not listed
    notes: list[str] = []


class AlertRuleModel(BaseModel):
    name: str
    metric: str
    scope: str
    op: str
    warn: float | None
    crit: float | None
    for_: str = Field(alias="for")
    hysteresis: float
    unit: str
    summary: str
    enabled: bool
    params: CliJsonObject
    tables: dict[str, dict[str, Any]]
    source: str


class AlertRulesResponse(BaseModel):
    schema_version: int
    sources: list[str]
    rules: list[AlertRuleModel]


class AlertStateModel(BaseModel):
    rule: str
    object: str
    level: str
    since: str | None
    pending: str | None
    pending_since: str | None
    value: float | None
    unknown: str | None = None  # why the last check could not measure it (the level is the one kept)
    # since when each level's condition has held (None while it does not; absent from earlier pgdba's states)
    warning_since: str | None = None
    critical_since: str | None = None


class AlertEventModel(BaseModel):
    recordedAt: str
    rule: str
    object: str
    event: str | None
    status: str
    level: str
    value: float | None
    unit: str
    summary: str
    detail: CliJsonObject


class AlertStateResponse(BaseModel):
    schema_version: int
    checkedAt: str | None
    states: list[AlertStateModel]
    events: list[AlertEventModel]


class AdvisedQuery(BaseModel):
    query: str
    calls: int
    cost_before: float
    cost_after: float
    costing: str
    queryid: str | None = None  # pg_stat_statements' queryid (as text: it is a 64-bit integer)


class AdvisedIndex(BaseModel):
    schema_: str = Field(alias="schema")
    table: str
    columns: list[str]
    include: list[str]
    where: str | None
    fillfactor: int = Field(description="btree fillfactor: 100 on tables nothing writes, else the default 90")
    name: str
    sql: str
    size_bytes: int
    hypopg_size_bytes: int | None
    benefit: float
    share_pct: float
    status: str
    costed: bool = Field(True, description="false: rule-based (no HypoPG), no cost or share was estimated")
    measured: str | None = None  # the --verify verdict of its queries (faster, slower, too fast to measure…)
    table_bytes: int
    # key column → its pattern operator class (text_pattern_ops …) / the function of an expression key (lower)
    opclasses: dict[str, str] = Field(default_factory=dict)
    functions: dict[str, str] = Field(default_factory=dict)
    # unindexed foreign keys whose columns the index leads with: the missing-FK index is then not needed
    serves_foreign_keys: list[str] = Field(default_factory=list)
    build_steps: list[str] = Field(
        default_factory=list,
        description="on a partitioned table: the statements that build it without blocking writes (`sql` "
        "blocks them): CREATE INDEX ON ONLY the table, CONCURRENTLY on each partition, ATTACH PARTITION",
    )
    queries: list[AdvisedQuery]


class TrigramExtensionState(BaseModel):
    name: str
    installed: bool
    available: bool = Field(description="the server has pg_trgm to install (its contrib package)")
    schema_: str | None = Field(alias="schema")


class SearchIndexQuery(BaseModel):
    query: str
    calls: int
    operator: str = Field(description="ILIKE, LIKE, ~ or ~*")
    ambiguous: bool = Field(description="`LIKE $n`: a search only when the application sends `%…` patterns")
    queryid: str | None


class SearchIndexAdvice(BaseModel):
    """A trigram (pg_trgm GIN) index for searches no btree serves; HypoPG cannot cost it."""

    schema_: str = Field(alias="schema")
    table: str
    column: str
    function: str | None = Field(
        None,
        description="lower / upper: the index keys that function of the column, as the queries search it",
    )
    name: str
    method: str
    opclass: str
    sql: str | None = Field(description="null when the server has no pg_trgm")
    statements: list[str] = Field(
        description="CREATE EXTENSION pg_trgm first when it is not installed, then build_steps or else sql"
    )
    extension: TrigramExtensionState
    status: str
    reason: str
    measured: str | None
    ambiguous: bool
    table_bytes: int
    estimated_bytes: int = Field(0, description="rough size (about one trigram a character, 2.5 bytes each)")
    writes: float | None = Field(
        None, description="index entries written to the table in the workload's window"
    )
    notes: list[str]
    queries: list[SearchIndexQuery]
    build_steps: list[str] = Field(
        default_factory=list,
        description="on a partitioned table: the statements that build it without blocking writes (`sql` "
        "blocks them): CREATE INDEX ON ONLY the table, CONCURRENTLY on each partition, ATTACH PARTITION",
    )


class DropIndexAdvice(BaseModel):
    index: str
    table: str
    reason: str
    detail: str
    size_bytes: int
    scans: int
    writes_saved: int
    sql: str


class AdvisorWorkload(BaseModel):
    queries: int
    cost_before: float
    cost_after: float
    relative_cost: float
    skipped: list[dict[str, str]]
    search_path: str | None = None  # the application role's, where the workload was planned with it


class ProofQuery(BaseModel):
    query: str
    before_ms: float
    after_ms: float
    verdict: str | None = None  # faster, slower, no measurable change, too fast to measure


class AdvisorProof(BaseModel):
    where: str
    before_ms: float | None = None
    after_ms: float | None = None
    build_s: float | None = None
    created: list[CliJsonObject] = []
    failed: list[str] = []
    queries: list[ProofQuery] = []
    notes: list[str] = []


class OrmPatchModel(BaseModel):
    kind: str
    path: str
    diff: str
    unmapped: list[str]
    # what to do besides applying the patch (pg_trgm for a search index; a large table's index built with the
    # SQL first, as the ORM's migration would block writes)
    notes: list[str] = Field(default_factory=list)
    error: str | None


class AdvisorFixes(BaseModel):
    sql: list[str]
    patches: list[OrmPatchModel]


class AdviceResponse(BaseModel):
    schema_version: int
    hypopg: bool
    settings: CliJsonObject
    workload: AdvisorWorkload
    indexes: list[AdvisedIndex]
    # trigram indexes for pattern searches (not costed, not in the budget)
    search_indexes: list[SearchIndexAdvice] = []
    drop: list[DropIndexAdvice]
    drop_not_judged: list[str] = []  # unscanned indexes created after the store's week-old index snapshot
    used_bytes: int
    hypopg_used_bytes: int | None
    candidates: int
    whatif_calls: int
    cache_hits: int
    runtime_s: float
    steps: list[str]
    notes: list[str]
    verification: AdvisorProof | None
    findings: list[FindingModel]
    fixes: AdvisorFixes


class AdvisorActionRequest(ActionRequest):
    confirm: Literal[True] = Field(description="Must be true: the caller confirms what this action does")
    budgetMb: float = Field(1024.0, gt=0, le=10_000_000, allow_inf_nan=False)
    minImprovement: float = Field(0.5, ge=0, lt=100, allow_inf_nan=False)
    maxWidth: int = Field(3, ge=1, le=8)
    staticFillfactor: int = Field(100, ge=10, le=100, description="btree fillfactor on tables nothing writes")
    maxPartitions: int = Field(
        100, ge=1, le=1000, description="cost partitioned tables of up to this many leaf partitions"
    )
    indexes: list[ObjectName] | None = Field(
        None, max_length=100, description="apply: only these advised indexes"
    )
    largeTables: bool = Field(
        False, strict=True, description="apply: allow building on tables over 100 MB (JSON true or false)"
    )


class RestoreCheckModel(BaseModel):
    name: str
    status: str
    detail: str


class RestoreTableModel(BaseModel):
    table: str
    expected_rows: int | None
    restored_rows: int | None
    expected_is_exact: bool
    checksum_match: bool | None


class RestoreTestResponse(BaseModel):
    schema_version: int
    database: str
    backup_id: str
    target: str
    system_identifier: str | None = None  # the backed-up server's (pg_control_system()); None: not recorded
    passed: bool
    started_at: str
    duration_s: float
    scratch_database: str
    scratch_dropped: bool
    checks: list[RestoreCheckModel]
    tables: list[RestoreTableModel]
    # the large objects compared by content (counts, what was not covered and why); None: the backup's
    # manifest has no digests (an earlier pgdba's)
    large_object_content: CliJsonObject | None = None
    # the free-space check before the scratch database (needed and available bytes, why not measured);
    # None: recorded by an earlier pgdba
    scratch_space: CliJsonObject | None = None


class BackupModel(BaseModel):
    database: str
    backup_id: str
    status: str
    taken_at: str
    size: int | None
    format: str | None
    sha256: str | None
    server_version: str | None
    system_identifier: str | None = None  # the server the backup was taken on; None: an earlier pgdba's
    exact: bool | None
    duration_s: float | None
    restore_test: CliJsonObject | None
    problem: str | None


class OtherServerBackupsModel(BaseModel):
    """Backups under the served database's name taken on another server: counted, not listed."""

    database: str
    system_identifier: str
    backups: int


class BackupListResponse(BaseModel):
    schema_version: int
    storage: str
    system_identifier: str | None = None  # the served server's; None: not readable (every backup listed)
    other_servers: list[OtherServerBackupsModel] = Field(default_factory=list)
    backups: list[BackupModel]
    restoreTests: list[RestoreTestResponse]
    lastRestoreTest: RestoreTestResponse | None


class BackupRunResponse(BaseModel):
    schema_version: int
    storage: str
    backup_id: str
    database: str
    started_at: str
    finished_at: str
    dump_key: str
    dump_size: int
    dump_sha256: str
    dump_format: str
    server_version: str
    system_identifier: str | None = None
    exact: bool
    database_size: int


class RestoreTestRequest(ActionRequest):
    confirm: Literal[True] = Field(
        description="Must be true: a scratch database is created, restored, dropped"
    )
    backupId: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:/-]+$",
        description="default: the newest complete backup",
    )
    skipSpaceCheck: bool = Field(
        False,
        strict=True,
        description="run even when the server's free space looks too small for the restore (as "
        "`restore-test --skip-space-check`; JSON true or false)",
    )
