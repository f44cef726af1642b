"""The sample site's sections: a three-level tag tree with each section's own vocabulary.

Every top-level category brings its own nouns, adjectives and verbs and every leaf a handful of
keywords, so titles and texts composed from them let TF-IDF tell the categories (and mostly the
leaves) apart. Words joined by ``_`` are written with a space.
"""

from __future__ import annotations

from dataclasses import dataclass

from tastemaker.catalog.tags import SEPARATOR


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.replace("_", " ") for w in text.split())


@dataclass(frozen=True)
class Category:
    """A top-level section: its sub-categories, their leaves and the words it writes with.

    ``share`` is the section's share of the catalog; ``half_life_days`` how fast its items
    age (news fades in days, products in months).
    """

    name: str
    share: float
    half_life_days: float
    subcategories: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    verbs: tuple[str, ...]

    @property
    def slug(self) -> str:
        return self.name.lower()

    def leaves(self) -> list[Leaf]:
        """Every leaf of the section, in declaration order."""
        return [
            Leaf(self.name, sub, leaf, keywords)
            for sub, leaves in self.subcategories
            for leaf, keywords in leaves
        ]


@dataclass(frozen=True)
class Leaf:
    """A leaf of the tag tree with the keywords that mark its texts."""

    category: str
    subcategory: str
    name: str
    keywords: tuple[str, ...]

    @property
    def tag(self) -> str:
        return SEPARATOR.join((self.category, self.subcategory, self.name))

    @property
    def parent_tag(self) -> str:
        return SEPARATOR.join((self.category, self.subcategory))


SHOP = "Shop"

CATEGORIES: tuple[Category, ...] = (
    Category(
        name="Technology",
        share=0.18,
        half_life_days=12.0,
        subcategories=(
            (
                "Smartphones",
                (
                    ("Android", _words("Android Pixel Galaxy Snapdragon launcher")),
                    ("iPhone", _words("iPhone iOS Apple AirDrop FaceTime")),
                    ("Wearables", _words("smartwatch fitness_tracker earbuds smart_ring")),
                ),
            ),
            (
                "Computing",
                (
                    ("Laptops", _words("laptop ultrabook keyboard touchpad notebook")),
                    ("Software", _words("compiler browser Linux database API")),
                    ("Cybersecurity", _words("ransomware vulnerability malware phishing")),
                ),
            ),
            (
                "Science",
                (
                    ("Space", _words("rocket satellite orbit telescope Mars")),
                    ("Energy", _words("solar grid_storage hydrogen fusion reactor")),
                    ("Artificial Intelligence", _words("chatbot neural_network GPU dataset")),
                ),
            ),
        ),
        nouns=_words(
            "smartphone chip processor battery display camera sensor firmware app platform "
            "startup developer benchmark network server cloud algorithm prototype gadget "
            "operating_system"
        ),
        adjectives=_words(
            "faster foldable flagship budget wireless encrypted open_source experimental "
            "powerful compact efficient next_generation"
        ),
        verbs=_words(
            "unveils launches patches outperforms upgrades accelerates leaks integrates "
            "replaces debuts powers benchmarks"
        ),
    ),
    Category(
        name="Sports",
        share=0.18,
        half_life_days=4.0,
        subcategories=(
            (
                "Football",
                (
                    ("Bundesliga", _words("Bundesliga Munich Dortmund Leverkusen Bremen")),
                    ("Premier League", _words("Manchester Liverpool Newcastle derby Anfield")),
                    ("Champions League", _words("knockout Madrid Milan Lisbon group_stage")),
                ),
            ),
            (
                "Tennis",
                (
                    ("Grand Slams", _words("Wimbledon Melbourne grass_court centre_court")),
                    ("ATP Tour", _words("ATP Masters forehand serve tiebreak")),
                    ("WTA Tour", _words("WTA backhand doubles qualifier clay")),
                ),
            ),
            (
                "Motorsport",
                (
                    ("Formula 1", _words("pitstop qualifying Monza Silverstone grid")),
                    ("MotoGP", _words("MotoGP Mugello Assen motorcycle paddock")),
                    ("Rally", _words("gravel WRC co_driver special_stage Finland")),
                ),
            ),
        ),
        nouns=_words(
            "match season coach striker goal victory defeat league title squad transfer fans "
            "stadium referee championship trophy lap podium contract injury"
        ),
        adjectives=_words(
            "dramatic late decisive unbeaten record_breaking injured young veteran stunning "
            "narrow crucial top_flight"
        ),
        verbs=_words(
            "beats wins signs edges defeats draws stuns secures claims loses extends overtakes"
        ),
    ),
    Category(
        name="News",
        share=0.24,
        half_life_days=2.5,
        subcategories=(
            (
                "Politics",
                (
                    ("Elections", _words("ballot polls candidate campaign turnout")),
                    ("Parliament", _words("Bundestag committee lawmakers amendment plenary")),
                    ("Europe", _words("Brussels EU commission eurozone Strasbourg")),
                ),
            ),
            (
                "Economy",
                (
                    ("Markets", _words("stocks DAX bonds interest_rates investors")),
                    ("Jobs", _words("unemployment wages workers strike hiring")),
                    ("Companies", _words("earnings merger CEO shareholders profit")),
                ),
            ),
            (
                "World",
                (
                    ("Americas", _words("Washington Brazil Mexico Canada congress")),
                    ("Asia", _words("Beijing Tokyo Delhi Seoul trade_route")),
                    ("Africa", _words("Nairobi Lagos drought Sahel Johannesburg")),
                ),
            ),
        ),
        nouns=_words(
            "government minister vote bill coalition budget reform inflation tax policy deal "
            "summit protest court report agency spokesperson crisis debate investigation"
        ),
        adjectives=_words(
            "controversial bipartisan urgent fragile surprising emergency historic tense "
            "disputed official sweeping quarterly"
        ),
        verbs=_words(
            "approves rejects debates announces delays warns criticizes proposes cuts raises "
            "negotiates investigates"
        ),
    ),
    Category(
        name="Lifestyle",
        share=0.15,
        half_life_days=30.0,
        subcategories=(
            (
                "Food",
                (
                    ("Recipes", _words("pasta baking soup vegetarian dessert")),
                    ("Restaurants", _words("bistro chef menu tasting brunch")),
                    ("Wine", _words("riesling vineyard sommelier vintage grapes")),
                ),
            ),
            (
                "Travel",
                (
                    ("City Breaks", _words("Vienna Lisbon museum boutique_hotel old_town")),
                    ("Beaches", _words("coast island snorkelling lagoon sunset")),
                    ("Hiking", _words("trail Alps summit backpack mountain_hut")),
                ),
            ),
            (
                "Health",
                (
                    ("Fitness", _words("workout running yoga strength cardio")),
                    ("Nutrition", _words("protein vitamins fibre diet smoothie")),
                    ("Sleep", _words("insomnia mattress napping melatonin bedtime")),
                ),
            ),
        ),
        nouns=_words(
            "weekend recipe guide tips routine habit destination season kitchen garden ideas "
            "trip favourites secrets ritual escape comfort balance wellbeing getaway"
        ),
        adjectives=_words(
            "easy cozy simple seasonal healthy relaxing hidden perfect delicious mindful "
            "charming affordable"
        ),
        verbs=_words(
            "transforms inspires refreshes improves boosts elevates simplifies brightens "
            "revives rewards calms delights"
        ),
    ),
    Category(
        name="Culture",
        share=0.13,
        half_life_days=20.0,
        subcategories=(
            (
                "Film",
                (
                    ("Cinema", _words("Berlinale box_office blockbuster screenplay multiplex")),
                    ("Streaming", _words("binge season_finale miniseries episodes")),
                    ("Documentaries", _words("documentary archive footage filmmaker wildlife")),
                ),
            ),
            (
                "Music",
                (
                    ("Pop", _words("chart single pop_star music_video playlist")),
                    ("Classical", _words("symphony conductor opera violin Beethoven")),
                    ("Jazz", _words("saxophone quartet improvisation jazz_club trumpet")),
                ),
            ),
            (
                "Books",
                (
                    ("Fiction", _words("novelist thriller bestseller crime_novel prize")),
                    ("Non-Fiction", _words("memoir biography history essay")),
                    ("Comics", _words("graphic_novel manga superhero illustrator webcomic")),
                ),
            ),
        ),
        nouns=_words(
            "premiere festival album director story audience performance tour soundtrack "
            "novel chapter sequel debut review stage orchestra exhibition cast critic series"
        ),
        adjectives=_words(
            "acclaimed haunting ambitious intimate witty bold lyrical surprising timeless "
            "experimental sprawling quiet"
        ),
        verbs=_words(
            "premieres captivates divides revisits reinvents celebrates explores charms "
            "returns honours surprises delivers"
        ),
    ),
    Category(
        name=SHOP,
        share=0.12,
        half_life_days=60.0,
        subcategories=(
            (
                "Electronics",
                (
                    ("Headphones", _words("headphones earbuds noise_cancelling over_ear")),
                    ("Smart Home", _words("thermostat smart_speaker video_doorbell light_strip")),
                    ("Cameras", _words("camera lens tripod mirrorless action_cam")),
                ),
            ),
            (
                "Home",
                (
                    ("Kitchen", _words("espresso_machine knife_set blender cookware kettle")),
                    ("Furniture", _words("sofa desk shelf armchair floor_lamp")),
                    ("Garden", _words("planter grill garden_hose lawnmower parasol")),
                ),
            ),
            (
                "Fashion",
                (
                    ("Shoes", _words("sneakers boots sandals loafers trainers")),
                    ("Jackets", _words("raincoat parka puffer_jacket blazer windbreaker")),
                    ("Bags", _words("backpack tote duffel wallet satchel")),
                ),
            ),
        ),
        nouns=_words(
            "deal bundle set edition model offer bestseller collection classic essential "
            "upgrade gift pack kit version"
        ),
        adjectives=_words(
            "premium lightweight durable wireless waterproof compact stylish ergonomic "
            "limited classic refurbished sustainable"
        ),
        verbs=_words("fits suits complements protects simplifies outlasts"),
    ),
)

PRICE_MEDIANS: dict[str, float] = {
    "Electronics": 110.0,
    "Home": 75.0,
    "Fashion": 85.0,
}
"""Median price in EUR of a product per shop sub-category."""

BRANDS = _words("Nordlicht Alpenwerk Kestrel Lumo Brightfield Fjord Tessera Halden Solvik")

SOURCES: tuple[tuple[str, float], ...] = (
    ("Newsroom", 0.62),
    ("Newswire", 0.22),
    ("Guest Column", 0.09),
    ("Partner Network", 0.07),
)
"""Where articles come from, with their shares; products always come from the shop."""

SHOP_SOURCE = "Shop"

FIRST_NAMES = _words(
    "Anna Ben Clara David Elif Felix Greta Hannah Ilias Jonas Katrin Lena Malik Nora Oskar "
    "Paula Rafael Sofia Tobias Ute Vera Yusuf"
)
LAST_NAMES = _words(
    "Becker Schmidt Weber Fischer Wagner Hoffmann Krause Yilmaz Novak Lange Brandt Vogel "
    "Keller Berger Roth Lorenz"
)


def all_leaves() -> list[Leaf]:
    """Every leaf of the tree, category by category."""
    return [leaf for c in CATEGORIES for leaf in c.leaves()]
