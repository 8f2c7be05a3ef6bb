"""Classes that own a pool: the attributes holding it, the methods that open and close it,
the guards in front of the opening, and whether the class is a singleton.

Built from syntax alone, once per run. A pool is what `create_shared_pool` (or a project
function returning one, or `asyncpg.create_pool`) returns, or an own-pool manager
(`AsyncDatabaseManager(config)`) once its `connect()` ran; the first closes with `close()`,
the second with `disconnect()`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .module_syntax import ModuleSyntax
from .syntax import dotted, is_create_shared_pool, simple_name

Method = ast.FunctionDef | ast.AsyncFunctionDef
CLOSING_CALLS = frozenset({"close", "terminate", "disconnect"})
_LOCKS = ("lock", "semaphore", "mutex")


@dataclass(frozen=True)
class Opening:
    method: Method
    statement: ast.stmt  # the statement that creates or connects the pool
    call: ast.Call  # create_shared_pool(...) or x.connect()
    attribute: str  # where the class keeps it: "_pool" for self._pool / cls._pool


@dataclass(frozen=True)
class Closing:
    method: Method
    call: ast.Call
    attribute: str


@dataclass
class PoolOwner:
    name: str
    module: ModuleSyntax
    node: ast.ClassDef
    openings: list[Opening] = field(default_factory=list)
    closings: list[Closing] = field(default_factory=list)
    opening_methods: set[str] = field(default_factory=set)  # open one, directly or not
    closing_methods: set[str] = field(default_factory=set)
    singleton: bool = False

    def methods(self) -> Iterator[Method]:
        for node in self.node.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield node

    def assigns(self, method: Method, attribute: str) -> bool:
        """Whether `method` rebinds self.<attribute> / cls.<attribute> (to None, usually)."""
        return any(
            own_attribute(target) == attribute
            for scope in self.module.scopes[method].within()
            for target, _ in scope.assignments
        )


def own_attribute(node: ast.AST) -> str | None:
    """`_pool` for `self._pool` or `cls._pool`."""
    path = dotted(node)
    if path is None:
        return None
    root, _, rest = path.partition(".")
    return rest if root in ("self", "cls") and rest else None


def is_locked(module: ModuleSyntax, node: ast.AST, stop: ast.AST) -> bool:
    """Inside `async with <a lock>` (or `with`) below `stop`."""
    for ancestor in module.ancestors(node):
        if ancestor is stop:
            return False
        if isinstance(ancestor, ast.With | ast.AsyncWith) and any(
            _names_lock(item.context_expr) for item in ancestor.items
        ):
            return True
    return False


def _names_lock(node: ast.expr) -> bool:
    text = (dotted(node.func if isinstance(node, ast.Call) else node) or "").lower()
    return any(word in text for word in _LOCKS)


def pool_owners(
    modules: Sequence[ModuleSyntax],
    *,
    manager_classes: set[str],
    pool_factories: set[str],
    closers: set[str],
) -> list[PoolOwner]:
    """Classes keeping a pool on self/cls."""
    owners: list[PoolOwner] = []
    for module in modules:
        for class_node in module.class_nodes:
            if class_node.name in manager_classes:
                continue  # pgdbm's managers (and subclasses) are managers, not owners
            owner = PoolOwner(class_node.name, module, class_node)
            _collect(owner, manager_classes, pool_factories, closers)
            if owner.openings:
                owners.append(owner)
    return owners


def _collect(
    owner: PoolOwner, manager_classes: set[str], pool_factories: set[str], closers: set[str]
) -> None:
    module = owner.module
    own_pool_managers = {
        attribute
        for (class_node, attribute), values in module.self_attributes.items()
        if class_node is owner.node
        and any(_builds_own_pool_manager(value, manager_classes) for value, _ in values)
    }
    for method in owner.methods():
        scopes = list(module.scopes[method].within())
        created = {  # locals holding a new pool: pool = await create_shared_pool(...)
            target.id: value
            for scope in scopes
            for target, value in scope.assignments
            if isinstance(target, ast.Name) and _creates_pool(value, pool_factories)
        }
        aliases = {  # locals holding the kept pool: pool, self._pool = self._pool, None
            target.id: attribute
            for scope in scopes
            for target, value in scope.assignments
            if isinstance(target, ast.Name)
            and value is not None
            and (attribute := own_attribute(value)) is not None
        }
        for scope in scopes:
            for target, value in scope.assignments:
                attribute = own_attribute(target)
                if attribute is None or value is None:
                    continue
                source = created.get(value.id) if isinstance(value, ast.Name) else value
                if source is not None and _creates_pool(source, pool_factories):
                    call = _unwrap(source)
                    assert isinstance(call, ast.Call)
                    owner.openings.append(
                        Opening(method, _statement(module, call), call, attribute)
                    )
            for call in scope.calls:
                func = call.func
                receiver = func.value if isinstance(func, ast.Attribute) else None
                attribute = own_attribute(receiver) if receiver is not None else None
                method_name = simple_name(func) or ""
                if method_name == "connect" and attribute in own_pool_managers:
                    owner.openings.append(
                        Opening(method, _statement(module, call), call, attribute)  # type: ignore[arg-type]
                    )
                elif method_name in CLOSING_CALLS and receiver is not None:
                    kept = attribute or (
                        aliases.get(receiver.id) if isinstance(receiver, ast.Name) else None
                    )
                    if kept is not None:
                        owner.closings.append(Closing(method, call, kept))
                elif method_name in closers or "close" in method_name:
                    for argument in call.args:
                        kept = own_attribute(argument) or (
                            aliases.get(argument.id) if isinstance(argument, ast.Name) else None
                        )
                        if kept is not None:
                            owner.closings.append(Closing(method, call, kept))
    kept = {opening.attribute for opening in owner.openings}
    owner.closings = [closing for closing in owner.closings if closing.attribute in kept]
    owner.opening_methods = _through_calls(owner, {o.method.name for o in owner.openings})
    owner.closing_methods = _through_calls(owner, {c.method.name for c in owner.closings})
    owner.singleton = _is_singleton(owner)


def _through_calls(owner: PoolOwner, direct: set[str]) -> set[str]:
    """`direct`, and the methods of the class that call one of them (get_instance ->
    initialize, __aexit__ -> close)."""
    names = set(direct)
    grew = True
    while grew:
        grew = False
        for method in owner.methods():
            if method.name in names:
                continue
            calls = (c for s in owner.module.scopes[method].within() for c in s.calls)
            if any(isinstance(c.func, ast.Attribute) and c.func.attr in names for c in calls):
                names.add(method.name)
                grew = True
    return names


def _is_singleton(owner: PoolOwner) -> bool:
    """One instance per process: __new__ or an _instance attribute, the pool kept on the
    class itself, or an instance made at module level."""
    if any(method.name in ("__new__", "get_instance", "instance") for method in owner.methods()):
        return True
    class_names = {
        target.id
        for node in owner.node.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    if class_names & {"_instance", "instance"}:
        return True
    if any(_stored_on_class(opening) for opening in owner.openings):
        return True
    return any(
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == owner.name
        for values in owner.module.module_scope.values.values()
        for value in values
    )


def _stored_on_class(opening: Opening) -> bool:
    statement = opening.statement
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    return any((dotted(target) or "").startswith("cls.") for target in targets)


def _builds_own_pool_manager(value: ast.expr, manager_classes: set[str]) -> bool:
    return (
        isinstance(value, ast.Call)
        and simple_name(value.func) in manager_classes
        and not any(keyword.arg == "pool" for keyword in value.keywords)
    )


def _unwrap(node: ast.expr) -> ast.expr:
    return node.value if isinstance(node, ast.Await) else node


def _creates_pool(value: ast.expr | None, pool_factories: set[str]) -> bool:
    call = _unwrap(value) if value is not None else None
    if not isinstance(call, ast.Call):
        return False
    if is_create_shared_pool(call) or dotted(call.func) == "asyncpg.create_pool":
        return True
    return isinstance(call.func, ast.Name) and call.func.id in pool_factories


def _statement(module: ModuleSyntax, node: ast.AST) -> ast.stmt:
    return next(a for a in module.ancestors(node) if isinstance(a, ast.stmt))


def guard_attributes(module: ModuleSyntax, method: Method, node: ast.AST) -> set[str]:
    """self/cls attributes tested before `node` runs: by the ifs around it, or by an early
    `if ...: return` in the method's body above it."""
    found: set[str] = set()
    child: ast.AST = node
    for ancestor in module.ancestors(node):
        if ancestor is method:
            break
        if isinstance(ancestor, ast.If) and any(child is statement for statement in ancestor.body):
            found |= tested_attributes(ancestor.test)
        child = ancestor
    for statement in method.body:
        if statement.lineno >= getattr(node, "lineno", 0):
            break
        if isinstance(statement, ast.If) and any(
            isinstance(inner, ast.Return) for inner in statement.body
        ):
            found |= tested_attributes(statement.test)
    return found


def tested_attributes(test: ast.expr) -> set[str]:
    return {
        attribute
        for node in ast.walk(test)
        if isinstance(node, ast.Attribute) and (attribute := own_attribute(node)) is not None
    }


def half_open(owner: PoolOwner) -> Iterator[tuple[Opening, Closing, str]]:
    """initialize() opens the pool, awaits more, and only then sets the flag that every
    close of that pool checks: when the awaits fail, close() skips the open pool."""
    already_true = {  # `self._owns_pool = True` in __init__: never what close() waits for
        attribute
        for method in owner.methods()
        if method.name == "__init__"
        for attribute in _set_true(method)
    }
    for opening in owner.openings:
        flags = _flags_set_after_an_await(opening.method, opening.statement) - already_true
        closings = [c for c in owner.closings if c.attribute == opening.attribute]
        checked = [guard_attributes(owner.module, c.method, c.call) & flags for c in closings]
        if flags and closings and all(checked):
            yield opening, closings[0], sorted(checked[0])[0]


def may_stay_half_open(owner: PoolOwner) -> bool:
    """A method opens the pool, awaits more, and closes nothing itself when that fails: its
    caller must close the object even when the call raised."""
    for opening in owner.openings:
        end = (opening.statement.end_lineno or opening.statement.lineno, 0)
        body = list(ast.walk(opening.method))
        awaits = any(isinstance(n, ast.Await) and (n.lineno, 0) > end for n in body)
        closes = any(isinstance(n, ast.Call) and simple_name(n.func) in CLOSING_CALLS for n in body)
        if awaits and not closes:
            return True
    return False


def _flags_set_after_an_await(method: Method, opening: ast.stmt) -> set[str]:
    """Attributes set to True after an await that follows the opening statement."""
    end = (opening.end_lineno or opening.lineno, opening.end_col_offset or 0)
    awaits = sorted(
        (node.lineno, node.col_offset)
        for node in ast.walk(method)
        if isinstance(node, ast.Await) and (node.lineno, node.col_offset) > end
    )
    if not awaits:
        return set()
    return _set_true(method, after=awaits[0])


def _set_true(method: Method, after: tuple[int, int] = (0, 0)) -> set[str]:
    """self/cls attributes `method` sets to True (after the position `after`)."""
    return {
        attribute
        for node in ast.walk(method)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and node.value.value is True
        and (node.lineno, node.col_offset) > after
        for target in node.targets
        if (attribute := own_attribute(target)) is not None
    }
