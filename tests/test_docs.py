"""The documentation holds together: a short README, and every link in it and in docs/
resolves to a file, or a heading of one, in the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text, fenced, found = page.read_text(), False, set()
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6} (.+)$", line)):
            found.add(slug(match[1]))
    return found


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_link_resolves_to_a_file_or_heading():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}: {target}"
            if not file.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{where} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_slug_is_githubs():
    assert slug("The whole grid, and quicker routes") == "the-whole-grid-and-quicker-routes"
    assert slug("Classifier `[code]`") == "classifier-code"


def docs_generator():
    """docs/generate.py, which writes the docs' generated blocks."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", ROOT / "docs" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate


def test_the_claims_tables_in_the_docs_are_the_committed_claims_csv():
    """README's claims table and docs/reproduction.md's verdicts: generated, never edited."""
    for path, text in docs_generator().generated().items():
        assert path.read_text() == text, f"{path.name} differs from its claims tables: run make docs"


def test_every_number_of_the_readme_claims_table_is_in_its_claims_csv():
    """Each effect range of the README's table is the smallest and largest effect of that
    claim's comparisons in the claims.csv of its column, and each verdict that row's."""
    import pandas as pd

    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- generated: claims,")[1].split("<!-- end of generated: claims -->")[0]
    rows = [line.split(" | ") for line in block.strip().splitlines()[3:]]
    # the table's columns: the claim, by whom, then one per claims.csv
    columns = {2 + index: pd.read_csv(path) for index, path in enumerate(docs_generator().README_COLUMNS.values())}
    assert len(columns) >= 2
    checked = 0
    for row in rows:
        claim = row[0].lstrip("| ").split(":")[0]
        for index, table in columns.items():
            for part in row[index].rstrip(" |").split("<br>"):
                if part == "not judged":  # a run in progress: its claims.csv has no row of the claim yet
                    assert not (table["claim"] == claim).any(), claim
                    continue
                match = re.match(
                    r"([a-z-]+): \*\*([a-z ]+)\*\*: (\d+) of (\d+) .*effects ([-+0-9.]+)(?: to ([-+0-9.]+))?", part
                )
                assert match, part
                dataset, verdict, held, total, low, high = match.groups()
                source = table[(table["claim"] == claim) & (table["dataset"] == dataset)]
                line = source[source["level"] == "claim"].iloc[0]
                compared = source[source["level"] == "comparison"]
                assert verdict == line["verdict"] and int(total) == len(compared)
                assert int(held) == (compared["verdict"] == "holds").sum()
                assert float(low) == round(100 * compared["effect"].min(), 1)
                assert float(high or low) == round(100 * compared["effect"].max(), 1)
                checked += 1
    assert checked >= 14


@pytest.mark.parametrize(
    "script",
    [
        "examples/defences/bitdepth.py",
        "examples/defences/noisy_smoothing.py",
        "examples/defences/shift_ensemble.py",
        "examples/defences/denoiser.py",
        "benchmarks/attack_throughput.py",
        "benchmarks/training_throughput.py",
        "benchmarks/workflow_overhead.py",
        "benchmarks/profile_run.py",
        "benchmarks/estimate_check.py",
    ],
)
def test_every_script_the_docs_name_answers_help_with_whole_sentences(script):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    description = done.stdout.split("\n\n")[1]
    assert description.rstrip().endswith((".", ":")), description  # not cut mid-sentence
    lines = done.stdout.split("options:")[1].splitlines()[1:]
    for index, line in enumerate(lines):  # each option explained: help on its line or the next
        if not re.match(r"  -", line) or line.strip().startswith("-h, --help"):  # an option, not a wrapped help line
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        same_line = re.search(r"\S\s{2,}\S", line.strip())
        next_line = following.startswith(" " * 10) and not following.strip().startswith("-")
        assert same_line or next_line, f"{script}: {line.strip()} has no help text"
