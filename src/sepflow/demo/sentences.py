"""A small seeded sentence generator, so demo speech needs no text corpus.

A toy English grammar: a subject, a verb phrase, then optional place, time and manner
phrases, and further clauses joined by a conjunction until the sentence has roughly the
asked-for number of words. Word lists are plain everyday vocabulary that eSpeak NG
pronounces well. The same generator state always yields the same sentence.
"""

from __future__ import annotations

import numpy as np

NAMES = (
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Grace",
    "Henry",
    "Iris",
    "Jack",
    "Laura",
    "Martin",
    "Nora",
    "Oscar",
    "Paula",
    "Robert",
    "Sarah",
    "Thomas",
    "Vera",
    "William",
)
ADJECTIVES = (
    "old",
    "young",
    "small",
    "large",
    "quiet",
    "busy",
    "bright",
    "dark",
    "warm",
    "cold",
    "green",
    "red",
    "heavy",
    "light",
    "happy",
    "tired",
    "clever",
    "gentle",
    "strange",
    "famous",
)
NOUNS = (
    "teacher",
    "farmer",
    "doctor",
    "driver",
    "neighbour",
    "child",
    "student",
    "baker",
    "sailor",
    "painter",
    "dog",
    "cat",
    "horse",
    "bird",
    "train",
    "letter",
    "garden",
    "window",
    "river",
    "bridge",
    "market",
    "kitchen",
    "village",
    "basket",
    "lamp",
    "book",
    "boat",
    "song",
    "table",
    "road",
)
VERBS = (
    "found",
    "carried",
    "painted",
    "watched",
    "opened",
    "cleaned",
    "visited",
    "followed",
    "repaired",
    "described",
    "remembered",
    "ordered",
    "borrowed",
    "counted",
    "lifted",
    "moved",
)
INTRANSITIVE = (
    "waited",
    "smiled",
    "slept",
    "arrived",
    "laughed",
    "worked",
    "travelled",
    "listened",
    "stopped",
    "stayed",
)
PREPOSITIONS = ("near", "behind", "beside", "under", "across", "inside", "outside", "above")
TIMES = (
    "this morning",
    "last night",
    "on Sunday",
    "after lunch",
    "every day",
    "in the summer",
    "before dinner",
    "yesterday",
    "at noon",
    "during the storm",
)
ADVERBS = ("slowly", "quickly", "carefully", "quietly", "happily", "suddenly", "early", "again")
CONJUNCTIONS = ("and", "but", "so", "because", "while", "although")


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _noun_phrase(rng: np.random.Generator) -> list[str]:
    if rng.random() < 0.25:
        return [_pick(rng, NAMES)]
    words = ["the"]
    if rng.random() < 0.6:
        words.append(_pick(rng, ADJECTIVES))
    return words + [_pick(rng, NOUNS)]


def _clause(rng: np.random.Generator) -> list[str]:
    words = _noun_phrase(rng)
    if rng.random() < 0.7:
        words += [_pick(rng, VERBS)] + _noun_phrase(rng)
    else:
        words.append(_pick(rng, INTRANSITIVE))
    return words


def _modifier(rng: np.random.Generator) -> list[str]:
    choice = rng.random()
    if choice < 0.5:
        return [_pick(rng, PREPOSITIONS)] + _noun_phrase(rng)
    if choice < 0.8:
        return _pick(rng, TIMES).split()
    return [_pick(rng, ADVERBS)]


def make_sentence(rng: np.random.Generator, n_words: int) -> str:
    """A grammatical-looking sentence of at least min(n_words, 3) words, capitalised, with a full stop."""
    words = _clause(rng)
    while len(words) < n_words:
        if rng.random() < 0.6:
            words += _modifier(rng)
        else:
            words += [_pick(rng, CONJUNCTIONS)] + _clause(rng)
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."
