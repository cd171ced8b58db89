"""Step 1 of the pipeline: fetch the CIFAR-10 archive and prove it is the expected file.

Works for ``http(s)://`` and ``file://`` URLs (a local mirror or a pre-placed copy). The file
is streamed to a temporary name beside the destination, hashed on the way, and renamed into
place only when its MD5 matches: nothing under the final name is ever partial or unverified.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from onelayer.atomic import atomic_path
from onelayer.errors import ChecksumError, DownloadError

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def md5sum(path: str | os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_md5(name: str, actual: str, expected: str, size: int) -> None:
    """Raise ChecksumError naming ``name`` and both checksums unless they match."""
    if actual != expected.lower():
        raise ChecksumError(
            f"{name}: MD5 checksum mismatch: expected {expected.lower()}, got {actual} "
            f"({size:,} bytes). The file is corrupt, truncated or not the archive configured in "
            "cifar10.url; if it is a trusted mirror with other content, set cifar10.md5 to its "
            "checksum."
        )


def verify_md5(path: str | os.PathLike, expected: str) -> None:
    """Raise ChecksumError naming the file and both checksums unless they match."""
    check_md5(str(path), md5sum(path), expected, Path(path).stat().st_size)


def _stream(url: str, out, timeout: float) -> str:
    """Copy ``url`` into the open file ``out``; return the MD5 of what was written."""
    h = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length else None
        done, last_report = 0, 0.0
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            out.write(chunk)
            h.update(chunk)
            done += len(chunk)
            now = time.monotonic()
            if now - last_report >= 2.0:
                last_report = now
                pct = f" ({100 * done / total:5.1f} %)" if total else ""
                log.info(
                    "downloaded %s of %s bytes%s", f"{done:,}", f"{total:,}" if total else "?", pct
                )
        if total is not None and done != total:
            raise urllib.error.ContentTooShortError(
                f"{url}: transfer ended after {done:,} of {total:,} bytes", None
            )
    log.info("downloaded %s bytes", f"{done:,}")
    return h.hexdigest()


def fetch(
    url: str,
    dest: str | os.PathLike,
    md5: str,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 2.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify its MD5; retry transfer failures.

    A checksum mismatch is not retried (the same server would send the same bytes):
    it raises ChecksumError and leaves no file under ``dest``.
    """
    dest = Path(dest)
    # Leftovers of a download that was killed (no rename happened): start clean.
    for stale in dest.parent.glob(f".{dest.name}.*.part"):
        log.info("removing %s left by an interrupted download", stale)
        stale.unlink()
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            with atomic_path(dest) as tmp:
                log.info("fetching %s (attempt %d of %d)", url, attempt, retries)
                with open(tmp, "wb") as out:
                    actual = _stream(url, out, timeout)
                check_md5(url, actual, md5, tmp.stat().st_size)
            log.info("verified MD5 %s -> %s", actual, dest)
            return dest
        except ChecksumError:
            raise
        except (OSError, urllib.error.URLError) as err:  # includes HTTP errors and short reads
            last_error = err
            log.warning("attempt %d failed: %s", attempt, err)
            if isinstance(err, urllib.error.HTTPError) and 400 <= err.code < 500:
                break  # 404 and friends will not heal by retrying
            if attempt < retries:
                time.sleep(backoff * attempt)
    raise DownloadError(f"could not download {url} after {attempt} attempt(s): {last_error}")
