"""Which text in a function comes from its callers: a small taint analysis for SQL building.

A value is tainted when it flows from a parameter of the enclosing function (not `self`, not
a number, date, UUID or enum by its annotation, not one every caller passes a literal) through
string operations only: f-strings,
`+`, `%`, `.format()`, `.join()`, `str()`, case and strip methods, loops and comprehensions
over it, and lists it is appended to. Any other call ends the flow (a quoting or validating
helper, a model's `model_dump()`), and so does a check of the name in the same function
(`validate_name(x)`, `PATTERN.fullmatch(x)`, `if x not in ALLOWED`). Constants, counters and
`$n` placeholders are never tainted, so SQL assembled from them is safe; a loop over literal
rows (`for table, keys in (("a", x), ("b", y))`) gives each name its own column.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from .syntax import FUNCTION_NODES, simple_name

Function = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.Module

_SAFE_TYPES = frozenset(
    {"int", "float", "bool", "UUID", "datetime", "date", "time", "timedelta", "Decimal"}
    | {"Literal", "IntEnum", "StrEnum", "Enum", "None", "bytes"}
)
# Calls whose result carries the taint of their arguments (or receiver, for methods).
_PASS_FUNCTIONS = frozenset({"str", "enumerate", "zip", "sorted", "reversed", "list", "tuple"})
_PASS_METHODS = frozenset(
    {"format", "join", "lower", "upper", "strip", "lstrip", "rstrip", "title", "casefold"}
    | {"items", "keys", "values", "copy", "split", "get", "pop", "removeprefix", "removesuffix"}
    | {"replace"}
)
_VALIDATOR = re.compile(r"valid|check|assert|match|quote|saniti|escape|ident|qualif", re.I)
_APPENDS = frozenset({"append", "extend", "insert", "add"})


class FunctionTaint:
    """Taint facts for one function body (nested functions are analysed on their own)."""

    def __init__(
        self, function: Function, constant_parameters: frozenset[str] = frozenset()
    ) -> None:
        self.function = function
        self.tainted: set[str] = set()
        self.checked: set[str] = set()
        self._bindings: list[tuple[ast.expr, ast.expr]] = []  # (target, value)
        if isinstance(function, ast.Module):
            self.tainted |= _snippet_inputs(function)
        else:
            self.tainted |= _parameters(function.args) - constant_parameters
        for node in _own_nodes(function):
            self._collect(node)
        self.tainted -= self.checked
        self._propagate()

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign):
            self._bindings += [(target, node.value) for target in node.targets]
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            if node.value is not None:
                self._bindings.append((node.target, node.value))
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            self._bindings += _loop_bindings(node.target, node.iter)
        elif isinstance(node, ast.Call):
            method = node.func.attr if isinstance(node.func, ast.Attribute) else None
            if method in _APPENDS and isinstance(node.func, ast.Attribute):
                for argument in node.args:
                    self._bindings.append((node.func.value, argument))
            if _VALIDATOR.search(simple_name(node.func) or ""):
                self.checked.update(_names(node.args))
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) and _constant_collection(container)
            for op, container in zip(node.ops, node.comparators, strict=True)
        ):
            self.checked.update(_names([node.left]))  # an allow-list: if x not in ALLOWED

    def _propagate(self) -> None:
        grew = True
        while grew:
            grew = False
            for target, value in self._bindings:
                names = set(_names([target])) - self.checked
                if names - self.tainted and self.expression(value):
                    self.tainted |= names
                    grew = True

    def expression(self, node: ast.AST | None) -> bool:
        """Whether `node` carries text from a caller."""
        if node is None or isinstance(node, ast.Constant):
            return False
        if isinstance(node, ast.Name):
            return node.id in self.tainted
        if isinstance(node, ast.Attribute | ast.Subscript | ast.Starred | ast.Await):
            return self.expression(node.value)
        if isinstance(node, ast.JoinedStr):
            return any(
                self.expression(part.value)
                for part in node.values
                if isinstance(part, ast.FormattedValue)
            )
        if isinstance(node, ast.BinOp):
            return self.expression(node.left) or self.expression(node.right)
        if isinstance(node, ast.IfExp):
            return self.expression(node.body) or self.expression(node.orelse)
        if isinstance(node, ast.BoolOp):
            return any(self.expression(value) for value in node.values)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return any(self.expression(element) for element in node.elts)
        if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            return self.expression(node.elt)
        if isinstance(node, ast.Call):
            return self._call(node)
        return False

    def _call(self, call: ast.Call) -> bool:
        arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
        if isinstance(call.func, ast.Name):
            passes = call.func.id in _PASS_FUNCTIONS
            return passes and any(self.expression(argument) for argument in arguments)
        if isinstance(call.func, ast.Attribute) and call.func.attr in _PASS_METHODS:
            if _is_quote_doubling(call):
                return False
            return self.expression(call.func.value) or any(
                self.expression(argument) for argument in arguments
            )
        return False


def _loop_bindings(target: ast.expr, iterable: ast.expr) -> list[tuple[ast.expr, ast.expr]]:
    """`for table, keys in (("a", x), ("b", y))`: table takes "a" and "b", keys x and y."""
    rows = iterable.elts if isinstance(iterable, ast.Tuple | ast.List) else []
    if (
        isinstance(target, ast.Tuple | ast.List)
        and rows
        and all(
            isinstance(r, ast.Tuple | ast.List) and len(r.elts) == len(target.elts) for r in rows
        )
    ):
        return [
            (element, row.elts[index])  # type: ignore[attr-defined]
            for row in rows
            for index, element in enumerate(target.elts)
        ]
    return [(target, iterable)]


def constant_parameters(function: Function, calls: list[ast.Call], text: str) -> frozenset[str]:
    """Parameters of a module-private helper (`def _record(db, table)`) that every call of it in
    its module passes a literal. Any other mention of its name (a callback, an export) keeps
    them the callers'."""
    name = getattr(function, "name", "")
    if not name.startswith("_") or name.startswith("__") or isinstance(function, ast.Lambda):
        return frozenset()
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    mine = [call for call in calls if simple_name(call.func) == name]
    if not mine or len(re.findall(rf"\b{re.escape(name)}\b", text)) != len(mine) + 1:
        return frozenset()
    positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    defaults = dict(zip(reversed(positional), reversed(function.args.defaults), strict=False)) | {
        a.arg: d
        for a, d in zip(function.args.kwonlyargs, function.args.kw_defaults, strict=True)
        if d
    }
    found = set()
    for parameter in (*positional, *(a.arg for a in function.args.kwonlyargs)):
        arguments = [
            _argument(call, positional, parameter) or defaults.get(parameter) for call in mine
        ]
        if all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in arguments):
            found.add(parameter)
    return frozenset(found)


def _argument(call: ast.Call, positional: list[str], parameter: str) -> ast.expr | None:
    """The argument `call` passes for `parameter` (self/cls bound by a method call)."""
    for keyword in call.keywords:
        if keyword.arg == parameter:
            return keyword.value
    offset = (
        1 if positional[:1] in (["self"], ["cls"]) and isinstance(call.func, ast.Attribute) else 0
    )
    index = positional.index(parameter) - offset if parameter in positional else -1
    if 0 <= index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args):
        return call.args[index]
    return None


def _constant_collection(node: ast.expr) -> bool:
    """An allow-list: a literal collection, or a constant's name (ALLOWED, Schema.names).
    A cache (`if tenant not in self.cache`) checks nothing about the text."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
        return True
    name = simple_name(node)
    return name is not None and name.isupper()


def _parameters(arguments: ast.arguments) -> set[str]:
    names = {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    for argument in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
        if argument.arg not in ("self", "cls") and not _safe_annotation(argument.annotation):
            names.add(argument.arg)
    return names


def _snippet_inputs(module: ast.Module) -> set[str]:
    """Top-level code is a snippet (a program runs in functions): a lower-case name holding
    a string literal there stands for input (`tenant_id = "x"`; UPPER_CASE is a constant)."""
    return {
        target.id
        for statement in module.body
        if isinstance(statement, ast.Assign)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
        for target in statement.targets
        if isinstance(target, ast.Name) and not target.id.isupper()
    }


def _own_nodes(function: Function) -> Iterator[ast.AST]:
    """The nodes of `function`'s body, not those of functions nested in it."""
    stack: list[ast.AST] = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (*FUNCTION_NODES, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _names(nodes: list[ast.expr]) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Tuple | ast.List):
            yield from _names(node.elts)
        elif isinstance(node, ast.Starred):
            yield from _names([node.value])


def _safe_annotation(annotation: ast.expr | None) -> bool:
    """int, Optional[UUID], datetime | None, Literal["a", "b"]: nothing to inject."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Subscript):
        outer = simple_name(annotation.value)
        if outer == "Literal":
            return True
        if outer in ("Optional", "Annotated"):
            inner = annotation.slice
            first = inner.elts[0] if isinstance(inner, ast.Tuple) else inner
            return _safe_annotation(first)
        return False
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _safe_annotation(annotation.left) and _safe_annotation(annotation.right)
    if isinstance(annotation, ast.Constant):
        return annotation.value is None
    return (simple_name(annotation) or "") in _SAFE_TYPES


def _is_quote_doubling(call: ast.Call) -> bool:
    """`name.replace('"', '""')`: the identifier is quoted."""
    assert isinstance(call.func, ast.Attribute)
    values = [a.value for a in call.args if isinstance(a, ast.Constant)]
    return call.func.attr == "replace" and values in (['"', '""'], ["'", "''"])
