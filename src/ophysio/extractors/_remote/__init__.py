"""Streaming remote sources: bytes fetched by range over HTTP(S) (public S3 and DANDI included) or fsspec.

Nothing is downloaded whole. :mod:`.urls` says where a URL's bytes are (S3 over HTTPS, DANDI through its
client); :mod:`.http` fetches byte ranges and objects with keep-alive, redirects and retries, and raises
:class:`~ophysio.errors.RemoteSourceError` naming the URL when it cannot; :mod:`.blocks` turns a remote file
into the file object h5py reads an HDF5 file's structure through (blocks in a bounded LRU, optionally on
disk); :mod:`.chunks` reads pixels by whole chunks through a bounded LRU shared by an extractor's reads,
fetching the chunks of a read in parallel.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .urls import display_url, is_remote, resolve_url

__all__ = ["is_remote", "resolve_url", "display_url", "open_range_source"]

_recent: OrderedDict[str, object] = OrderedDict()
_recent_lock = threading.Lock()


def open_range_source(url: str, storage_options: dict | None = None):
    """The remote file ``url`` (resolved: S3 and DANDI become HTTPS) as a range source.

    The last few sources are kept, so that detection and the reader share one (the first block detection
    fetched is not fetched again).
    """
    if not storage_options:
        with _recent_lock:
            found = _recent.get(url)
            if found is not None:
                _recent.move_to_end(url)
                return found
    resolved = resolve_url(url)
    if resolved.lower().startswith(("http://", "https://")) and not storage_options:
        from .http import HttpFile

        source = HttpFile(resolved)
        with _recent_lock:
            _recent[url] = source
            while len(_recent) > 8:
                _recent.popitem(last=False)
        return source
    from .fsspec_file import FsspecFile

    return FsspecFile(resolved, storage_options)
