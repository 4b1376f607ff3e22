"""Parameter blocks shared by the numpydoc docstrings of several public names.

A docstring line holding only ``{name}`` is replaced by the block ``name``,
indented like that line (docstring composition, as skorch composes its
parameter docs): the same parameter is documented once, in one wording.
"""

from __future__ import annotations

__all__ = ["fill_doc"]

BLOCKS = {
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
            key = line.strip()
            if key.startswith("{") and key.endswith("}") and key[1:-1] in BLOCKS:
                indent = line[: len(line) - len(line.lstrip())]
                block = BLOCKS[key[1:-1]].split("\n")
                lines.extend(indent + part for part in block)
            else:
                lines.append(line)
        obj.__doc__ = "\n".join(lines)
    return obj
