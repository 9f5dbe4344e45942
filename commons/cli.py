"""The ``commons`` command: build snapshots, query them, list sources."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from commons.evaluate import evaluate
from pipelines.settings import DataRoot


def _root(home: str | None) -> DataRoot:
    return DataRoot(Path(home).resolve()) if home else DataRoot.from_env()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Research Commons: build, query and inspect the dataset."""


@main.command()
@click.option(
    "--from",
    "from_",
    multiple=True,
    metavar="[SOURCE:]PATH",
    help="Local input: a file or folder; the source is detected from content, SOURCE: forces it. Repeatable.",
)
@click.option(
    "--license",
    "input_license",
    default="",
    metavar="SPDX",
    help="With --from: the license of local files that do not state their own (e.g. eval logs under MIT); "
    "recorded on their rows, and it decides whether their text is published.",
)
@click.option("--live", is_flag=True, help="Harvest live sources (network).")
@click.option(
    "--source", "live_sources", multiple=True, help="With --live: which sources (default: all live ones)."
)
@click.option(
    "--set", "set_spec", default="", help="With --live, arXiv: OAI-PMH set, e.g. cs or physics:hep-ex."
)
@click.option(
    "--since",
    default="",
    metavar="YYYY-MM-DD",
    help="With --live: from date (default: the stored watermark).",
)
@click.option("--until", default="", metavar="YYYY-MM-DD", help="With --live: until date (default: today).")
@click.option(
    "--ids",
    default="",
    metavar="ID[,ID...]",
    help="With --live, arXiv: fetch these records by id (OAI-PMH GetRecord) instead of a date range.",
)
@click.option(
    "--metadata-prefix",
    default="arXiv",
    show_default=True,
    help="With --live, arXiv: arXiv, arXivRaw or oai_dc.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Snapshots root (default: snapshots/ under the data root).",
)
@click.option("--version", "version", default="", help="Snapshot version (default: vYYYY.MM.DD[.N]).")
@click.option(
    "--override-gate",
    "override_gates",
    multiple=True,
    metavar="GATE=REASON",
    help="Release despite a failing gate (row_counts, sources, schema); the reason is recorded in the manifest.",
)
@click.option(
    "--max-shrink",
    type=float,
    default=0.05,
    show_default=True,
    help="Release gate: largest fraction of rows a table may lose since the previous snapshot.",
)
@click.option("--home", default=None, help="Data root (default: $COMMONS_HOME, else data/ in the project).")
@click.option("-v", "--verbose", is_flag=True, help="Show Dagster's log.")
def build(
    from_: tuple[str, ...],
    input_license: str,
    live: bool,
    live_sources: tuple[str, ...],
    set_spec: str,
    since: str,
    until: str,
    ids: str,
    metadata_prefix: str,
    out: Path | None,
    version: str,
    override_gates: tuple[str, ...],
    max_shrink: float,
    home: str | None,
    verbose: bool,
) -> None:
    """Harvest the given inputs through the Dagster asset graph and write a snapshot. Prints its path last."""
    from commons.build import BuildError, live_batches, local_batches, run_build
    from commons.instance import use_data_root

    progress = logging.getLogger("commons.progress")
    if not progress.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)
        progress.propagate = False
    root = _root(home)
    instance = use_data_root(root)
    warnings: list[str] = []
    try:
        batches = local_batches(from_, warnings, input_license)
        if live:
            options = {
                "set": set_spec,
                "from": since,
                "until": until,
                "metadata_prefix": metadata_prefix,
                "ids": ids,
            }
            batches += live_batches(root, live_sources, options)
        elif live_sources or set_spec or since or until or ids:
            raise BuildError("--source/--set/--since/--until/--ids need --live")
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        overrides = {}
        for item in override_gates:
            gate, sep, reason = item.partition("=")
            if not sep or not reason.strip():
                raise BuildError(f"--override-gate {item!r}: write GATE=REASON, the reason is recorded")
            overrides[gate.strip()] = reason.strip()
        gate_config = {"max_shrink": max_shrink, "override_gates": overrides}
        report = run_build(instance, root, batches, out, version or None, verbose, gate_config)
    except (BuildError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    if report.failed_checks:
        for failure in report.failed_checks:
            click.echo(f"check failed: {failure}", err=True)
        raise click.ClickException("blocking checks failed; no snapshot was written")
    if report.failed_partitions:
        click.echo(
            f"warning: {len(report.failed_partitions)} partitions failed: {', '.join(report.failed_partitions)}",
            err=True,
        )
    assert report.snapshot is not None
    click.echo(str(report.snapshot))
    if report.failed_partitions:
        sys.exit(1)


@main.command()
@click.argument("sql")
@click.option(
    "--snapshot",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Snapshot folder (default: the latest under the data root's snapshots/).",
)
@click.option(
    "--remote",
    default=None,
    metavar="ORG/NAME@VERSION",
    help="Query a published snapshot on the Hub through DuckDB's hf:// paths (needs the httpfs extension: network).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option("--home", default=None, help="Data root (default: $COMMONS_HOME, else data/ in the project).")
def query(sql: str, snapshot: Path | None, remote: str | None, fmt: str, home: str | None) -> None:
    """Run SQL over a snapshot; its tables are views by name (papers, fetches, ...)."""
    import duckdb

    from commons.query import find_snapshot, format_result, run_query

    try:
        path = None if remote else find_snapshot(snapshot, _root(home).snapshots)
        columns, rows = run_query(path, sql, remote)
    except (FileNotFoundError, ValueError, duckdb.Error) as exc:
        hint = (
            " (querying the Hub needs DuckDB's httpfs extension, installed over the network)"
            if remote
            else ""
        )
        raise click.ClickException(f"{exc}{hint}") from exc
    click.echo(format_result(columns, rows, fmt))


@main.command("export")
@click.argument("fmt", type=click.Choice(["every-eval-ever"]))
@click.option(
    "--snapshot",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Snapshot folder (default: the latest under the data root's snapshots/).",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write."
)
@click.option("--home", default=None, help="Data root (default: $COMMONS_HOME, else data/ in the project).")
def export(fmt: str, snapshot: Path | None, out: Path, home: str | None) -> None:
    """Write a snapshot's results in another project's format: `every-eval-ever` (schema 0.3.0), one JSON
    document per run and model. Prints the counts, the output folder last."""
    from commons.query import find_snapshot
    from pipelines.export.every_eval_ever import export_every_eval_ever

    try:
        path = find_snapshot(snapshot, _root(home).snapshots)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    files = sorted((path / "data" / "results").glob("*.parquet"))
    if not files:
        raise click.ClickException(f"{path} has no results table")
    summary = export_every_eval_ever(files, out)
    click.echo(
        f"{summary.documents} documents, {summary.results} results; "
        f"{summary.skipped_without_value} results without a value left out",
        err=True,
    )
    click.echo(str(out))


@main.command()
def sources() -> None:
    """List registered sources: what they read, the tables they feed, their license."""
    from pipelines.sources.registry import all_sources

    for source in all_sources().values():
        click.echo(f"{source.name}: {source.description}")
        click.echo(f"  tables:   {', '.join(source.tables)}")
        click.echo(f"  local:    {source.local_inputs}")
        if source.live:
            auth = f"; token from ${source.live.auth_env}" if source.live.auth_env else ""
            click.echo(
                f"  live:     {source.live.description} (hosts {', '.join(source.live.hosts)}; "
                f"at most 1 request per {source.live.min_interval_s:g} s per host{auth})"
            )
        else:
            click.echo("  live:     none")
        click.echo(
            f"  license:  metadata {source.license.metadata_spdx}; full text {source.license.text_redistribution}"
        )
        click.echo(f"  terms:    {source.license.terms_url}")
        click.echo(f"  parser:   {source.parser_name} {source.parser_version}")


@main.command()
@click.option("--check", is_flag=True, help="Exit 1 if DATACARD.md's column docs differ from schemas/.")
def card(check: bool) -> None:
    """Regenerate DATACARD.md's column tables from schemas/."""
    from pipelines.atomic import atomic_write_text
    from pipelines.settings import PROJECT_ROOT
    from pipelines.snapshot.card import with_generated_columns

    path = PROJECT_ROOT / "DATACARD.md"
    current = path.read_text(encoding="utf-8")
    wanted = with_generated_columns(current)
    if check:
        if wanted != current:
            raise click.ClickException("DATACARD.md's column docs are out of date: run `make card`")
        click.echo("DATACARD.md matches schemas/")
        return
    if wanted != current:
        atomic_write_text(path, wanted)
    click.echo(str(path))


@main.command("new-source")
@click.argument("name")
def new_source(name: str) -> None:
    """Scaffold a source: pipelines/sources/NAME.py, tests/test_source_NAME.py, tests/fixtures/NAME/README.md."""
    from pipelines.sources.scaffold import scaffold_source

    try:
        written = scaffold_source(name)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        "next: record real input into the fixtures folder, fill the TODOs, then `make test` "
        "(the source contract tests run for it automatically); see CONTRIBUTING.md"
    )


@main.command("schema-lock")
def schema_lock() -> None:
    """Record the current schemas as published (after bumping SCHEMA_VERSION as the change requires)."""
    from schemas.compat import LOCK_PATH, compatibility_problems, current_contract, load_lock, write_lock

    problems = compatibility_problems(load_lock(), current_contract()) if LOCK_PATH.exists() else []
    if problems:
        raise click.ClickException("; ".join(problems))
    write_lock()
    click.echo(str(LOCK_PATH))


@main.command()
@click.option("--repo", required=True, metavar="ORG/NAME", help="Hugging Face dataset repo.")
@click.option(
    "--snapshot",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Snapshot folder (default: the latest under the data root's snapshots/).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (files added, changed, deleted, bytes); send nothing."
)
@click.option(
    "--endpoint", default=None, help="Hub URL (default: $HF_ENDPOINT, else https://huggingface.co)."
)
@click.option("--home", default=None, help="Data root (default: $COMMONS_HOME, else data/ in the project).")
def publish(repo: str, snapshot: Path | None, dry_run: bool, endpoint: str | None, home: str | None) -> None:
    """Publish a snapshot to the Hub: one commit (unchanged files skipped), tagged with its version.

    The token comes from $HF_TOKEN (or the client's stored login); it is never printed.
    """
    from pipelines.snapshot.publish import PublishError, publish_snapshot
    from pipelines.snapshot.writer import latest_snapshot

    if snapshot is None:
        snapshots = _root(home).snapshots
        snapshot = latest_snapshot(snapshots)
        if snapshot is None:
            raise click.ClickException(f"no snapshot under {snapshots}: run `commons build` first")
    try:
        result = publish_snapshot(snapshot, repo, endpoint=endpoint, dry_run=dry_run)
    except PublishError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.plan.render())
    if result.dry_run:
        click.echo("dry run: nothing was created, uploaded or changed")
        return
    if result.committed:
        click.echo(f"commit: {result.commit_url}")
    else:
        click.echo(f"no new commit; {result.tag} is {result.commit_url}")
    click.echo(f"tag: {result.tag}{' (created)' if result.tagged else ' (already there)'}")


@main.command()
@click.argument("repo", metavar="ORG/NAME")
@click.option("--revision", default="main", show_default=True, help="Snapshot tag (vYYYY.MM.DD) or branch.")
@click.option(
    "--tables", default="", metavar="T1,T2", help="Only these tables (plus manifest, card, views.sql)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Target folder (default: ./NAME-REVISION).",
)
@click.option(
    "--endpoint", default=None, help="Hub URL (default: $HF_ENDPOINT, else https://huggingface.co)."
)
def download(repo: str, revision: str, tables: str, out: Path | None, endpoint: str | None) -> None:
    """Download a published snapshot from the Hub, with a progress bar. Prints its folder last."""
    from pipelines.snapshot.download import DownloadError, download_snapshot

    wanted = [t.strip() for t in tables.split(",") if t.strip()] or None
    target = out or Path(f"{repo.rsplit('/', 1)[-1]}-{revision}")
    try:
        path = download_snapshot(repo, revision, wanted, local_dir=target, endpoint=endpoint)
    except DownloadError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(path))


main.add_command(evaluate)
