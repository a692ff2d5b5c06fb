"""Rule download: fetch and verify one official file (aedefense/data/download.py).

The source (the mirror), the checksum lock file and the download settings are read from the
config here rather than handed over as params: a verified file is the same file wherever it
came from, so a changed mirror or a moved clone must not make anything rebuild."""

import sys
from pathlib import Path

from aedefense.data.download import DownloadError, download_one
from aedefense.jobs.watchdog import stop_with_parent
from aedefense.plan.config import resolve_path

config = snakemake.config
stop_with_parent()  # no orphan: the download ends with its snakemake
workflow_root = Path(snakemake.scriptdir).parents[1]  # <root>/workflow/scripts
try:
    download_one(
        snakemake.wildcards.dataset,
        snakemake.wildcards.filename,
        snakemake.output[0],
        snakemake.log[0],
        config["mirror"],
        resolve_path(config["checksum_lock"], workflow_root),
        config["download"],
        snakemake.params.expected,
        list(config["datasets"]),
        trust_mirror=config["mirror_checksums"] == "mirror",
    )
except DownloadError as error:
    print(f"DownloadError: {error}\n(log: {snakemake.log[0]})", file=sys.stderr)
    sys.exit(1)
