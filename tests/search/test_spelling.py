"""Did you mean: corrections from the catalog's own vocabulary."""

import pytest

from podseek.catalog.episode import episode_text
from podseek.catalog.store import CatalogStore
from podseek.search.spelling import Speller, english_words
from tests.search_catalog import fill_catalog

NIGHT_SKY = [
    "Night Sky Notes. Watching the Geminids. The best meteor shower of the year.",
    "The Geminids peak tonight: a meteor shower for everyone. Telescoopes not needed.",
]


@pytest.fixture(scope="module")
def night_sky() -> Speller:
    return Speller.build(NIGHT_SKY)


@pytest.fixture(scope="module")
def catalog_speller(tmp_path_factory: pytest.TempPathFactory) -> Speller:
    """The fixture catalog's episode texts (English, German, French)."""
    with CatalogStore(tmp_path_factory.mktemp("spelling") / "c.sqlite") as catalog:
        return Speller.build(episode_text(e) for e in fill_catalog(catalog).iter_episodes())


def test_a_typo_of_a_catalog_word_is_corrected(night_sky: Speller) -> None:
    assert night_sky.correct("geminds") == "geminids"
    assert night_sky.correct("watching the geminds meteor showr") == (
        "watching the geminids meteor shower"
    )
    assert night_sky.unknown_words("watching the geminds meteor showr") == ["geminds", "showr"]


def test_known_words_are_never_changed(night_sky: Speller) -> None:
    assert night_sky.correct("the geminids meteor shower tonight") is None
    assert night_sky.unknown_words("The GEMINIDS tonight") == []
    # "peak" is in the texts once only, and one edit from nothing else: still never touched
    assert night_sky.known("Peak")
    assert night_sky.correct("peak geminds") == "peak geminids"


def test_a_one_off_word_is_known_but_never_a_correction(night_sky: Speller) -> None:
    assert night_sky.known("telescoopes")  # a typo in one text
    assert night_sky.correct("telescoopes tonight") is None
    assert night_sky.correct("telescoopess") is None  # one edit from it: not offered
    assert len(night_sky) < len(set(" ".join(NIGHT_SKY).lower().split()))


def test_numbers_short_words_and_spacing_are_kept(night_sky: Speller) -> None:
    assert night_sky.correct("geminds 2017") == "geminids 2017"
    assert night_sky.correct("  geminds,  2017!? ") == "  geminids,  2017!? "
    assert night_sky.correct("mp3 geminds4 20l7 gm") is None  # digits, too short
    assert night_sky.unknown_words("mp3 geminds4 gm") == []


def test_capitalisation_is_kept(night_sky: Speller) -> None:
    assert night_sky.correct("Geminds") == "Geminids"
    assert night_sky.correct("GEMINDS") == "GEMINIDS"
    assert night_sky.correct("Watching geminds") == "Watching geminids"


def test_none_when_nothing_is_wrong_or_nothing_is_close(night_sky: Speller) -> None:
    assert night_sky.correct("") is None
    assert night_sky.correct("meteor shower") is None
    assert night_sky.correct("xqzvwkj") is None
    assert night_sky.unknown_words("xqzvwkj") == ["xqzvwkj"]


def test_short_words_get_one_edit_at_most() -> None:
    speller = Speller.build(["meteor meteor", "stars stars"])
    assert speller.correct("sturs") == "stars"  # five letters, one edit
    assert speller.correct("sturz") is None  # five letters, two edits
    assert speller.correct("metor") == "meteor"  # five letters, one insert
    assert speller.correct("mtetor") == "meteor"  # six letters, two edits


def test_german_and_french_words_of_the_catalog(catalog_speller: Speller) -> None:
    assert catalog_speller.correct("Geschihte der Romer") == "Geschichte der Römer"
    # the catalog has "Geminids" once (a title): known, but not a correction
    assert catalog_speller.known("geminids")
    assert catalog_speller.correct("geminds") is None
    french = Speller.build(["La soupe à l'oignon.", "Une soupe à l'oignon gratinée."])
    assert french.correct("soupe à l'ognion") == "soupe à l'oignon"


def test_a_casefolded_word_is_offered_as_the_texts_write_it() -> None:
    speller = Speller.build(["Die Straße am Rhein.", "Eine Straße in Köln."])
    assert speller.known("STRASSE")
    assert speller.correct("strase") == "straße"


def test_general_words_are_known_unless_turned_off() -> None:
    texts = ["The number of the beast.", "A number of stars."]
    assert "slumber" in english_words()
    assert Speller.build(texts).correct("slumber") is None
    assert Speller.build(texts, also_known=()).correct("slumber") == "number"
    assert Speller.build(texts, also_known=["Slumber"]).known("slumber")
