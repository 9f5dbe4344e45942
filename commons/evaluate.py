"""``commons evaluate``: quality figures of curation steps against labelled data.

``commons evaluate resolution --records RECORDS.csv --truth CLUSTERS.csv`` runs the entity resolution
(``pipelines.curate.resolve.resolve_records``) on a BibDedupe-format records CSV and prints pairwise
precision, recall and F1 against the labelled clusters, F1 alone on the last line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import click

from pipelines.curate.resolve import (
    ResolutionParams,
    pairwise_scores,
    read_bibdedupe_records,
    read_truth_clusters,
    resolve_records,
)

_CSV = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def evaluate() -> None:
    """Measure curation steps against labelled data."""


@evaluate.command()
@click.option(
    "--records",
    "records_path",
    required=True,
    type=_CSV,
    help="BibDedupe records CSV (ID,title,year,author,pages,volume,number,ENTRYTYPE,journal).",
)
@click.option(
    "--truth",
    "truth_path",
    required=True,
    type=_CSV,
    help='Labelled clusters: a CSV with a merged_ids column, each row ";"-joined ids of one cluster.',
)
@click.option(
    "--titleless", is_flag=True, help="Also match title-less records (first author+year+volume+page)."
)
@click.option(
    "--link-errata", is_flag=True, help="Join an erratum to the article it corrects when one cites the other."
)
def resolution(records_path: Path, truth_path: Path, titleless: bool, link_errata: bool) -> None:
    """Pairwise precision, recall and F1 of entity resolution on labelled records."""
    try:
        records = read_bibdedupe_records(records_path)
    except (ValueError, csv.Error, UnicodeDecodeError, OSError) as exc:
        raise click.BadParameter(f"{records_path}: {exc}", param_hint="--records") from exc
    try:
        truth = read_truth_clusters(truth_path)
    except (ValueError, csv.Error, UnicodeDecodeError, OSError) as exc:
        raise click.BadParameter(f"{truth_path}: {exc}", param_hint="--truth") from exc
    known = {r.record_id for r in records}
    unknown = sorted({i for cluster in truth for i in cluster} - known)
    if unknown:
        raise click.BadParameter(
            f"{truth_path}: {len(unknown)} ids not in {records_path} (e.g. {', '.join(unknown[:3])})",
            param_hint="--truth",
        )
    params = ResolutionParams(match_titleless=titleless, link_errata=link_errata)
    result = resolve_records(records, params)
    scores = pairwise_scores(result.cluster_of, truth)
    seconds = float(result.stats["seconds"])
    click.echo(f"records {len(records)}")
    click.echo(f"clusters {result.stats['clusters']}")
    click.echo(f"seconds {seconds:.3f}")
    click.echo(f"true_pairs {scores.true_pairs}")
    click.echo(f"predicted_pairs {scores.predicted_pairs}")
    click.echo(f"correct_pairs {scores.correct_pairs}")
    click.echo(f"precision {scores.precision:.4f}")
    click.echo(f"recall {scores.recall:.4f}")
    click.echo(f"f1 {scores.f1:.4f}")
