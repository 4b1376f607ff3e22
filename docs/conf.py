"""Sphinx configuration: MyST Markdown pages, numpydoc API, sphinx-gallery examples."""

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(".."))
# docs/ itself: sphinx-gallery imports gallery_argv.quick_argv by name (a
# function in this file could not be pickled into Sphinx's environment cache).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sklearn_neurif

# A relative SKLEARN_NEURIF_DATA is meant from the folder the build was started
# in (the shell's PWD), but Sphinx reads this file from docs/ and
# sphinx-gallery runs the examples from examples/: make it absolute here.
_DATA = os.environ.get("SKLEARN_NEURIF_DATA")
if _DATA and not os.path.isabs(os.path.expanduser(_DATA)):
    _START = os.environ.get("PWD") or os.getcwd()
    os.environ["SKLEARN_NEURIF_DATA"] = os.path.normpath(os.path.join(_START, _DATA))

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
# Anchors for headings down to ###, so that links like ipca.md#some-heading
# (GitHub's slugs, which the pages use) resolve in the built site too.
myst_heading_anchors = 3
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build", "auto_examples/*.ipynb"]
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Examples take --quick from the command line; the gallery runs them quick.
    "reset_argv": "gallery_argv.quick_argv",
    # The timing pages load their table scripts from a CDN: not written, so
    # that no page of the site fetches anything.
    "write_computation_times": False,
}
html_theme = "alabaster"

# Math renders offline: MathJax 3 comes from the `django-static-mathjax` wheel
# (MathJax's own files only, no Django needed; in the `docs` extra) and is
# copied into `_static/mathjax` of the built site, so no page loads a script
# from the network. Only the TeX-to-HTML bundle, its TeX extensions (loaded on
# demand) and its fonts are copied: about 2 MB instead of the wheel's 35 MB.
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_FILES = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2")


def mathjax_source():
    """Return the folder of MathJax's ES5 bundles inside the installed wheel."""
    try:
        import mathjax
    except ImportError as exc:
        raise ImportError(
            "the docs render math with a local MathJax: "
            'pip install -e ".[docs]" (or pip install django-static-mathjax)'
        ) from exc
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def copy_mathjax(app, exception):
    """Copy the MathJax files that `mathjax_path` needs into `_static/mathjax`."""
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for name in MATHJAX_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


def setup(app):
    # Fail at the start of a build, not after it, when MathJax is missing.
    app.connect("builder-inited", lambda app: mathjax_source())
    app.connect("build-finished", copy_mathjax)
