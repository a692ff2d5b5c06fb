"""Every job's outputs and params, for config.yaml and each preset, are as committed
(tests/params_digest.json): a change to the code that plans the grid reruns no finished run
unless it means to (then: python tests/params_digest.py --write, and a CHANGELOG line)."""

from __future__ import annotations

import json

import pytest
from params_digest import CONFIGS, DIGEST, current, differences, digest

pytestmark = pytest.mark.workflow  # dry runs of every shipped config: about a minute


def test_every_shipped_config_plans_the_jobs_and_params_committed():
    committed = json.loads(DIGEST.read_text())
    assert set(committed) == set(CONFIGS), "a preset was added or removed: python tests/params_digest.py --write"
    changed = differences(committed, current())
    assert not changed, "jobs or params changed (finished runs would rerun):\n" + "\n".join(changed)


def test_the_digest_sees_one_changed_param():
    jobs = [{"rule": "attack", "output": ["a.pt"], "params": {"settings": {"steps": 40}}}]
    edited = [{**jobs[0], "params": {"settings": {"steps": 41}}}]
    assert digest(jobs)["attack"]["jobs"] == 1
    assert differences({"c": digest(jobs)}, {"c": digest(edited)})[0].startswith("c: rule attack:")
    assert differences({"c": digest(jobs)}, {"c": digest(list(reversed(jobs)))}) == []
