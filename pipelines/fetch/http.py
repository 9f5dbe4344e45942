"""Polite HTTP: per-host request spacing, bounded retries with capped backoff, conditional requests.

``get`` is the ordinary path; ``post`` is for read-only query APIs that take their query in a POST
body (GraphQL) and shares all of ``get``'s spacing, retry and secret handling.

Every live source fetches through one shared ``PoliteFetcher`` so that the pipeline as a whole, not
each source on its own, respects a host's rate limit. Nothing here logs or raises a secret: query
parameters that look like credentials and ``Authorization`` headers never reach a message.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlsplit, urlunsplit

import requests
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
)

from pipelines.fetch.raw_store import sha256_hex
from pipelines.sources.base import RawDocument

log = logging.getLogger("commons.fetch")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# ChunkedEncodingError: the connection broke while the body was being read.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

_SECRET_NAME_WORDS = frozenset(
    {
        "token",
        "key",
        "apikey",
        "secret",
        "password",
        "passwd",
        "pwd",
        "signature",
        "sig",
        "credential",
        "credentials",
        "auth",
    }
)
# Paging cursors are protocol state, not credentials; they stay so a stored URL can be replayed.
_PAGING_PARAM_NAMES = frozenset(
    {"resumptiontoken", "pagetoken", "nextpagetoken", "continuationtoken", "cursor"}
)
_NAME_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
REDACTED = "***"


def is_secret_param(name: str) -> bool:
    """Whether a query parameter name looks like a credential (``api_key``, ``accessToken``, ...)."""
    compact = re.sub(r"[^a-z0-9]", "", name.lower())
    if compact in _PAGING_PARAM_NAMES:
        return False
    words = {word.lower() for word in _NAME_WORD.findall(name)}
    return compact in _SECRET_NAME_WORDS or not words.isdisjoint(_SECRET_NAME_WORDS)


class RedactUrlsInLogs(logging.Filter):
    """Strips credential-like query parameters from URLs in log records (urllib3 logs full request lines
    at DEBUG, and some APIs, e.g. OpenAlex, accept keys only as query parameters)."""

    _URL = re.compile(r"https?://[^\s'\"]+|/[^\s'\"]*\?[^\s'\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._URL.sub(lambda m: redact_url(m.group(0)), message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(RedactUrlsInLogs())


def redact_url(url: str) -> str:
    """``url`` without credential-like query parameters and without user:password in the authority."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    # Filter the raw ``name=value`` segments so the kept ones stay byte-for-byte as sent.
    kept = [
        segment
        for segment in parts.query.split("&")
        if segment and not is_secret_param(unquote_plus(segment.partition("=")[0]))
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), parts.fragment))


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date header value as an aware UTC datetime; None if absent or unparsable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # "-0000" means UTC with unknown origin
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class FetchError(Exception):
    """A request that failed for good. ``url`` has credentials removed; ``body`` is the last response's bytes."""

    def __init__(
        self,
        url: str,
        problem: str,
        http_status: int | None = None,
        body: bytes | None = None,
        method: str = "GET",
    ) -> None:
        # All args, so the error pickles across processes.
        super().__init__(url, problem, http_status, body, method)
        self.url = url
        self.problem = problem
        self.http_status = http_status
        self.body = body
        self.method = method

    def __str__(self) -> str:
        return f"{self.method} {self.url}: {self.problem}"


@dataclass
class _HostSlot:
    lock: threading.Lock
    next_start: float  # clock time before which no request to the host may start


class HostSpacing:
    """At most one request start per host every ``min_interval_s`` seconds, shared by all threads.

    This is a minimum-spacing limiter rather than a token bucket on purpose: arXiv's policy is a
    spacing ("no more than one request every 3 seconds"), which a bucket allowing bursts would
    break, and a server's Retry-After must push the host's next slot back for every caller, which
    generic rate limiters do not model.
    """

    def __init__(
        self,
        min_interval_s: Mapping[str, float],
        default_min_interval_s: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self._intervals = {host.lower(): seconds for host, seconds in min_interval_s.items()}
        self._default = default_min_interval_s
        self._sleep = sleep
        self._clock = clock
        self._slots: dict[str, _HostSlot] = {}
        self._slots_lock = threading.Lock()

    def interval_for(self, host: str) -> float:
        return self._intervals.get(host.lower(), self._default)

    def _slot(self, host: str) -> _HostSlot:
        with self._slots_lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = self._slots[host] = _HostSlot(threading.Lock(), float("-inf"))
            return slot

    def wait_turn(self, host: str) -> None:
        """Block until this thread may start a request to ``host``, and claim that start."""
        slot = self._slot(host.lower())
        while True:
            with slot.lock:
                now = self._clock()
                if now >= slot.next_start:
                    slot.next_start = now + self.interval_for(host)
                    return
                delay = slot.next_start - now
            # Sleep without the lock so a Retry-After arriving meanwhile still moves the slot; re-check after.
            self._sleep(delay)

    def push_back(self, host: str, seconds: float) -> None:
        """No request to ``host`` starts within ``seconds`` from now (the server asked us to wait)."""
        slot = self._slot(host.lower())
        with slot.lock:
            slot.next_start = max(slot.next_start, self._clock() + seconds)


@dataclass(frozen=True)
class _Reply:
    response: requests.Response
    retry_after_s: float | None
    rate_limited: bool = False


class _Scrubber:
    """Replaces known secret values in free text (exception messages of the HTTP library)."""

    def __init__(self, secrets: list[str]) -> None:
        # As sent, URL-quoted, as Python reprs it inside messages, and stripped of the whitespace that
        # makes a header value invalid (the library then quotes the value in its error).
        forms = {
            form
            for secret in secrets
            if secret
            for variant in (secret, secret.strip())
            for form in (variant, quote(variant), quote_plus(variant), repr(variant)[1:-1])
            if len(form) >= 4
        }
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text


class PoliteFetcher:
    """GET (and POST for query APIs) with per-host spacing, retries on transient failures, conditional requests.

    Thread-safe: threads share the per-host spacing. A ``Retry-After`` from a host delays every
    thread's next request to it, not only the retrying one.
    """

    def __init__(
        self,
        user_agent: str,
        min_interval_s: Mapping[str, float] | None = None,
        default_min_interval_s: float = 1.0,
        max_attempts: int = 5,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        max_retry_after_s: float = 600.0,
        timeout_s: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        auth_env: str | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.user_agent = user_agent
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_retry_after_s = max_retry_after_s
        self.timeout_s = timeout_s
        self.auth_env = auth_env
        self.spacing = HostSpacing(min_interval_s or {}, default_min_interval_s, sleep, clock)
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        auth_env: str | None = None,
    ) -> RawDocument:
        """Fetch ``url`` (with ``params``) politely; raise ``FetchError`` when it fails for good.

        ``etag``/``last_modified`` make the request conditional; a 304 answer comes back as a document
        with ``http_status=304`` and no data. ``auth_env`` (else the fetcher's) names an environment
        variable whose value, when set, is sent as a bearer token.
        """
        request_headers, secrets = self._headers_and_secrets(headers, auth_env)
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        request_url = requests.Request("GET", url, params=dict(params or {})).prepare().url or url
        response = self._request("GET", request_url, request_headers, secrets)
        return _document(response, redact_url(response.url or request_url))

    def post(
        self,
        url: str,
        json_body: object,
        headers: Mapping[str, str] | None = None,
        auth_env: str | None = None,
    ) -> RawDocument:
        """POST ``json_body`` as JSON to ``url`` politely; raise ``FetchError`` when it fails for good.

        For read-only query APIs that take the query in the body (GraphQL). It is spaced, retried and
        scrubbed exactly like ``get`` (so use it only for requests that are safe to repeat). The body is
        serialised with sorted keys, so one query is always the same bytes. The document's
        ``url_or_path`` is the URL plus ``#sha256=<first 16 hex digits of the body's SHA-256>``, so
        different queries to one endpoint are different entries in the fetch log.
        """
        body = json.dumps(json_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        request_headers, secrets = self._headers_and_secrets(
            {"Content-Type": "application/json", **(headers or {})}, auth_env
        )
        fragment = f"sha256={sha256_hex(body)[:16]}"
        response = self._request("POST", url, request_headers, secrets, body=body, fragment=fragment)
        return _document(response, _with_fragment(redact_url(response.url or url), fragment))

    def _headers_and_secrets(
        self, headers: Mapping[str, str] | None, auth_env: str | None
    ) -> tuple[dict[str, str], list[str]]:
        """Request headers (User-Agent, bearer token from ``auth_env`` or the fetcher's) and the secrets in them."""
        request_headers = {"User-Agent": self.user_agent, **(headers or {})}
        # Caller-supplied credentials (x-api-key, ...) are secrets too: scrubbed from every message.
        secrets: list[str] = [v for k, v in request_headers.items() if is_secret_param(k) and v]
        token_env = auth_env or self.auth_env
        token = os.environ.get(token_env) if token_env else None
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        return request_headers, secrets

    def _request(
        self,
        method: str,
        request_url: str,
        headers: Mapping[str, str],
        secrets: list[str],
        body: bytes | None = None,
        fragment: str | None = None,
    ) -> requests.Response:
        """Send with spacing and retries; the final response (2xx or 304), else ``FetchError``."""
        parts = urlsplit(request_url)
        secrets = [*secrets, *(value for name, value in parse_qsl(parts.query) if is_secret_param(name))]
        if parts.password:
            secrets.append(parts.password)
        scrub = _Scrubber(secrets)
        safe_url = redact_url(request_url)
        if fragment:
            safe_url = _with_fragment(safe_url, fragment)
        host = parts.hostname or ""

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait_before_retry,
            retry=retry_if_exception_type(TRANSIENT_ERRORS) | retry_if_result(_is_retryable),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(method, safe_url, state, scrub),
        )
        # ``from None`` throughout: the HTTP library's exceptions quote the full URL, credentials included.
        try:
            reply = retrying(self._send_once, method, host, request_url, headers, body)
        except RetryError as exhausted:
            raise self._exhausted_error(method, safe_url, exhausted, scrub) from None
        except requests.RequestException as exc:
            problem = _describe_exception(exc, scrub, self.timeout_s)
            raise FetchError(safe_url, problem, method=method) from None

        response = reply.response
        status = response.status_code
        if not (200 <= status < 300 or status == 304):
            raise FetchError(safe_url, f"HTTP {status} {response.reason}", status, response.content, method)
        return response

    def _send_once(
        self, method: str, host: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> _Reply:
        self.spacing.wait_turn(host)
        response = self._session.request(
            method, url, headers=dict(headers), data=body, timeout=self.timeout_s
        )
        retry_after_s = None
        if response.status_code in RETRYABLE_STATUSES:
            retry_after_s = self._retry_after_s(response)
            if retry_after_s is not None:
                self.spacing.push_back(host, retry_after_s)
        # Rate-limit headers (GitHub's, and others that copied them): with none left, every request to the
        # host waits for the reset instead of failing. A 403/429 that says so (or a secondary limit's 403
        # with Retry-After) is retried after that wait.
        reset_s = self._rate_limit_reset_s(response)
        if reset_s is not None:
            self.spacing.push_back(host, reset_s)
        limited = response.status_code in (403, 429) and (
            reset_s is not None or response.headers.get("Retry-After") is not None
        )
        if limited:
            retry_after_s = reset_s if reset_s is not None else self._retry_after_s(response)
            if retry_after_s is not None:
                self.spacing.push_back(host, retry_after_s)
        return _Reply(response, retry_after_s, limited)

    def _rate_limit_reset_s(self, response: requests.Response) -> float | None:
        """Seconds until ``X-RateLimit-Reset`` when ``X-RateLimit-Remaining`` is 0, capped; else None."""
        if (response.headers.get("X-RateLimit-Remaining") or "").strip() != "0":
            return None
        try:
            reset = float(response.headers.get("X-RateLimit-Reset") or "")
        except ValueError:
            return None
        # Against the server's own Date when it sent one, so clock skew does not matter.
        now = parse_http_date(response.headers.get("Date")) or datetime.now(UTC)
        return min(max(reset - now.timestamp(), 1.0), self.max_retry_after_s)

    def _retry_after_s(self, response: requests.Response) -> float | None:
        """The server's Retry-After (delay-seconds or HTTP-date) in seconds, capped; None if absent or bad."""
        value = (response.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            when = parse_http_date(value)
            if when is None:
                return None
            # Measured against the server's own Date when it sent one, so clock skew does not matter.
            reference = parse_http_date(response.headers.get("Date")) or datetime.now(UTC)
            seconds = (when - reference).total_seconds()
        if seconds != seconds:  # NaN
            return None
        return min(max(seconds, 0.0), self.max_retry_after_s)

    def _wait_before_retry(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            reply: _Reply = outcome.result()
            if reply.retry_after_s is not None:
                return reply.retry_after_s
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (state.attempt_number - 1))
        # Jitter within the upper half: spreads out clients that failed together, keeps the backoff real.
        return random.uniform(ceiling / 2, ceiling)

    def _log_retry(self, method: str, safe_url: str, state: RetryCallState, scrub: _Scrubber) -> None:
        wait_s = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s %s: %s; attempt %d of %d, retrying in %.1fs",
            method,
            safe_url,
            self._describe_outcome(state, scrub),
            state.attempt_number,
            self.max_attempts,
            wait_s,
        )

    def _describe_outcome(self, state: RetryCallState, scrub: _Scrubber) -> str:
        outcome = state.outcome
        if outcome is None:
            return "no outcome"
        if outcome.failed:
            exc = outcome.exception()
            return _describe_exception(exc, scrub, self.timeout_s) if exc is not None else "failed"
        reply: _Reply = outcome.result()
        return f"HTTP {reply.response.status_code} {reply.response.reason}"

    def _exhausted_error(
        self, method: str, safe_url: str, exhausted: RetryError, scrub: _Scrubber
    ) -> FetchError:
        last = exhausted.last_attempt
        attempts = last.attempt_number
        exc = last.exception()
        if exc is not None:
            problem = _describe_exception(exc, scrub, self.timeout_s)
            return FetchError(safe_url, f"{problem} after {attempts} attempts", method=method)
        response = last.result().response
        return FetchError(
            safe_url,
            f"HTTP {response.status_code} {response.reason} after {attempts} attempts",
            response.status_code,
            response.content,
            method,
        )


def _document(response: requests.Response, url_or_path: str) -> RawDocument:
    status = response.status_code
    data = b"" if status == 304 else response.content
    return RawDocument(
        etag=response.headers.get("ETag"),
        data=data,
        sha256=sha256_hex(data),
        url_or_path=url_or_path,
        kind="http",
        http_status=status,
        content_type=response.headers.get("Content-Type"),
        retrieved_at=parse_http_date(response.headers.get("Date")),
    )


def _with_fragment(url: str, fragment: str) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=fragment))


def _is_retryable(reply: _Reply) -> bool:
    return reply.response.status_code in RETRYABLE_STATUSES or reply.rate_limited


def _describe_exception(exc: BaseException, scrub: _Scrubber, timeout_s: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout_s:g}s"
    # requests wraps urllib3's MaxRetryError, whose ``reason`` says what actually happened.
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", inner)
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed ({scrub(str(reason))})"
    return f"{type(exc).__name__} ({scrub(str(reason))})"
