"""Take the README's token-view screenshot from the real explorer serving the real text demo.

Usage: ``.venv/bin/python docs/take_text_screenshot.py [--out docs/explorer-text.png]
[--demo-dir DIR]``. It builds the text demo (reusing DIR when it is complete), serves it on a free
loopback port, opens the positive class in Debian's chromium, selects the cluster of reviews that
end in "<br>" and saves the page with their texts coloured by relevance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
from explorer_page import build_demo, explorer_page
from sklearn.metrics import adjusted_rand_score

from relscope.core.data.analysis import read_analysis


def shortcut_cluster(demo: Path) -> tuple[str, int]:
    """(clustering name, cluster id) of the positive class that best separates "<br>" reviews."""
    with h5py.File(demo / "reviews.h5", "r") as file:
        shortcut = file["shortcut"][:]
    analysis = read_analysis(demo / "analysis-text.h5").categories["positive"]
    truth = shortcut[analysis.index]
    name, labels = max(
        analysis.clusterings.items(), key=lambda item: adjusted_rand_score(truth, item[1])
    )
    values, counts = np.unique(labels[truth], return_counts=True)
    return name, int(values[counts.argmax()])


def main() -> int:
    """Build, serve, click, shoot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("explorer-text.png"))
    parser.add_argument("--demo-dir", type=Path, default=Path("demo-text"))
    args = parser.parse_args()
    build_demo(args.demo_dir, "--text")
    clustering, cluster = shortcut_cluster(args.demo_dir)
    with explorer_page([args.demo_dir / "project-text.yaml"]) as page:
        page.select_option('select[data-setup="category"]', "positive")
        page.select_option('select[data-setup="clustering"]', clustering)
        page.select_option('select[data-setup="embedding"]', "tsne")
        page.wait_for_selector(f'.cluster[data-cluster="{cluster}"]')
        page.click(f'.cluster[data-cluster="{cluster}"]')
        page.click('[data-mode="attribution"]')
        page.wait_for_selector(".strip .token-sample .token-text")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(args.out))
    print(f"{args.out}: positive / {clustering} / cluster {cluster}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
