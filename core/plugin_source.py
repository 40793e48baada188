"""Which hooks a plugin module may implement, read from its source without importing it.

A process that needs only some hooks (the explorer needs panels and colour maps) skips the plugins
that cannot provide them, and so never imports their heavy libraries (torch for rules).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable


def _bound_names(tree: ast.Module) -> set[str] | None:
    """Top-level names a module binds (defs, classes, assignments, imports); None: unknowable."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif not isinstance(node, ast.Expr):  # if/try/with at top level may bind anything
            return None
    return names


def may_implement(entry_point_value: str, hooks: Iterable[str]) -> bool:
    """False only when the module named by ``entry_point_value`` surely defines none of ``hooks``
    (an object plugin ``module:attr``, a missing or unreadable source all count as "may")."""
    if ":" in entry_point_value:
        return True
    try:
        spec = importlib.util.find_spec(entry_point_value)
    except (ImportError, ValueError):
        return True
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return True
    try:
        with open(spec.origin, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=spec.origin)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return True
    names = _bound_names(tree)
    return names is None or not names.isdisjoint(hooks)
