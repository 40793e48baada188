"""Take the README's screenshot from the real explorer serving the real demo project.

Usage: ``.venv/bin/python docs/take_screenshot.py [--out docs/explorer.png] [--demo-dir DIR]``.
It builds the demo (reusing DIR when it is complete), serves it on a free loopback port, opens the
page in Debian's chromium as a new user does (it opens on the top-ranked class, its best
clustering and the t-SNE view), clicks the largest cluster, switches to overlay mode, and saves
the page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer_page import build_demo, explorer_page


def main() -> int:
    """Build, serve, click, shoot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("explorer.png"))
    parser.add_argument("--demo-dir", type=Path, default=Path("demo-project"))
    args = parser.parse_args()
    build_demo(args.demo_dir)
    projects = [args.demo_dir / f"project-{s}.yaml" for s in ("lrp", "gamma")]
    with explorer_page(projects) as page:
        page.wait_for_selector(".cluster")
        category = page.input_value('select[data-setup="category"]')
        clustering = page.input_value('select[data-setup="clustering"]')
        counts = page.eval_on_selector_all(
            ".cluster",
            "els => els.map(e => [+e.dataset.cluster, +e.querySelector('.cluster-count')"
            ".textContent])",
        )
        cluster = max(counts, key=lambda item: item[1])[0]
        page.click(f'.cluster[data-cluster="{cluster}"]')
        page.click('[data-mode="overlay"]')
        page.wait_for_timeout(1500)
        # the click scrolled the right column to the cluster: show its plots again
        page.eval_on_selector('[data-region="right"]', "region => region.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        page.screenshot(path=str(args.out))
    print(f"{args.out}: {category} / {clustering} / cluster {cluster}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
