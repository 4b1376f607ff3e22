"""The Sphinx site renders its math offline, and every display equation parses."""

import re
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^\s*(```|~~~)")


def display_math_without_blank_line(text):
    """Return the line numbers of `$$` openings that follow a non-blank line.

    MyST reads such a `$$` as part of the paragraph above (inline math), which
    garbles the equation and the text after it; inside a list item too.
    """
    bad, in_code, in_math, previous = [], False, False, ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if FENCE.match(line) and not in_math:
            in_code = not in_code
        elif not in_code and stripped.startswith("$$"):
            one_line = len(stripped) > 4 and stripped.endswith("$$")
            if not in_math and previous:
                bad.append(number)
            in_math = not in_math and not one_line
        elif in_math and stripped.endswith("$$"):
            in_math = False
        previous = stripped
    return bad


def test_the_check_flags_display_math_glued_to_a_paragraph():
    glued = "1. Text:\n   $$\n   x\n   $$\n   more\n"
    assert display_math_without_blank_line(glued) == [2]
    separate = "1. Text:\n\n   $$\n   x\n   $$\n\n   $$y$$\n"
    assert display_math_without_blank_line(separate) == []
    assert display_math_without_blank_line("a\n```\nb\n$$\n```\n") == []


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_display_math_starts_after_a_blank_line(page):
    assert display_math_without_blank_line(page.read_text()) == []


def test_myst_parses_every_display_equation_as_a_block():
    pytest.importorskip("myst_parser")
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = MdParserConfig(enable_extensions={"dollarmath", "amsmath"})
    parser = create_md_parser(config, RendererHTML)
    for page in PAGES:
        for token in parser.parse(page.read_text()):
            # A `$$` left in a paragraph's text was not read as a math block.
            assert not (token.type == "inline" and "$$" in token.content), (
                f"{page.name}:{token.map[0] + 1}: $$ inside a paragraph"
            )


def test_mathjax_is_served_from_the_built_site(tmp_path):
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert "//" not in conf["mathjax_path"], "MathJax must not come from a URL"
    pytest.importorskip("mathjax")
    app = SimpleNamespace(builder=SimpleNamespace(format="html"), outdir=tmp_path)
    conf["copy_mathjax"](app, None)
    local = tmp_path / "_static" / conf["mathjax_path"]
    assert local.is_file() and local.stat().st_size > 500_000
    mathjax = local.parent
    assert (mathjax / "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff").is_file()
    assert (mathjax / "input/tex/extensions/boldsymbol.js").is_file()
