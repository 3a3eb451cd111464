"""Which sources are remote, and where their bytes are: HTTP(S) as given, public S3 over HTTPS, DANDI through
its client, any other fsspec protocol through fsspec.

- ``http://`` and ``https://``: read as given (redirects followed);
- ``s3://bucket/key``: the bucket's public HTTPS endpoint (``https://bucket.s3.amazonaws.com/key``, or
  ``$AWS_ENDPOINT_URL_S3`` / ``$AWS_ENDPOINT_URL`` path-style), without credentials: public buckets
  (DANDI's) only; a private object is read through a presigned HTTPS URL or with fsspec's ``s3fs``
  (pass ``storage_options``);
- DANDI: ``dandi://DANDI/000123[@version]/sub-x/sub-x_ses-y.nwb``, ``https://dandiarchive.org/dandiset/...``
  and asset URLs (``https://api.dandiarchive.org/api/assets/<id>/download/``) are resolved by the ``dandi``
  client (the ``dandi`` extra) to the asset's S3 URL, read as above;
- any other ``protocol://`` (``gs://``, ``memory://``...): through fsspec, when installed.
"""

from __future__ import annotations

import functools
import os
import re
import urllib.parse

from ...errors import FileSetError, MissingDependencyError, RemoteSourceError

__all__ = ["is_remote", "resolve_url", "is_dandi_url", "s3_to_https", "display_url"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_DANDI_HOSTS = ("dandiarchive.org", "api.dandiarchive.org", "gui.dandiarchive.org", "sandbox.dandiarchive.org",
                "api.sandbox.dandiarchive.org", "gui-staging.dandiarchive.org", "api-staging.dandiarchive.org")


def is_remote(source) -> bool:
    """Whether ``source`` is a URL (``scheme://...``, not ``file://``) rather than a local path."""
    if not isinstance(source, str):
        return False
    match = _SCHEME.match(source)
    return bool(match) and match.group(1).lower() != "file"


def is_dandi_url(url: str) -> bool:
    """Whether ``url`` names a DANDI resource the ``dandi`` client resolves."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "dandi":
        return True
    return parts.scheme.lower() in ("http", "https") and (parts.hostname or "").lower() in _DANDI_HOSTS


def display_url(url: str) -> str:
    """``url`` without its query (signed URLs carry credentials there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="")) if parts.query else url


def s3_to_https(url: str) -> str:
    """The public HTTPS URL of ``s3://bucket/key``."""
    parts = urllib.parse.urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket:
        raise FileSetError(f"{url}: an S3 URL names a bucket (s3://bucket/key)")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{key}"
    if "." in bucket:  # a dotted bucket breaks the certificate of the virtual-hosted name
        return f"https://s3.amazonaws.com/{bucket}/{key}"
    return f"https://{bucket}.s3.amazonaws.com/{key}"


@functools.lru_cache(maxsize=64)
def _dandi_content_url(url: str) -> str:
    """The S3 URL of the one asset ``url`` names, found by the ``dandi`` client (remembered for the process)."""
    try:
        from dandi.dandiarchive import parse_dandi_url
    except ImportError:
        raise MissingDependencyError(f"{url} is a DANDI URL: resolving it needs the dandi client, "
                                     "pip install 'ophysio[dandi]' (or pass the asset's S3 or HTTPS URL)") from None
    try:
        parsed = parse_dandi_url(url)
        with parsed.navigate(strict=True) as (_client, _dandiset, assets):
            found = list(assets)
            if len(found) != 1:
                names = ", ".join(getattr(a, "path", "?") for a in found[:5])
                more = " ..." if len(found) > 5 else ""
                raise FileSetError(f"{url} names {len(found)} DANDI assets ({names}{more}); give the path of one asset")
            asset = found[0]
            try:
                return asset.get_content_url(regex=r"amazonaws\.com/", strip_query=True)
            except Exception:  # noqa: BLE001 - no S3 URL listed: the API's download URL (it redirects)
                return asset.get_content_url(regex=r".*", strip_query=False)
    except (FileSetError, MissingDependencyError):
        raise
    except Exception as exc:  # noqa: BLE001 - the client raises its own NotFoundError, HTTPError, ValueError...
        kind = type(exc).__name__
        if "NotFound" in kind or "UnknownURL" in kind:
            raise FileSetError(f"{url}: DANDI has no such asset ({kind}: {exc})") from exc
        raise RemoteSourceError(f"{url}: the DANDI client could not resolve it ({kind}: {exc})") from exc


def resolve_url(url: str) -> str:
    """The URL the bytes of ``url`` are read from (see the module documentation)."""
    scheme = _SCHEME.match(url).group(1).lower()
    if is_dandi_url(url):
        resolved = _dandi_content_url(url)
        return s3_to_https(resolved) if resolved.lower().startswith("s3://") else resolved
    if scheme == "s3":
        return s3_to_https(url)
    return url
