"""Each target's module behind one NumPy face, for ``symbn check-numeric --target``.

An :class:`Adapter` gives a target's forward (NumPy in, NumPy out) and its own
gradients of L = Σ dy·y: the numpy and numba modules' ``backward``, PyTorch's
autograd through ``symbn::<layer>``, JAX's ``vjp`` through the ``custom_jvp``.
``complex_forward`` evaluates the forward at complex inputs, for the complex
step: the target's own where it takes complex numbers, else the NumPy module's
(numba computes real data only), and ``complex_source`` says which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symbn.emit.targets import load
from symbn.lang.derivation import Layer


@dataclass
class Adapter:
    forward: Callable[..., np.ndarray]
    gradients: Callable[..., list[np.ndarray]]
    complex_forward: Callable[..., np.ndarray]
    complex_source: str


def adapter(layer: Layer, target: str, time_limit: float | None = 60.0) -> Adapter:
    """The target's module, emitted (certified) and loaded, behind an :class:`Adapter`."""
    from symbn.emit.module import load_module

    module = load_module(layer, time_limit) if target == "numpy" else load(layer, target, time_limit)
    if target in ("numpy", "numba"):
        def gradients(dy, *args, **kw):
            return list(module.backward(dy, *args, **kw))

        if target == "numpy":
            return Adapter(module.forward, gradients, module.forward, "its own forward")
        numpy = load_module(layer, time_limit)
        return Adapter(module.forward, gradients, numpy.forward, "the numpy module's forward (numba computes real data)")
    if target == "torch":
        return _torch(module)
    return _jax(module)


def _torch(module) -> Adapter:
    import torch

    def forward(*args, **kw):
        return module.forward(*(torch.as_tensor(a) for a in args), **kw).detach().numpy()

    def gradients(dy, *args, **kw):
        tensors = [torch.tensor(a, requires_grad=True) for a in args]
        y = module.forward(*tensors, **kw)
        return [g.numpy() for g in torch.autograd.grad(y, tensors, torch.as_tensor(dy))]

    return Adapter(forward, gradients, forward, "its own forward (complex tensors)")


def _jax(module) -> Adapter:
    import jax
    import jax.numpy as jnp

    if not jax.config.jax_enable_x64:
        raise RuntimeError("the jax target's float64 checks need x64: jax.config.update('jax_enable_x64', True)")

    def forward(*args, **kw):
        return np.asarray(module.forward(*(jnp.asarray(a) for a in args), **kw))

    def gradients(dy, *args, **kw):
        _, vjp = jax.vjp(lambda *a: module.forward(*a, **kw), *(jnp.asarray(a) for a in args))
        return [np.asarray(g) for g in vjp(jnp.asarray(dy))]

    return Adapter(forward, gradients, forward, "its own forward (complex arrays)")


__all__ = ["Adapter", "adapter"]
