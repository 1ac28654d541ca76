"""Which parts of a code question's tests are calls to the candidate, and which are judgement.

A code question's tests mix two things: calls to the candidate's functions (`f(3)`) and the
judgement of what they return (`== 10`, `abs(... - y) < 1e-6`). The sandbox runs the candidate's
functions in one process and keeps the judgement out of it (think_prune_train.verify.judge). This
module reads the tests (with `ast`, never running them) and decides where the judgement runs:

- `split_tests` returns a `Split` when every test is an `assert` whose judgement is simple enough
  to evaluate here, in the pipeline, on plain data: literals, arithmetic, comparisons, `and`/`or`,
  indexing, and a few pure builtins (`abs`, `len`, `sorted`, `round`, `math.isclose`, ...), around
  calls to the candidate whose arguments are themselves literals. function_from_examples' tests
  (`assert f(3)==10`) and most of MBPP's and HumanEval's are of this kind. The candidate's process
  then receives only the calls; `Split.verdict` compares what came back.
- Otherwise (loops, helper functions, random inputs, reference implementations: code), it returns
  None and the tests run in a judge's process of their own, sandboxed like the candidate but never
  running candidate code; the candidate's functions are stubs there that ask the candidate's
  process over a pipe (judge.py).

`candidate_names` says which names in the tests stand for the candidate's code: the names the
tests use but never define, that are not builtins.
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
from dataclasses import dataclass, field
from typing import Any

# Pure functions of plain data that a split test may use; each returns plain data.
SAFE_FUNCTIONS = {
    "abs": abs, "all": all, "any": any, "bool": bool, "dict": dict, "float": float, "frozenset": frozenset,
    "int": int, "len": len, "list": list, "max": max, "min": min, "round": round, "set": set,
    "sorted": sorted, "str": str, "sum": sum, "tuple": tuple,
}
SAFE_MATH = {"isclose": math.isclose, "fabs": math.fabs, "sqrt": math.sqrt, "floor": math.floor, "ceil": math.ceil}
COMPARISONS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
               ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
               ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
NUMBERS = (bool, int, float, complex)
# A sequence made longer than this by `*` is refused (`"a" * 10**12` would take the pipeline's memory).
MAX_REPEAT = 1 << 20


class NotSplit(Exception):
    """These tests are not of the kind `split_tests` evaluates here."""


class CallFailed(Exception):
    """A call to the candidate raised, returned something that is not plain data, or never returned."""


@dataclass(frozen=True)
class Call:
    """One call to a candidate function, with plain arguments."""

    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class Split:
    """Tests as calls for the candidate's process and checks evaluated here on what they return."""

    calls: list[Call]
    checks: list[ast.expr]
    # Which call each candidate-call node of `checks` is (by id(); `tree` keeps the nodes alive).
    call_of: dict[int, int]
    constants: dict[str, Any]
    tree: ast.Module

    def verdict(self, results: list[tuple]) -> tuple[bool, str]:
        """(passed, why) from one result per call: ("ok", value) or (failure kind, message)."""
        evaluator = _Evaluator(self, results)
        for number, check in enumerate(self.checks, 1):
            try:
                if not evaluator.value(check):
                    return False, f"assertion {number} of {len(self.checks)} failed"
            except CallFailed as failed:
                return False, str(failed)
            except (ArithmeticError, LookupError, TypeError, ValueError, NotSplit, RecursionError) as error:
                return False, f"assertion {number} raised {type(error).__name__}"
        return True, f"{len(self.checks)} assertions held"


def candidate_names(tree: ast.Module) -> set[str]:
    """Names the tests use but never bind, other than builtins: the candidate's, as the tests see them."""
    used, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return {name for name in used - bound if not hasattr(builtins, name)}


def split_tests(tests: str, entry_point: str | None) -> Split | None:
    """The tests as a `Split`, or None when they must run as code in the judge's process."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    try:
        return _split(tree, entry_point)
    except Exception:  # noqa: BLE001 - NotSplit, or evaluating a literal argument failed: the judge runs them
        return None


def _split(tree: ast.Module, entry_point: str | None) -> Split:
    names = candidate_names(tree) | ({entry_point} if entry_point else set())
    constants: dict[str, Any] = {}
    asserts: list[tuple[ast.expr, dict[str, str]]] = []
    math_imported, has_check = False, False
    for statement in tree.body:
        if isinstance(statement, ast.Assert):
            asserts.append((statement.test, {}))
        elif _is_docstring(statement):
            continue
        elif isinstance(statement, ast.Import) and [(a.name, a.asname) for a in statement.names] == [("math", None)]:
            math_imported = True
        elif (isinstance(statement, ast.Assign) and len(statement.targets) == 1
              and isinstance(statement.targets[0], ast.Name)):
            try:
                constants[statement.targets[0].id] = ast.literal_eval(statement.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise NotSplit("an assignment of something other than a literal") from None
        elif (isinstance(statement, ast.FunctionDef) and statement.name == "check" and entry_point
              and not has_check and not statement.decorator_list and _one_plain_argument(statement.args)):
            has_check = True
            alias = {statement.args.args[0].arg: entry_point}
            for inner in statement.body:
                if isinstance(inner, ast.Assert):
                    asserts.append((inner.test, alias))
                elif not (_is_docstring(inner) or isinstance(inner, ast.Pass)):
                    raise NotSplit("check() holds more than assertions")
        else:
            raise NotSplit(f"a {type(statement).__name__} statement")
    if bool(entry_point) != has_check or not asserts:
        raise NotSplit("the tests' check() and the entry point do not match")
    split = Split(calls=[], checks=[], call_of={}, constants=constants, tree=tree)
    planner = _Planner(split, names, math_imported)
    for test, alias in asserts:
        planner.alias = alias
        planner.visit(test)
        split.checks.append(test)
    return split


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _one_plain_argument(arguments: ast.arguments) -> bool:
    return (len(arguments.args) == 1 and not arguments.posonlyargs and not arguments.kwonlyargs
            and not arguments.vararg and not arguments.kwarg and not arguments.defaults)


class _Planner:
    """Walks an assertion in evaluation order: checks each node is allowed, records candidate calls."""

    def __init__(self, split: Split, names: set[str], math_imported: bool):
        self.split, self.names, self.math_imported, self.alias = split, names, math_imported, {}
        self.static = _Evaluator(split, results=None)

    def visit(self, node: ast.expr) -> None:
        if isinstance(node, ast.Call):
            target = self.candidate(node.func)
            if target is not None:
                if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                    raise NotSplit("a call to the candidate with * or **")
                call = Call(target, tuple(self.static.value(a) for a in node.args),
                            {k.arg: self.static.value(k.value) for k in node.keywords})
                self.split.call_of[id(node)] = len(self.split.calls)
                self.split.calls.append(call)
                return
            self.static.function(node.func, math_allowed=self.math_imported)
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise NotSplit("a starred argument")
            for keyword in node.keywords:
                if keyword.arg not in ("rel_tol", "abs_tol", "reverse", "ndigits"):
                    raise NotSplit(f"the keyword {keyword.arg!r}")
            for child in [*node.args, *(k.value for k in node.keywords)]:
                self.visit(child)
        elif isinstance(node, (ast.Constant, ast.Name)):
            self.static.value(node)  # a name must be a constant of the tests
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for element in node.elts:
                if isinstance(element, ast.Starred):
                    raise NotSplit("a starred element")
                self.visit(element)
        elif isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                raise NotSplit("a ** in a dict")
            for child in [*node.keys, *node.values]:
                self.visit(child)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            self.visit(node.operand)
        elif isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
            self.visit(node.left)
            self.visit(node.right)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.visit(value)
        elif isinstance(node, ast.Compare) and all(type(op) in COMPARISONS for op in node.ops):
            self.visit(node.left)
            for comparator in node.comparators:
                self.visit(comparator)
        elif isinstance(node, ast.Subscript):
            self.visit(node.value)
            self.visit_slice(node.slice)
        else:
            raise NotSplit(f"a {type(node).__name__} expression")

    def visit_slice(self, node: ast.expr) -> None:
        if isinstance(node, ast.Slice):
            for part in (node.lower, node.upper, node.step):
                if part is not None:
                    self.visit(part)
        else:
            self.visit(node)

    def candidate(self, func: ast.expr) -> str | None:
        """The candidate function `func` names, or None when it names none."""
        if isinstance(func, ast.Name):
            if func.id in self.alias:
                return self.alias[func.id]
            if func.id in self.names and func.id not in self.split.constants:
                return func.id
        return None


class _Evaluator:
    """Evaluates an allowed assertion on plain data; `results` None means no candidate call may appear."""

    def __init__(self, split: Split, results: list[tuple] | None):
        self.split, self.results = split, results

    def function(self, func: ast.expr, math_allowed: bool = True):
        if isinstance(func, ast.Name) and func.id in SAFE_FUNCTIONS and func.id not in self.split.constants:
            return SAFE_FUNCTIONS[func.id]
        if (math_allowed and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "math" and func.attr in SAFE_MATH):
            return SAFE_MATH[func.attr]
        raise NotSplit(f"a call to {ast.dump(func)[:60]}")

    def value(self, node: ast.expr):
        if isinstance(node, ast.Constant):
            if node.value is Ellipsis:
                raise NotSplit("an Ellipsis")
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.split.constants:
                return self.split.constants[node.id]
            raise NotSplit(f"the name {node.id!r}")
        if isinstance(node, ast.Call):
            if id(node) in self.split.call_of:
                if self.results is None:
                    raise NotSplit("a call to the candidate inside another's arguments")
                outcome = self.results[self.split.call_of[id(node)]]
                if outcome[0] != "ok":
                    raise CallFailed(f"call {self.split.call_of[id(node)] + 1}: {outcome[0]}: {str(outcome[1])[:200]}")
                return outcome[1]
            function = self.function(node.func)
            arguments = [self.value(argument) for argument in node.args]
            keywords = {k.arg: self.value(k.value) for k in node.keywords}
            return function(*arguments, **keywords)
        if any(isinstance(child, ast.Starred) for child in getattr(node, "elts", ())):
            raise NotSplit("a starred element")
        if isinstance(node, ast.Tuple):
            return tuple(self.value(element) for element in node.elts)
        if isinstance(node, ast.List):
            return [self.value(element) for element in node.elts]
        if isinstance(node, ast.Set):
            return {self.value(element) for element in node.elts}
        if isinstance(node, ast.Dict):
            return {self.value(key): self.value(value) for key, value in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            return UNARY[type(node.op)](self.value(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:  # no **: 10**10**9 would hang here
            return _arithmetic(type(node.op), self.value(node.left), self.value(node.right))
        if isinstance(node, ast.BoolOp):
            result = None
            for value_node in node.values:
                result = self.value(value_node)
                if isinstance(node.op, ast.And) != bool(result):
                    return result
            return result
        if isinstance(node, ast.Compare) and all(type(op) in COMPARISONS for op in node.ops):
            left = self.value(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = self.value(comparator)
                if not COMPARISONS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Subscript):
            container = self.value(node.value)
            if isinstance(node.slice, ast.Slice):
                parts = [None if p is None else self.value(p) for p in (node.slice.lower, node.slice.upper, node.slice.step)]
                return container[slice(*parts)]
            return container[self.value(node.slice)]
        raise NotSplit(f"a {type(node).__name__} expression")


def _arithmetic(op: type, left, right):
    numbers = isinstance(left, NUMBERS) and isinstance(right, NUMBERS)
    if op is ast.Mult and not numbers:
        count, sequence = (right, left) if isinstance(right, int) else (left, right)
        if not isinstance(count, int) or count * len(sequence) > MAX_REPEAT:
            raise ValueError("a repeated sequence over the size the pipeline evaluates")
    if op is ast.Mod and not numbers:
        raise TypeError("% formatting is not evaluated")
    return ARITHMETIC[op](left, right)
