"""``python -m relscope.plugins.viewers.explorer.explorer_process``: the explorer in a fresh
process that loads only the plugins able to contribute panels or colour maps (so no torch).

``relscope serve`` starts it after checking its options; the token comes in ``$RELSCOPE_TOKEN``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

#: the hooks the explorer process needs from plugins
EXPLORER_HOOKS = ("register_viewer_panels", "register_colormaps")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve like ``relscope serve``; errors print one line and return 2."""
    from relscope.core.errors import RelscopeError
    from relscope.core.plugin_manager import get_plugin_manager
    from relscope.plugins.viewers.explorer.serve_command import add_arguments, resolve_token, serve

    parser = argparse.ArgumentParser(prog="relscope serve")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        pm = get_plugin_manager(hooks=EXPLORER_HOOKS)
        return serve(args, pm, resolve_token(args))
    except RelscopeError as exc:
        print(f"relscope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
