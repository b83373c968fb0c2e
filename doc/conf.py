"""Sphinx configuration of the adesk documentation (``make docs``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import adesk  # noqa: E402

project = "adesk"
author = "adesk developers"
copyright = "2026, adesk developers"
release = adesk.__version__
version = adesk.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.md5"]
templates_path = ["_templates"]

# API reference: one page per public object, generated from the numpydoc docstrings.
autosummary_generate = True
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The notes under doc/ link to files of the repository (benchmarks, scripts), which are not
# pages of this site.
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing", "myst.header"]

# The gallery: examples/plot_*.py run at build time. CI sets ADESK_GALLERY_QUICK=1, which the
# examples read to shrink their budgets (the figures then show quick fits).
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"demo\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 0,
}

html_theme = "pydata_sphinx_theme"
html_title = f"adesk {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
}
html_static_path = []
