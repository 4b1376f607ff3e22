"""Sphinx configuration: MyST Markdown pages, numpydoc API, sphinx-gallery examples."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import sklearn_neurif

project = "sklearn-neurif"
author = "sklearn-neurif developers"
release = sklearn_neurif.__version__
extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]
myst_enable_extensions = ["dollarmath", "amsmath"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build", "auto_examples/*.ipynb"]
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Examples take --quick from the command line; the gallery runs them quick.
    "reset_argv": lambda gallery_conf, script_vars: ["--quick"],
}
html_theme = "alabaster"
