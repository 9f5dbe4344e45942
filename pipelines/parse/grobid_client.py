"""GROBID client: PDF bytes to TEI bytes through a GROBID server's ``/api/processFulltextDocument``.

Configuration comes from the environment (the Dagster resource sets the same fields):
``COMMONS_GROBID_URL`` (the server, e.g. ``http://localhost:8070``; unset means no GROBID),
``COMMONS_GROBID_CONCURRENCY`` (requests in flight at once: set it to the server's ``concurrency`` in
grobid.yaml, its number of engines), ``COMMONS_GROBID_TIMEOUT_S`` and ``COMMONS_PDF_MAX_BYTES``.

What this takes from grobid-client-python (PyPI ``grobid-client-python``, Apache-2.0; 0.2.1 was read)
and what it replaces, and why:

- Taken: the protocol as that client speaks it. The endpoints (``/api/isalive``, ``/api/version``,
  ``/api/processFulltextDocument``), the multipart part ``input`` carrying the file name and
  ``application/pdf``, the form field names (``consolidateHeader``, ``consolidateCitations``,
  ``includeRawCitations``, ``teiCoordinates`` repeated once per element, ``segmentSentences``), the
  default client timeout of 180 s, and three of its ideas: a retried document is re-sent from bytes
  held in memory (a posted stream sits at its end); ``process_documents``' results in input order
  with a failure as that document's own entry; the server's engine pool (``/api/health``
  ``pool.maxActive``) as the concurrency to aim for (``server_pool_size``). The tests drive
  grobid-client-python itself against the same fake server, so the fake speaks what the reference
  client speaks.
- Replaced: its request layer, ``GrobidClient._send_pdf``/``ApiClient.call_api``, because:
  1. it sends ``consolidateHeader``/``consolidateCitations`` only when true, so "off" means "whatever
     the server's default is", and server defaults call CrossRef for every document. Here both are
     always sent, ``0`` by default;
  2. on 503 it sleeps a fixed ``sleep_time`` and calls itself again, without bound (recursion: a
     server busy for long enough ends in RecursionError) and ignoring ``Retry-After``. Here retries are
     bounded, back off exponentially with jitter, and honour ``Retry-After`` (seconds or HTTP-date);
  3. it folds every failure into a ``(name, status, text)`` tuple, inventing statuses (408 for a
     client timeout, 500 for a refused connection), so "server down" cannot be told from "bad PDF". Here
     a document's failure is a ``GrobidError`` with GROBID's own code (``BAD_INPUT_DATA``, ``NO_BLOCKS``,
     ``TOO_MANY_BLOCKS``, ``TIMEOUT``, ``PDFALTO_CONVERSION_FAILURE``, ..., ``NO_CONTENT`` for 204) and
     an unreachable server is ``GrobidUnavailable``, so the caller can fall back to the PDF text parser;
  4. it uses module-level ``requests.request`` (a new connection per call) and its constructor
     reconfigures logging (handlers on its logger, ``propagate = False``) and probes the server. Here
     each worker thread keeps its own ``requests.Session``, and nothing touches logging configuration;
  5. it has no size limit and no bound on requests in flight beyond its pool; ``GrobidClient`` here
     refuses PDFs above ``max_pdf_bytes`` before sending, and a semaphore keeps at most
     ``max_concurrency`` requests in flight across all threads that share the client (sleeping retries
     do not hold a slot);
  6. it does not ask for the server's version; here ``/api/version`` is read once and returned with
     every result, so rows can say which GROBID produced them.
  So the package is a test (dev) dependency only: at run time nothing of it would be left but
  constants, and it would bring dateparser, beautifulsoup4, regex and tzlocal along.

Nothing here logs a request body or a response body; errors quote at most the first 300 characters of
GROBID's error message, which names the problem, not the document's content.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from pipelines.fetch.http import parse_http_date
from pipelines.fetch.raw_store import sha256_hex

log = logging.getLogger("commons.grobid")

CLIENT_VERSION = "0.1.0"

GROBID_URL_ENV = "COMMONS_GROBID_URL"
CONCURRENCY_ENV = "COMMONS_GROBID_CONCURRENCY"
TIMEOUT_ENV = "COMMONS_GROBID_TIMEOUT_S"
MAX_PDF_BYTES_ENV = "COMMONS_PDF_MAX_BYTES"
DEFAULT_MAX_PDF_BYTES = 50 * 1024 * 1024

FULLTEXT_SERVICE = "processFulltextDocument"

# GrobidExceptionStatus (grobid-core). Depending on the GROBID version they come with HTTP 500, or with
# 400 (NO_BLOCKS) and 409 (TIMEOUT, TOO_MANY_BLOCKS, TOO_MANY_TOKENS), the code in the body as "[CODE]".
GROBID_ERROR_CODES = (
    "BAD_INPUT_DATA",
    "TAGGING_ERROR",
    "PARSING_ERROR",
    "TIMEOUT",
    "TOO_MANY_BLOCKS",
    "NO_BLOCKS",
    "PDFALTO_CONVERSION_FAILURE",
    "TOO_MANY_TOKENS",
    "GENERAL",
)
_CODE_IN_BODY = re.compile(r"\b(" + "|".join(GROBID_ERROR_CODES) + r")\b")
# Codes about the document itself: the same PDF gives the same answer again, so a caller may remember
# them. The others (a server TIMEOUT under load, GENERAL, our own client timeout, a busy server) may not,
# and our own refusals (too large, empty) cost nothing to decide again (under the limit then in force).
PERMANENT_CODES = frozenset(
    {
        "BAD_INPUT_DATA",
        "NO_BLOCKS",
        "TOO_MANY_BLOCKS",
        "TOO_MANY_TOKENS",
        "PDFALTO_CONVERSION_FAILURE",
        "NO_CONTENT",
    }
)
_MESSAGE_CHARS = 300
_VERSION_TEXT = re.compile(r"[^A-Za-z0-9._+\-]")


class GrobidError(Exception):
    """GROBID could not turn one document into TEI. ``code`` is GROBID's (or one of ours, see below).

    Ours: ``NO_CONTENT`` (HTTP 204), ``BUSY`` (still 503 after the allowed retries), ``CLIENT_TIMEOUT``
    (no answer within the timeout), ``TOO_LARGE`` and ``EMPTY_INPUT`` (refused before sending),
    ``NOT_TEI`` (a 200 whose body is not TEI), ``HTTP_<status>`` (an error without a GROBID code),
    ``TRANSPORT`` (the answer broke off), ``UNAVAILABLE`` (``GrobidUnavailable``: the server cannot be reached).
    """

    def __init__(self, code: str, document: str, message: str, http_status: int | None = None) -> None:
        super().__init__(code, document, message, http_status)  # all args, so it pickles
        self.code = code
        self.document = document
        self.message = message
        self.http_status = http_status

    @property
    def permanent(self) -> bool:
        """Whether the document itself is the problem (the same PDF would fail the same way again)."""
        return self.code in PERMANENT_CODES

    def __str__(self) -> str:
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"{self.document}: GROBID {self.code}{status}: {self.message}"


class GrobidUnavailable(GrobidError):
    """The server cannot be reached (connection refused or reset, name not resolved, connect timeout)."""

    def __init__(self, document: str, message: str) -> None:
        super().__init__("UNAVAILABLE", document, message)
        self.args = (document, message)  # so it pickles through this __init__


def _env_number(
    environ: Mapping[str, str], name: str, kind: type[int] | type[float], default: float
) -> float:
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {text!r}")
    return value


@dataclass(frozen=True)
class GrobidConfig:
    """How to reach one GROBID server and what to ask of it. Frozen and hashable: one client per config."""

    url: str
    max_concurrency: int = 2  # requests in flight at once: the server's engines (grobid.yaml `concurrency`)
    timeout_s: float = 180.0  # read timeout for one document (grobid-client-python's default)
    connect_timeout_s: float = 10.0
    max_retries: int = 5  # on 503 (busy): at most this many retries, then GrobidError("BUSY")
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 60.0
    max_retry_after_s: float = 300.0  # a server's Retry-After is honoured up to this
    max_pdf_bytes: int = DEFAULT_MAX_PDF_BYTES
    consolidate_header: int = 0  # 0: none; 1/2/3 call CrossRef or biblio-glutton (the server's choice)
    consolidate_citations: int = 0
    include_raw_citations: bool = True  # `references.raw` needs the entries as printed
    # Coordinates of figures (tables included) and formulas, so they can be cut out of the PDF later.
    tei_coordinates: tuple[str, ...] = ("figure", "formula")
    segment_sentences: bool = False
    user_agent: str = f"ResearchCommons-grobid-client/{CLIENT_VERSION}"

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"GROBID URL must start with http:// or https://, got {self.url!r}")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GrobidConfig | None:
        """The configuration in the environment; None when ``COMMONS_GROBID_URL`` is unset or empty."""
        env = os.environ if environ is None else environ
        url = (env.get(GROBID_URL_ENV) or "").strip().rstrip("/")
        if not url:
            return None
        return cls(
            url=url,
            max_concurrency=int(_env_number(env, CONCURRENCY_ENV, int, cls.max_concurrency)),
            timeout_s=float(_env_number(env, TIMEOUT_ENV, float, cls.timeout_s)),
            max_pdf_bytes=int(_env_number(env, MAX_PDF_BYTES_ENV, int, cls.max_pdf_bytes)),
        )

    def form_fields(self) -> tuple[tuple[str, str], ...]:
        """The form fields sent with every document, in a fixed order (recorded with each result)."""
        fields = [
            ("consolidateHeader", str(int(self.consolidate_header))),
            ("consolidateCitations", str(int(self.consolidate_citations))),
            ("includeRawCitations", "1" if self.include_raw_citations else "0"),
            ("segmentSentences", "1" if self.segment_sentences else "0"),
        ]
        fields.extend(("teiCoordinates", element) for element in self.tei_coordinates)
        return tuple(fields)


def max_pdf_bytes_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``COMMONS_PDF_MAX_BYTES`` (default 50 MB): PDFs above it are refused, by GROBID and by the fallback."""
    env = os.environ if environ is None else environ
    return int(_env_number(env, MAX_PDF_BYTES_ENV, int, DEFAULT_MAX_PDF_BYTES))


@dataclass(frozen=True)
class GrobidResult:
    """The TEI GROBID returned for one PDF, with what produced it."""

    document: str
    pdf_sha256: str
    tei: bytes
    grobid_version: str
    params: tuple[tuple[str, str], ...]
    attempts: int = 1
    retrieved_at: datetime | None = field(default=None, compare=False)


def _version_from_body(body: bytes) -> str | None:
    """``/api/version`` answers plain text (``0.7.2``) or JSON (``{"version": "0.8.0", "revision": ...}``)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    value: object = text
    if text.startswith("{"):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        value = None
        if isinstance(payload, dict):
            value = next(
                (payload[k] for k in ("version", "grobidVersion") if isinstance(payload.get(k), str)), None
            )
    if not isinstance(value, str):
        return None
    cleaned = _VERSION_TEXT.sub("", value.strip())[:40]
    return cleaned or None


def _error_message(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[:_MESSAGE_CHARS] + ("..." if len(text) > _MESSAGE_CHARS else "")


class GrobidClient:
    """A client for one GROBID server. Thread-safe: share one per server (``client_for`` does)."""

    def __init__(
        self,
        config: GrobidConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        alive_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._clock = clock
        self._alive_ttl_s = alive_ttl_s
        self._alive: tuple[float, bool] | None = None
        self._version: str | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._local = threading.local()

    # -- plumbing ---------------------------------------------------------------------------------

    def _url(self, service: str) -> str:
        return f"{self.config.url}/api/{service}"

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.config.user_agent
            self._local.session = session
        return session

    def _get(self, service: str, timeout_s: float) -> requests.Response:
        return self._session().get(self._url(service), timeout=(self.config.connect_timeout_s, timeout_s))

    # -- server state -----------------------------------------------------------------------------

    def is_alive(self, refresh: bool = False) -> bool:
        """``GET /api/isalive`` answers 200 (body ``true``). Remembered for ``alive_ttl_s`` seconds."""
        now = self._clock()
        with self._lock:
            cached = self._alive
        if cached is not None and not refresh and now - cached[0] < self._alive_ttl_s:
            return cached[1]
        try:
            response = self._get("isalive", 10.0)
            alive = response.status_code == 200 and response.text.strip().lower() != "false"
        except requests.RequestException as exc:
            log.info("GROBID at %s is not reachable: %s", self.config.url, type(exc).__name__)
            alive = False
        with self._lock:
            self._alive = (now, alive)
        return alive

    def version(self) -> str:
        """The server's version from ``GET /api/version`` (read once), or ``unknown``."""
        with self._lock:
            if self._version is not None:
                return self._version
        version = None
        try:
            response = self._get("version", 10.0)
            if response.status_code == 200:
                version = _version_from_body(response.content)
        except requests.RequestException:
            pass
        if version is None:
            return "unknown"  # not remembered: asked again next time
        with self._lock:
            self._version = version
        return version

    def server_pool_size(self) -> int | None:
        """The server's number of engines (``/api/health`` ``pool.maxActive``, GROBID 0.8.1+), else None.

        The idea is grobid-client-python's concurrency preflight: ``max_concurrency`` should match it.
        """
        try:
            payload = self._get("health", 10.0).json()
        except (requests.RequestException, ValueError):
            return None
        pool = payload.get("pool") if isinstance(payload, dict) else None
        size = pool.get("maxActive") if isinstance(pool, dict) else None
        return size if isinstance(size, int) and size > 0 else None

    # -- processing -------------------------------------------------------------------------------

    def process(self, pdf: bytes, name: str) -> GrobidResult:
        """TEI for one PDF. Raises ``GrobidError`` for this document, ``GrobidUnavailable`` if the server is gone.

        ``name`` is the file name sent in the multipart part (GROBID echoes it in its logs) and the
        document named in errors. Refused without a request: empty input, and input above
        ``max_pdf_bytes``.
        """
        config = self.config
        if not pdf:
            raise GrobidError("EMPTY_INPUT", name, "zero bytes; not sent")
        if len(pdf) > config.max_pdf_bytes:
            raise GrobidError(
                "TOO_LARGE",
                name,
                f"{len(pdf):,} bytes, above the limit of {config.max_pdf_bytes:,}; not sent",
            )
        params = config.form_fields()
        part_name = os.path.basename(name) or "document.pdf"
        url = self._url(FULLTEXT_SERVICE)
        attempts = 0
        while True:
            attempts += 1
            response = self._post(url, pdf, part_name, params, name)
            status = response.status_code
            if status != 503:
                break
            if attempts > config.max_retries:
                raise GrobidError(
                    "BUSY", name, f"server still busy after {attempts} attempts (503 each time)", 503
                )
            delay = self._retry_after_s(response)
            if delay is None:
                ceiling = min(config.backoff_cap_s, config.backoff_base_s * 2 ** (attempts - 1))
                delay = random.uniform(ceiling / 2, ceiling)
            log.warning(
                "GROBID busy (503) on %s; attempt %d of %d, retrying in %.1fs",
                name,
                attempts,
                config.max_retries + 1,
                delay,
            )
            self._sleep(delay)
        body = response.content
        if status == 200:
            if b"<TEI" not in body[:4096]:
                raise GrobidError("NOT_TEI", name, "answer 200 is not TEI XML", status)
            return GrobidResult(
                document=name,
                pdf_sha256=sha256_hex(pdf),
                tei=body,
                grobid_version=self.version(),
                params=params,
                attempts=attempts,
                retrieved_at=datetime.now(UTC),
            )
        if status == 204:
            raise GrobidError("NO_CONTENT", name, "GROBID extracted nothing from the document", status)
        match = _CODE_IN_BODY.search(body[:4096].decode("utf-8", "replace"))
        code = match.group(1) if match else f"HTTP_{status}"
        raise GrobidError(code, name, _error_message(body) or response.reason or "", status)

    def _post(
        self, url: str, pdf: bytes, part_name: str, params: tuple[tuple[str, str], ...], name: str
    ) -> requests.Response:
        files = {"input": (part_name, pdf, "application/pdf")}
        # The slot is held for the request only: a retry sleeping out a 503 leaves it to others.
        with self._slots:
            try:
                return self._session().post(
                    url,
                    files=files,
                    data=list(params),
                    headers={"Accept": "application/xml"},
                    timeout=(self.config.connect_timeout_s, self.config.timeout_s),
                )
            # ``from None`` and our own words: requests' messages are long and say nothing more.
            except requests.ConnectTimeout:
                self._mark_dead()
                raise GrobidUnavailable(
                    name, f"no connection to {self.config.url} within {self.config.connect_timeout_s:g}s"
                ) from None
            except requests.Timeout:
                raise GrobidError(
                    "CLIENT_TIMEOUT", name, f"no answer within {self.config.timeout_s:g}s"
                ) from None
            except requests.ConnectionError as exc:
                self._mark_dead()
                raise GrobidUnavailable(
                    name, f"connection to {self.config.url} failed ({_reason(exc)})"
                ) from None
            except requests.RequestException as exc:
                raise GrobidError("TRANSPORT", name, f"{type(exc).__name__} ({_reason(exc)})") from None

    def _mark_dead(self) -> None:
        with self._lock:
            self._alive = (self._clock(), False)

    def _retry_after_s(self, response: requests.Response) -> float | None:
        value = (response.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            when = parse_http_date(value)
            if when is None:
                return None
            reference = parse_http_date(response.headers.get("Date")) or datetime.now(UTC)
            seconds = (when - reference).total_seconds()
        if seconds != seconds:  # NaN
            return None
        return min(max(seconds, 0.0), self.config.max_retry_after_s)

    def iter_process(self, documents: Iterable[tuple[str, bytes]]) -> Iterator[GrobidResult | GrobidError]:
        """Process ``(name, pdf bytes)`` pairs with ``max_concurrency`` requests in flight; results in input order.

        A failed document is its own ``GrobidError`` entry (``GrobidUnavailable`` included), never an
        exception. Documents are read from the iterable only as the pool has room (at most twice
        ``max_concurrency`` pending), so a long iterable does not sit in memory.
        """
        workers = self.config.max_concurrency
        window = 2 * workers
        pending: deque[Future[GrobidResult]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grobid") as pool:
            for name, pdf in documents:
                pending.append(pool.submit(self.process, pdf, name))
                while len(pending) >= window:
                    yield _outcome(pending.popleft())
            while pending:
                yield _outcome(pending.popleft())

    def process_many(self, documents: Iterable[tuple[str, bytes]]) -> list[GrobidResult | GrobidError]:
        """``iter_process`` as a list."""
        return list(self.iter_process(documents))


def _outcome(future: Future[GrobidResult]) -> GrobidResult | GrobidError:
    try:
        return future.result()
    except GrobidError as exc:
        return exc


def _reason(exc: BaseException) -> str:
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", inner)
    return str(reason)[:200]


_CLIENTS: dict[GrobidConfig, GrobidClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(config: GrobidConfig) -> GrobidClient:
    """The one shared client of a configuration, so its concurrency bound and cached state are shared."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(config)
        if client is None:
            client = _CLIENTS[config] = GrobidClient(config)
        return client
