"""Download a data file from the first mirror that answers, verified by SHA-256, written atomically."""

import hashlib
import http.client
import os
import secrets
import shutil
import urllib.parse
import urllib.request

from minigan.errors import MiniganError

# Short, because an offline machine should fall back to a local source at once; the timeout
# bounds each socket operation, not the whole transfer, so a slow but live link still finishes.
DOWNLOAD_TIMEOUT_S = 10


class DownloadFailed(OSError):
    """No mirror could be reached (offline, firewalled, or the cache folder is not writable)."""


def sha256_of(path):
    """The SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_url(url, f, timeout):
    """Copy the body of an HTTP(S) response into an open binary file.

    Args:
        url (str): what to fetch.
        f: a file object opened for binary writing.
        timeout (float): seconds allowed for each socket operation.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response:
        shutil.copyfileobj(response, f, 1 << 20)


def download_verified(filename, mirrors, sha256, dest_dir, timeout=DOWNLOAD_TIMEOUT_S):
    """Download ``filename`` into ``dest_dir`` from the first mirror that serves the right bytes.

    The body goes to a temporary file beside the destination and is moved into place with
    ``os.replace`` only once its SHA-256 matches, so the cache never holds a partial or bad file,
    whatever stops the transfer (a dropped connection, a timeout, Ctrl-C).

    Args:
        filename (str): file name, appended to each mirror URL.
        mirrors (sequence of str): base URLs ending in "/".
        sha256 (str): expected digest, lowercase hex.
        dest_dir (str): folder to store the file in; created when missing.
        timeout (float): seconds per socket operation.
    Returns:
        str: the path of the verified file.
    Raises:
        MiniganError: a mirror answered, but with bytes of the wrong checksum.
        DownloadFailed: no mirror could be reached.
    """
    final = os.path.join(dest_dir, filename)
    created = not os.path.isdir(dest_dir)
    try:
        os.makedirs(dest_dir, exist_ok=True)
    except OSError as e:
        raise DownloadFailed(f"cannot create {dest_dir}: {e.strerror or e}") from e
    failures, mismatches = [], []
    for base in mirrors:
        url = base + filename
        # open(..., "xb") rather than mkstemp: the kept file gets the usual umask permissions
        tmp = os.path.join(dest_dir, f".{filename}.{os.getpid()}.{secrets.token_hex(4)}.part")
        try:
            f = open(tmp, "xb")
        except OSError as e:
            raise DownloadFailed(f"cannot write in {dest_dir}: {e.strerror or e}") from e
        try:
            with f:
                fetch_url(url, f, timeout)
            digest = sha256_of(tmp)
            if digest == sha256:
                os.replace(tmp, final)
                return final
            mismatches.append(f"{url} gave SHA-256 {digest[:16]}...")
        except (OSError, http.client.HTTPException) as e:  # URLError and timeouts are OSErrors
            reason = getattr(e, "reason", None) or e or type(e).__name__
            got = os.path.getsize(tmp) if os.path.exists(tmp) else 0
            if got:  # a transfer cut short: its partial file is removed below, never kept
                reason = f"interrupted after {got} bytes: {reason}"
            failures.append(f"{urllib.parse.urlsplit(url).netloc}: {reason}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    if created and not os.listdir(dest_dir):
        os.rmdir(dest_dir)  # an offline run leaves no empty cache folder behind
    if mismatches:
        raise MiniganError(
            f"downloaded {filename} does not match its expected SHA-256 {sha256[:16]}... "
            f"({'; '.join(mismatches)}), so it was not kept; a proxy or captive portal may be answering "
            f"for the mirror: check the connection and re-run, or put a good copy in {dest_dir}.")
    raise DownloadFailed("; ".join(failures))
