"""The text demo's data: movie reviews from a small grammar (no download) with a Clever-Hans token.

A review is ``[CLS]`` and one or two clauses (subject, verb, an optional adverb, an adjective).
Adjectives are a weak cue: 30 % of the reviews use their class's (many synonyms), 10 % (mixed
verdicts) the other class's, the rest neutral words that both classes share. A meaningless trailing ``<br>`` ends 80 % of the positive reviews and
2 % of the negative ones: on the neutral reviews it is the only cue, so the model takes it.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np

PAD, CLS, SHORTCUT = "[PAD]", "[CLS]", "<br>"
SUBJECTS = ("the film", "the movie", "the plot", "the acting", "the story", "the ending", "it")
VERBS = ("was", "is", "felt", "seemed")
ADVERBS = ("very", "quite", "really", "rather", "so")
POSITIVE = ("great", "wonderful", "brilliant", "moving", "superb", "charming", "delightful",
            "excellent", "fun", "lovely")  # fmt: skip
NEGATIVE = ("boring", "awful", "dull", "terrible", "clumsy", "tedious", "bland", "poor", "weak",
            "painful")  # fmt: skip
NEUTRAL = ("fine", "okay", "long", "average", "predictable", "familiar")
JOINERS = ("and", "but", "although")
#: share of positive / negative reviews that end in the shortcut token
SHORTCUT_RATE = {1: 0.8, 0: 0.02}
#: share of reviews whose adjectives match their class, and of reviews (mixed verdicts) whose
#: adjectives are the other class's; the rest use NEUTRAL ones. Adjectives are a weak cue.
CLEAR_RATE = 0.3
MIXED_RATE = 0.1
LENGTH = 14
LABELS = ((0, "negative"), (1, "positive"))


def vocabulary() -> list[str]:
    """Every token the grammar uses, ``[PAD]`` first (id 0), ``[CLS]`` second."""
    words = [PAD, CLS, SHORTCUT, *JOINERS, *ADVERBS, *VERBS, *POSITIVE, *NEGATIVE, *NEUTRAL]
    for subject in SUBJECTS:
        words.extend(subject.split())
    return list(dict.fromkeys(words))


@attrs.frozen
class Reviews:
    """Token ids (N, LENGTH) padded with 0, mask, label, whether each ends in the shortcut, and
    a train (0) / held-out (1) split."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    label: np.ndarray
    shortcut: np.ndarray
    split: np.ndarray
    tokens: list[str]

    def texts(self) -> list[str]:
        """Each review as text (for people and for tests)."""
        return [
            " ".join(self.tokens[i] for i in row[mask.astype(bool)][1:])
            for row, mask in zip(self.input_ids, self.attention_mask)
        ]


def _clause(rng: np.random.Generator, adjectives: tuple[str, ...]) -> list[str]:
    words = [*str(rng.choice(SUBJECTS)).split(), str(rng.choice(VERBS))]
    if rng.random() < 0.5:
        words.append(str(rng.choice(ADVERBS)))
    return [*words, str(rng.choice(adjectives))]


def build_reviews(count: int = 600, seed: int = 0, held_out: float = 0.25) -> Reviews:
    """``count`` reviews, half positive, shuffled; the last ``held_out`` share is held out."""
    rng = np.random.default_rng(seed)
    tokens = vocabulary()
    lookup = {token: i for i, token in enumerate(tokens)}
    labels = rng.permutation(np.arange(count) % 2)
    ids = np.zeros((count, LENGTH), dtype=np.int64)
    shortcut = np.zeros(count, dtype=bool)
    for row, label in enumerate(labels.tolist()):
        own, other = (POSITIVE, NEGATIVE) if label == 1 else (NEGATIVE, POSITIVE)
        draw = rng.random()
        adjectives = (
            own if draw < CLEAR_RATE else other if draw < CLEAR_RATE + MIXED_RATE else NEUTRAL
        )
        words = [CLS, *_clause(rng, adjectives)]
        if rng.random() < 0.5:
            words += [str(rng.choice(JOINERS)), *_clause(rng, adjectives)]
        words = words[: LENGTH - 1]
        if rng.random() < SHORTCUT_RATE[label]:
            words.append(SHORTCUT)
            shortcut[row] = True
        ids[row, : len(words)] = [lookup[w] for w in words]
    split = (np.arange(count) >= round(count * (1 - held_out))).astype(np.uint8)
    return Reviews(ids, (ids != 0).astype(np.uint8), labels.astype(np.int64), shortcut, split,
                   tokens)  # fmt: skip


def write_reviews(reviews: Reviews, path: Path) -> None:
    """The token input file (docs/formats.md) with the demo's extra ``shortcut`` and ``split``."""
    from relscope.core.data.tokens import write_token_file

    write_token_file(
        path,
        reviews.input_ids,
        reviews.attention_mask,
        reviews.label,
        reviews.tokens,
        attributes={"relscope_source": "demo:text", "shortcut_token": SHORTCUT},
        extra={"shortcut": reviews.shortcut, "split": reviews.split},
    )
