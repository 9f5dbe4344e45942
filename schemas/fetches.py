"""``fetches``: one row per distinct HTTP response or local file read that fed the dataset."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import TIMESTAMP, col

FETCHES_SCHEMA = pa.schema(
    [
        col(
            "fetch_id",
            pa.string(),
            "Key: SHA-256 of `raw_sha256`, `url_or_path` and `retrieved_at`, so the same bytes read from the "
            "same place at the same source time are one row however often they are read.",
            False,
        ),
        col(
            "source",
            pa.string(),
            "Registered source that read it (`unrecognised` when no source claimed a file).",
            False,
        ),
        col(
            "url_or_path",
            pa.string(),
            "URL fetched, or for local input the path relative to the parent of the `--from` folder or file.",
            False,
        ),
        col("kind", pa.string(), "`http` for a network fetch, `file` for a local read.", False),
        col(
            "status",
            pa.string(),
            "`ok`, `empty` (valid but no records, e.g. OAI-PMH noRecordsMatch), `not_modified`, `skipped` "
            "(no source recognised the file) or `error`.",
            False,
        ),
        col(
            "http_status",
            pa.int32(),
            "HTTP status code, where there was an HTTP response (also from recordings).",
        ),
        col(
            "error", pa.string(), "What went wrong, naming the file or URL; null when status is not `error`."
        ),
        col(
            "raw_sha256",
            pa.string(),
            "SHA-256 of the exact bytes; the key into the raw store (`raw/sha256/ab/cd/<hash>` under the data root).",
            False,
        ),
        col("bytes", pa.int64(), "Size of the body in bytes.", False),
        col("content_type", pa.string(), "Content type as served, or as detected for local files."),
        col(
            "retrieved_at",
            TIMESTAMP,
            "The response's own date (HTTP Date, OAI-PMH responseDate, feed updated).",
        ),
        col(
            "records",
            pa.int64(),
            "Rows parsed from these bytes (0 for errors before the first record).",
            False,
        ),
        col("parser", pa.string(), "Parser used, if any."),
        col("parser_version", pa.string(), "Version of that parser."),
        col("pipeline_version", pa.string(), "`git describe` of the pipeline code that read it.", False),
    ]
)
