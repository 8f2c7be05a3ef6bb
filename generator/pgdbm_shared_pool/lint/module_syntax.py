"""One pass over a Python module: imports, scopes, assignments, calls and parents."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from .sources import PythonSource
from .syntax import FUNCTION_NODES, PGDBM_CLASSES, Scope, dotted, simple_name

# Context markers (Load, Store) are shared singletons: not worth a parent entry.
_SKIPPED = frozenset({ast.Load, ast.Store, ast.Del})
# The node types _record looks at; the walk skips the call for every other node.
_RECORDED = frozenset(
    {ast.Call, ast.Return, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef}
    | {ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.With, ast.AsyncWith}
    | {ast.Import, ast.ImportFrom, ast.For, ast.AsyncFor}
)


@dataclass(frozen=True)
class ImportedFrom:
    """`from <module> import <names>` (level = leading dots), or `import <module>` (no names)."""

    module: str
    level: int
    names: list[str]


class ModuleSyntax:
    """One pass over a module: imports, scopes, assignments, calls and parents."""

    def __init__(self, source: PythonSource) -> None:
        self.source = source
        self.imported: dict[str, str] = {}  # local name -> pgdbm class or "module"
        self.imports: list[ImportedFrom] = []
        self.imported_packages: set[str] = set()  # top-level packages of absolute imports
        self.foreign: set[str] = set()  # names imported from elsewhere
        self.import_aliases: dict[str, str] = {}  # from .db import db as default_db
        self.parents: dict[ast.AST, ast.AST] = {}
        self.scope_of: dict[ast.AST, Scope] = {}
        self.calls: list[ast.Call] = []
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.classes: list[tuple[str, list[str]]] = []  # name, simple names of the bases
        self.class_nodes: list[ast.ClassDef] = []
        self.returns: list[tuple[ast.AST, ast.expr]] = []  # function, returned value
        self.closing_functions: set[str] = set()  # functions that close() a parameter
        self.assignments: list[tuple[ast.expr, ast.expr | None, ast.stmt]] = []
        self.self_attributes: dict[tuple[ast.ClassDef, str], list[tuple[ast.expr, Scope]]] = {}
        self.attributes: dict[str, list[tuple[ast.expr, Scope]]] = {}  # "state.pool" -> values
        self.attribute_annotations: dict[tuple[ast.ClassDef, str], ast.expr] = {}
        self.module_scope = Scope(source.tree, None, None)
        self.scopes: dict[ast.AST, Scope] = {source.tree: self.module_scope}  # function -> body
        self._walk()
        self.calls.sort(key=_position)
        for scope in self.scopes.values():
            scope.calls.sort(key=_position)
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
                            self.class_nodes.append(child)  # type: ignore[arg-type]
                            self.classes.append(
                                (child.name, [simple_name(b) or "" for b in child.bases])  # type: ignore[attr-defined]
                            )
                        elif kind in FUNCTION_NODES:
                            child_scope = self._function_scope(child, scope, class_node)  # type: ignore[arg-type]
                            self.scopes[child] = child_scope
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
        parent.children.append(scope)
        for arg in arguments:
            if arg.annotation is not None:
                scope.annotations[arg.arg] = arg.annotation
        return scope

    def _record(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Call):
            self.calls.append(node)
            scope.calls.append(node)
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
                scope.returns.append(node.value)
        elif isinstance(node, ast.For | ast.AsyncFor):
            scope.loops.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.functions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind(target, node.value, scope, node)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            if isinstance(node, ast.AnnAssign):
                self._annotate(node, scope)
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

    def _annotate(self, node: ast.AnnAssign, scope: Scope) -> None:
        """`self.db: Manager = ...` in a method, or `db: Manager` in a class body."""
        target, class_node = node.target, scope.class_node
        if class_node is None:
            return
        if isinstance(target, ast.Attribute) and dotted(target.value) in ("self", "cls"):
            self.attribute_annotations[(class_node, target.attr)] = node.annotation
        elif isinstance(target, ast.Name) and self.parents.get(node) is class_node:
            self.attribute_annotations[(class_node, target.id)] = node.annotation

    def _record_import(self, node: ast.ImportFrom | ast.Import) -> None:
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            self.imports.append(ImportedFrom(node.module or "", node.level, names))
            if node.level == 0 and node.module:
                self.imported_packages.add(node.module.split(".")[0])
            pgdbm = (node.module or "").split(".")[0] == "pgdbm"
            for alias in node.names:
                local = alias.asname or alias.name
                if alias.asname:
                    self.import_aliases[alias.asname] = alias.name
                if pgdbm and alias.name in PGDBM_CLASSES:
                    self.imported[local] = PGDBM_CLASSES[alias.name]
                elif alias.name != "*":
                    self.foreign.add(local)
            return
        for alias in node.names:
            top = alias.name.split(".")[0]
            self.imports.append(ImportedFrom(alias.name, 0, []))
            self.imported_packages.add(top)
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
            scope.assignments.append((target, value))
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

    # --- structure --------------------------------------------------------------------
    def method_calls(self, method: str) -> Iterator[tuple[ast.Call, ast.expr]]:
        """Every `receiver.method(...)` call of the module, with its receiver."""
        for call in self.calls:
            if isinstance(call.func, ast.Attribute) and call.func.attr == method:
                yield call, call.func.value

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    def enclosing_function(self, node: ast.AST) -> ast.AST:
        """The function (or the module) whose body holds `node`."""
        scope = self.scope_of.get(node)
        if scope is None:
            return self.source.tree
        if scope.node is node:  # a function: the one it is defined in
            scope = scope.parent or self.module_scope
        return scope.node

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


def _position(node: ast.expr) -> tuple[int, int]:
    return node.lineno, node.col_offset
