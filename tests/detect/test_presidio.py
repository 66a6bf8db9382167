"""Presidio compatibility: Veil's span finder as a Presidio recognizer inside a real
AnalyzerEngine, and Presidio's own pattern recognizers inside Veil's registry. No spaCy
model is needed (spaCy's models are not on PyPI): the analyzer gets a blank English
tokenizer, the recognizers are pattern-based."""

from __future__ import annotations

import pytest

presidio = pytest.importorskip("presidio_analyzer")

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry  # noqa: E402
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine  # noqa: E402
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    CreditCardRecognizer,
    IbanRecognizer,
    UkNinoRecognizer,
)

from veil.detect import default_registry  # noqa: E402
from veil.detect.presidio import (  # noqa: E402
    PRESIDIO_ENTITIES,
    from_presidio,
    presidio_entity,
    presidio_ner,
    veil_recognizer,
    veil_type,
)
from veil.detect.text import SpanFinder  # noqa: E402


class BlankEngine(NlpEngine):  # type: ignore[misc]
    """Tokens from spaCy's blank English pipeline; no named entities (no model)."""

    def __init__(self) -> None:
        import spacy

        self.nlp = spacy.blank("en")

    def load(self) -> None:
        return None

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        doc = self.nlp(text)
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.text.lower() for t in doc],
            nlp_engine=self,
            language=language,
        )

    def process_batch(self, texts, language, batch_size=1, n_process=1, **kwargs):  # type: ignore[no-untyped-def]
        for t in texts:
            yield t, self.process_text(t, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return False

    def is_punct(self, word: str, language: str) -> bool:
        return not word.isalnum()

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return ["en"]


TEXT = "Transfer to Kwame Mensah, IBAN DE89 3704 0044 0532 0130 00, mail kwame@example.org"


def test_veil_inside_presidio() -> None:
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(veil_recognizer())
    analyzer = AnalyzerEngine(
        nlp_engine=BlankEngine(), registry=registry, supported_languages=["en"]
    )
    got = {(TEXT[r.start : r.end], r.entity_type) for r in analyzer.analyze(TEXT, language="en")}
    assert got == {
        ("Kwame Mensah", "PERSON"),
        ("DE89 3704 0044 0532 0130 00", "IBAN_CODE"),
        ("kwame@example.org", "EMAIL_ADDRESS"),
    }


def test_presidio_pattern_recognizers_inside_veil() -> None:
    reg = default_registry().only(["email"])  # a small registry: what Presidio's add shows
    for pr in (CreditCardRecognizer(), IbanRecognizer(), UkNinoRecognizer()):
        for rec in from_presidio(pr):
            reg.register(rec)
    finder = SpanFinder(reg)
    text = "card 4111 1111 1111 1111, NINO AB 12 34 56 C, IBAN DE89370400440532013000"
    got = {(text[s.start : s.end], s.type) for s in finder.find([text])[0]}
    assert ("4111 1111 1111 1111", "card") in got
    assert ("DE89370400440532013000", "iban") in got
    assert ("AB 12 34 56 C", "uk_nino") in got
    # Presidio's validate_result decides: a card number whose Luhn check fails is dropped
    assert not finder.find(["card 4111 1111 1111 1112"])[0]


def test_presidio_recognizer_as_a_ner_hook() -> None:
    finder = SpanFinder(default_registry().only(["email"]), ner=presidio_ner(UkNinoRecognizer()))
    text = "NINO AB 12 34 56 C please"
    assert [(text[s.start : s.end], s.type) for s in finder.find([text])[0]] == [
        ("AB 12 34 56 C", "uk_nino")
    ]


def test_every_type_has_a_presidio_name() -> None:
    for t in default_registry().types():
        assert t in PRESIDIO_ENTITIES, t
        assert veil_type(PRESIDIO_ENTITIES[t]) in default_registry().types()
    assert presidio_entity("national_id", "es_dni") == "ES_NIF"
    assert presidio_entity("person") == "PERSON"
