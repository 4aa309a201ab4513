"""Change one JVP or VJP rule at a time and show that the test suite fails.

    python tools/mutate_rules.py [pytest target, default tests/ad]

For every primitive, argument and table, each rule is replaced by a wrong one
(scaled by 1001/1000, or negated) and the tests are run in a fresh process; a
mutation the tests do not catch is reported as SURVIVED and the exit status is 1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATCH = """
import sys
from fractions import Fraction
import pytest
from symbn.ad import jvp, vjp
from symbn.ir.primitives import PRIMITIVES
table = {{"jvp": jvp.jvp_rules, "vjp": vjp.vjp_rules}}[{table!r}]
prim = PRIMITIVES[{prim!r}]
rules = list(table[prim])
rule = rules[{k}]
rules[{k}] = {mutation}
table[prim] = tuple(rules)
sys.exit(pytest.main(["-q", "-x", "-p", "no:cacheprovider", {target!r}]))
"""
MUTATIONS = {
    "scaled by 1001/1000": "lambda B, *a, rule=rule: rule(B, *a) * B.const(Fraction(1001, 1000))",
    "negated": "lambda B, *a, rule=rule: -rule(B, *a)",
}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from symbn.ir.primitives import PRIMITIVES

    target = sys.argv[1] if len(sys.argv) > 1 else "tests/ad"
    control = PATCH.format(table="jvp", prim="id", k=0, mutation="rule", target=target)
    if subprocess.run([sys.executable, "-c", control], cwd=ROOT, capture_output=True, check=False).returncode != 0:
        print("the tests fail without any mutation: fix them first")
        return 2
    survived = 0
    for table in ("jvp", "vjp"):
        for prim in PRIMITIVES.values():
            for k in range(prim.arity):
                for what, mutation in MUTATIONS.items():
                    code = PATCH.format(table=table, prim=prim.name, k=k, mutation=mutation, target=target)
                    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
                    caught = done.returncode == 1 and " failed" in done.stdout  # tests ran, and one failed
                    survived += not caught
                    print(f"{table} {prim.name:<5} argument {k} {what:<20} {'caught' if caught else 'SURVIVED'}")
    print(f"{survived} mutations survived")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
