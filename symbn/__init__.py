"""symbn: proves gradient derivations of normalization layers.

>>> import symbn
>>> layer = symbn.load("derivations/batchnorm.toml")
>>> symbn.prove(layer).verdict
'proved'
"""

from symbn.lang.derivation import Layer, SpecError, load, loads
from symbn.lang.expr import ExprError
from symbn.proof.counterexample import Counterexample
from symbn.proof.prover import Proof, Result, check_formula, prove

__all__ = ["Counterexample", "ExprError", "Layer", "Proof", "Result", "SpecError", "check_formula", "load", "loads", "prove"]
__version__ = "0.1.0"
