"""symbn: proves gradient derivations of normalization layers.

>>> import symbn
>>> layer = symbn.load("derivations/batchnorm.toml")
>>> symbn.prove(layer).verdict
'proved'
"""

from .counterexample import Counterexample
from .expr import ExprError
from .prove import Proof, Result, check_formula, prove
from .spec import Layer, SpecError, load, loads

__all__ = ["Counterexample", "ExprError", "Layer", "Proof", "Result", "SpecError", "check_formula", "load", "loads", "prove"]
__version__ = "0.1.0"
