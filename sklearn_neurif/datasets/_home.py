"""Where downloaded data files are cached, and how they are fetched.

The real-data loaders read publishers' files from a local cache directory,
``data_home``. It is resolved in this order: the ``data_home`` argument, the
environment variable ``SKLEARN_NEURIF_DATA``, then ``~/sklearn_neurif_data``.
Files are looked up by name case-insensitively (the Ken French library names
its CSVs ``.CSV``), so a directory holding the publishers' files unchanged can
serve as ``data_home`` (the tests point it at ``../shared/data/kenfrench``).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["get_data_home", "find_file", "download"]

#: Environment variable that overrides the default cache directory.
DATA_HOME_ENV = "SKLEARN_NEURIF_DATA"


def get_data_home(data_home=None) -> Path:
    """Return the cache directory of the real-data loaders.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit directory. When None, the environment variable
        ``SKLEARN_NEURIF_DATA`` is used if set, else ``~/sklearn_neurif_data``.

    Returns
    -------
    pathlib.Path
        The directory, with ``~`` expanded. It is not created here (only a
        download creates it), so reading never touches the file system.

    Examples
    --------
    >>> get_data_home("/tmp/my_data").as_posix()
    '/tmp/my_data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or Path("~") / "sklearn_neurif_data"
    return Path(data_home).expanduser()


def find_file(directory: Path, names) -> Path | None:
    """Return the first file of ``directory`` whose name matches one of ``names``.

    Matching ignores case (``F-F_Research_Data_Factors.CSV`` matches
    ``f-f_research_data_factors.csv``). Names are tried in order.
    """
    if not directory.is_dir():
        return None
    present = {p.name.lower(): p for p in directory.iterdir() if p.is_file()}
    for name in names:
        hit = present.get(name.lower())
        if hit is not None:
            return hit
    return None


def download(url: str, target: Path, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target`` (atomically: a partial file never stays).

    Raises
    ------
    OSError
        When the download fails (no network, HTTP error); the message names
        the URL. ``urllib.error.HTTPError`` (a subclass) is re-raised as is so
        that callers can tell a missing file (404) from a network failure.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            partial.write_bytes(response.read())
    except urllib.error.HTTPError:
        partial.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise OSError(f"Could not download {url}: {exc}") from exc
    partial.replace(target)
    return target
