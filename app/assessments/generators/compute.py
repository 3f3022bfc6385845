"""Pure: numeric keys computed by code. A small AST walker evaluates the model's arithmetic, never `eval`.

Allowed: int and float literals, + - * / // % ** and unary minus, parentheses, and the calls round(x[, n]),
abs(x), min(...), max(...), sum([...]) over literals or sub-expressions, len("...") of a string literal.
Nothing else parses: no names, attributes, subscripts, comprehensions, lambdas or strings outside len().
round() rounds half away from zero, as people and spreadsheets round ("to 2 decimal places": 2.675 -> 2.68),
not Python's round-half-even on binary floats. Bounds keep a hostile expression cheap: at most 300 characters,
exponents within ±64 (and only on small bases), every intermediate within ±1e15.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

MAX_EXPRESSION_CHARS = 300
MAX_EXPONENT = 64
MAX_MAGNITUDE = 1e15
MAX_NDIGITS = 10
# Numbers a computation may use without them being in the prompt: unit conversions and "half", "per cent".
FREE_CONSTANTS = frozenset({0, 1, 2, 10, 12, 24, 60, 100, 1000, 1024, 365, 3600})

Number = int | float


class ComputationError(ValueError):
    """The expression is not one the evaluator accepts, or has no finite value."""


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


def _round(value: Number, ndigits: int = 0) -> Number:
    """Half away from zero on the shortest decimal form of the float (2.675 -> 2.68, 2.5 -> 3)."""
    if not isinstance(ndigits, int) or not -MAX_NDIGITS <= ndigits <= MAX_NDIGITS:
        raise ComputationError(f"round() takes a whole number of digits between -{MAX_NDIGITS} and {MAX_NDIGITS}")
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP)
    return int(rounded) if ndigits <= 0 else float(rounded)


def _checked(value: Number) -> Number:
    if isinstance(value, float) and not math.isfinite(value):
        raise ComputationError("the result is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise ComputationError(f"an intermediate value exceeds {MAX_MAGNITUDE:g}")
    return value


class _Evaluator:
    def __init__(self) -> None:
        self.literals: list[Number] = []  # every number written in the expression (round's digits excepted)

    def value(self, node: ast.AST) -> Number:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            self.literals.append(node.value)
            return _checked(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or abs(left) > 1e6):
                raise ComputationError(f"** is limited to exponents within ±{MAX_EXPONENT} on bases within ±1e6")
            try:
                result = _BINARY[type(node.op)](left, right)
            except ZeroDivisionError:
                raise ComputationError(f"division by zero in {_SYMBOLS[type(node.op)]}") from None
            except OverflowError:
                raise ComputationError("the result is too large") from None
            if isinstance(result, complex):
                raise ComputationError("a negative number raised to a fractional power")
            return _checked(result)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self.call(node.func.id, node.args)
        raise ComputationError(f"{type(node).__name__} is not allowed: use numbers, + - * / // % **, "
                               "round, abs, min, max, sum and len")

    def call(self, name: str, args: list[ast.expr]) -> Number:
        if name == "len":
            if len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
                raise ComputationError('len() takes one string literal, for example len("hello")')
            return len(args[0].value)
        if name == "round":
            if not 1 <= len(args) <= 2:
                raise ComputationError("round() takes a number and optionally the digits to keep")
            value = self.value(args[0])
            if len(args) == 1:
                return _round(value)
            digits = args[1]
            if not (isinstance(digits, ast.Constant) and type(digits.value) is int) and not (
                isinstance(digits, ast.UnaryOp) and isinstance(digits.op, ast.USub)
                and isinstance(digits.operand, ast.Constant) and type(digits.operand.value) is int
            ):
                raise ComputationError("round()'s digits must be a whole-number literal")
            return _round(value, ast.literal_eval(digits))
        if name == "abs":
            if len(args) != 1:
                raise ComputationError("abs() takes one number")
            return abs(self.value(args[0]))
        if name in ("min", "max", "sum"):
            values = self.sequence(args) if name == "sum" or len(args) == 1 else [self.value(arg) for arg in args]
            if not values and name != "sum":
                raise ComputationError(f"{name}() needs at least one number")
            if name == "sum":
                return _checked(math.fsum(values))
            return _checked(min(values) if name == "min" else max(values))
        raise ComputationError(f"{name}() is not allowed: only round, abs, min, max, sum and len")

    def sequence(self, args: list[ast.expr]) -> list[Number]:
        if len(args) != 1 or not isinstance(args[0], ast.List | ast.Tuple):
            raise ComputationError("sum() (and min/max of one argument) take a list literal, for example sum([1, 2])")
        return [self.value(element) for element in args[0].elts]


def evaluate(expression: str) -> tuple[Number, list[Number]]:
    """The value of an arithmetic expression and the number literals it uses; ComputationError if refused."""
    text = expression.strip().strip("`").strip()
    if not text:
        raise ComputationError("the computation is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ComputationError(f"the computation is over {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ComputationError(f"not an expression: {exc.msg}") from None
    evaluator = _Evaluator()
    value = evaluator.value(tree.body)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return value, evaluator.literals


_PROMPT_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def prompt_numbers(prompt: str) -> set[float]:
    """The numbers a prompt states ("1,250" is 1250), with their percent forms (15 -> 0.15 and 1500)."""
    found: set[float] = set()
    for match in _PROMPT_NUMBER.findall(prompt):
        number = float(match.replace(",", ""))
        found |= {number, number / 100, number * 100}
    return found


def unanchored(literals: list[Number], prompt: str) -> list[Number]:
    """The literals of a computation that are neither in the prompt nor common constants (the model's own)."""
    stated = prompt_numbers(prompt)
    return [
        literal for literal in literals
        if abs(literal) not in FREE_CONSTANTS and not any(math.isclose(abs(literal), s, rel_tol=1e-9) for s in stated)
    ]


def is_bare_number(expression: str) -> bool:
    """Whether the computation is just a number (a stated key in disguise)."""
    try:
        tree = ast.parse(expression.strip().strip("`").strip(), mode="eval")
    except SyntaxError:
        return False
    body = tree.body
    if isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.USub | ast.UAdd):
        body = body.operand
    return isinstance(body, ast.Constant)
