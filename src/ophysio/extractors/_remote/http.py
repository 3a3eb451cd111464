"""HTTP(S) reads of byte ranges and of whole objects: keep-alive connections, redirects, retries, no guessing.

Only the standard library (``http.client``): one keep-alive connection per thread and host (a forked
worker opens its own), redirects followed (a DANDI asset URL leads to its S3 object), the environment's
proxies honoured. A request that fails in transit (the connection refused, reset or dropped, a body
shorter than announced, a timeout, a 5xx or 429 status) is retried :data:`RETRIES` times with a growing
pause; then a :class:`~ophysio.errors.RemoteSourceError` names the URL and the bytes asked for. A reply
is used only when it is exactly what was asked: a range request must come back as ``206`` with the
``Content-Range`` of the request and that many bytes, so a server that ignores ``Range`` is an error,
never a misplaced read.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

from ...errors import FileSetError, RemoteSourceError

__all__ = ["RETRIES", "TIMEOUT_S", "HttpResponse", "http_request", "HttpFile", "HttpStore", "close_connections"]

#: Retries of a request that failed in transit (after the first attempt).
RETRIES = 3
#: Seconds to wait for a connection or for data before the attempt counts as failed.
TIMEOUT_S = 30.0
#: Pause before the first retry; doubled for each further one.
BACKOFF_S = 0.25
MAX_REDIRECTS = 8
_REDIRECTS = {301, 302, 303, 307, 308}
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")

_lock = threading.Lock()
_pid = os.getpid()
#: idle keep-alive connections: (scheme, host) -> [(connection, absolute-URL requests)]
_idle: dict[tuple[str, str], list] = {}
_ssl: ssl.SSLContext | None = None
#: Idle connections kept per host.
MAX_IDLE = 16


@dataclass(frozen=True)
class HttpResponse:
    """A complete reply: status, headers (names lower-cased), body, and the URL that gave it."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str


def _ssl_context() -> ssl.SSLContext:
    global _ssl
    if _ssl is None:
        try:
            import certifi  # the bundle requests uses, when present (some systems lack CA certificates)

            _ssl = ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            _ssl = ssl.create_default_context()
    return _ssl


def _idle_locked() -> dict:
    """The idle connections of this process (a forked child starts with none: the parent's are not its own)."""
    global _pid
    if _pid != os.getpid():
        _pid = os.getpid()
        _idle.clear()
    return _idle


def close_connections(url: str | None = None) -> None:
    """Close the idle keep-alive connections (to the host of ``url``, or all)."""
    key = None
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
    with _lock:
        idle = _idle_locked()
        keys = [k for k in idle if key is None or k == key]
        closing = [entry for k in keys for entry in idle.pop(k)]
    for conn, _ in closing:
        conn.close()


def _new_connection(scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
    """A connection to ``netloc`` (through the environment's proxy when one applies) and whether requests
    on it must name the absolute URL (a plain HTTP proxy)."""
    parsed = urllib.parse.urlsplit(f"{scheme}://{netloc}")
    host, port = parsed.hostname or "", parsed.port
    loopback = host in ("127.0.0.1", "localhost", "::1")
    proxy = None if loopback or urllib.request.proxy_bypass(host) else urllib.request.getproxies().get(scheme)
    if proxy:
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if scheme == "https":
            conn = http.client.HTTPSConnection(p.hostname, p.port or 80, timeout=TIMEOUT_S, context=_ssl_context())
            conn.set_tunnel(host, port or 443)
            return conn, False
        return http.client.HTTPConnection(p.hostname, p.port or 80, timeout=TIMEOUT_S), True
    if scheme == "https":
        return http.client.HTTPSConnection(host, port or 443, timeout=TIMEOUT_S, context=_ssl_context()), False
    return http.client.HTTPConnection(host, port or 80, timeout=TIMEOUT_S), False


def _once(url: str, headers: dict[str, str], fresh: bool = False) -> HttpResponse:
    """One attempt: send, read the whole reply. Transport failures propagate (the caller retries), except that
    a kept-alive connection the server had closed meanwhile is replaced at once."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RemoteSourceError(f"{url}: only http and https URLs are fetched directly")
    key = (parts.scheme, parts.netloc)
    entry = None
    if not fresh:
        with _lock:
            pool = _idle_locked().get(key)
            entry = pool.pop() if pool else None
    reused = entry is not None
    if entry is None:
        entry = _new_connection(parts.scheme, parts.netloc)
    conn, absolute = entry
    target = url if absolute else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("GET", target, headers={"Accept-Encoding": "identity", **headers})
        reply = conn.getresponse()
        body = reply.read()  # IncompleteRead when the connection drops before the announced length
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        conn.close()
        if reused:  # an idle connection the server closed: not a failure of this request
            return _once(url, headers, fresh=True)
        raise
    except BaseException:
        conn.close()
        raise
    if reply.will_close:
        conn.close()
    else:
        with _lock:
            pool = _idle_locked().setdefault(key, [])
            if len(pool) < MAX_IDLE:
                pool.append(entry)
                entry = None
        if entry is not None:
            conn.close()
    return HttpResponse(reply.status, {k.lower(): v for k, v in reply.getheaders()}, body, url)


_TRANSIENT = (OSError, http.client.HTTPException, socket.timeout, ssl.SSLError)


def http_request(url: str, headers: dict[str, str] | None = None, what: str = "",
                 ok: tuple[int, ...] = (200, 206), retries: int | None = None) -> HttpResponse:
    """GET ``url`` following redirects, retrying transient failures; a reply whose status is in ``ok`` or
    is a final error (404, 403...) is returned; raise :class:`RemoteSourceError` when every attempt failed.

    ``what`` names what was asked (``"bytes 0-4095"``) in the error message.
    """
    headers = dict(headers or {})
    retries = RETRIES if retries is None else retries
    last: str = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
        current = url
        try:
            for _ in range(MAX_REDIRECTS + 1):
                response = _once(current, headers)
                if response.status in _REDIRECTS and "location" in response.headers:
                    current = urllib.parse.urljoin(current, response.headers["location"])
                    continue
                break
            else:
                raise RemoteSourceError(f"{url}: more than {MAX_REDIRECTS} redirects; refused")
        except RemoteSourceError:
            raise
        except _TRANSIENT as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            continue
        if response.status in _RETRY_STATUS:
            last = f"HTTP {response.status}"
            continue
        return response
    shown = f" ({what})" if what else ""
    raise RemoteSourceError(f"{url}{shown} could not be read: {retries + 1} attempts failed, the last with {last}")


def _refused(url: str, response: HttpResponse, what: str) -> Exception:
    if response.status == 404:
        return FileSetError(f"{url} does not exist (HTTP 404)")
    if response.status in (401, 403):
        return RemoteSourceError(f"{url}: access refused (HTTP {response.status}); is the URL public, or still valid "
                                 f"(signed URLs expire)?")
    return RemoteSourceError(f"{url} ({what}): the server answered HTTP {response.status}")


class HttpFile:
    """One remote file read by byte ranges.

    The first read learns the file's size and validator (ETag or Last-Modified) from the reply's
    ``Content-Range``, and where the redirects lead (later reads go there directly; when that URL stops
    working, as a signed one does, it is resolved again from the original). Picklable: a copy carries
    the URL only and reopens its connections.
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.url = url
        self.headers = dict(headers or {})
        self._final: str | None = None
        self._size: int | None = None
        self._validator: str | None = None
        self._head = b""  # the first bytes, once read by head() (not pickled)
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"url": self.url, "headers": self.headers, "size": self._size, "validator": self._validator}

    def __setstate__(self, state):
        self.__init__(state["url"], state["headers"])
        self._size, self._validator = state["size"], state["validator"]

    @property
    def name(self) -> str:
        return self.url

    def _get(self, start: int, stop: int) -> HttpResponse:
        what = f"bytes {start}-{stop - 1}"
        headers = {**self.headers, "Range": f"bytes={start}-{stop - 1}"}
        target = self._final or self.url
        response = http_request(target, headers, what)
        if response.status in (401, 403, 404, 410) and target != self.url:
            response = http_request(self.url, headers, what)  # the resolved URL expired: resolve again
        if response.status not in (200, 206):
            raise _refused(self.url, response, what)
        with self._lock:
            self._final = response.url
        return response

    def _check(self, response: HttpResponse, start: int, stop: int) -> bytes:
        what = f"bytes {start}-{stop - 1}"
        if response.status == 200:
            raise RemoteSourceError(f"{self.url}: the server ignored the range request for {what} (HTTP 200 with the "
                                    "whole file); streaming needs a server that honours Range requests")
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != start or int(match.group(2)) != stop - 1:
            raise RemoteSourceError(f"{self.url}: asked for {what}, the server sent "
                                    f"{response.headers.get('content-range', 'no Content-Range')}")
        if len(response.body) != stop - start:
            raise RemoteSourceError(f"{self.url}: asked for {what}, received {len(response.body)} bytes")
        total = match.group(3)
        validator = response.headers.get("etag") or response.headers.get("last-modified")
        with self._lock:
            if total != "*" and self._size is not None and int(total) != self._size:
                raise RemoteSourceError(f"{self.url} changed while it was read: {self._size} bytes when opened, "
                                        f"{total} now")
            if validator and self._validator and validator != self._validator:
                raise RemoteSourceError(f"{self.url} changed while it was read (its validator was {self._validator!r}, "
                                        f"now {validator!r})")
            if self._size is None and total != "*":
                self._size = int(total)
            self._validator = self._validator or validator
        return response.body

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``start:stop`` of the file, exactly (the range must lie inside the file)."""
        if stop <= start:
            return b""
        if stop <= len(self._head):
            return self._head[start:stop]
        if self._size is not None and stop > self._size:
            raise RemoteSourceError(f"{self.url}: bytes {start}-{stop - 1} lie past its end ({self._size} bytes); "
                                    "the file is damaged or truncated")
        response = self._get(start, stop)
        if response.status == 416:
            raise RemoteSourceError(f"{self.url}: bytes {start}-{stop - 1} lie past its end")
        return self._check(response, start, stop)

    def head(self, count: int) -> bytes:
        """The first ``count`` bytes of the file (fewer for a smaller file); learns its size on the way, and keeps
        them for the next :meth:`read` of a range they cover."""
        if len(self._head) >= count:
            return self._head[:count]
        response = self._get(0, count)
        if response.status == 416:  # an empty file
            with self._lock:
                self._size = 0
            return b""
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is not None and match.group(3) != "*" and int(match.group(3)) < count:
            data = self._check(response, 0, int(match.group(3)))
        else:
            data = self._check(response, 0, count)
        self._head = data
        return data

    def size(self) -> int:
        """Bytes of the file."""
        if self._size is None:
            self.head(1)
        if self._size is None:
            raise RemoteSourceError(f"{self.url}: the server does not say how large the file is")
        return self._size

    @property
    def validator(self) -> str | None:
        """The ETag (or Last-Modified) of the file, once read."""
        return self._validator


class HttpStore:
    """Objects under one base URL read whole (a Zarr store over HTTP): ``get(key)`` is None when absent."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})

    @property
    def name(self) -> str:
        return self.url

    def key_url(self, key: str) -> str:
        return f"{self.url}/{urllib.parse.quote(key)}"

    def get(self, key: str) -> bytes | None:
        url = self.key_url(key)
        response = http_request(url, self.headers, f"object {key}")
        if response.status in (403, 404):  # S3 answers 403 for a missing key of a bucket that cannot be listed
            return None
        if response.status != 200:
            raise _refused(url, response, f"object {key}")
        length = response.headers.get("content-length")
        if length is not None and int(length) != len(response.body):
            raise RemoteSourceError(f"{url}: announced {length} bytes, received {len(response.body)}")
        return response.body

    def get_range(self, key: str, start: int, stop: int) -> bytes | None:
        """Bytes ``start:stop`` of object ``key`` (None when the object is absent)."""
        file = HttpFile(self.key_url(key), self.headers)
        try:
            return file.read(start, stop)
        except FileSetError:
            return None

    def size(self, key: str) -> int | None:
        file = HttpFile(self.key_url(key), self.headers)
        try:
            return file.size()
        except FileSetError:
            return None

    def get_suffix(self, key: str, count: int) -> bytes | None:
        """The last ``count`` bytes of object ``key`` (all of it when smaller), in one request; None when absent."""
        url = self.key_url(key)
        what = f"the last {count} bytes"
        response = http_request(url, {**self.headers, "Range": f"bytes=-{count}"}, what)
        if response.status in (403, 404):
            return None
        if response.status == 416:
            return b""
        if response.status != 206:
            raise _refused(url, response, what) if response.status != 200 else RemoteSourceError(
                f"{url}: the server ignored the range request for {what}; streaming needs Range requests")
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is None or match.group(3) == "*" or int(match.group(2)) != int(match.group(3)) - 1 \
                or len(response.body) != int(match.group(2)) - int(match.group(1)) + 1 \
                or len(response.body) != min(count, int(match.group(3))):
            raise RemoteSourceError(f"{url}: asked for {what}, the server sent "
                                    f"{response.headers.get('content-range', 'no Content-Range')} and "
                                    f"{len(response.body)} bytes")
        return response.body
