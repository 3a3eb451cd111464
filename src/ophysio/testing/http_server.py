"""A real HTTP file server for tests and benchmarks: Range requests, keep-alive, counted, with injectable faults.

:class:`RangeServer` serves the files of one folder on ``127.0.0.1`` only (a port the system picks), with
HTTP/1.1 keep-alive and single byte-range requests (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) answered
``206`` with ``Content-Range``, as nginx and S3 answer them. It counts every request and every body byte
it sends (:attr:`RangeServer.requests`, :attr:`RangeServer.bytes_sent`, :attr:`RangeServer.log`), so that
a test or a benchmark can say how many requests and bytes a read took. Faults for the error paths:
``drop_next(n)`` cuts the next ``n`` replies halfway through their body (the connection closes),
``drop_all = True`` cuts every one; ``/redirect/<path>`` answers ``302`` to ``/<path>`` (a DANDI asset URL
redirects to its S3 object the same way).

Used as a context manager::

    with RangeServer(folder) as server:
        extractor = open_imaging(server.url("session.nwb"))
        print(server.requests, server.bytes_sent)
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

__all__ = ["RangeServer", "LoggedRequest"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class LoggedRequest:
    """One request the server answered: path, the Range header (or None), status, body bytes sent."""

    path: str
    range: str | None
    status: int
    nbytes: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # quiet: the server keeps its own log
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.owner._take_fault()
        sent = 0
        if not head and body:
            if cut:
                half = body[: len(body) // 2]
                self.wfile.write(half)
                self.wfile.flush()
                sent = len(half)
                self.close_connection = True
            else:
                self.wfile.write(body)
                sent = len(body)
        self.server.owner._record(LoggedRequest(self.path, self.headers.get("Range"), status, sent))
        if cut:
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    def _serve(self, head: bool) -> None:
        owner = self.server.owner
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/redirect/"):
            self._reply(302, headers={"Location": "/" + quote(path[len("/redirect/"):])}, head=head)
            return
        target = owner._resolve(path)
        if target is None:
            self._reply(404, b"not found", head=head)
            return
        size = target.stat().st_size
        stat = target.stat()
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"',
                   "Content-Type": "application/octet-stream"}
        spec = self.headers.get("Range")
        if spec is None:
            self._reply(200, b"" if head else target.read_bytes(), headers, head)
            return
        match = _RANGE.match(spec.strip())
        if match is None or match.group(1) == match.group(2) == "":
            self._reply(416, headers={"Content-Range": f"bytes */{size}"}, head=head)
            return
        first, last = match.group(1), match.group(2)
        if first == "":
            start, stop = max(size - int(last), 0), size
        else:
            start = int(first)
            stop = size if last == "" else min(int(last) + 1, size)
        if start >= size or stop <= start:
            self._reply(416, headers={"Content-Range": f"bytes */{size}"}, head=head)
            return
        with open(target, "rb") as fh:
            fh.seek(start)
            body = fh.read(stop - start) if not head else b""
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        self._reply(206, body, headers, head)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RangeServer


class RangeServer:
    """Serve ``root`` over HTTP on 127.0.0.1 (see the module documentation).

    Parameters
    ----------
    root : path
        The folder whose files are served (nothing outside it is).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self.log: list[LoggedRequest] = []
        self._drops = 0
        self.drop_all = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- life
    def start(self) -> RangeServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="ophysio-range-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ---------------------------------------------------------------- addresses
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, relative: str | os.PathLike = "") -> str:
        """The URL of a file (or folder) under the root, given relative to it or as a path inside it."""
        path = Path(relative)
        if path.is_absolute():
            path = path.resolve().relative_to(self.root)
        return f"{self.base_url}/{quote(path.as_posix())}".rstrip("/")

    def _resolve(self, path: str) -> Path | None:
        target = (self.root / path.lstrip("/")).resolve()
        if target != self.root and self.root not in target.parents:
            return None
        return target if target.is_file() else None

    # ---------------------------------------------------------------- counting and faults
    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def _take_fault(self) -> bool:
        with self._lock:
            if self.drop_all:
                return True
            if self._drops > 0:
                self._drops -= 1
                return True
            return False

    def drop_next(self, count: int = 1) -> None:
        """Cut the next ``count`` replies halfway through their body."""
        with self._lock:
            self._drops = int(count)

    @property
    def requests(self) -> int:
        """Requests answered since the start (or the last :meth:`reset`)."""
        with self._lock:
            return len(self.log)

    @property
    def bytes_sent(self) -> int:
        """Body bytes sent since the start (or the last :meth:`reset`)."""
        with self._lock:
            return sum(entry.nbytes for entry in self.log)

    def reset(self) -> None:
        """Forget the counted requests (faults are kept)."""
        with self._lock:
            self.log.clear()
