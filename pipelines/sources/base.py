"""The Source interface: what every source of the dataset, built-in or contributed, implements.

A source knows how to get records live (politely, through the shared fetcher) and how to read the
same records from local files (a dump, a folder of logs, recorded responses). ``parse`` turns the bytes
of one document into rows of the published tables; it is pure and deterministic, so re-parsing from
the raw store gives the same rows.
"""

from __future__ import annotations

import gzip
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from pathlib import Path

    from pipelines.fetch.http import PoliteFetcher
    from pipelines.settings import DataRoot

Row = dict[str, Any]
TableRow = tuple[str, Row]  # (table name, row)


class ParseError(Exception):
    """A document could not be (fully) parsed; the message names what is wrong. Rows yielded before it stay."""


@dataclass(frozen=True)
class RawDocument:
    """The exact bytes of one HTTP response or local file, with what the transport knows about them."""

    data: bytes
    sha256: str
    url_or_path: str
    kind: Literal["http", "file"]
    http_status: int | None = None
    content_type: str | None = None
    retrieved_at: datetime | None = None
    etag: str | None = None  # the response's ETag, for a conditional request next time

    def body(self) -> bytes:
        """The payload: gunzipped when the bytes are gzip (the raw store keeps them as read)."""
        if self.data[:2] == b"\x1f\x8b":
            try:
                return gzip.decompress(self.data)
            except (OSError, EOFError) as exc:
                raise ParseError(f"{self.url_or_path}: corrupt gzip data ({exc})") from exc
        return self.data


@dataclass
class ParseContext:
    """What a parser learns about a whole document while streaming its records."""

    retrieved_at: datetime | None = None
    http_status: int | None = None
    empty: bool = False  # a valid answer with no records (e.g. OAI-PMH noRecordsMatch)
    resumption_token: str | None = None
    complete_list_size: int | None = None
    parser: str | None = None  # set by sources with several parsers; else the source's parser_name
    parser_version: str | None = None
    notes: list[str] = field(default_factory=list)
    # The batch's options (live options, or for local input e.g. `license`: the SPDX license the person
    # running the build states for files that do not state their own, from `commons build --license`).
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceLicense:
    """License and terms of what a source provides."""

    metadata_spdx: str  # license of the metadata the source serves
    terms_url: str
    text_redistribution: str  # plain words: when full text may be redistributed


@dataclass(frozen=True)
class LiveAccess:
    """How a source reaches its live service, and how politely."""

    hosts: tuple[str, ...]
    min_interval_s: float  # at most one request per this many seconds per host
    auth_env: str | None = None  # environment variable holding a token, if any
    description: str = ""
    base_url_env: str | None = None  # environment variable that overrides the endpoint (mirrors, local tests)


@dataclass(frozen=True)
class BatchSpec:
    """One harvest partition: a local input or a live time window. Saved as JSON under the data root."""

    source: str
    kind: Literal["local", "live"]
    key: str
    paths: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "key": self.key,
            "paths": list(self.paths),
            "options": dict(self.options),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchSpec:
        return cls(
            source=data["source"],
            kind=data["kind"],
            key=data["key"],
            paths=tuple(data.get("paths", ())),
            options=dict(data.get("options", {})),
        )


def id_list_batch(source: str, key_prefix: str, ids: Iterable[str], **options: str) -> BatchSpec:
    """One live partition for a list of record ids: the key comes from the sorted, unique ids (content,
    not time), so asking for the same records again updates the same partition."""
    unique = sorted(set(ids))
    digest = hashlib.sha256(" ".join(unique).encode()).hexdigest()[:10]
    return BatchSpec(
        source=source, kind="live", key=f"{key_prefix}-{digest}", options={"ids": " ".join(unique), **options}
    )


class Source(ABC):
    """Subclass this and decorate it with ``@register`` (``pipelines.sources.registry``) to add a source.

    Everything a reviewer needs to trust a source is declared here, and the contract tests
    (``pipelines/sources/contract.py``) check every registered source against it.
    """

    name: ClassVar[str]  # lower_snake_case; the `source` column of every row it produces
    description: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]  # tables it feeds (names in schemas/)
    license: ClassVar[SourceLicense]
    live: ClassVar[LiveAccess | None] = None  # None: local input only
    local_inputs: ClassVar[str]  # what local files it reads, in words (shown by `commons sources`)
    parser_name: ClassVar[str]
    parser_version: ClassVar[str]  # bump when parse() output changes: partitions are re-parsed
    # Folders of real recorded input, relative to the project root (e.g. tests/fixtures/<name> or
    # ../shared/fixtures/<folder>), or a glob of files in a folder several sources share
    # (../shared/fixtures/eval_logs/inspect_*). The contract tests parse every file in them.
    # Which source's row is a work's main row when several describe it: 0 = the work's own metadata (arXiv,
    # a forum), 1 = derived from its documents (TEI headers, PDFs), 2 = enrichment (OpenAlex, Semantic
    # Scholar), whose identifiers and counts fill the main row's enrichment columns instead.
    curation_rank: ClassVar[int] = 0
    # The Dagster pool (concurrency limit across runs) its harvest asset runs in; default: its first live
    # host. A source that leans on a shared service (a GROBID server) names that service's pool.
    pool: ClassVar[str | None] = None
    fixtures: ClassVar[tuple[str, ...]] = ()
    # A fixture file the contract tests' local server answers every live request with, and the live
    # options that start a small harvest, so live fetching is tested offline.
    live_fixture: ClassVar[str | None] = None
    example_live_options: ClassVar[Mapping[str, str]] = {}

    @abstractmethod
    def recognizes(self, name: str, head: bytes) -> bool:
        """Whether a local file (its name and first bytes) is input for this source, for `--from` detection."""

    @abstractmethod
    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        """Rows of the target tables from one document. Pure: same bytes, same rows.

        Rows carry the source's own fields plus ``source_record_id``, ``source_url``, ``license`` and
        ``license_source``; the harvester adds the remaining provenance columns. Raise ``ParseError``
        for bad input: rows already yielded are kept and the error is recorded in ``fetches``.
        """

    def prepare_local(self, files: list[Path], root: DataRoot) -> None:  # noqa: B027 - optional hook
        """Optional: work over a whole local batch before its documents are parsed one by one (e.g. send
        every PDF to GROBID at the server's concurrency, so each parse finds its TEI ready)."""

    def group_local_files(self, files: list[Path]) -> list[list[Path]]:
        """Optional: which local files make one document (default: each file alone). A source whose unit
        is several files (a HELM run: run_spec.json, stats.json, scenario.json) groups them here, and
        ``bundle_local`` turns a group into the bytes ``parse`` reads, so parsing stays pure over one
        document and the bundle's bytes are what the raw store keeps."""
        return [[f] for f in files]

    def bundle_local(self, names: list[str], contents: list[bytes]) -> bytes:
        """The bytes of one document made of several files (see ``group_local_files``)."""
        raise NotImplementedError(f"source {self.name!r} does not group local files")

    def live_batches(self, options: Mapping[str, str]) -> list[BatchSpec]:
        """Split a live request into partitions (time windows)."""
        raise NotImplementedError(f"source {self.name!r} has no live path")

    def fetch(self, batch: BatchSpec, fetcher: PoliteFetcher, watermark: str | None) -> Iterator[RawDocument]:
        """Live documents of one batch, fetched through the shared polite fetcher.

        Raise ``FetchError`` (from ``pipelines.fetch.http``) when the service fails for good; documents
        already yielded are kept.
        """
        raise NotImplementedError(f"source {self.name!r} has no live path")

    def watermark_key(self, options: Mapping[str, str]) -> str:
        """Which stored watermark a live request continues from (e.g. one per OAI-PMH set and format)."""
        return "default"

    def next_watermark(self, batch: BatchSpec, previous: str | None) -> str | None:
        """The watermark to store after ``batch`` harvested completely."""
        return previous
