"""A real HTTP file server for tests and benchmarks: Range requests, keep-alive, counted, with injectable faults.

:class:`RangeServer` serves the files of one folder on ``127.0.0.1`` only (a port the system picks), with
HTTP/1.1 keep-alive and single byte-range requests (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) answered
``206`` with ``Content-Range``, as nginx and S3 answer them. It counts every request and every body byte
it sends (:attr:`RangeServer.requests`, :attr:`RangeServer.bytes_sent`, :attr:`RangeServer.log`), so that
a test or a benchmark can say how many requests and bytes a read took. Faults for the error paths:
``drop_next(n)`` cuts the next ``n`` replies halfway through their body (the connection closes),
``drop_all = True`` cuts every one; ``set_latency(ms)`` delays every reply (a network's round trip);
``/redirect/<path>`` answers ``302`` to ``/<path>`` (a DANDI asset URL
redirects to its S3 object the same way).

Used as a context manager::

    with RangeServer(folder) as server:
        extractor = open_imaging(server.url("session.nwb"))
        print(server.requests, server.bytes_sent)

:class:`ProcessRangeServer` runs the same server in a child process (``python -m
ophysio.testing.http_server FOLDER``), with the same attributes read through its control URLs
(``/__ophysio__/stats``, ``/__ophysio__/reset``, ``/__ophysio__/drop?count=N``, ``/__ophysio__/drop_all?on=1``):
the client then does not share its process (threads, file descriptors, the GIL) with the server, as with a
real one. Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit
from urllib.request import ProxyHandler, build_opener

__all__ = ["RangeServer", "ProcessRangeServer", "LoggedRequest"]
_CONTROL = "/__ophysio__/"

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

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False,
               length: int | None = None, source: Path | None = None, offset: int = 0) -> None:
        """Send a reply: ``body``, or ``length`` bytes of ``source`` from ``offset`` (sent in pieces, so that a
        client that stops reading costs the server nothing more); the bytes sent are logged either way."""
        latency = self.server.owner.latency_s
        if latency:
            time.sleep(latency)
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        total = len(body) if length is None else length
        self.send_header("Content-Length", str(total))
        self.end_headers()
        cut = self.server.owner._take_fault()
        limit = total // 2 if cut else total
        sent = 0
        try:
            if not head and total:
                if source is None:
                    self.wfile.write(body[:limit])
                    sent = limit
                else:
                    with open(source, "rb") as fh:
                        fh.seek(offset)
                        while sent < limit:
                            piece = fh.read(min(1 << 20, limit - sent))
                            if not piece:
                                break
                            self.wfile.write(piece)
                            sent += len(piece)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client went away
            self.close_connection = True
        finally:
            self.server.owner._record(LoggedRequest(self.path, self.headers.get("Range"), status, sent))
        if cut:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    def _control(self, path: str, query: dict) -> None:
        owner = self.server.owner
        command = path[len(_CONTROL):]
        if command == "reset":
            owner.reset()
        elif command == "drop":
            owner.drop_next(int(query.get("count", ["1"])[0]))
        elif command == "drop_all":
            owner.drop_all = query.get("on", ["1"])[0] == "1"
        elif command == "latency":
            owner.latency_s = float(query.get("ms", ["0"])[0]) / 1000.0
        elif command != "stats":
            body = b"unknown command"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = json.dumps({"requests": owner.requests, "bytes_sent": owner.bytes_sent,
                           "log": [[e.path, e.range, e.status, e.nbytes] for e in owner.log]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if path.startswith(_CONTROL):
            self._control(path, parse_qs(parts.query))
            return
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
            self._reply(200, headers=headers, head=head, length=size, source=target)
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
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        self._reply(206, headers=headers, head=head, length=stop - start, source=target, offset=start)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RangeServer

    def handle_error(self, request, client_address):  # a client that hangs up is no server error
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


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
        #: seconds each reply waits before it is sent (a network's round trip; 0 on loopback)
        self.latency_s = 0.0
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

    def set_latency(self, milliseconds: float) -> None:
        """Make each reply wait ``milliseconds`` (a network's round trip)."""
        self.latency_s = float(milliseconds) / 1000.0

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


class ProcessRangeServer:
    """:class:`RangeServer` in a child process (see the module documentation); the same attributes."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self._process: subprocess.Popen | None = None
        self.base_url = ""

    def start(self) -> ProcessRangeServer:
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._process = subprocess.Popen([sys.executable, "-m", "ophysio.testing.http_server", str(self.root)],
                                         stdout=subprocess.PIPE, text=True, env=env)
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the range server did not start (it said {line!r})")
        self.base_url = line
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._process = None

    def __enter__(self) -> ProcessRangeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def url(self, relative: str | os.PathLike = "") -> str:
        path = Path(relative)
        if path.is_absolute():
            path = path.resolve().relative_to(self.root)
        return f"{self.base_url}/{quote(path.as_posix())}".rstrip("/")

    def _command(self, command: str) -> dict:
        opener = build_opener(ProxyHandler({}))  # our own server on 127.0.0.1: never through a proxy
        with opener.open(f"{self.base_url}{_CONTROL}{command}", timeout=30) as reply:
            return json.loads(reply.read())

    @property
    def requests(self) -> int:
        return int(self._command("stats")["requests"])

    @property
    def bytes_sent(self) -> int:
        return int(self._command("stats")["bytes_sent"])

    @property
    def log(self) -> list[LoggedRequest]:
        return [LoggedRequest(*entry) for entry in self._command("stats")["log"]]

    def stats(self) -> tuple[int, int]:
        """``(requests, bytes_sent)`` at once."""
        found = self._command("stats")
        return int(found["requests"]), int(found["bytes_sent"])

    def reset(self) -> None:
        self._command("reset")

    def drop_next(self, count: int = 1) -> None:
        self._command(f"drop?count={int(count)}")

    def set_latency(self, milliseconds: float) -> None:
        """Make each reply wait ``milliseconds`` (a network's round trip)."""
        self._command(f"latency?ms={float(milliseconds)}")

    @property
    def drop_all(self) -> bool:
        return False

    @drop_all.setter
    def drop_all(self, on: bool) -> None:
        self._command(f"drop_all?on={1 if on else 0}")


def main(argv: list[str] | None = None) -> int:
    """Serve a folder until terminated; print the base URL first."""
    import signal

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ophysio.testing.http_server FOLDER", file=sys.stderr)
        return 2
    server = RangeServer(args[0]).start()
    print(server.base_url, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
