"""Targets of ``symbn emit``: the NumPy module, numba kernels, a PyTorch operator, a JAX function.

Every target prints code for the formulas :mod:`symbn.emit.certify` proved, and
only after they are proved.  :func:`emit` gives a module's source; :func:`load`
writes it to a file (numba caches its compiled kernels beside the file) and
imports it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import types
from pathlib import Path

from symbn.lang.derivation import Layer

TARGETS = ("numpy", "numba", "torch", "jax")
LIBRARIES = {"numpy": (), "numba": ("numba",), "torch": ("torch",), "jax": ("jax",)}


class MissingLibrary(ImportError):
    """The target's library is not installed."""


def emit(layer: Layer, target: str = "numpy", time_limit: float | None = 60.0) -> str:
    """The module's source for ``target``.  Raises NotCertified before printing anything."""
    if target == "numpy":
        from symbn.emit.module import emit_module

        return emit_module(layer, time_limit)
    if target == "numba":
        from symbn.emit.targets.numba import emit as numba_emit

        return numba_emit(layer, time_limit)
    if target == "torch":
        from symbn.emit.targets.torch import emit as torch_emit

        return torch_emit(layer, time_limit)
    if target == "jax":
        from symbn.emit.targets.jax import emit as jax_emit

        return jax_emit(layer, time_limit)
    raise ValueError(f"unknown target {target!r}; the targets are {', '.join(TARGETS)}")


def require(target: str) -> None:
    """Raise :class:`MissingLibrary` naming the extra to install when the target's library is absent."""
    for library in LIBRARIES[target]:
        if importlib.util.find_spec(library) is None:
            raise MissingLibrary(f"the {target} target needs {library}: pip install 'symbn[{target}]'")


def cache_dir() -> Path:
    """Where :func:`load` writes modules: $SYMBN_CACHE, else a directory of the user's in the temp dir."""
    base = os.environ.get("SYMBN_CACHE") or os.path.join(tempfile.gettempdir(), f"symbn-{os.getuid()}")
    return Path(base)


def load(layer: Layer, target: str = "numpy", time_limit: float | None = 60.0, directory: Path | None = None,
         source: str | None = None) -> types.ModuleType:
    """Emit (or take ``source``), write to ``directory`` under a name made of the
    source's hash (never rewritten: numba's cache is keyed by the file's time), and import."""
    require(target)
    source = emit(layer, target, time_limit) if source is None else source
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"symbn_{layer.name}_{target}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    folder = Path(directory) if directory is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(source)
        partial.replace(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    module.SOURCE = source
    return module


__all__ = ["LIBRARIES", "TARGETS", "MissingLibrary", "cache_dir", "emit", "load", "require"]
