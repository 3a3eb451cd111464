"""A remote file read through fsspec, for URL protocols other than HTTP(S), public S3 and DANDI (``gs://``,
``memory://``, ``s3://`` with credentials through ``storage_options``...): the same ``size()`` and exact
``read(start, stop)`` as :class:`~ophysio.extractors._remote.http.HttpFile`, errors naming the URL."""

from __future__ import annotations

from ...errors import FileSetError, MissingDependencyError, RemoteSourceError

__all__ = ["FsspecFile", "filesystem_for"]


def filesystem_for(url: str, storage_options: dict | None = None):
    """``(filesystem, path)`` of an fsspec URL."""
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError(f"{url}: reading this kind of URL needs fsspec, pip install 'ophysio[remote]' "
                                     "(HTTP(S), public S3 and DANDI URLs need nothing more)") from None
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        raise MissingDependencyError(f"{url}: fsspec cannot open this protocol ({exc})") from exc
    return fs, path.rstrip("/")


class FsspecFile:
    """One file of an fsspec filesystem read by byte ranges."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = url
        self.storage_options = dict(storage_options or {})
        self._fs = None
        self._size: int | None = None

    @property
    def name(self) -> str:
        return self.url

    def __getstate__(self):
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state):
        self.__init__(state["url"], state["storage_options"])

    def _filesystem(self):
        if self._fs is None:
            self._fs, self._path = filesystem_for(self.url, self.storage_options)
        return self._fs

    def size(self) -> int:
        if self._size is None:
            fs = self._filesystem()
            try:
                self._size = int(fs.size(self._path))
            except FileNotFoundError:
                raise FileSetError(f"{self.url} does not exist") from None
            except Exception as exc:  # noqa: BLE001 - each backend raises its own errors
                raise RemoteSourceError(f"{self.url}: its size could not be read ({type(exc).__name__}: {exc})") \
                    from exc
        return self._size

    def read(self, start: int, stop: int) -> bytes:
        if stop <= start:
            return b""
        fs = self._filesystem()
        try:
            data = fs.cat_file(self._path, start=start, end=stop)
        except FileNotFoundError:
            raise FileSetError(f"{self.url} does not exist (it may have been removed since it was opened)") from None
        except Exception as exc:  # noqa: BLE001
            raise RemoteSourceError(f"{self.url} (bytes {start}-{stop - 1}) could not be read "
                                    f"({type(exc).__name__}: {exc})") from exc
        if len(data) != stop - start:
            raise RemoteSourceError(f"{self.url}: asked for bytes {start}-{stop - 1}, received {len(data)}")
        return data

    def head(self, count: int) -> bytes:
        """The first ``count`` bytes (fewer for a smaller file)."""
        return self.read(0, min(count, self.size()))

    @property
    def validator(self) -> str | None:
        return None
