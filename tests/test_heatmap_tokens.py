"""``relscope heatmap`` on token attributions: one HTML page per row of coloured text, through real
files, its colours the colour map at the symmetric heatmap index of each stored relevance."""

from __future__ import annotations

import math
from html.parser import HTMLParser

import h5py
import numpy as np

from relscope.core.cli.main import main
from relscope.core.colormap import get_colormap
from relscope.core.data.tokens import write_token_file

VOCABULARY = ["[PAD]", "good", "<br>", "bad", "a & b", '"quoted"']
IDS = np.array([[1, 2, 5, 0, 0], [3, 4, 1, 2, 0], [5, 1, 0, 0, 0]])
MASK = (IDS != 0).astype(np.uint8)
RELEVANCE = np.array(
    [[0.5, 2.0, -1.0, 0.0, 0.0], [-3.0, 0.25, 1.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]],
    dtype=np.float32,
)


class TokenSpans(HTMLParser):
    """The token spans of a page: (text, style, data-relevance, title)."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict[str, str]] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "span" and attributes.get("class") == "token":
            self._open = {**attributes, "text": ""}

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.spans.append(self._open)
            self._open = None


def spans_of(path) -> list[dict[str, str]]:
    parser = TokenSpans()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.spans


def background(span: dict[str, str]) -> str:
    styles = dict(part.split(":", 1) for part in span["style"].split(";"))
    return styles["background-color"]


def expected_colors(values: np.ndarray, lut: np.ndarray) -> list[str]:
    """By hand: index floor(255 (R / max|R| + 1) / 2 + 0.5), 128 when max|R| = 0."""
    peak = max(abs(float(v)) for v in values)
    colors = []
    for value in values.tolist():
        unit = 0.5 if peak == 0 else (value / peak + 1) / 2
        r, g, b = lut[math.floor(255 * unit + 0.5)]
        colors.append(f"#{r:02x}{g:02x}{b:02x}")
    return colors


def write_files(tmp_path, rows=(0, 1, 2), index=False):
    data = tmp_path / "tokens.h5"
    write_token_file(data, IDS, MASK, np.array([1, 0, 1]), VOCABULARY)
    attribution = tmp_path / "attribution.h5"
    with h5py.File(attribution, "w") as file:  # the layout a token attribution run writes
        file["attribution"] = RELEVANCE[list(rows)]
        file["input_ids"] = IDS[list(rows)]
        file["prediction"] = np.zeros((len(rows), 2), dtype=np.float32)
        file["label"] = np.zeros(len(rows), dtype=np.int64)
        if index:
            file["index"] = np.asarray(rows, dtype=np.int64)
    return data, attribution


def test_token_pages_colour_each_unmasked_token_by_its_stored_relevance(tmp_path, capsys):
    data, attribution = write_files(tmp_path)
    out = tmp_path / "pages"
    argv = ["heatmap", str(attribution), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--cmap", "coldnhot"]) == 0
    assert "wrote 3 token heatmaps" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [f"tokens-00000{i}.html" for i in range(3)]
    lut = get_colormap("coldnhot").lut
    with h5py.File(attribution, "r") as file:
        stored = file["attribution"][()]
    for row in range(3):
        spans = spans_of(out / f"tokens-{row:06d}.html")
        mask = MASK[row].astype(bool)
        assert [s["text"] for s in spans] == [VOCABULARY[i] for i in IDS[row][mask]]
        assert all(s["text"] != "[PAD]" for s in spans)  # masked positions are not shown
        values = stored[row][mask]
        assert [background(s) for s in spans] == expected_colors(values, lut)
        assert [float(s["data-relevance"]) for s in spans] == values.astype(np.float64).tolist()
        for span, value in zip(spans, values.tolist()):
            assert span["title"] == f"{span['text']}: relevance {value:.3g}"
    # the zero-relevance sample is all the middle colour; the strongest negative token the lowest
    middle = "#{:02x}{:02x}{:02x}".format(*lut[128])
    assert {background(s) for s in spans_of(out / "tokens-000002.html")} == {middle}
    lowest = "#{:02x}{:02x}{:02x}".format(*lut[0])
    assert background(spans_of(out / "tokens-000001.html")[0]) == lowest


def test_token_pages_of_a_subset_run_follow_its_index(tmp_path):
    data, attribution = write_files(tmp_path, rows=(2, 0), index=True)
    out = tmp_path / "pages"
    argv = ["heatmap", str(attribution), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--indices", "1"]) == 0
    assert [p.name for p in out.iterdir()] == ["tokens-000001.html"]
    spans = spans_of(out / "tokens-000001.html")  # row 1 is sample 0
    assert [s["text"] for s in spans] == ["good", "<br>", '"quoted"']
    assert [background(s) for s in spans] == expected_colors(
        RELEVANCE[0][:3], get_colormap("bwr").lut
    )


def test_bad_token_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    data, attribution = write_files(tmp_path)
    other = tmp_path / "four.h5"  # a token file with another sample count
    write_token_file(
        other,
        np.vstack([IDS, IDS[:1]]),
        np.vstack([MASK, MASK[:1]]),
        np.ones(4, np.int64),
        VOCABULARY,
    )
    out = tmp_path / "pages"
    assert main(["heatmap", str(attribution), "--data", str(other), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "four.h5: holds 4 samples but" in error and "has 3 rows" in error
    assert not out.exists()
    assert main(["heatmap", str(attribution), "--out", str(out)]) == 2
    assert "give the token data file they were computed on with --data" in capsys.readouterr().err
    shuffled = tmp_path / "shuffled.h5"  # same count, other texts: the stored ids disagree
    write_token_file(shuffled, IDS[::-1], MASK[::-1], np.ones(3, np.int64), VOCABULARY)
    assert main(["heatmap", str(attribution), "--data", str(shuffled), "--out", str(out)]) == 2
    assert "input_ids row 0 differs from sample 0" in capsys.readouterr().err
    assert not out.exists()
