r"""The document's many-devices section: the layer's statistics split across devices.

For a file with ``[shards]``, in this order:

1. the split as written: each device's statistics, their merge, and the backward from
   all-reduced sums, typeset from the file's stages (:class:`~symbn.render.source.Faithful`),
   marked "as written" like a claim: they are what is proved, not values computed by symbn;
2. the statement: for K = 2 and 3 devices of any sizes N_1 … N_K, the split's statistics,
   output and gradients equal the single-device layer's on the concatenated slice;
3. the verdicts of ``prove --shards 2`` and ``--shards 3`` (:func:`symbn.proof.shards.prove_shards`);
4. the claims with ``shards = true``: as written, the verdict, and a counterexample that names
   each device's size and data (:func:`symbn.proof.shards.shard_claims`).
"""

from __future__ import annotations

from symbn.ir.primitives import ROW
from symbn.lang.expr import parse
from symbn.proof.counterexample import NOT_REAL, Counterexample
from symbn.proof.shards import prove_shards, shard_claims
from symbn.render.blocks import Heading, Table, text
from symbn.render.source import Faithful

DEVICES = (2, 3)  # the numbers of devices proved (any K follows from the merge's associativity)
SPLIT_ROUTES = {"layer": "one device", "reverse": "one device (reverse mode)", "split": "split"}


class Shards:
    """The many-devices section; the helpers it calls (eq, say, add, at ...) are the builder's."""

    def shards_section(self) -> None:
        split = self.layer.split
        if split is None or self.n is not None:  # the split is proved for symbolic sizes only
            return
        self.add(Heading(1, text("Many devices")))
        source = f" ({split.source.rstrip('.')})" if split.source else ""
        self.say(
            "When a batch does not fit one device, each device $k = 1, \\dots, K$ holds a shard of the slice, "
            "$N_k$ of its $N = \\sum_k N_k$ values, computes its statistics and its sums over its own shard "
            "($\\sum_{i \\in k}$), and the devices add them up (all-reduce, $\\sum_{k=1}^{K}$). The file writes "
            f"the split{source} as these stages; the layer's other stages follow from them:"
        )
        for s in split.stages:
            self.split_stage(s)
        self.flush()
        self.say("The backward, from sums over each shard, all-reduced:")
        for s in split.backward:
            self.split_stage(s)
        self.flush()
        replaced = ", ".join(f"${self.at(s, 'j')}$" for s in split.stages if s in self.g.stages)
        grads = ", ".join(f"${self._partial_f(w)}$" for w in self.layer.differentiable if "d" + w in split.backward)
        devices = " and ".join(f"${k}$" for k in DEVICES)
        self.say(
            f"The statement, proved below for $K$ = {devices} devices holding shards of any sizes "
            f"$N_1, \\dots, N_K \\geq 1$ (symbols, not numbers): the split statistics ({replaced}) and the output "
            f"equal the single-device layer's on the concatenated slice, and the split backward's gradients "
            f"({grads}) equal reverse mode of the layer. The merge adds per-device sums, which associate, so a "
            "split into two groups of any sizes covers any $K$ by induction."
        )
        for k in DEVICES:
            self.add(Heading(2, text(f"{k} devices")))
            sizes = ", ".join(f"N_{m}" for m in range(1, k + 1))
            self.verdicts(prove_shards(self.layer, k), SPLIT_ROUTES, self.split_wanted, first="quantity",
                          size=f"every ${sizes}$")
        self.shard_claims()

    def split_stage(self, s: str) -> None:
        lhs, rhs = self.layer.split.text[s].split("=", 1)
        tex = Faithful(self.split_name, lambda num: str(num.value)).breakable(parse(rhs.strip()))
        self.eq(self.split_name(lhs.strip(), "j"), tex, label=r"\text{as written}")  # not a value: not checked

    def split_name(self, name: str, index: str) -> str:
        """A name of the split in the document's notation: N_k, a device's value with its k."""
        kinds = self.layer.split.graph.kinds
        if name == "Nk":
            return "N_k"
        if name.endswith("_k") and kinds.get(name) == "shard":
            return rf"\mathrm{{{name[:-2]}}}_k"
        if name.startswith("d") and name[1:] in self.layer.differentiable:
            return self._partial_f(name[1:], index)
        if name in self.g.kinds or name == "dy":
            return self.formula_name(name, index if kinds.get(name) == ROW else "i")
        escaped = name.replace("_", r"\_")
        return rf"\mathrm{{{escaped}}}"

    def split_wanted(self, r) -> str:
        return self.at(r.wrt, "j") if r.route == "layer" else self._partial_f(r.wrt)

    def shard_claims(self) -> None:
        checked = shard_claims(self.layer, DEVICES[0])
        if not checked:
            return
        self.add(Heading(2, text("Claims on a split")))
        for claim, result in checked:
            self.add(Heading(3, text(f"Claim `{claim.id}`")))
            if claim.source:
                self.say(f"Source: {claim.source.rstrip('.')}.")
            self.say(f"As written in the file (a claim for ${self._partial_f(claim.wrt)}$ on {DEVICES[0]} devices):")
            tex = Faithful(self.split_name, lambda num: str(num.value)).breakable(claim.formula.expr)
            self.eq(self._partial_f(claim.wrt), tex, label=r"\text{as written}")
            self.flush()
            expected = "right" if claim.expect == "correct" else "wrong"
            agrees = (result.verdict == "proved") == (claim.expect == "correct")
            self.say(f"Verdict, for {DEVICES[0]} devices of any sizes: **{result.verdict}**. The file expects the "
                     f"claim to be {expected}: {'as expected' if agrees else '**not** as expected'}.")
            if result.detail:
                self.say(f"symbn could not decide it: {result.detail}.")
            if result.counterexample is not None:
                self.shard_counterexample(result.counterexample, ("the true value (reverse mode)", "the claim"))
            if claim.note:
                self.say(f"**Note.** {claim.note}")

    def shard_counterexample(self, found: Counterexample, sides: tuple[str, str]) -> None:
        """A counterexample on devices: each device's size and its rows of data, then the shared values."""
        from symbn.render.claims import number_tex

        sizes = getattr(found, "sizes", None) or (found.n,)
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        rows = [[text("devices $K$"), text(f"${len(sizes)}$")]]
        device = max(k for k, s in enumerate(starts) if s <= found.j)
        rows.append([text("element $j$"), text(f"${found.j - starts[device] + 1}$ of device ${device + 1}$")])
        for k, (start, size) in enumerate(zip(starts, sizes)):
            rows.append([text(f"device {k + 1}: $N_{{{k + 1}}}$"), text(f"${size}$")])
            for name, value in found.values.items():
                if isinstance(value, (list, tuple)):
                    shard = ", ".join(number_tex(v) for v in value[start:start + size])
                    label = self.formula_name(name, "i") if name == "dy" else self.at(name, "i")
                    rows.append([text(f"device {k + 1}: ${label}$"), text(f"${shard}$")])
        for name, value in found.values.items():
            if not isinstance(value, (list, tuple)):
                rows.append([text(f"${self.at(name)}$"), text(f"${number_tex(value)}$")])
        rows.append([text(sides[0]), text(f"${number_tex(found.lhs)}$")])
        other = "not a real number" if found.rhs == NOT_REAL else f"${number_tex(found.rhs)}$"
        rows.append([text(sides[1]), text(other)])
        self.say("Counterexample: at these values the two differ" + (f" ({found.note})" if found.note else "") + ".")
        self.add(Table(["", "exact value"], rows))


__all__ = ["DEVICES", "Shards"]
