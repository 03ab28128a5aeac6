"""The documentation's code runs, and its section numbers say where to look in the book.

Every Python block of ``docs/*.md`` is executed, the blocks of one page in order and in
one namespace (a block may use what an earlier block of its page defined), in a
temporary folder, without network, with MNIST from where the tests find it
(``helpers.shared_mnist``). The README's two blocks are run, and their claims checked,
by ``tests/test_readme.py``.

A block that cannot run on its own -- it stands for a piece of the reader's program --
says so in its first line, ``# fragment: <why>`` (the convention of ``docs/README.md``),
and is skipped. :data:`FRAGMENTS` lists every one by page and reason, so a reader sees
what is not run, and a new fragment fails the test until it is listed.

Run as a script, ``python tests/test_docs.py`` lists every citation of a *Deep Learning*
chapter 7 section in ``minireg/``, ``docs/`` and the README that lacks the published
book's number (see ``docs/section-numbers.md``).
"""
import re
import sys
from pathlib import Path

import pytest

import helpers

CHECKOUT = Path(__file__).resolve().parents[1]
DOCS = CHECKOUT / "docs"
SECTION_TABLE = DOCS / "section-numbers.md"

FRAGMENTS = {
    ("README.md", "model and x_test stand for your own"),  # docs/README.md, showing the convention
    ("autograd.md", "model, x_test and w stand for your own"),
    ("autograd.md", "batch, y, model and loss_fn stand for your own"),
    ("data.md", "needs Fashion-MNIST in ~/data and CIFAR-10 (or a network to download it)"),
    ("training.md", "the same arguments as the interrupted run stand where the dots are"),
    ("ensembles.md", "mymodels stands for your own module, whose build(i) workers import by name"),
}

# The same code on less data, or for fewer epochs, so that each page takes seconds.
SHORTER = {
    "training.md": [("train_val_split(X, y, 10000, rng=0)", "train_val_split(X[:3000], y[:3000], 1000, rng=0)"),
                    ("epochs=20,\n", "epochs=2,\n")],
}

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FRAGMENT = re.compile(r"# fragment: (.+)")


def python_blocks(page):
    """``[(line, code)]``: the Python blocks of a Markdown file and the line each starts on."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 2, match.group(1)) for match in FENCE.finditer(text)]


def fragment_reason(code):
    """The reason a block gives in its first line for not running, or None."""
    match = FRAGMENT.fullmatch(code.split("\n", 1)[0].strip())
    return match.group(1) if match else None


def test_every_fragment_is_listed():
    found = {(page.name, fragment_reason(code)) for page in sorted(DOCS.glob("*.md"))
             for _, code in python_blocks(page) if fragment_reason(code)}
    assert found == FRAGMENTS


@pytest.mark.parametrize("page", sorted(page.name for page in DOCS.glob("*.md")))
def test_the_python_blocks_of_a_page_run_in_order(page, tmp_path, monkeypatch):
    folder = helpers.shared_mnist()
    helpers.forbid_network(monkeypatch)
    monkeypatch.setenv("MINIREG_DATA", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs.{page}"}
    for line, code in python_blocks(DOCS / page):
        if fragment_reason(code):
            continue
        for long, short in SHORTER.get(page, []):
            if long in code:
                code = code.replace(long, short)
        # padded with newlines so that a traceback shows the line number in the page
        exec(compile("\n" * (line - 1) + code, str(DOCS / page), "exec"), namespace)


def test_the_shorter_runs_still_apply():
    for page, replacements in SHORTER.items():
        text = (DOCS / page).read_text(encoding="utf-8")
        for long, _ in replacements:
            assert long in text, f"{page} no longer contains {long!r}: update SHORTER"


# ---- section numbers: the draft chapter and the published book -----------------------------------

# "Deep Learning 7.7", "Deep Learning, sec. 7.2.1", "section 7.1", "(sec. 7.8)", "§7.11":
# a section of chapter 7, which the draft and the published book number differently.
# Equations, figures and algorithms ("eq. 7.2", "Fig. 7.3", "Algorithm 7.1") are not sections.
SECTION_CITATION = re.compile(
    r"(?:Deep\s+Learning,?\s+(?:(?:sec(?:tion)?\.?|§)\s*)?|\b(?:sec(?:tion)?\.?|§)\s*)"
    r"(7\.\d+(?:\.\d+)?)\b(?!\.\d)", re.I)
PUBLISHED = re.compile(r"\s*[(,;]\s*published\s+(\d+\.\d+(?:\.\d+)?)")
SCANNED = ("minireg", "docs", "README.md")


def table_rows():
    """The rows of the table in docs/section-numbers.md that have a draft section:
    ``[(draft, draft title, published, published title)]``."""
    rows = []
    for row in SECTION_TABLE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"7\.\d+(\.\d+)?", cells[0]):
            rows.append(tuple(cells[:4]))
    return rows


def section_table():
    """``{draft section: published section}``."""
    return {draft: published for draft, _, published, _ in table_rows()}


def section_citations():
    """``[(file, line, draft, published or None)]`` for every chapter-7 section citation
    in the code, the docs and the README (the mapping page itself excepted)."""
    files = []
    for name in SCANNED:
        path = CHECKOUT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py")) + sorted(path.rglob("*.md"))
    citations = []
    for path in files:
        if path == SECTION_TABLE:
            continue
        text = path.read_text(encoding="utf-8")
        for match in SECTION_CITATION.finditer(text):
            published = PUBLISHED.match(text, match.end())
            citations.append((path.relative_to(CHECKOUT).as_posix(), text.count("\n", 0, match.start(1)) + 1,
                              match.group(1), published.group(1) if published else None))
    return citations


def reference_headings():
    """``{section: title}`` of the draft chapter in shared/references beside the checkout."""
    for above in CHECKOUT.parents:
        for path in sorted((above / "shared" / "references").glob("*.txt")):
            text = path.read_text(encoding="utf-8")
            if "Regularization of Deep or Distributed Models" in text:
                return dict(re.findall(r"^#+ (7\.\d+(?:\.\d+)?) (.+?)\s*$", text, re.M))
    pytest.fail("the draft chapter (shared/references/*.txt) is not beside the checkout", pytrace=False)


def test_the_table_has_every_section_of_the_draft_with_its_title():
    assert {draft: title for draft, title, _, _ in table_rows()} == reference_headings()


def test_every_published_number_given_is_the_tables():
    table = section_table()
    wrong = [(file, line, draft, published) for file, line, draft, published in section_citations()
             if published is not None and table.get(draft) != published]
    assert wrong == []


def test_the_pages_of_this_part_give_the_published_numbers():
    owned = ("README.md", "docs/README.md", "docs/data.md")
    missing = [citation for citation in section_citations() if citation[0] in owned and citation[3] is None]
    assert missing == []


def test_the_citation_finder_tells_sections_from_equations():
    text = ("Deep Learning 7.7 (published 7.8); Deep Learning, sec. 7.2.1; (sec. 7.8); section 7.1 "
            "uses H; Deep Learning eq. 7.2; Fig. 7.3; Algorithm 7.1; Deep Learning §8.3.1; 7.10")
    found = [(match.group(1), PUBLISHED.match(text, match.end()))
             for match in SECTION_CITATION.finditer(text)]
    assert [draft for draft, _ in found] == ["7.7", "7.2.1", "7.8", "7.1"]
    assert found[0][1].group(1) == "7.8" and not any(published for _, published in found[1:])


if __name__ == "__main__":
    for file, line, draft, published in section_citations():
        if published is None:
            print(f"{file}:{line}: Deep Learning {draft} (published {section_table().get(draft, '?')})")
    sys.exit(0)
