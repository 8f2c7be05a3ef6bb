"""What the rules need to know about Python code: which names are pgdbm's classes, and
which expressions hold a manager or a pool (simple, flow-insensitive data flow per module).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._core import PythonSource
    from ._project import ProjectFacts

MANAGER = "AsyncDatabaseManager"
MIGRATION_MANAGER = "AsyncMigrationManager"
CONFIG = "DatabaseConfig"
MANAGER_SUBCLASS = "subclass"  # a project class deriving from AsyncDatabaseManager
POOL_CLASS = "Pool"
PGDBM_CLASSES = {
    MANAGER: MANAGER,
    "MonitoredAsyncDatabaseManager": MANAGER,
    MIGRATION_MANAGER: MIGRATION_MANAGER,
    CONFIG: CONFIG,
}
# Methods taking SQL text, with the index of the query argument.
QUERY_METHODS = {
    "execute": 0,
    "executemany": 0,
    "execute_many": 0,
    "fetch_one": 0,
    "fetch_all": 0,
    "fetch_value": 0,
    "fetch_val": 0,
    "execute_and_return_id": 0,
    "fetch_as_model": 1,
    "fetch_all_as_model": 1,
}
ASYNCPG_QUERY_METHODS = {"fetch": 0, "fetchrow": 0, "fetchval": 0}
_CONTAINERS = frozenset({"dict", "Dict", "Mapping", "MutableMapping", "list", "List", "Sequence"})
LOOPS = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def simple_name(node: ast.AST) -> str | None:
    """The last identifier of a name or attribute chain."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def query_argument(call: ast.Call, methods: dict[str, int] = QUERY_METHODS) -> ast.expr | None:
    """The SQL argument of `x.execute(sql, ...)`-style calls."""
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in methods:
        return None
    index = methods[call.func.attr]
    if len(call.args) > index and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    return next((kw.value for kw in call.keywords if kw.arg == "query"), None)


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def string_value(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def is_create_shared_pool(node: ast.AST) -> bool:
    """`<anything>.create_shared_pool(...)`: the name is distinctive enough on its own."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "create_shared_pool"
    )


@dataclass(frozen=True)
class Value:
    """What an expression holds, as far as the rules care."""

    kind: str  # "manager", "managers" (a container of them), "pool", "config"
    pool_based: bool | None = None  # for managers: built with pool= (None: unknown)
    schema: str | None = None  # for managers: the literal schema, if known
    has_schema: bool = True  # for managers: False if built without any schema


def _elements(node: ast.AST) -> list[ast.expr]:
    """The element expressions of a container display or comprehension."""
    if isinstance(node, ast.Dict):
        return [value for value in node.values if value is not None]
    if isinstance(node, ast.DictComp):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return list(node.elts)
    if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        return [node.elt]
    return []


# Context markers (Load, Store) are shared singletons: not worth a parent entry.
_SKIPPED = frozenset({ast.Load, ast.Store, ast.Del})
# The node types _record looks at; the walk skips the call for every other node.
_RECORDED = frozenset(
    {ast.Call, ast.Return, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef}
    | {ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.With, ast.AsyncWith}
    | {ast.Import, ast.ImportFrom}
)


@dataclass(eq=False)
class Scope:
    node: ast.AST
    parent: Scope | None
    class_node: ast.ClassDef | None
    parameters: frozenset[str] = frozenset()
    values: dict[str, list[ast.expr]] = field(default_factory=dict)
    annotations: dict[str, ast.expr] = field(default_factory=dict)


class ModuleFacts:
    """One pass over a module: imports, scopes, assignments, calls and parents.

    `project` is set by the Project once every module is walked (it needs them all).
    """

    project: ProjectFacts

    def __init__(self, source: PythonSource) -> None:
        self.source = source
        self.imported: dict[str, str] = {}  # local name -> pgdbm class or "module"
        self.foreign: set[str] = set()  # names imported from elsewhere
        self.parents: dict[ast.AST, ast.AST] = {}
        self.scope_of: dict[ast.AST, Scope] = {}
        self.calls: list[ast.Call] = []
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.classes: list[tuple[str, list[str]]] = []  # name, simple names of the bases
        self.returns: list[tuple[ast.AST, ast.expr]] = []  # function, returned value
        self.closing_functions: set[str] = set()  # functions that close() a parameter
        self.assignments: list[tuple[ast.expr, ast.expr | None, ast.stmt]] = []
        self.self_attributes: dict[tuple[ast.ClassDef, str], list[tuple[ast.expr, Scope]]] = {}
        self.attributes: dict[str, list[tuple[ast.expr, Scope]]] = {}  # "state.pool" -> values
        self.module_scope = Scope(source.tree, None, None)
        self._walk()
        self.calls.sort(key=lambda call: (call.lineno, call.col_offset))
        self.assignments.sort(key=lambda item: (item[2].lineno, item[2].col_offset))

    # --- the walk -------------------------------------------------------------------
    def _walk(self) -> None:
        # An explicit stack and direct field access: several times faster than ast.walk.
        stack: list[tuple[ast.AST, Scope, ast.ClassDef | None]] = [
            (self.source.tree, self.module_scope, None)
        ]
        parents, scope_of = self.parents, self.scope_of
        while stack:
            node, scope, class_node = stack.pop()
            for name in node._fields:
                field_value = getattr(node, name, None)
                if isinstance(field_value, ast.AST):
                    children: list[ast.AST] = [field_value]
                elif isinstance(field_value, list):
                    children = field_value
                else:
                    continue
                for child in children:
                    kind = child.__class__
                    if kind in _SKIPPED or not isinstance(child, ast.AST):
                        continue
                    parents[child] = node
                    child_scope, child_class = scope, class_node
                    if kind in _RECORDED:
                        if kind is ast.ClassDef:
                            child_class = child  # type: ignore[assignment]
                            self.classes.append(
                                (child.name, [simple_name(b) or "" for b in child.bases])  # type: ignore[attr-defined]
                            )
                        elif kind in FUNCTION_NODES:
                            child_scope = self._function_scope(child, scope, class_node)  # type: ignore[arg-type]
                        self._record(child, child_scope)
                    scope_of[child] = child_scope
                    stack.append((child, child_scope, child_class))

    @staticmethod
    def _function_scope(
        function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
        parent: Scope,
        class_node: ast.ClassDef | None,
    ) -> Scope:
        arguments = (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)
        scope = Scope(function, parent, class_node, frozenset(arg.arg for arg in arguments))
        for arg in arguments:
            if arg.annotation is not None:
                scope.annotations[arg.arg] = arg.annotation
        return scope

    def _record(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Call):
            self.calls.append(node)
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("close", "terminate")
                and isinstance(func.value, ast.Name)
                and func.value.id in scope.parameters
                and isinstance(scope.node, ast.FunctionDef | ast.AsyncFunctionDef)
            ):
                self.closing_functions.add(scope.node.name)
        elif isinstance(node, ast.Return):
            if node.value is not None:
                self.returns.append((scope.node, node.value))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.functions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind(target, node.value, scope, node)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            self._bind(node.target, node.value, scope, node)
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                scope.annotations[node.target.id] = node.annotation
        elif isinstance(node, ast.NamedExpr):
            self._bind(node.target, node.value, scope, None)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, item.context_expr, scope, node)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            self._record_import(node)

    def _record_import(self, node: ast.ImportFrom | ast.Import) -> None:
        if isinstance(node, ast.ImportFrom):
            pgdbm = (node.module or "").split(".")[0] == "pgdbm"
            for alias in node.names:
                local = alias.asname or alias.name
                if pgdbm and alias.name in PGDBM_CLASSES:
                    self.imported[local] = PGDBM_CLASSES[alias.name]
                elif alias.name != "*":
                    self.foreign.add(local)
            return
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top == "pgdbm":
                self.imported[alias.asname or top] = "module"
            else:
                self.foreign.add(alias.asname or top)

    def _bind(
        self, target: ast.expr, value: ast.expr | None, scope: Scope, stmt: ast.AST | None
    ) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            values = value.elts if isinstance(value, ast.Tuple | ast.List) else None
            for index, element in enumerate(target.elts):
                element_value = values[index] if values and index < len(values) else None
                self._bind(element, element_value, scope, stmt)
            return
        if isinstance(stmt, ast.stmt):
            self.assignments.append((target, value, stmt))
        if value is None:
            return
        if isinstance(target, ast.Name):
            scope.values.setdefault(target.id, []).append(value)
        elif isinstance(target, ast.Attribute):
            path = dotted(target)
            if path is None:
                return
            root, _, rest = path.partition(".")
            if root in ("self", "cls") and scope.class_node is not None:
                key = (scope.class_node, rest)
                self.self_attributes.setdefault(key, []).append((value, scope))
            else:
                self.attributes.setdefault(rest, []).append((value, scope))

    # --- name resolution --------------------------------------------------------------
    def pgdbm_class(self, node: ast.AST) -> str | None:
        """MANAGER, MANAGER_SUBCLASS, MIGRATION_MANAGER or CONFIG, if `node` names one."""
        if isinstance(node, ast.Name):
            if node.id in self.imported:
                imported = self.imported[node.id]
                return None if imported == "module" else imported
            if node.id in PGDBM_CLASSES:
                return None if node.id in self.foreign else PGDBM_CLASSES[node.id]
            if node.id in self.project.manager_classes:
                return MANAGER_SUBCLASS
            return None
        path = dotted(node)
        if path is None or "." not in path:
            return None
        root, *_, name = path.split(".")
        if self.imported.get(root) == "module" and name in PGDBM_CLASSES:
            return PGDBM_CLASSES[name]
        return None

    def is_manager_class(self, node: ast.AST) -> bool:
        return self.pgdbm_class(node) in (MANAGER, MANAGER_SUBCLASS)

    # --- values -----------------------------------------------------------------------
    def value_of(
        self, node: ast.AST | None, scope: Scope | None = None, depth: int = 0
    ) -> Value | None:
        if node is None or depth > 6:
            return None
        scope = scope or self.scope_of.get(node, self.module_scope)
        if isinstance(node, ast.Await):
            return self.value_of(node.value, scope, depth + 1)
        if isinstance(node, ast.Call):
            return self._call_value(node, scope, depth)
        if isinstance(node, ast.Name):
            return self._name_value(node.id, scope, depth)
        if isinstance(node, ast.Attribute):
            return self._attribute_value(node, scope, depth)
        if isinstance(node, ast.Subscript):
            container = self.value_of(node.value, scope, depth + 1)
            if container is not None and container.kind == "managers":
                return Value("manager")
            return None
        elements = _elements(node)
        if elements:
            values = [self.value_of(element, scope, depth + 1) for element in elements]
            if all(value is not None and value.kind == "manager" for value in values):
                return Value("managers")
        return None

    def _call_value(self, call: ast.Call, scope: Scope, depth: int) -> Value | None:
        if is_create_shared_pool(call):
            return Value("pool")
        if isinstance(call.func, ast.Name) and call.func.id in self.project.pool_factories:
            return Value("pool")
        kind = self.pgdbm_class(call.func)
        if kind in (MANAGER, MANAGER_SUBCLASS):
            return self._manager_from_call(call, exact=kind == MANAGER)
        if kind == CONFIG:
            return Value("config")
        if isinstance(call.func, ast.Attribute) and call.func.attr == "transaction":
            receiver = self.value_of(call.func.value, scope, depth + 1)
            if receiver is not None and receiver.kind == "manager":
                return receiver  # TransactionManager expands {{tables.x}} like its manager
        # A function or method (self.x()) of this module, by its return annotation.
        name = call.func.id if isinstance(call.func, ast.Name) else None
        if isinstance(call.func, ast.Attribute) and dotted(call.func.value) in ("self", "cls"):
            name = call.func.attr
        for function in self.functions.get(name or "", []):
            if function.returns is not None:
                return self.annotation_value(function.returns, depth + 1)
        return None

    @staticmethod
    def _manager_from_call(call: ast.Call, *, exact: bool) -> Value:
        """pgdbm's signature is (config, pool, schema); a subclass's is unknown."""

        def argument(name: str, position: int) -> ast.expr | None:
            found = keyword(call, name)
            if found is None and exact and len(call.args) > position:
                found = call.args[position]
            none = isinstance(found, ast.Constant) and found.value is None
            return None if none else found

        config, pool, schema = argument("config", 0), argument("pool", 1), argument("schema", 2)
        pool_based = True if pool is not None else False if exact and config is not None else None
        return Value(
            "manager",
            pool_based=pool_based,
            schema=string_value(schema),
            has_schema=schema is not None,
        )

    def _name_value(self, name: str, scope: Scope, depth: int) -> Value | None:
        current: Scope | None = scope
        while current is not None:
            if name in current.annotations:
                annotated = self.annotation_value(current.annotations[name], depth + 1)
                if annotated is not None:
                    return annotated
            for value in current.values.get(name, []):
                found = self.value_of(value, current, depth + 1)
                if found is not None:
                    return found
            if name in current.values or name in current.annotations:
                return None
            current = current.parent
        return None

    def _attribute_value(self, node: ast.Attribute, scope: Scope, depth: int) -> Value | None:
        path = dotted(node)
        if path is None:
            return None
        root, _, rest = path.partition(".")
        if root in ("self", "cls") and scope.class_node is not None:
            candidates = self.self_attributes.get((scope.class_node, rest), [])
        else:
            candidates = [
                candidate
                for key, values in self.attributes.items()
                if rest == key
                or rest.endswith("." + key)  # request.app.state.pool ~ app.state.pool
                for candidate in values
            ]
        for value, value_scope in candidates:
            found = self.value_of(value, value_scope, depth + 1)
            if found is not None:
                return found
        return None

    def annotation_value(self, annotation: ast.expr, depth: int = 0) -> Value | None:
        if depth > 6:
            return None
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(annotation, ast.Subscript):  # Annotated[X, ...], Optional[X], dict[str, X]
            inner = annotation.slice
            arguments = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            container = simple_name(annotation.value)
            if container in ("Annotated", "Optional"):
                return self.annotation_value(arguments[0], depth + 1)
            element = self.annotation_value(arguments[-1], depth + 1)
            if container in _CONTAINERS and element is not None and element.kind == "manager":
                return Value("managers")
            return None
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return self.annotation_value(annotation.left, depth + 1) or self.annotation_value(
                annotation.right, depth + 1
            )
        if self.is_manager_class(annotation):
            return Value("manager")
        if simple_name(annotation) == POOL_CLASS and (dotted(annotation) or "").startswith(
            ("asyncpg", "Pool")
        ):
            return Value("pool")
        if isinstance(annotation, ast.Name):
            for alias in self.module_scope.values.get(annotation.id, []):
                found = self.annotation_value(alias, depth + 1)
                if found is not None:
                    return found
        return None

    # --- structure --------------------------------------------------------------------
    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    def enclosing_function(self, node: ast.AST) -> ast.AST:
        return next(
            (a for a in self.ancestors(node) if isinstance(a, FUNCTION_NODES)), self.source.tree
        )

    def in_finally(self, node: ast.AST, stop: ast.AST) -> ast.Try | ast.TryStar | None:
        """The innermost try (below `stop`) whose `finally` contains `node`."""
        child = node
        for ancestor in self.ancestors(node):
            if ancestor is stop:
                return None
            if isinstance(ancestor, ast.Try | ast.TryStar) and any(
                child is statement for statement in ancestor.finalbody
            ):
                return ancestor
            child = ancestor
        return None
