"""Fetching a dataset file: a progress bar, a checksum, and never a half-written file.

The bytes stream into a temporary file beside the destination while their MD5 is
computed. Only a file whose checksum matches the published one is renamed into place
(os.replace, atomic within one file system); an interrupted or corrupted download is
removed, so a file under its final name is always complete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from volnet.files import permissions_of_a_new_file

CHUNK_BYTES = 1 << 16


def download(url: str, destination, md5: str) -> Path:
    """Fetch `url` (http, https or file) to `destination`, checking its MD5.

    Args:
        url: where the file is published.
        destination: the path to write; its folder is created if needed.
        md5: the published MD5 checksum, 32 hex digits.

    Returns:
        the destination path.

    Raises:
        ValueError: the checksum does not match; nothing is left on disk.
        urllib.error.URLError: the file could not be fetched (offline, wrong address).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    checksum = hashlib.md5(usedforsecurity=False)
    partial = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by the with below; removed on failure)
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part", delete=False
    )
    try:
        permissions_of_a_new_file(partial.fileno())
        with partial, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=destination.name) as progress:
                while chunk := response.read(CHUNK_BYTES):
                    partial.write(chunk)
                    checksum.update(chunk)
                    progress.update(len(chunk))
        if checksum.hexdigest() != md5:
            raise ValueError(
                f"{url}: checksum mismatch: expected MD5 {md5}, got {checksum.hexdigest()}. The download was "
                "corrupted or the file changed upstream, so it was removed. Try again; if it persists, fetch the "
                "file by hand and compare its MD5 with the published one."
            )
        os.replace(partial.name, destination)
    except BaseException:
        Path(partial.name).unlink(missing_ok=True)
        raise
    return destination
