"""LaTeX formulas as papers and blogs write them, read into symbn's AST (see :mod:`.reader`)."""

from symbn.lang.latex.reader import read_latex

__all__ = ["read_latex"]
