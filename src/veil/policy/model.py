"""The policy: who controls the data, what it is, and what each purpose may do with it.

Minimization is deny-by-default: a field reaches a purpose's output only when the purpose
lists it with a treatment. Field treatments are names (``keep`` or a transform that the
transforms layer registers) with parameters; the policy model only checks their shape, the
run plan checks that the name exists.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from veil.policy.automated import AutomatedDecisions as AutomatedDecisions
from veil.policy.automated import DecisionFeature as DecisionFeature
from veil.policy.automated import DecisionReview as DecisionReview
from veil.policy.base import IDENT as IDENT
from veil.policy.base import Contact as Contact
from veil.policy.base import Ident as Ident
from veil.policy.base import _Strict
from veil.policy.duration import Duration
from veil.policy.recipients import Notify as Notify
from veil.policy.recipients import Recipient as Recipient
from veil.policy.recipients import RecordRetention as RecordRetention
from veil.policy.recipients import Transfer as Transfer
from veil.policy.risk import RiskPolicy
from veil.policy.taxonomy import BUILTIN_CATEGORIES, Category


class Controller(_Strict):
    class Authority(_Strict):
        """The lead supervisory authority that breach notifications go to (Art. 33, 55-56)."""

        name: str
        email: str | None = None
        url: str | None = None
        country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2

        def line(self) -> str:
            return ", ".join([self.name] + [p for p in (self.email, self.url, self.country) if p])

    name: str
    contact: str
    address: str | None = None
    dpo: Contact | None = None
    eu_representative: Contact | None = None
    joint_controllers: list[Contact] = []
    supervisory_authority: Controller.Authority | None = None
    timezone: str | None = None  # IANA name: the DPO's time zone for showing breach deadlines

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone '{value}' is not an IANA time zone name "
                             "(e.g. Europe/Berlin)") from None
        return value


class CategoryDef(_Strict):
    description: str
    personal: bool = True
    special: bool = False
    criminal: bool = False
    financial: bool = False


FieldType = Literal["string", "integer", "float", "decimal", "boolean", "date", "timestamp"]


class FieldDef(_Strict):
    category: str
    type: FieldType = "string"
    description: str | None = None
    quasi_identifier: bool = False
    sensitive: bool = False


BadRows = Literal["fail", "quarantine"]
ErasureMode = Literal["delete", "mask"]


class DatasetStore(_Strict):
    """Where the dataset's rows live, so data-subject requests can find, delete, mask or correct
    them (veil.rights): a database table reached by SQLAlchemy (SQLite, PostgreSQL).

    ``url`` may use ``${VAR}`` or ``${VAR:-default}``, expanded when the store is opened (so a
    password stays in the environment); a relative SQLite path is taken from the workspace.
    ``erasure: delete`` (the default) deletes the subject's rows; ``mask`` keeps the rows (when
    they must stay, e.g. ledger totals) and sets the ``mask`` fields to null.
    """

    url: str
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$",
                       max_length=128)
    erasure: ErasureMode = "delete"
    mask: list[str] = []

    @model_validator(mode="after")
    def _mask_fields(self) -> DatasetStore:
        if self.erasure == "mask" and not self.mask:
            raise ValueError("erasure: mask needs 'mask': the fields to set to null")
        if self.erasure == "delete" and self.mask:
            raise ValueError("'mask' fields are only used with erasure: mask")
        return self


class Dataset(_Strict):
    description: str | None = None
    subjects: str = "customers"
    source: str | None = None
    subject_id: str | None = None
    on_bad_rows: BadRows = "fail"
    fields: dict[Ident, FieldDef]
    risk: RiskPolicy | None = None  # the release gate: k, l, t and suppression (veil.risk)
    store: DatasetStore | None = None  # where its rows live, for data-subject requests

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        # `email: contact` is shorthand for `email: {category: contact}`.
        if isinstance(value, dict):
            return {k: ({"category": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _subject_declared(self) -> Dataset:
        if self.subject_id is not None and self.subject_id not in self.fields:
            raise ValueError(f"subject_id '{self.subject_id}' is not one of the dataset's fields")
        if self.store is not None:
            if self.subject_id is None:
                raise _RefError(("store",), "a registered store needs the dataset's subject_id "
                                "(the column that finds a subject's rows)")
            for i, f in enumerate(self.store.mask):
                if f not in self.fields:
                    raise _RefError(("store", "mask", i),
                                    f"mask field '{f}' is not one of the dataset's fields")
                if f == self.subject_id:
                    raise _RefError(("store", "mask", i), "the subject_id cannot be masked "
                                    "(use erasure: delete to remove the rows)")
        return self


class Treatment(_Strict):
    """What happens to a field a purpose may use: ``keep`` or a named transform."""

    transform: str
    params: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _from_short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"transform": value}
        if isinstance(value, dict) and "transform" in value and "params" not in value:
            rest = {k: v for k, v in value.items() if k != "transform"}
            return {"transform": value["transform"], "params": rest}
        return value


class PurposeDataset(_Strict):
    fields: dict[Ident, Treatment]


LegalBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]

LEGAL_BASIS_ARTICLE: dict[str, str] = {
    "consent": "Art. 6(1)(a) consent",
    "contract": "Art. 6(1)(b) performance of a contract",
    "legal_obligation": "Art. 6(1)(c) legal obligation",
    "vital_interests": "Art. 6(1)(d) vital interests",
    "public_task": "Art. 6(1)(e) public task",
    "legitimate_interests": "Art. 6(1)(f) legitimate interests",
}
_BASIS_ALIASES = {
    "6(1)(a)": "consent",
    "6(1)(b)": "contract",
    "6(1)(c)": "legal_obligation",
    "6(1)(d)": "vital_interests",
    "6(1)(e)": "public_task",
    "6(1)(f)": "legitimate_interests",
}

def parse_retention(text: str, what: str = "retention") -> Duration:
    """'5 years', '18 months', '30 days', '5y' or ISO 8601 'P5Y' -> a calendar `Duration`."""
    return Duration.parse(text, what=what)


#: Art. 9(2) points (a) to (j): the condition that lifts the ban on special categories.
SpecialCondition = Literal["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]


class Encryption(_Strict):
    """How a purpose's output is protected at rest (Tink streaming AEAD, the workspace's keys)."""

    at_rest: bool = True
    keyset: Ident = "output"


class Purpose(_Strict):
    description: str
    legal_basis: LegalBasis
    legitimate_interest: str | None = None
    consent_required: bool | None = None
    consent_min_age: int | None = Field(default=None, ge=1, le=18)  # Art. 8: minors' consent
    retention: str
    recipients: list[Ident] = []  # ids from the policy's `recipients:` register
    transfers: list[Transfer] = []
    datasets: dict[Ident, PurposeDataset]
    encryption: Encryption = Encryption()
    # What `veil dsr run` does to this purpose's outputs that hold an erased, withdrawn,
    # objecting or restricted subject: rebuild them, purge them, or flag them for a person.
    on_erasure: Literal["rebuild", "purge", "flag"] = "flag"
    dpia: str | None = None  # reference of the purpose's DPIA (Art. 35)
    special_categories_condition: SpecialCondition | None = None  # Art. 9(2) letter
    criminal_data_authorisation: str | None = None  # Art. 10: the authorising law
    automated_decisions: AutomatedDecisions | None = None  # Art. 22; absent: none made

    @field_validator("legal_basis", mode="before")
    @classmethod
    def _basis_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            v = value.strip().lower().replace("art. ", "").replace("art.", "").strip()
            return _BASIS_ALIASES.get(v, v)
        return value

    @field_validator("special_categories_condition", mode="before")
    @classmethod
    def _condition_letter(cls, value: Any) -> Any:
        # "a", "(a)", "9(2)(a)" and "Art. 9(2)(a)" all mean point (a).
        if isinstance(value, str):
            v = value.strip().lower().replace("art.", "").strip().removeprefix("9(2)")
            return v.strip("() ")
        return value

    @field_validator("dpia", "criminal_data_authorisation")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is empty: leave the key out or give the reference")
        return value

    @field_validator("retention")
    @classmethod
    def _retention_ok(cls, value: str) -> str:
        parse_retention(value)
        return value

    @model_validator(mode="after")
    def _consent_rules(self) -> Purpose:
        if self.legal_basis == "consent" and self.consent_required is False:
            raise ValueError("legal_basis consent requires consent_required: true")
        if self.legal_basis == "legitimate_interests" and not self.legitimate_interest:
            raise ValueError(
                "legal_basis legitimate_interests needs 'legitimate_interest' "
                "(the interest pursued)"
            )
        return self

    @property
    def needs_consent(self) -> bool:
        return bool(self.consent_required) or self.legal_basis == "consent"

    @property
    def retention_period(self) -> Duration:
        return parse_retention(self.retention)

    @property
    def legal_basis_text(self) -> str:
        return LEGAL_BASIS_ARTICLE[self.legal_basis]


class LegalHold(_Strict):
    """Data the controller must keep despite an erasure request (Art. 17(3)(b)), e.g. the
    anti-money-laundering record keeping of Directive (EU) 2015/849 Art. 40: the named
    datasets (or the datasets holding the named categories) are restricted instead of erased,
    for ``period`` from the request, and the erasure's answer says why."""

    legal_basis: str
    period: str
    description: str | None = None
    datasets: list[str] = []
    categories: list[str] = []

    @field_validator("period")
    @classmethod
    def _period_ok(cls, value: str) -> str:
        parse_retention(value, "period")
        return value

    @model_validator(mode="after")
    def _scope(self) -> LegalHold:
        if not self.datasets and not self.categories:
            raise ValueError("a legal hold names the 'datasets' or 'categories' it holds")
        return self

    @property
    def period_length(self) -> Duration:
        return parse_retention(self.period, "period")


RequestKind = Literal["access", "portability", "rectification", "erasure", "restriction",
                      "objection"]


class Rights(_Strict):
    """Settings for data-subject requests (veil.rights)."""

    refuse: list[RequestKind] = []  # request types this controller does not take (say why)
    refuse_reason: str | None = None
    due_soon_days: int = Field(default=7, ge=1, le=60)


class Keys(_Strict):
    """Key epochs (veil.keys.epochs): subject keys are wrapped under an epoch key that
    ``veil keys rotate-epoch`` replaces every ``epoch_rotation``; a retired epoch's key is
    destroyed once ``backup_retention`` (how long the controller keeps database backups) has
    passed, so backups taken before an erasure stop decrypting the erased subject's values.
    Unset: epochs rotate only when asked, and retired ones are never destroyed."""

    epoch_rotation: str | None = None
    backup_retention: str | None = None

    @field_validator("epoch_rotation", "backup_retention")
    @classmethod
    def _duration_ok(cls, value: str | None) -> str | None:
        if value is not None:
            parse_retention(value)
        return value

    @field_validator("epoch_rotation")
    @classmethod
    def _rotation_positive(cls, value: str | None) -> str | None:
        if value is not None and not parse_retention(value).covers(Duration(days=1)):
            raise ValueError("epoch_rotation must be at least 1 day")
        return value

    @property
    def rotation_period(self) -> Duration | None:
        return None if self.epoch_rotation is None else parse_retention(self.epoch_rotation)

    @property
    def retention_period(self) -> Duration | None:
        return None if self.backup_retention is None else parse_retention(self.backup_retention)


class Policy(_Strict):
    version: Literal[1] = 1
    name: str | None = None
    controller: Controller
    security_measures: list[str] = []
    categories: dict[Ident, CategoryDef] = {}
    # User recognizers for discovery (regex + optional validator + context words); their
    # shape is checked by the discovery layer when the policy is checked.
    recognizers: list[dict[str, Any]] = []
    datasets: dict[Ident, Dataset]
    purposes: dict[Ident, Purpose]
    legal_holds: dict[Ident, LegalHold] = {}
    rights: Rights = Rights()
    keys: Keys = Keys()
    # The register of recipients and processors that purposes refer to by id (Art. 19, 28).
    recipients: dict[Ident, Recipient] = {}
    retention: RecordRetention = RecordRetention()  # the store's own personal records

    # Where the policy came from, for error messages that name file:line.
    _source: str = PrivateAttr(default="<policy>")
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)
    _digest: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _references(self) -> Policy:
        clash = sorted(set(self.categories) & set(BUILTIN_CATEGORIES))
        if clash:
            raise ValueError(f"category '{clash[0]}' is built in; choose another id")
        known = set(BUILTIN_CATEGORIES) | set(self.categories)
        for ds_name, ds in self.datasets.items():
            for f_name, f in ds.fields.items():
                if f.category not in known:
                    raise _RefError(
                        ("datasets", ds_name, "fields", f_name, "category"),
                        f"unknown data category '{f.category}'",
                    )
        for p_name, p in self.purposes.items():
            for ds_name, use in p.datasets.items():
                if ds_name not in self.datasets:
                    raise _RefError(
                        ("purposes", p_name, "datasets", ds_name),
                        f"purpose uses dataset '{ds_name}', which the policy does not declare",
                    )
                declared = self.datasets[ds_name].fields
                for f_name in use.fields:
                    if f_name not in declared:
                        raise _RefError(
                            ("purposes", p_name, "datasets", ds_name, "fields", f_name),
                            f"field '{f_name}' is not declared in dataset '{ds_name}'",
                        )
            self._recipient_refs(p_name, p)
            self._feature_refs(p_name, p)
        for h_name, hold in self.legal_holds.items():
            for i, ds_name in enumerate(hold.datasets):
                if ds_name not in self.datasets:
                    raise _RefError(("legal_holds", h_name, "datasets", i),
                                    f"legal hold names dataset '{ds_name}', which the policy "
                                    "does not declare")
            for i, cat in enumerate(hold.categories):
                if cat not in known:
                    raise _RefError(("legal_holds", h_name, "categories", i),
                                    f"unknown data category '{cat}'")
        return self

    def _recipient_refs(self, p_name: str, p: Purpose) -> None:
        for i, r in enumerate(p.recipients):
            if r not in self.recipients:
                raise _RefError(("purposes", p_name, "recipients", i),
                                f"unknown recipient '{r}' (declare it under the top-level "
                                f"'recipients:'; known: {', '.join(self.recipients) or 'none'})")
        for i, t in enumerate(p.transfers):
            if t.recipient not in self.recipients:
                raise _RefError(("purposes", p_name, "transfers", i, "recipient"),
                                f"transfer to unknown recipient '{t.recipient}' (declare it "
                                "under the top-level 'recipients:')")

    def _feature_refs(self, p_name: str, p: Purpose) -> None:
        ad = p.automated_decisions
        if ad is None:
            return
        used = {f for u in p.datasets.values() for f in u.fields}
        for name in ad.features:
            if ad.feature_field(name) not in used:
                raise _RefError(("purposes", p_name, "automated_decisions", "features", name),
                                f"decision feature '{name}' comes from field "
                                f"'{ad.feature_field(name)}', which the purpose does not use "
                                "(give 'field:' or add the field to the purpose)")

    def recipients_of(self, purpose_id: str) -> list[tuple[str, Recipient]]:
        """The recipients of a purpose's data, by id: those it lists, then those it transfers
        to without listing them."""
        p = self.purpose(purpose_id)
        ids = list(dict.fromkeys([*p.recipients, *(t.recipient for t in p.transfers)]))
        return [(r, self.recipients[r]) for r in ids]

    def holds_for(self, dataset: str) -> list[tuple[str, LegalHold]]:
        """The legal holds that keep (part of) this dataset, by name."""
        ds = self.datasets[dataset]
        cats = {f.category for f in ds.fields.values()}
        return [(name, h) for name, h in self.legal_holds.items()
                if dataset in h.datasets or cats & set(h.categories)]

    # -- lookups ---------------------------------------------------------------------------
    @property
    def source(self) -> str:
        return self._source

    @property
    def digest(self) -> str:
        """SHA-256 of the policy file's bytes (empty for a policy built in code)."""
        return self._digest

    def category(self, cat_id: str) -> Category:
        if cat_id in BUILTIN_CATEGORIES:
            return BUILTIN_CATEGORIES[cat_id]
        d = self.categories[cat_id]
        return Category(cat_id, d.description, d.personal, d.special, d.criminal, d.financial)

    def locate(self, *path: str | int) -> str:
        """'file:line' of the deepest known prefix of a key path."""
        p = tuple(path)
        while p and p not in self._lines:
            p = p[:-1]
        line = self._lines.get(p)
        return f"{self._source}:{line}" if line else self._source

    def purpose(self, purpose_id: str) -> Purpose:
        """The purpose declared under ``purpose_id``; `UnknownPurposeError` (exit 3) if none."""
        from veil.errors import UnknownPurposeError

        if purpose_id not in self.purposes:
            known = ", ".join(sorted(self.purposes)) or "none"
            raise UnknownPurposeError(f"unknown purpose '{str(purpose_id)[:60]}' "
                                      f"(known: {known})", where=self.source)
        return self.purposes[purpose_id]


class _RefError(ValueError):
    """A cross-reference error that knows the key path it belongs to."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        super().__init__(message)
