"""Which expressions hold a manager, a pool or a config: simple, flow-insensitive data flow
within a module (assignments to names and attributes, annotations, return annotations).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .module_syntax import ModuleSyntax
from .owners import PoolOwner
from .project_facts import ProjectFacts
from .syntax import (
    CONFIG,
    CONTAINERS,
    MANAGER,
    MANAGER_SUBCLASS,
    PGDBM_CLASSES,
    POOL_CLASS,
    Scope,
    Value,
    dotted,
    elements,
    is_create_shared_pool,
    keyword,
    simple_name,
    string_value,
)


class ModuleFacts:
    """A walked module with the project's facts: what its expressions hold."""

    def __init__(self, syntax: ModuleSyntax, project: ProjectFacts) -> None:
        self.syntax = syntax
        self.project = project
        self.source = syntax.source
        self.calls = syntax.calls
        self.parents = syntax.parents
        self.assignments = syntax.assignments
        self.imported = syntax.imported
        self.foreign = syntax.foreign
        self.scope_of = syntax.scope_of
        self.module_scope = syntax.module_scope
        self.functions = syntax.functions
        self.self_attributes = syntax.self_attributes
        self.attributes = syntax.attributes
        self.ancestors = syntax.ancestors
        self.enclosing_function = syntax.enclosing_function
        self.in_finally = syntax.in_finally
        self.method_calls = syntax.method_calls
        self.own_pools_only = project.own_pools_only(syntax.source.path)
        self._names: dict[tuple[str, Scope], tuple[Value | None, int]] = {}

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

    def manager_calls(self, method: str, *, pool_based: bool) -> Iterator[ast.Call]:
        """`method` called on managers built with `pool=` (pool_based), or on own-pool ones."""
        for call, receiver in self.method_calls(method):
            value = self.value_of(receiver)
            if value is not None and value.kind == "manager" and value.pool_based is pool_based:
                yield call

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
        members = elements(node)
        if members:
            values = [self.value_of(member, scope, depth + 1) for member in members]
            if all(value is not None and value.kind == "manager" for value in values):
                pool_based = all(value.pool_based for value in values if value is not None)
                return Value("managers", pool_based=pool_based or None)
        return None

    def _call_value(self, call: ast.Call, scope: Scope, depth: int) -> Value | None:
        if is_create_shared_pool(call):
            return Value("pool")
        if isinstance(call.func, ast.Name) and call.func.id in self.project.pool_factories:
            return Value("pool")
        if isinstance(call.func, ast.Name) and self._is_class_name(call.func.id, call.func):
            return Value("owner", owner=call.func.id)
        owner = self._class_method_owner(call, scope)
        if owner is not None:
            return Value("owner", owner=owner)
        kind = self.pgdbm_class(call.func)
        if kind in (MANAGER, MANAGER_SUBCLASS):
            return self._manager_from_call(call, exact=kind == MANAGER)
        if kind == CONFIG:
            return Value("config")
        if isinstance(call.func, ast.Attribute) and call.func.attr == "transaction":
            receiver = self.value_of(call.func.value, scope, depth + 1)
            if receiver is not None and receiver.kind == "manager":
                return receiver  # TransactionManager expands {{tables.x}} like its manager
        # A function or method (self.x()) of this module: by its return annotation, or for a
        # getter without one (return self._db), by what it returns.
        name = call.func.id if isinstance(call.func, ast.Name) else None
        if isinstance(call.func, ast.Attribute) and dotted(call.func.value) in ("self", "cls"):
            name = call.func.attr
        for function in self.functions.get(name or "", []):
            if function.returns is not None:
                return self.annotation_value(function.returns, depth + 1)
            body = self.syntax.scopes[function]
            for returned in body.returns:
                found = self.value_of(returned, body, depth + 1)
                if found is not None:
                    return found
        # A getter defined elsewhere in the project: shared.get_manager() -> AsyncDatabaseManager
        method = call.func.attr if isinstance(call.func, ast.Attribute) else name
        if method in self.project.manager_functions:
            return Value("manager")
        return None

    def owner_of(self, receiver: ast.expr) -> PoolOwner | None:
        """The pool-owning class `receiver` is (Database.get_instance()) or an instance of."""
        if isinstance(receiver, ast.Name) and self._is_class_name(receiver.id, receiver):
            return self.project.owner(receiver.id, self.source.path)
        value = self.value_of(receiver)
        if value is None or value.kind != "owner" or value.owner is None:
            return None
        return self.project.owner(value.owner, self.source.path)

    def _is_class_name(self, name: str, node: ast.AST) -> bool:
        if name not in self.project.owner_names:
            return False
        scope: Scope | None = self.scope_of.get(node, self.module_scope)
        while scope is not None:
            if name in scope.values:
                return False
            scope = scope.parent
        return True

    def _class_method_owner(self, call: ast.Call, scope: Scope) -> str | None:
        """`Database.get_instance()` annotated to return a Database."""
        func = call.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return None
        if not self._is_class_name(func.value.id, func.value):
            return None
        owner = self.project.owner(func.value.id, self.source.path)
        if owner is None:
            return None
        for method in owner.methods():
            if method.name == func.attr and method.returns is not None:
                returned = method.returns
                if isinstance(returned, ast.Constant) and isinstance(returned.value, str):
                    return owner.name if returned.value.strip("'\" ") == owner.name else None
                return owner.name if simple_name(returned) == owner.name else None
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
        if name == "self" and scope.class_node is not None:
            bases = {simple_name(base) for base in scope.class_node.bases}
            return Value("manager") if bases & self.project.manager_classes else None
        current: Scope | None = scope
        while current is not None:
            if name in current.values or name in current.annotations:
                return self._bound_value(name, current, depth)
            current = current.parent
        imported = self.syntax.import_aliases.get(name, name)  # from .db import database
        owner = self.project.instance(imported, self.source.path)
        return Value("owner", owner=owner) if owner is not None else None

    def _bound_value(self, name: str, scope: Scope, depth: int) -> Value | None:
        """What `name` holds in the scope that binds it. Memoised: a name bound a thousand
        times is resolved once; a miss is reused only at the same or a greater depth (it may
        be a miss for lack of depth)."""
        key = (name, scope)
        known = self._names.get(key)
        if known is not None and (known[0] is not None or known[1] <= depth):
            return known[0]
        self._names[key] = (None, depth)  # while resolving: a cycle (a = b; b = a) ends here
        found = None
        if name in scope.annotations:
            found = self.annotation_value(scope.annotations[name], depth + 1)
        for value in scope.values.get(name, []) if found is None else []:
            found = self.value_of(value, scope, depth + 1)
            if found is not None:
                break
        self._names[key] = (found, depth)
        return found

    def _attribute_value(self, node: ast.Attribute, scope: Scope, depth: int) -> Value | None:
        path = dotted(node)
        if path is None:
            return None
        root, _, rest = path.partition(".")
        if root in ("self", "cls") and scope.class_node is not None:
            candidates = self.self_attributes.get((scope.class_node, rest), [])
            for value, value_scope in candidates:
                found = self.value_of(value, value_scope, depth + 1)
                if found is not None:
                    return found
            annotation = self.syntax.attribute_annotations.get((scope.class_node, rest))
            return self.annotation_value(annotation, depth + 1) if annotation else None
        # request.app.state.pool is what was stored as app.state.pool (or state.pool)
        parts = rest.split(".")
        candidates = [
            candidate
            for start in range(len(parts))
            for candidate in self.attributes.get(".".join(parts[start:]), [])
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
            if container in CONTAINERS and element is not None and element.kind == "manager":
                return Value("managers")
            return None
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return self.annotation_value(annotation.left, depth + 1) or self.annotation_value(
                annotation.right, depth + 1
            )
        if self.is_manager_class(annotation):
            return Value("manager")
        if simple_name(annotation) in self.project.owner_names:
            return Value("owner", owner=simple_name(annotation))
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
