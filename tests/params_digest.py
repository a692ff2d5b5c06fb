"""Every job's outputs and params, for config.yaml and each preset, digested per rule: a change
to the code that plans the grid (a rename, a record in place of a string) must leave them as
they are, or finished runs would rerun. tests/test_params_digest.py compares the digest with
the committed one, tests/params_digest.json.

    python tests/params_digest.py            # print the rules whose jobs changed
    python tests/params_digest.py --write    # after a deliberate change (say in CHANGELOG.md what reruns)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from aedefense.cost.projection import planned_job_records

ROOT = Path(__file__).resolve().parents[1]
DIGEST = Path(__file__).with_name("params_digest.json")
# each shipped config: config.yaml alone, and each preset on top of it
CONFIGS = {"config.yaml": []} | {
    f"presets/{path.name}": [f"presets/{path.name}"] for path in sorted((ROOT / "presets").glob("*.yaml"))
}


def planned_jobs(configfiles: list[str]) -> list[dict]:
    """Every job of a config in an empty directory, with its outputs and params."""
    with tempfile.TemporaryDirectory() as run:
        options = ["--configfile", *[str(ROOT / f) for f in configfiles]] if configfiles else []
        records = planned_job_records(options, directory=run, params=True)
        # paths spelled the same wherever the run directory and the clone lie
        text = json.dumps(records).replace(run, "<run>").replace(str(ROOT), "<workflow>")
    return json.loads(text)


def digest(jobs: list[dict]) -> dict[str, dict]:
    """Per rule: how many jobs, and one sha256 over their outputs and params in a fixed order."""
    by_rule: dict[str, list[str]] = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(json.dumps([job["output"], job["params"]], sort_keys=True))
    return {
        rule: {"jobs": len(lines), "sha256": hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()}
        for rule, lines in sorted(by_rule.items())
    }


def current() -> dict[str, dict]:
    return {name: digest(planned_jobs(files)) for name, files in CONFIGS.items()}


def differences(committed: dict, now: dict) -> list[str]:
    lines = []
    for config in sorted(set(committed) | set(now)):
        before, after = committed.get(config, {}), now.get(config, {})
        for rule in sorted(set(before) | set(after)):
            if before.get(rule) != after.get(rule):
                lines.append(f"{config}: rule {rule}: {before.get(rule)} -> {after.get(rule)}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="write tests/params_digest.json from the current code")
    args = parser.parse_args(argv)
    now = current()
    if args.write:
        DIGEST.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {DIGEST}")
        return 0
    changed = differences(json.loads(DIGEST.read_text()), now)
    print("\n".join(changed) if changed else "every job's outputs and params as committed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
