"""symbn: proves gradient derivations of normalization layers.

>>> import symbn
>>> layer = symbn.load("derivations/batchnorm.toml")
>>> symbn.prove(layer).verdict
'proved'
"""

from symbn.proof.counterexample import Counterexample
from symbn.lang.expr import ExprError
from symbn.proof.prover import Proof, Result, check_formula, prove
from symbn.lang.derivation import Layer, SpecError, load, loads

__all__ = ["Counterexample", "ExprError", "Layer", "Proof", "Result", "SpecError", "check_formula", "load", "loads", "prove"]
__version__ = "0.1.0"
