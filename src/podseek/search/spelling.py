"""Did you mean: corrections of misspelt query words, from the catalog's own vocabulary.

The vocabulary is the words of the catalog's texts, in every language it holds, so a
correction is always a word some episode uses ("geminds" becomes "geminids", "Geschihte"
becomes "Geschichte") and never a dictionary word no episode contains. Lookups use SymSpell's
symmetric delete (:mod:`symspellpy`): every dictionary word's deletions are precomputed once,
so a lookup costs a few dictionary probes instead of a comparison with every word.
"""

import re
import threading
from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib import resources

from symspellpy import SymSpell, Verbosity

WORD = re.compile(r"[^\W\d_]+")  # letters of any script: what the vocabulary holds
_TOKEN = re.compile(r"\w+")  # what a query is split into: words with their digits
MIN_WORD_CHARS = 2  # shorter words are not counted
MAX_WORD_CHARS = 40  # longer "words" are URLs or glued text, not vocabulary
MIN_CORRECTED_CHARS = 3  # shorter query words are never corrected: too many neighbours
SHORT_WORD_CHARS = 5  # a word this long or shorter is corrected by one edit at most


@cache
def english_words() -> frozenset[str]:
    """The English word list that symspellpy ships (its frequency dictionary's words): words
    a listener may type that a catalog does not happen to contain."""
    listing = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    return frozenset(line.split(" ", 1)[0] for line in listing.read_text("utf-8").splitlines())


class Speller:
    """Corrects the words of a query that the catalog does not know.

    A word is *known* when any catalog text has it, even once; it is a *correction target*
    only when the texts have it at least ``min_count`` times, so that a typo in one
    description never becomes a suggestion, while that same rare word, typed by a listener,
    is not flagged as misspelt either. Words of a general word list are known too (never
    corrected, never offered): a catalog's vocabulary lacks most ordinary words, and a
    correct word it lacks would otherwise be "corrected" into a catalog word that looks alike
    ("slumber" into "number").

    Build it with :meth:`build`. One speller serves many threads: symspellpy's edit distance
    reuses buffers between calls, so lookups take turns behind a lock.
    """

    def __init__(
        self,
        symspell: SymSpell,
        known: frozenset[str],
        spellings: dict[str, str],
        max_edit: int,
    ) -> None:
        self._symspell = symspell
        self._known = known  # casefolded words of any count
        self._spellings = spellings  # casefolded target -> how texts write it, when different
        self.max_edit = max_edit
        self._lookup_lock = threading.Lock()

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        min_count: int = 2,
        max_edit: int = 2,
        prefix_length: int = 7,
        also_known: Iterable[str] | None = None,
    ) -> "Speller":
        """A speller for the vocabulary of ``texts`` (episode texts:
        :func:`podseek.catalog.episode.episode_text`).

        Args:
            texts: the catalog's texts.
            min_count: how often a word must occur to be offered as a correction.
            max_edit: the most edits (insert, delete, substitute, swap) of a correction.
            prefix_length: SymSpell indexes the deletions of each word's first
                ``prefix_length`` letters only, which bounds memory for long words while
                keeping lookups exact within ``max_edit`` edits.
            also_known: more words that are never flagged as misspelt (nor offered as
                corrections); ``None``: :func:`english_words`; ``()``: none.
        """
        written: Counter[str] = Counter()  # lower-case words as the texts write them
        for text in texts:
            written.update(WORD.findall(text.lower()))
        counts: Counter[str] = Counter()  # casefolded ("straße" and "strasse" are one)
        spelling_counts: dict[str, Counter[str]] = {}
        for word, count in written.items():
            key = word.casefold()
            if MIN_WORD_CHARS <= len(key) <= MAX_WORD_CHARS:
                counts[key] += count
                if key != word:
                    spelling_counts.setdefault(key, Counter())[word] += count
        symspell = SymSpell(max_dictionary_edit_distance=max_edit, prefix_length=prefix_length)
        for key, count in counts.items():
            if count >= min_count:
                symspell.create_dictionary_entry(key, count)
        spellings = {}
        for key, forms in spelling_counts.items():
            form, count = forms.most_common(1)[0]
            if count * 2 > counts[key]:  # the casefolded form is not the usual one
                spellings[key] = form
        extra = english_words() if also_known is None else {w.casefold() for w in also_known}
        return cls(symspell, frozenset(counts).union(extra), spellings, max_edit)

    def __len__(self) -> int:
        """How many words the speller can offer as corrections."""
        return self._symspell.word_count

    def known(self, word: str) -> bool:
        """Whether any catalog text has ``word``, or the extra word list (case ignored)."""
        return word.casefold() in self._known

    def unknown_words(self, query: str) -> list[str]:
        """The words of ``query`` that could be misspelt, as typed, in order: words of
        letters only, long enough to correct, that are not :meth:`known`."""
        return [token for token in _TOKEN.findall(query) if self._is_unknown(token)]

    def correct(self, query: str) -> str | None:
        """``query`` with its unknown words corrected, or ``None`` when it has no unknown
        word or none of them has a correction.

        Known words, numbers, words with digits and words shorter than
        :data:`MIN_CORRECTED_CHARS` letters are kept as typed, and so is everything between
        words (spaces, punctuation). A correction is lower-case unless the typed word was
        capitalised (or all capitals, then so is the correction).

        Example:
            >>> speller = Speller.build(["The Geminids peak.", "Watching the Geminids."])
            >>> speller.correct("watching the geminds 2017")
            'watching the geminids 2017'
        """
        pieces: list[str] = []
        done = 0  # where the query's text not yet in pieces starts
        for token in _TOKEN.finditer(query):
            fixed = self._correction(token.group()) if self._is_unknown(token.group()) else None
            if fixed is not None:
                pieces += [query[done : token.start()], fixed]
                done = token.end()
        return "".join(pieces) + query[done:] if pieces else None

    def _is_unknown(self, token: str) -> bool:
        return (
            MIN_CORRECTED_CHARS <= len(token) <= MAX_WORD_CHARS
            and WORD.fullmatch(token) is not None
            and not self.known(token)
        )

    def _correction(self, word: str) -> str | None:
        """The closest target of an unknown word, the most frequent among equally close
        ones, in the typed word's case; ``None`` when no target is close enough.

        A word of up to :data:`SHORT_WORD_CHARS` letters gets one edit at most: two edits
        of a short word reach too many unrelated words to be a correction."""
        key = word.casefold()
        edits = min(self.max_edit, 1 if len(key) <= SHORT_WORD_CHARS else self.max_edit)
        with self._lookup_lock:
            found = self._symspell.lookup(key, Verbosity.CLOSEST, max_edit_distance=edits)
        if not found:
            return None
        best = min(found, key=lambda item: (item.distance, -item.count, item.term))
        fixed = self._spellings.get(best.term, best.term)
        if len(word) > 1 and word.isupper():
            return fixed.upper()
        if word[0].isupper():
            return fixed[0].upper() + fixed[1:]
        return fixed
