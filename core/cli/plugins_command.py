"""``relscope plugins``: every plugin with its distribution, hooks, status and error."""

from __future__ import annotations

import argparse
import json

from relscope.core.cli.table import format_table
from relscope.core.plugin_manager import RelscopePluginManager


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare ``relscope plugins [--json]``."""
    parser = subparsers.add_parser("plugins", help="list plugins with their status")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, pm: RelscopePluginManager) -> int:
    """Print the plugin table (or JSON)."""
    statuses = sorted(pm.statuses.values(), key=lambda s: s.name)
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
        return 0
    rows = [(s.name, s.origin, s.status, ",".join(s.hooks), s.error or "") for s in statuses]
    print(format_table(["name", "from", "status", "hooks", "error"], rows))
    return 0
