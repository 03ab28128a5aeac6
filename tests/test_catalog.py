"""The map of the chapter (minireg/catalog.py) cannot rot: every file, name, test, docs
section, example and experiment it names exists; it lists every technique of the
project's catalog; its section numbers are those of docs/section-numbers.md; the docs
page is the one generated from it; and ``minireg catalog [WORD]`` prints it."""
import ast
import re
from pathlib import Path

import pytest

from minireg import catalog, cli
from minireg.experiments import EXPERIMENTS
from test_docs import CHECKOUT, DOCS, SECTION_TABLE

TECHNIQUES = catalog.TECHNIQUES
FENCED = re.compile(r"^```.*?^```", re.S | re.M)


def top_level_names(path):
    """The classes, functions and assigned names a Python file defines at its top level."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def heading_anchors(page):
    """The anchors of the level 1-3 headings of a docs page (code blocks left out)."""
    text = FENCED.sub("", (DOCS / page).read_text(encoding="utf-8"))
    return {catalog.slug(title) for title in re.findall(r"^#{1,3} (.+?)\s*$", text, re.M)}


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda technique: technique.id)
def test_every_file_name_test_docs_section_and_example_exists(technique):
    for entry in technique.code:
        path, name = entry.split(":")
        assert name in top_level_names(CHECKOUT / path), entry
    for entry in technique.tests:
        path, name = entry.split("::")
        assert name in top_level_names(CHECKOUT / path), entry
    if technique.docs:
        page, heading = technique.docs
        assert catalog.slug(heading) in heading_anchors(page), technique.docs
    for item in technique.shown_by:
        if item.startswith("minireg run "):
            assert item.removeprefix("minireg run ") in EXPERIMENTS, item
        else:
            assert re.fullmatch(r"examples/plot_\w+\.py", item) and (CHECKOUT / item).is_file(), item


def test_the_status_says_what_exists():
    for technique in TECHNIQUES:
        assert technique.status in (catalog.BUILT, catalog.PARTLY, catalog.NOT_YET), technique.id
        if technique.status == catalog.BUILT:
            assert technique.code and technique.tests and technique.docs, technique.id
        if technique.status == catalog.NOT_YET:
            assert not technique.code and not technique.tests, technique.id
        if technique.status == catalog.PARTLY:
            assert technique.note, f"{technique.id}: a partly built technique says what is missing"


def test_every_technique_of_the_projects_catalog_is_on_the_map():
    for above in CHECKOUT.parents:
        catalog_file = above / "shared" / "CATALOG.md"
        if catalog_file.is_file():
            break
    else:
        pytest.fail("shared/CATALOG.md is not beside the checkout", pytrace=False)
    wanted = set(re.findall(r"^\| ([A-Z]\d+) \|", catalog_file.read_text(encoding="utf-8"), re.M))
    framework = {code for code in wanted if code.startswith("K")}    # the framework, not techniques
    ids = [technique.id for technique in TECHNIQUES]
    assert len(ids) == len(set(ids))
    assert set(ids) == wanted - framework


def section_rows():
    """``[(draft or "—", published)]``: the rows of docs/section-numbers.md."""
    rows = []
    for row in SECTION_TABLE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"\d+\.\d+(\.\d+)?", cells[2]):
            rows.append((cells[0], cells[2]))
    return rows


def test_the_sections_are_those_of_the_section_table():
    published_of = dict(section_rows())
    published_only = {published for draft, published in section_rows() if draft == "—"}
    assert "7.5.1" in published_only and published_of["7.7"] == "7.8"
    for technique in TECHNIQUES:
        if technique.draft:
            assert published_of[technique.draft] == technique.published, technique.id
        elif technique.published:
            assert technique.published in published_only, technique.id


def test_the_docs_page_is_generated_from_the_table():
    page = (DOCS / "catalog.md").read_text(encoding="utf-8")
    assert page == catalog.markdown_page(), "run: python -m minireg.catalog > docs/catalog.md"
    for technique in TECHNIQUES:
        assert f"- **{technique.id}** {technique.name} ({technique.source})." in page


def test_the_slug_is_mysts():
    assert catalog.slug("Algorithm 7.1") == "algorithm-71"
    assert catalog.slug("Which parameters: `params`") == "which-parameters-params"
    assert catalog.slug("R4 — learning curves") == "r4--learning-curves"


def test_minireg_catalog_word_prints_the_matching_records(capsys):
    assert cli.main(["catalog", "dropout"]) == 0
    out = capsys.readouterr().out
    s1 = next(technique for technique in TECHNIQUES if technique.id == "S1")
    assert out.startswith(f"S1  {s1.name}  [built]\n")
    for text in ("7.11 (published 7.12)", "minireg/nn/dropout.py: Dropout", s1.tests[0],
                 "docs/stochastic.md#dropout"):
        assert text in out
    assert "P1  " not in out


def test_minireg_catalog_finds_by_any_field_in_any_case(capsys):
    assert cli.main(["catalog", "EARLYSTOPPING"]) == 0
    assert capsys.readouterr().out.startswith("T1  Early stopping")
    assert cli.main(["catalog"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")] == \
        [technique.id for technique in TECHNIQUES]


def test_minireg_catalog_without_a_match_or_with_two_words_is_one_line(capsys):
    assert cli.main(["catalog", "no-such-technique"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no technique mentions 'no-such-technique'" in err
    assert cli.main(["catalog", "dropout", "L2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "one word at most" in err
