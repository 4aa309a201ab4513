r"""Tests for symbn.lang.latex.grammar: the grammar file is an LALR grammar without conflicts."""

from __future__ import annotations

import logging

from symbn.lang.latex.grammar import GRAMMAR


def test_grammar_has_no_conflicts() -> None:
    from lark import Lark, logger

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        Lark(GRAMMAR, parser="lalr", lexer="contextual", debug=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert not [r for r in records if "conflict" in r.lower()]
