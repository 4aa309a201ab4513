"""symbn: proves gradient derivations of normalization layers.

>>> import symbn
>>> layer = symbn.load("derivations/batchnorm.toml")
>>> symbn.prove(layer).verdict
'proved'
"""

from symbn.lang.derivation import Layer, SpecError, load, loads
from symbn.lang.expr import ExprError
from symbn.lang.python import CodeError
from symbn.proof.code import check_code
from symbn.proof.counterexample import Counterexample
from symbn.proof.prover import Proof, Result, check_formula, prove
from symbn.render import jupyter as _jupyter
from symbn.version import __version__

__all__ = [
    "CodeError",
    "Counterexample",
    "ExprError",
    "Layer",
    "Proof",
    "Result",
    "SpecError",
    "__version__",
    "check_code",
    "check_formula",
    "load",
    "loads",
    "prove",
]

_jupyter.install()
