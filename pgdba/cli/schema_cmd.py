"""`pgdba schema check SOURCE SOURCE [...]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, FormatOption, check_format
from pgdba.findings import Severity
from pgdba.render import print_json
from pgdba.schema import check_schemas, load_config
from pgdba.schema.config import parse_rule
from pgdba.schema.report import markdown_report, text_report

app = typer.Typer(
    help="Schema consistency: Prisma ↔ Drizzle ↔ SQLAlchemy ↔ live database.", no_args_is_help=True
)


@app.command()
def check(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="two or more of prisma:PATH, drizzle:PATH, sqlalchemy:MODULE:ATTR, live[:DSN]",
            show_default=False,
        ),
    ],
    dsn: DsnOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            # Rich reads help as markup: a backslash keeps the TOML table name in brackets.
            help="config file (default: pgdba-schema.toml, or \\[tool.pgdba.schema] in pyproject.toml)",
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            help="an ignore rule (repeatable), added to the config file's, e.g. column:User.legacyId",
        ),
    ] = None,
    fmt: FormatOption = "table",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list informational notes too")] = False,
) -> None:
    """Compare schema descriptions pairwise. Exit 0 consistent, 1 drift, 2 parse or connection error."""
    fmt = check_format(fmt)
    settings = load_config(config)
    settings.ignore.extend(parse_rule(rule) for rule in ignore or ())
    result = check_schemas(list(sources), dsn=dsn, config=settings)
    if fmt == "json":
        print_json(result.to_dict())
    elif fmt == "markdown":
        print(markdown_report(result, verbose=verbose))
    else:
        print(text_report(result, verbose=verbose))
    worst = result.worst()
    if worst is not None and worst.rank >= Severity.WARNING.rank:
        raise typer.Exit(1)
