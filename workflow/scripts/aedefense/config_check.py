"""The whole check of a config before any job: aedefense.plan.config's schema and rules, then
what only the lower layers can tell: that the mirror parses (aedefense.data.download) and that
each user defence loads and keeps its contract's declarations (aedefense.core.defences, which
imports the defence's callable). The Snakefile checks the config with this."""

from __future__ import annotations

from pathlib import Path

from aedefense.plan.config import validate_config


def mirror_problems(config: dict) -> list[str]:
    from aedefense.data.download import DownloadError, parse_mirror

    if not config["mirror"]:
        return []
    try:
        parse_mirror(config["mirror"])
    except DownloadError as error:
        return [f"mirror: {error}"]
    return []


def defence_problems(config: dict) -> list[str]:
    from aedefense.core.defences import WORKFLOW_ROOT, entry_problems

    return [
        problem for name, entry in config["defences"].items() for problem in entry_problems(name, entry, WORKFLOW_ROOT)
    ]


def check_config(config: dict, schema_path: str | Path) -> dict:
    """validate_config with the mirror and the user defences checked too; raises ConfigError."""
    return validate_config(config, schema_path, checks=(mirror_problems, defence_problems))
