"""Sphinx configuration of minireg's documentation site.

Build (from the checkout's root, after ``pip install -e ".[docs]"``)::

    python -m sphinx -b html -W --keep-going docs docs/_build/html                  # full: runs the gallery
    python -m sphinx -b html -W --keep-going -D plot_gallery=0 docs docs/_build/html  # quick: gallery not run

The pages are the Markdown files of ``docs/`` (MyST), the API reference is generated from
the numpydoc docstrings (autosummary, one page per module, each public class and
function on it followed by the examples that use it), and the gallery runs
every ``examples/plot_*.py`` (sphinx-gallery). Math is rendered by a local copy of MathJax
(see :func:`local_mathjax`), so the site needs no network.
"""
import os
import shutil
import sys
from pathlib import Path

# One BLAS thread before NumPy is first imported: a threaded BLAS can hang a gallery build
# (and on 2 shared cores it only slows it down). threadpoolctl below covers a NumPy that
# something imported earlier.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

DOCS = Path(__file__).resolve().parent
CHECKOUT = DOCS.parent
sys.path.insert(0, str(CHECKOUT))

from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)

import minireg  # noqa: E402
from minireg import catalog  # noqa: E402

project = "minireg"
author = "The minireg developers"
copyright = "The minireg developers"
release = version = minireg.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "**/*.codeobj.json", "**/sg_execution_times.rst"]

# ---- the Markdown pages (MyST) -----------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3            # "[...](penalties.md#l1)" links to a section of a page

# ---- API reference -----------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False   # each object once, on the page of the module that defines it
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"             # the numpydoc "Parameters" sections say the types
numpydoc_show_class_members = False    # methods are documented on the class page itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# ---- gallery -----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",           # run every plot_*.py
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "doc_module": ("minireg",),
    "backreferences_dir": "api/backreferences",
    "reference_url": {"minireg": None},
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 1,
}


# ---- math without a network: a local MathJax ---------------------------------------------
MATHJAX_SOURCES = (os.environ.get("MINIREG_MATHJAX_DIR", ""), "/usr/share/javascript/mathjax",
                   "/usr/share/mathjax")
# What MathJax 2 needs for TeX in, CommonHTML out (about 1.5 MB of the 50 MB package).
MATHJAX_PARTS = ("MathJax.js", "config/TeX-AMS_CHTML.js", "extensions", "jax/element", "jax/input/TeX",
                 "jax/output/CommonHTML", "fonts/HTML-CSS/TeX/woff", "localization/en")


def local_mathjax(target):
    """Copy the parts of MathJax 2 that the site uses into ``target/mathjax``, from
    Debian's ``libjs-mathjax`` (``/usr/share/javascript/mathjax``) or the folder named by
    ``MINIREG_MATHJAX_DIR``. MathJax is copied at build time rather than kept in git:
    the package is the maintained copy, and the site stays small (1.5 MB of JavaScript
    and fonts)."""
    for source in map(Path, filter(None, MATHJAX_SOURCES)):
        if (source / "MathJax.js").is_file() and (source / MATHJAX_PARTS[1]).is_file():
            break
    else:
        raise RuntimeError("MathJax 2 was not found: install Debian's libjs-mathjax (apt-get install "
                           "libjs-mathjax) or set MINIREG_MATHJAX_DIR to a folder holding MathJax.js "
                           f"and {MATHJAX_PARTS[1]}; looked in {', '.join(filter(None, MATHJAX_SOURCES))}")
    destination = target / "mathjax"
    for part in MATHJAX_PARTS:
        source_path, target_path = source / part, destination / part
        if source_path.is_dir():
            shutil.copytree(source_path, target_path, dirs_exist_ok=True)
        else:
            target_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_path, target_path)
    return target


mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_CHTML"
mathjax2_config = {"showMathMenu": False, "messageStyle": "none",
                   "CommonHTML": {"linebreaks": {"automatic": True}}}

# ---- HTML --------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"minireg {release}"
html_static_path = ["_static", str(local_mathjax(DOCS / "_build" / "static-mathjax"))]
html_css_files = ["minireg.css"]
html_theme_options = {"navigation_with_keys": True}
html_last_updated_fmt = None


# ---- generated pages ---------------------------------------------------------------------
def check_catalog_page(app):
    """Warn (an error under ``-W``) when docs/catalog.md is not what minireg.catalog makes
    of its table (tests/test_catalog.py checks the same);
    ``python -m minireg.catalog > docs/catalog.md`` renews it."""
    page = DOCS / "catalog.md"
    if page.read_text(encoding="utf-8") != catalog.markdown_page():
        from sphinx.util import logging
        logging.getLogger(__name__).warning(
            "docs/catalog.md is out of date with minireg/catalog.py: run "
            "`python -m minireg.catalog > docs/catalog.md`")


def setup(app):
    app.connect("builder-inited", check_catalog_page)
