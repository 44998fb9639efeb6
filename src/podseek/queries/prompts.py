"""Few-shot prompts that make a base language model write the searches a listener would type.

A base model (not an instruction-tuned one) continues text; it follows a pattern better than an
instruction. The prompt is therefore a short page of example episodes, each followed by a few
searches, and ends with the episode to describe and an open search line: the model's next
line is one query. The examples are in the episode's language where we have them, so that
German episodes get German queries (the encoder learns each language from its own queries);
any other language falls back to the English page.

The examples are invented here (short, realistic episodes in the catalog's text recipe, see
:func:`podseek.catalog.episode.episode_text`) and kept off the topics of the dev set in
``benchmarks/devset`` so that the dev queries cannot leak into training through the prompt.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FewShotPage:
    """The examples of one language and the labels the prompt uses in that language."""

    language: str  # ISO 639-1
    header: str  # one line that tells the model what the page is
    episode_label: str
    query_label: str
    examples: tuple[tuple[str, tuple[str, ...]], ...]  # (episode text, queries)

    def prefix(self) -> str:
        """The examples, identical for every episode of this language (an engine that caches
        a prompt's prefix, like llama.cpp, evaluates it once)."""
        blocks = [self.header]
        for text, queries in self.examples:
            lines = [f"{self.episode_label}: {text}"]
            lines += [f"{self.query_label}: {query}" for query in queries]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n\n"

    def episode_part(self, episode_text: str) -> str:
        """What follows the prefix for one episode: the episode and an open search line."""
        text = " ".join(episode_text.split())  # one line: a newline would end the episode
        return f"{self.episode_label}: {text}\n{self.query_label}:"

    def prompt(self, episode_text: str) -> str:
        """The whole prompt for one episode; the model's continuation up to the first newline
        is one query."""
        return self.prefix() + self.episode_part(episode_text)


PAGES: dict[str, FewShotPage] = {
    page.language: page
    for page in (
        FewShotPage(
            "en",
            "Podcast episodes and the searches listeners typed to find each one.",
            "Episode",
            "Search",
            (
                (
                    "Deep Field. Conversations about space and the people who explore it. "
                    "Webb is ready to look. Astronomer Priya Nair explains what the new space "
                    "telescope will observe first, why it sits a million miles from Earth and "
                    "how its golden mirror unfolds.",
                    (
                        "what will the james webb telescope look at first",
                        "why is the new space telescope so far from earth",
                        "how does a folding telescope mirror work",
                    ),
                ),
                (
                    "The Garden Shed. Practical gardening for small spaces. Tomatoes on a "
                    "balcony. Which varieties grow well in pots, how often to water in a heat "
                    "wave, and why the leaves turn yellow in August.",
                    (
                        "growing tomatoes in containers",
                        "my tomato plant leaves are going yellow",
                        "watering vegetables during a heatwave",
                    ),
                ),
                (
                    "Startup Stories. Founders on what went right and what went wrong. Ep. 41: "
                    "From food truck to three restaurants. Maria Lopez on her first bank loan, "
                    "hiring her first cook and the week the truck broke down.",
                    (
                        "woman who turned a food truck into restaurants",
                        "getting a bank loan for a small food business",
                        "hiring your first employee",
                    ),
                ),
            ),
        ),
        FewShotPage(
            "de",
            "Podcast-Folgen und die Suchanfragen, mit denen Hörer sie gefunden haben.",
            "Folge",
            "Suche",
            (
                (
                    "Zeitsprung. Geschichten aus der Geschichte. ZS 88: Die Erfindung des "
                    "Buchdrucks. Wie Johannes Gutenberg in Mainz die beweglichen Lettern "
                    "entwickelte und warum sein Geschäft trotzdem fast pleiteging.",
                    (
                        "wie hat gutenberg den buchdruck erfunden",
                        "geschichte des buchdrucks in mainz",
                        "warum war gutenberg pleite",
                    ),
                ),
                (
                    "Laufend gesund. Der Podcast für Hobbyläufer. Folge 23: Knieschmerzen beim "
                    "Joggen. Eine Sportärztin erklärt, woher die Schmerzen kommen, welche Schuhe "
                    "helfen und wann man lieber eine Pause macht.",
                    (
                        "knie tut weh nach dem laufen",
                        "welche laufschuhe bei knieproblemen",
                        "wann sollte man mit dem joggen pausieren",
                    ),
                ),
                (
                    "Geld und mehr. Finanzen einfach erklärt. Sparen für Kinder: Sparbuch, Fonds "
                    "oder ETF? Wir vergleichen Zinsen, Kosten und Risiko und sagen, worauf Eltern "
                    "achten sollten.",
                    (
                        "etf sparplan für kinder",
                        "wie spare ich geld für mein kind",
                        "sparbuch oder fonds für den nachwuchs",
                    ),
                ),
            ),
        ),
        FewShotPage(
            "es",
            "Episodios de pódcast y las búsquedas que escribieron los oyentes para encontrarlos.",
            "Episodio",
            "Búsqueda",
            (
                (
                    "Cocina con Lola. Recetas fáciles para cada día. Episodio 15: Paella sin "
                    "secretos. Lola explica qué arroz usar, cuánto caldo poner y cómo conseguir "
                    "el socarrat perfecto.",
                    (
                        "cómo hacer una paella valenciana",
                        "qué arroz es mejor para la paella",
                        "truco para que salga el socarrat",
                    ),
                ),
                (
                    "Historia en diez minutos. La historia contada en pocas palabras. La caída "
                    "del Imperio romano. Por qué Roma se debilitó, quiénes eran los pueblos "
                    "germánicos y qué pasó de verdad en el año 476.",
                    (
                        "por qué cayó el imperio romano",
                        "qué pasó en el año 476",
                        "los pueblos bárbaros y el fin de roma",
                    ),
                ),
                (
                    "Mente sana. Psicología para la vida cotidiana. Miedo a hablar en público. "
                    "Una psicóloga explica de dónde viene el pánico escénico y propone ejercicios "
                    "para preparar una presentación.",
                    (
                        "cómo perder el miedo a hablar en público",
                        "nervios antes de una presentación en el trabajo",
                        "ejercicios contra el pánico escénico",
                    ),
                ),
            ),
        ),
        FewShotPage(
            "fr",
            "Des épisodes de podcast et les recherches que des auditeurs ont tapées pour les "
            "trouver.",
            "Épisode",
            "Recherche",
            (
                (
                    "Les Pieds sur terre. Reportages sur le quotidien. Vivre sans voiture à la "
                    "campagne. Trois familles racontent comment elles font les courses, vont au "
                    "travail et emmènent les enfants à l'école à vélo.",
                    (
                        "vivre à la campagne sans voiture",
                        "aller au travail à vélo quand on habite loin",
                        "familles qui ont renoncé à la voiture",
                    ),
                ),
                (
                    "Science en poche. La science expliquée simplement. Pourquoi le ciel est-il "
                    "bleu ? Un physicien explique la diffusion de la lumière et pourquoi les "
                    "couchers de soleil sont rouges.",
                    (
                        "pourquoi le ciel est bleu",
                        "explication de la couleur du coucher de soleil",
                        "diffusion de la lumière dans l'atmosphère",
                    ),
                ),
                (
                    "Le Club Lecture. Des livres et ceux qui les aiment. Épisode 30 : Les "
                    "Misérables. On parle de Jean Valjean, de Cosette et du Paris de 1832 "
                    "raconté par Victor Hugo.",
                    (
                        "discussion sur les misérables de victor hugo",
                        "qui est jean valjean",
                        "roman sur paris en 1832",
                    ),
                ),
            ),
        ),
        FewShotPage(
            "sv",
            "Poddavsnitt och sökningarna som lyssnare skrev för att hitta dem.",
            "Avsnitt",
            "Sökning",
            (
                (
                    "Historiepodden. Berättelser från det förflutna. Vasaskeppets förlisning. "
                    "Varför sjönk Vasa på sin första resa 1628, och hur bärgades skeppet 333 år "
                    "senare?",
                    (
                        "varför sjönk vasaskeppet",
                        "hur bärgades vasa",
                        "svenskt örlogsskepp som sjönk 1628",
                    ),
                ),
                (
                    "Odla med Anna. Trädgårdstips för nybörjare. Avsnitt 12: Så lyckas du med "
                    "potatisen. När du ska sätta potatis, hur djupt och hur du undviker "
                    "bladmögel.",
                    (
                        "när ska man sätta potatis",
                        "hur djupt ska potatisen sättas",
                        "bladmögel på potatisblasten",
                    ),
                ),
                (
                    "Jobbsnack. Om arbetsliv och karriär. Byta bana vid 45. Två lyssnare "
                    "berättar om att börja plugga igen och hur de fick ekonomin att gå ihop.",
                    (
                        "byta yrke mitt i livet",
                        "börja studera igen som vuxen",
                        "hur har man råd att plugga vid 45",
                    ),
                ),
            ),
        ),
    )
}

FALLBACK_LANGUAGE = "en"


def page_for(language: str) -> FewShotPage:
    """The few-shot page for an ISO 639-1 code; English for '' and for languages we have no
    examples in."""
    return PAGES.get((language or "").strip().lower(), PAGES[FALLBACK_LANGUAGE])
