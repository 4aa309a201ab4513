"""Code as a claim: a backward pass written in NumPy or torch, read over one slice.

symbn parses the function with :mod:`ast` and never imports or executes it.  The
modules, one concept each:

- :mod:`.source`: the function's source (a file, text, or a function object's file);
- :mod:`.layout`: which axis of the code's arrays is the slice, broadcasting, reductions;
- :mod:`.values`: what the code holds (arrays as graph atoms, numbers, shapes ...);
- :mod:`.bind`: which quantity of the layer each name the code reads stands for;
- :mod:`.library`: the NumPy and torch functions and methods it reads;
- :mod:`.operations`, :mod:`.calls` and :mod:`.interpret`: arithmetic and reductions, calls,
  and the statements, as graph equations;
- :mod:`.program`: the result, with each line's value for locating a mistake.
"""

from symbn.lang.python.bind import BindError, parse_pairs
from symbn.lang.python.interpret import read
from symbn.lang.python.program import Fault, Program, Record, Returned
from symbn.lang.python.source import CodeError, Unit, unit

__all__ = ["BindError", "CodeError", "Fault", "Program", "Record", "Returned", "Unit", "parse_pairs", "read", "unit"]
