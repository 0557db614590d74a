"""The per-method pages: one for every registered family, each linked from the README, every
relative link and picture on them pointing at a file that exists, and every number in their
benchmark tables present in the benchmark page they cite (none typed in by hand)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = ROOT / "docs" / "methods"


def test_readme_keeps_demo_and_test_first_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    commands = [l for l in readme.splitlines() if l.startswith("make ")]
    assert commands[:2] and commands[0].startswith("make demo") and commands[1].startswith("make test")
    block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block[0].startswith("make demo") and block[1].startswith("make test")
    assert "## From Python" in readme and "kinema.pipelines.load(" in readme
    for page in sorted(PAGES.glob("*.md")):
        assert f"(docs/methods/{page.name})" in readme, page.name


def test_every_family_has_a_page():
    from kinema.registry import entries

    families = {e.family.split(".")[0] for e in entries()}
    assert families <= {p.stem for p in PAGES.glob("*.md")}


@pytest.mark.parametrize("page", sorted(PAGES.glob("*.md")), ids=lambda p: p.name)
def test_links_resolve_and_table_numbers_come_from_the_benchmarks(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (page.parent / target).resolve().exists(), target
    cited = " ".join((page.parent / t).read_text() for t in re.findall(r"\]\(([^)]+\.md)\)", text)
                     if (page.parent / t).exists())
    for line in text.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            for number in re.findall(r"(?<![\w.])\d+\.\d+(?:e-?\d+)?", line):
                assert number in cited, (page.name, number, line)
