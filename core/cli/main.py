"""Entry point of the ``relscope`` console script."""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence

from relscope.core import __version__
from relscope.core.cli import list_command, plugins_command
from relscope.core.errors import RelscopeError
from relscope.core.plugin_manager import RelscopePluginManager, default_plugin_manager


def build_parser(pm: RelscopePluginManager) -> argparse.ArgumentParser:
    """The full parser: core commands, then every plugin's ``register_commands``."""
    parser = argparse.ArgumentParser(
        prog="relscope", description="Attribute, analyse and explore what a model looks at."
    )
    parser.add_argument("--version", action="version", version=f"relscope {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins_command.add_parser(subparsers)
    list_command.add_parser(subparsers)
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(subparsers=subparsers)
        except Exception as exc:  # one broken command must not take the CLI down
            pm.record_failure(impl.plugin_name, f"register_commands: {type(exc).__name__}: {exc}")
    return parser


def _call(func: object, args: argparse.Namespace, pm: RelscopePluginManager) -> int:
    wants_pm = len(inspect.signature(func).parameters) > 1  # type: ignore[arg-type]
    result = func(args, pm) if wants_pm else func(args)  # type: ignore[operator]
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return 2, tracebacks only with ``--debug``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # answer without importing every plugin
        print(f"relscope {__version__}")
        return 0
    debug = "--debug" in argv
    try:
        pm = default_plugin_manager()
        parser = build_parser(pm)
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0
        return _call(args.func, args, pm)
    except RelscopeError as exc:
        if debug:
            raise
        print(f"relscope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relscope: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """``relscope`` console script."""
    sys.exit(main())
