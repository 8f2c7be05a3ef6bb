"""What a loop variable takes from a loop over literal data:
`for name, path in (("users", "migrations/users"), ...)`, a module constant holding such a
tuple, or `.items()` of a literal dict."""

from __future__ import annotations

import ast

from .module_facts import ModuleFacts


def loop_items(module: ModuleFacts, name: ast.Name) -> list[ast.expr] | None:
    """The elements `name` takes in the innermost loop binding it; None if no loop binds it
    (an empty list if the loop runs over something that is not literal)."""
    for ancestor in module.ancestors(name):
        if isinstance(ancestor, ast.For | ast.AsyncFor | ast.comprehension):
            found = _loop_items(module, ancestor, name.id)
            if found is not None:
                return found
        if isinstance(ancestor, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return None
    return None


def _loop_items(
    module: ModuleFacts, loop: ast.For | ast.AsyncFor | ast.comprehension, name: str
) -> list[ast.expr] | None:
    """The elements `name` takes in `for <target> in <literal>`; None if not its loop."""
    position = _position_in(loop.target, name)
    if position is None:
        return None
    items = _literal_items(module, loop.iter)
    if position == ():
        return items
    found = []
    for item in items:
        for index in position:
            item = item.elts[index] if isinstance(item, ast.Tuple | ast.List) and index < len(
                item.elts
            ) else None  # fmt: skip
            if item is None:
                break
        if item is not None:
            found.append(item)
    return found


def _position_in(target: ast.expr, name: str) -> tuple[int, ...] | None:
    if isinstance(target, ast.Name):
        return () if target.id == name else None
    if isinstance(target, ast.Tuple | ast.List):
        for index, element in enumerate(target.elts):
            inner = _position_in(element, name)
            if inner is not None:
                return (index, *inner)
    return None


def _literal_items(module: ModuleFacts, iterable: ast.expr) -> list[ast.expr]:
    """Elements of a literal tuple/list/set (or of a module constant naming one); for
    `.items()` of a literal dict, (key, value) pairs."""
    items_call = (
        isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Attribute)
        and iterable.func.attr == "items"
    )
    if items_call:
        assert isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute)
        iterable = iterable.func.value
    if isinstance(iterable, ast.Name):
        bound = module.module_scope.values.get(iterable.id, [])
        iterable = bound[0] if len(bound) == 1 else iterable
    if isinstance(iterable, ast.Dict) and items_call:
        return [
            ast.Tuple(elts=[key, value], ctx=ast.Load())
            for key, value in zip(iterable.keys, iterable.values, strict=True)
            if key is not None
        ]
    if isinstance(iterable, ast.Tuple | ast.List | ast.Set):
        return list(iterable.elts)
    return []
