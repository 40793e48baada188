"""``relscope list KIND``: the entries of one registry and where each came from."""

from __future__ import annotations

import argparse
import json

from relscope.core.cli.table import format_table
from relscope.core.plugin_manager import RelscopePluginManager
from relscope.core.registry import REGISTRY_HOOKS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare ``relscope list rules|composites|... [--json]``."""
    parser = subparsers.add_parser("list", help="list registered rules, composites, ...")
    parser.add_argument("kind", choices=sorted(REGISTRY_HOOKS), help="which registry")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, pm: RelscopePluginManager) -> int:
    """Print the registry's table (or JSON)."""
    registry = pm.registry(args.kind)
    entries = registry.entries()
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    rows = [(e.name, e.origin, e.description) for e in entries]
    print(format_table(["name", "from", "description"], rows))
    return 0
