"""Where pools are opened and closed: the facts SP009 judges.

An opening is `create_shared_pool` (or a project factory, `asyncpg.create_pool`), an
own-pool manager's `connect()`, or, in a lifespan or start-up handler, a call that makes a
pool-owning object open its pool (`await db.initialize()`, `Database.get_instance()`). Its
closes are the calls that close that same pool: `pool.close()`, `db.disconnect()`,
`db.close()` on the owner, a closing helper, or a callback on an exit stack.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from .module_facts import ModuleFacts
from .owners import PoolOwner, may_stay_half_open, own_attribute
from .project import Project
from .syntax import dotted, is_create_shared_pool, simple_name

POOL_CLOSES = frozenset({"close", "terminate"})
EXIT_STACK_METHODS = frozenset(
    {"push_async_callback", "callback", "push_async_exit", "enter_async_context"}
)
# What leaves a block early in practice: I/O that fails (awaits), suspension, jumps. Plain
# calls between opening a pool and its try (building managers) are let through.
INTERRUPTIONS = (
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.Return,
    ast.Raise,
    ast.Break,
    ast.Continue,
)
_STARTUP = frozenset({"startup"})


@dataclass(frozen=True)
class Opening:
    module: ModuleFacts
    call: ast.Call
    statement: ast.stmt
    function: ast.AST  # the function (or module) whose body opens it
    names: frozenset[str]  # dotted names holding the pool (or the object owning it)
    closing_methods: frozenset[str]
    owner: PoolOwner | None = None  # set when an object opens its own pool for us


def openings(project: Project, module: ModuleFacts) -> Iterator[Opening]:
    lifecycle = lifecycle_functions(module)
    for call in module.calls:
        if is_pool_creation(module, call):
            statement = statement_of(module, call)
            if isinstance(statement, ast.Assign | ast.AnnAssign):
                targets = statement.targets if isinstance(statement, ast.Assign) else [
                    statement.target
                ]  # fmt: skip
                names = {name for target in targets if (name := dotted(target)) is not None}
                yield _opening(module, call, statement, names, POOL_CLOSES)
            continue
        if not isinstance(call.func, ast.Attribute) or own_attribute(call.func.value):
            continue  # self.x.connect() is the owning class's business (owners.py)
        receiver = call.func.value
        if call.func.attr == "connect":
            # A connect() that returns opened an own pool (a pool-based manager raises), so
            # any manager counts, unless it came from the caller (a parameter).
            value = module.value_of(receiver)
            parameters = module.syntax.scopes[module.enclosing_function(call)].parameters
            if (
                value is not None
                and value.kind == "manager"
                and value.pool_based is not True
                and dotted(receiver) not in parameters
            ):
                names = {name} if (name := dotted(receiver)) else set()
                yield _opening(module, call, statement_of(module, call), names, {"disconnect"})
        elif module.enclosing_function(call) in lifecycle:
            owner = module.owner_of(receiver)
            if owner is not None and call.func.attr in owner.opening_methods:
                names = {name} if (name := dotted(receiver)) else set()
                opening = _opening(
                    module, call, statement_of(module, call), names, owner.closing_methods
                )
                yield Opening(**{**opening.__dict__, "owner": owner})


def _opening(
    module: ModuleFacts,
    call: ast.Call,
    statement: ast.stmt,
    names: set[str],
    closing: frozenset[str] | set[str],
) -> Opening:
    function = module.enclosing_function(call)
    return Opening(
        module, call, statement, function, frozenset(_aliases(module, names, function)),
        frozenset(closing),
    )  # fmt: skip


def is_pool_creation(module: ModuleFacts, call: ast.Call) -> bool:
    return (
        is_create_shared_pool(call)
        or dotted(call.func) == "asyncpg.create_pool"
        or (isinstance(call.func, ast.Name) and call.func.id in module.project.pool_factories)
    )


def statement_of(module: ModuleFacts, node: ast.AST) -> ast.stmt:
    return next(a for a in module.ancestors(node) if isinstance(a, ast.stmt))


def _aliases(module: ModuleFacts, names: set[str], function: ast.AST) -> set[str]:
    """`names` and what they are copied to: app.state.pool = pool; for pool in pools."""
    scope = module.syntax.scopes[function]
    copies = [
        (dotted(target), dotted(value) if value is not None else None)
        for target, value in scope.assignments
    ]
    copies += [
        (dotted(loop.target), dotted(loop.iter)) for inner in scope.within() for loop in inner.loops
    ]
    found = set(names)
    grew = True
    while grew:
        grew = False
        for target, value in copies:
            if value in found and target is not None and target not in found:
                found.add(target)
                grew = True
    return found


def lifecycle_functions(module: ModuleFacts) -> set[ast.AST]:
    """Lifespans (an @asynccontextmanager with a yield, or a function passed as lifespan=)
    and start-up handlers (@app.on_event("startup"), add_event_handler("startup", f))."""
    passed = {
        keyword.value.id
        for call in module.calls
        for keyword in call.keywords
        if keyword.arg == "lifespan" and isinstance(keyword.value, ast.Name)
    }
    passed |= {
        call.args[1].id
        for call in module.calls
        if simple_name(call.func) == "add_event_handler"
        and len(call.args) > 1
        and isinstance(call.args[1], ast.Name)
        and _string(call.args[0]) in _STARTUP
    }
    found: set[ast.AST] = set()
    for functions in module.functions.values():
        for function in functions:
            decorators = [
                simple_name(d.func if isinstance(d, ast.Call) else d)
                for d in function.decorator_list
            ]
            startup = any(
                isinstance(d, ast.Call) and simple_name(d.func) == "on_event"
                and d.args and _string(d.args[0]) in _STARTUP
                for d in function.decorator_list
            )  # fmt: skip
            lifespan = "asynccontextmanager" in decorators and _yields(module, function)
            if function.name in passed or startup or lifespan:
                found.add(function)
    return found


def is_generator(module: ModuleFacts, function: ast.AST) -> bool:
    return isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef) and _yields(
        module, function
    )


def _yields(module: ModuleFacts, function: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Yield | ast.YieldFrom) and module.enclosing_function(node) is function
        for node in ast.walk(function)
    )


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def closes(opening: Opening, *, within: ast.AST | None = None) -> Iterator[tuple[ast.Call, bool]]:
    """Calls (in `within`, default the opening's function, nested functions included) that
    close the opening's pool, each with whether it is registered on an exit stack."""
    module = opening.module
    scope = module.syntax.scopes[within or opening.function]
    for call in (c for inner in scope.within() for c in inner.calls):
        method = simple_name(call.func) or ""
        receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
        if receiver is not None and method in opening.closing_methods:
            if _same(opening, receiver):
                yield call, False
        elif method in EXIT_STACK_METHODS and any(_refers(opening, a) for a in call.args):
            yield call, True
        elif (
            opening.owner is None
            and (method in module.project.pool_closers or "close" in method)
            and any(_same(opening, argument) for argument in call.args)
        ):
            yield call, False


def _same(opening: Opening, node: ast.expr) -> bool:
    if opening.owner is not None:
        return opening.module.owner_of(node) is opening.owner
    return dotted(node) in opening.names


def _refers(opening: Opening, node: ast.expr) -> bool:
    """`pool` or `pool.close`."""
    return _same(opening, node) or (isinstance(node, ast.Attribute) and _same(opening, node.value))


def closed_elsewhere(project: Project, opening: Opening) -> bool:
    """Whether any module of the opening's process closes it: a shutdown handler closing
    app.state.pool, or any call of the owner's close()."""
    module = opening.module
    kept = {_kept_key(name) for name in opening.names if "." in name}
    processes = project.facts.processes.of(module.source.path)
    paths = set().union(*processes) if processes else {module.source.path}
    for other in project.modules():
        if other.source.path not in paths:
            continue
        for call in other.calls:
            method = simple_name(call.func) or ""
            receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
            if opening.owner is not None:
                if (
                    method in opening.owner.closing_methods
                    and receiver is not None
                    and other.owner_of(receiver) is opening.owner
                ):
                    return True
                continue
            arguments = [receiver] if method in opening.closing_methods else []
            if method in EXIT_STACK_METHODS or "close" in method:
                arguments += [
                    a.value if isinstance(a, ast.Attribute) and a.attr in POOL_CLOSES else a
                    for a in call.args
                ]
            if any(_kept_key(dotted(a) or "") in kept for a in arguments if a is not None):
                return True
    return False


def _kept_key(path: str) -> str:
    """request.app.state.pool and app.state.pool are the same place: compare the last two."""
    return ".".join(path.split(".")[-2:])


def follows_directly(module: ModuleFacts, first: ast.AST, later: ast.AST | None) -> bool:
    """`later` comes after `first` in the same block, and nothing in between can skip it."""
    parent = module.parents.get(first)
    block: list[ast.stmt] = next(
        (
            getattr(parent, name)
            for name in ("body", "orelse", "finalbody")
            if any(node is first for node in getattr(parent, name, []))
        ),
        [],
    )
    start = next((i for i, node in enumerate(block) if node is first), None)
    end = next((i for i, node in enumerate(block) if node is later), None)
    if start is None or end is None or start > end:
        return False
    return not any(
        isinstance(node, INTERRUPTIONS)
        for statement in block[start + 1 : end]
        for node in ast.walk(statement)
    )


def closed_on_failure(module: ModuleFacts, close: ast.Call, opening: ast.stmt) -> bool:
    """`try: ... except BaseException: await pool.close(); raise` around what follows the
    opening: closed when anything fails, handed on when nothing does."""
    for ancestor in module.ancestors(close):
        if isinstance(ancestor, ast.ExceptHandler):
            broad = ancestor.type is None or dotted(ancestor.type) in (
                "Exception",
                "BaseException",
            )
            guard = module.parents.get(ancestor)
            return (
                broad
                and isinstance(guard, ast.Try | ast.TryStar)
                and protects(module, guard, opening)
            )
        if isinstance(ancestor, ast.stmt) and isinstance(
            ancestor, ast.FunctionDef | ast.AsyncFunctionDef
        ):
            return False
    return False


def failure_flag(module: ModuleFacts, close: ast.Call, opening: Opening) -> str | None:
    """`except: if started: await db.close()` with `started = True` set after the opening
    returns: a pool opened by a call that failed half-way is never closed. The name, if so."""
    tests = []
    for ancestor in module.ancestors(close):
        if isinstance(ancestor, ast.ExceptHandler | ast.FunctionDef | ast.AsyncFunctionDef):
            break
        if isinstance(ancestor, ast.If):
            tests.append(ancestor.test)
    names = {node.id for test in tests for node in ast.walk(test) if isinstance(node, ast.Name)}
    for statement in module.syntax.scopes[opening.function].assignments:
        target, value = statement
        if (
            isinstance(target, ast.Name)
            and target.id in names
            and isinstance(value, ast.Constant)
            and value.value is True
            and target.lineno > (opening.statement.end_lineno or opening.statement.lineno)
        ):
            set_at = statement_of(module, target)
            if opening.owner is not None and may_stay_half_open(opening.owner):
                return target.id
            if not follows_directly(module, opening.statement, set_at):
                return target.id
    return None


def protects(module: ModuleFacts, guard: ast.Try | ast.TryStar, opening: ast.AST) -> bool:
    """The try covers the opening: it is inside the try, or only plain statements lie between
    (the try may open an `if` that follows: `if verify: try: ...`)."""
    if any(ancestor is guard for ancestor in module.ancestors(opening)):
        return True
    node: ast.AST = guard
    while not follows_directly(module, opening, node):
        parent = module.parents.get(node)
        if (
            not isinstance(parent, ast.If)
            or parent.body[0] is not node
            or any(isinstance(inner, INTERRUPTIONS) for inner in ast.walk(parent.test))
        ):
            return False
        node = parent
    return True
