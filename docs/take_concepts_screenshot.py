"""Take the README's concept-panel screenshot from the real explorer on the real demo project.

Usage: ``.venv/bin/python docs/take_concepts_screenshot.py [--out docs/explorer-concepts.png]
[--demo-dir DIR]``. It builds the demo (reusing DIR when it is complete), serves its ε+♭ project
on a free loopback port, opens the page in Debian's chromium, clicks the largest cluster of the
class it opens on, chooses the last convolution in the concept panel, clicks the concept with the
largest mean relevance, scrolls the panel into view and saves the page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer_page import build_demo, explorer_page


def main() -> int:
    """Build, serve, click, shoot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("explorer-concepts.png")
    )
    parser.add_argument("--demo-dir", type=Path, default=Path("demo-project"))
    args = parser.parse_args()
    build_demo(args.demo_dir)
    with explorer_page([args.demo_dir / "project-lrp.yaml"]) as page:
        page.wait_for_selector(".cluster")
        page.wait_for_selector('[data-panel="concepts"] .concepts[data-available="1"]')
        page.select_option('select[name="concept-layer"]', "6")
        counts = page.eval_on_selector_all(
            ".cluster",
            "els => els.map(e => [+e.dataset.cluster, +e.querySelector('.cluster-count')"
            ".textContent])",
        )
        cluster = max(counts, key=lambda item: item[1])[0]
        page.click(f'.cluster[data-cluster="{cluster}"]')
        page.click('[data-mode="overlay"]')
        page.wait_for_timeout(1000)
        page.locator(".concept-bar").first.click()
        page.wait_for_selector(".canvas-stage[data-color-by='scores']")
        page.wait_for_function(
            """() => [...document.querySelectorAll('.concept-reference img')]
                .every((i) => i.complete && i.naturalWidth > 0)"""
        )
        focus = page.wait_for_selector('[data-panel="concepts"] .concepts[data-focus]')
        channel = (focus.get_attribute("data-focus") or ":").split(":")[1]
        page.eval_on_selector(
            '[data-panel="concepts"]', "panel => panel.scrollIntoView({block: 'start'})"
        )
        page.wait_for_timeout(800)
        page.screenshot(path=str(args.out))
    print(f"{args.out}: cluster {cluster}, concept 6 #{channel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
