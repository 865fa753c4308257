"""CloudWatch metric math for the moto stand-in (moto answers an `Expression` with no values).

A test fixture, not product code: the arithmetic the gates' queries use (`errors / requests`,
`100 * (a + b) / c`, unary minus) over other queries' ids and numbers. As CloudWatch does, an
operation between two time series keeps the timestamps both have, a datapoint that comes out NaN
or infinite (a division by zero) is dropped with an `ArithmeticError` message on the result, and
an expression that does not parse, or names an id the call does not define, refuses the whole call
(ValidationError). Metric math functions (`FILL`, `SEARCH`, ...) are not evaluated here: they
fail the call as a server error, never as a rejection real CloudWatch would not make.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

TimeSeries = dict[float, float]  # epoch seconds -> value
Value = TimeSeries | float
DROPPED = "One or more data points have been dropped due to non-numeric values (NaN, -Infinite, +Infinite)"
TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                   r"|(?P<op>[-+*/()]))")
OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else (math.nan if a == 0 else math.copysign(math.inf, a)),
}


class ExpressionError(Exception):
    """The expression does not parse or names an unknown id: CloudWatch refuses the call."""


class UnsupportedFunctionError(Exception):
    """A metric math function this stand-in does not evaluate (real CloudWatch would)."""


@dataclass
class Evaluation:
    """One expression's datapoints and whether any were dropped as non-numeric."""

    series: TimeSeries = field(default_factory=dict)
    dropped: bool = False


def evaluate(expression: str, inputs: Callable[[str], Value]) -> Evaluation:
    """The expression's time series; `inputs(id)` gives another query's series (KeyError if none)."""
    parser = _Parser(_tokens(expression), inputs)
    value = parser.sum()
    if parser.position != len(parser.tokens):
        raise ExpressionError(f"unexpected {parser.tokens[parser.position]!r} in {expression!r}")
    if not isinstance(value, dict):
        raise ExpressionError(f"{expression!r} gives a scalar, not a time series")
    kept = {stamp: v for stamp, v in value.items() if math.isfinite(v)}
    return Evaluation(kept, len(kept) < len(value))


def _tokens(expression: str) -> list[str]:
    out, position = [], 0
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        if not match:
            raise ExpressionError(f"unrecognized character at {position} in {expression!r}")
        out.append(match.group().strip())
        position = match.end()
    return out


class _Parser:
    """Recursive descent: sum := product (+|- product)*; product := unary (*|/ unary)*."""

    def __init__(self, tokens: list[str], inputs: Callable[[str], Value]) -> None:
        self.tokens, self.inputs, self.position = tokens, inputs, 0

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ExpressionError("the expression ends too early")
        self.position += 1
        return token

    def sum(self) -> Value:
        value = self.product()
        while self._peek() in ("+", "-"):
            value = combine(self._take(), value, self.product())
        return value

    def product(self) -> Value:
        value = self.unary()
        while self._peek() in ("*", "/"):
            value = combine(self._take(), value, self.unary())
        return value

    def unary(self) -> Value:
        token = self._take()
        if token == "-":
            return combine("-", 0.0, self.unary())
        if token == "(":
            value = self.sum()
            if self._take() != ")":
                raise ExpressionError("a parenthesis is not closed")
            return value
        if token[0].isdigit():
            return float(token)
        if self._peek() == "(" or token.isupper():
            raise UnsupportedFunctionError(f"the moto stand-in does not evaluate metric math function {token}")
        if not token[0].islower():
            raise ExpressionError(f"{token!r} is not an id (ids start with a lower-case letter)")
        try:
            return self.inputs(token)
        except KeyError:
            raise ExpressionError(f"unknown id {token!r}") from None


def combine(op: str, left: Value, right: Value) -> Value:
    """An operation between series and scalars; two series keep the timestamps both have."""
    apply = OPERATORS[op]
    if isinstance(left, dict) and isinstance(right, dict):
        return {stamp: apply(v, right[stamp]) for stamp, v in left.items() if stamp in right}
    if isinstance(left, dict):
        return {stamp: apply(v, right) for stamp, v in left.items()}  # type: ignore[arg-type]
    if isinstance(right, dict):
        return {stamp: apply(left, v) for stamp, v in right.items()}
    return apply(left, right)


def evaluate_all(expressions: Mapping[str, str], stats: Mapping[str, TimeSeries]) -> dict[str, Evaluation]:
    """Every expression of a call, each free to use the others' ids (a cycle is refused)."""
    done: dict[str, Evaluation] = {}
    visiting: set[str] = set()

    def series_of(query_id: str) -> Value:
        if query_id in stats:
            return stats[query_id]
        if query_id not in expressions:
            raise KeyError(query_id)
        if query_id not in done:
            if query_id in visiting:
                raise ExpressionError(f"the expressions refer to each other in a circle through {query_id!r}")
            visiting.add(query_id)
            done[query_id] = evaluate(expressions[query_id], series_of)
        return done[query_id].series

    for query_id in expressions:
        series_of(query_id)
    return done
