"""Parameter blocks shared by the numpydoc docstrings of several public names.

A docstring line holding only ``{name}`` is replaced by the block ``name``,
and ``{params_name}`` by a numpydoc ``Parameters`` section holding only
that block, indented like that line (docstring composition, as skorch composes its
parameter docs): the same parameter is documented once, in one wording.
"""

from __future__ import annotations

__all__ = ["fill_doc"]

#: The panel a factor model is fitted on (its ``fit``'s ``X``).
_FIT_PANEL_X = """\
X : DataFrame of shape (n_rows, n_characteristics)
    Characteristics with an ``(entity, time)`` MultiIndex (a plain
    array is one period)."""

BLOCKS = {
    # The training panel of a factor model's fit.
    "fit_panel_X": _FIT_PANEL_X,
    # The training panel and its returns of a *CV fit (y paired by index).
    "fit_panel_X_y": _FIT_PANEL_X
    + """
y : Series of shape (n_rows,)
    Next-period returns on ``X``'s index, in any order (paired by
    index); NaN is masked.""",
    # A panel alone (transform-like methods).
    "panel_X": """\
X : DataFrame of shape (n_rows, n_characteristics)
    Characteristics panel.""",
    # A panel and its returns (methods that use realised returns).
    "panel_X_y": """\
X : DataFrame
    Characteristics panel.
y : Series
    Next-period returns on ``X``'s index.""",
    # Realised and predicted returns of the regression metrics.
    "returns_pair": """\
y_true, y_pred : array-like of shape (n_rows,)
    Realised and predicted returns.
sample_weight : array-like of shape (n_rows,), optional
    Row weights.""",
}


def fill_doc(obj):
    """Replace each ``{name}`` line of ``obj.__doc__`` by ``BLOCKS[name]``.

    A ``{params_name}`` line becomes ``Parameters``, its underline and
    ``BLOCKS[name]``.

    Parameters
    ----------
    obj : function or class
        Decorated object (apply it innermost, before wrappers copy the
        docstring).

    Returns
    -------
    obj
        The same object, its docstring filled (left alone under
        ``python -OO``).
    """
    if obj.__doc__:
        lines = []
        for line in obj.__doc__.split("\n"):
            block = _block(line.strip())
            indent = line[: len(line) - len(line.lstrip())]
            if block is None:
                lines.append(line)
            else:
                lines.extend(indent + part for part in block.split("\n"))
        obj.__doc__ = "\n".join(lines)
    return obj


def _block(key):
    """The text a placeholder line stands for, or None for any other line."""
    if not (key.startswith("{") and key.endswith("}")):
        return None
    name = key[1:-1]
    if name.startswith("params_") and name[len("params_") :] in BLOCKS:
        return "Parameters\n----------\n" + BLOCKS[name[len("params_") :]]
    return BLOCKS.get(name)
