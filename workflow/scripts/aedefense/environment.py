"""The environment the Snakefile hands its jobs."""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def library_first_for_jobs(library: str, environ: MutableMapping[str, str] = os.environ) -> None:
    """Put the workflow's own library first on PYTHONPATH, which the jobs inherit: Snakemake
    appends a job script's folder to sys.path after site-packages, where an installed
    aedefense (an editable install of another checkout) would win.

    >>> environ = {"PYTHONPATH": "/elsewhere"}
    >>> library_first_for_jobs("/workflow/scripts", environ); environ["PYTHONPATH"].split(os.pathsep)
    ['/workflow/scripts', '/elsewhere']
    >>> library_first_for_jobs("/workflow/scripts", environ); environ["PYTHONPATH"].split(os.pathsep)
    ['/workflow/scripts', '/elsewhere']
    """
    paths = [path for path in environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    environ["PYTHONPATH"] = os.pathsep.join([library, *(path for path in paths if path != library)])
