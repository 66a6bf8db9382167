"""The model registry: which credit model, which version, trained on what, fit to decide.

A registered model is a name and a version (1, 2, ... per name), the policy purpose whose
``automated_decisions`` it serves, its features (each declared in that section, with the reason
text a person is shown), its threshold and kind, the saved estimator (a joblib pickle in the
workspace, owner-only, its SHA-256 recorded and checked before every load: see
`veil.decisions.model_artifacts`), the runs it was trained on and its model card.

Registration is the gate of AI Act Art. 10 and GDPR Art. 5: the training outputs are checked
(`veil.decisions.training_gate`) and a registration on data that is no longer fit is refused,
unless stale subjects are accepted with a recorded reason. Lineage learns the model as
``<name>.v<k>`` so an erasure finds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.errors import InputError, NotFoundError, PolicyError, RunRefused, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.training_gate import GateResult
    from veil.lineage import OutputRecord
    from veil.policy.model import Policy
    from veil.store.workspace import Workspace

__all__ = ["KINDS", "ModelRegistry", "RegisteredModel"]

KINDS = ("linear", "tree", "external")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$")


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: int
    purpose: str
    features: list[str]
    threshold: float
    kind: str  # "linear" | "tree" | "external"
    artifact: str | None  # the saved estimator, relative to the workspace root
    artifact_sha256: str | None
    trained_on: list[str]  # run ids
    registered_at: datetime
    registered_by: str
    card: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        """``<name>.v<k>``: how lineage and decisions name this version."""
        return f"{self.name}.v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "id": self.id,
                "purpose": self.purpose, "features": list(self.features),
                "threshold": self.threshold, "kind": self.kind, "artifact": self.artifact,
                "artifact_sha256": self.artifact_sha256, "trained_on": list(self.trained_on),
                "registered_at": _iso(self.registered_at), "registered_by": self.registered_by,
                "gate": (self.card.get("training_data_gate") or {}).get("outcome")}


def _iso(t: datetime) -> str:
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _table() -> sa.Table:
    from veil.store.schema import decision_models

    return decision_models


def _model_of(r: Any) -> RegisteredModel:
    return RegisteredModel(
        name=r.name, version=int(r.version), purpose=r.purpose, features=list(r.features),
        threshold=float(r.threshold), kind=r.kind, artifact=r.artifact,
        artifact_sha256=r.artifact_sha256, trained_on=list(r.trained_on),
        registered_at=r.registered_at if r.registered_at.tzinfo
        else r.registered_at.replace(tzinfo=UTC),
        registered_by=r.registered_by, card=dict(r.card or {}))


def infer_kind(estimator: Any) -> str:
    """linear (coefficients), tree (an ensemble or tree of sklearn, LightGBM, XGBoost) or
    external (anything else: reason codes then come from the caller)."""
    if estimator is None:
        return "external"
    steps = getattr(estimator, "steps", None)  # a Pipeline: its final estimator decides
    estimator = steps[-1][1] if steps else estimator
    if hasattr(estimator, "coef_"):
        return "linear"
    if any(hasattr(estimator, a) for a in ("estimators_", "tree_", "get_booster", "booster_")):
        return "tree"
    return "external"


def _check_features(estimator: Any, features: list[str]) -> None:
    if not features:
        raise InputError("a model needs at least one feature", where="model register")
    if len(set(features)) != len(features):
        raise InputError("a feature is listed twice", where="model register")
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != list(features):
        raise InputError("the estimator was fitted on columns "
                         f"{', '.join(map(str, names))}, not the features given "
                         f"({', '.join(features)}) in that order", where="model register")
    n = getattr(estimator, "n_features_in_", None)
    if n is not None and int(n) != len(features):
        raise InputError(f"the estimator takes {n} features, {len(features)} were given",
                         where="model register")


class ModelRegistry:
    """Registered models of a workspace (``decision_models``), checked against a policy."""

    def __init__(self, workspace: Workspace, policy: Policy | None = None) -> None:
        self.workspace = workspace.ready()
        self.engine = workspace.engine
        self.policy = policy

    # -- reading -------------------------------------------------------------------------
    def get(self, name: str, version: int | None = None) -> RegisteredModel:
        """A model by name (latest version) or ``name.v<k>``, or a given version."""
        t = _table()
        if version is None and isinstance(name, str):
            m = re.match(r"^(.*)\.v(\d{1,9})$", name)  # a version fits the column
            if m and not self._exists(name):
                name, version = m.group(1), int(m.group(2))
        q = sa.select(t).where(t.c.name == name)
        q = (q.where(t.c.version == version) if version is not None
             else q.order_by(t.c.version.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            which = f"'{name}'" + (f" version {version}" if version is not None else "")
            raise NotFoundError(f"no registered model {which} (see `veil decisions model list`)",
                                where="model")
        return _model_of(row)

    def _exists(self, name: str) -> bool:
        t = _table()
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.version).where(t.c.name == name)
                                .limit(1)).first() is not None

    def list(self, name: str | None = None, purpose: str | None = None
             ) -> list[RegisteredModel]:
        """Every registered version, by name then version."""
        t = _table()
        q = sa.select(t).order_by(t.c.name, t.c.version)
        if name is not None:
            q = q.where(t.c.name == name)
        if purpose is not None:
            q = q.where(t.c.purpose == purpose)
        with self.engine.connect() as conn:
            return [_model_of(r) for r in conn.execute(q)]

    def load_estimator(self, model: RegisteredModel) -> Any:
        """The saved estimator, unpickled only after its SHA-256 matches the registry's."""
        from veil.decisions.model_artifacts import load_artifact

        if model.artifact is None or model.artifact_sha256 is None:
            raise InputError(f"model {model.id} has no saved estimator (kind "
                             f"{model.kind}: scores come from outside Veil)", where=model.id)
        return load_artifact(self.workspace.root, model.artifact, model.artifact_sha256)

    # -- registering ---------------------------------------------------------------------
    def _policy(self) -> Policy:
        if self.policy is None:
            raise PolicyError("registering a model needs the policy (its purpose's "
                              "automated_decisions)", where="model register")
        return self.policy

    def _decisions_of(self, purpose: str) -> Any:
        pol = self._policy()
        pol.purpose(purpose)  # an unknown purpose: UnknownPurposeError (exit 3)
        ad = getattr(pol.purposes[purpose], "automated_decisions", None)
        if ad is None:
            raise InputError(f"purpose '{purpose}' declares no automated_decisions: a decision "
                             "model needs one (Art. 22 GDPR)",
                             where=pol.locate("purposes", purpose))
        return ad

    def _check_input(self, name: str, purpose: str, features: list[str], threshold: float,
                     kind: str, estimator: Any) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError(f"model name {name!r} is not a name (a letter, then letters, "
                             "digits, _ or -; at most 100)", where="model register")
        ad = self._decisions_of(purpose)
        for f in features:
            if f not in ad.features:
                raise InputError(f"feature '{f}' is not declared in purpose '{purpose}' "
                                 "automated_decisions.features (it needs a reason text)",
                                 where=self._policy().locate("purposes", purpose,
                                                             "automated_decisions"))
        if not isinstance(threshold, int | float) or not -1e12 < float(threshold) < 1e12:
            raise InputError("the threshold is not a finite number", where="model register")
        if kind not in KINDS:
            raise InputError(f"kind '{kind}' is not one of {', '.join(KINDS)}",
                             where="model register")
        if estimator is not None:
            _check_features(estimator, features)

    def _next_version(self, name: str) -> int:
        t = _table()
        with self.engine.connect() as conn:
            v = conn.execute(sa.select(sa.func.max(t.c.version)).where(t.c.name == name)
                             ).scalar()
        return int(v or 0) + 1

    def check_training_data(self, purpose: str, trained_on: list[str],
                            at: datetime | None = None) -> tuple[GateResult, list[OutputRecord]]:
        """The training-data gate's result for these outputs (run ids or paths), without
        registering anything."""
        from veil.decisions.stale_training import stale_counts
        from veil.decisions.training_gate import check_training_data
        from veil.lineage import Lineage

        self._decisions_of(purpose)
        if not trained_on:
            raise InputError("--trained-on needs at least one run (a run id or output path)",
                             where="model register")
        lin = Lineage(self.workspace)
        outs = [lin.output(r) for r in trained_on]
        outs = list({o.run_id: o for o in outs}.values())
        gate = check_training_data(self.workspace, self._policy(), purpose, outs,
                                   stale_of=lambda rid: stale_counts(self.workspace, rid), at=at)
        return gate, outs

    def register(self, name: str, *, purpose: str, features: list[str], trained_on: list[str],
                 threshold: float = 0.5, estimator: Any = None, kind: str | None = None,
                 metrics: dict[str, Any] | None = None, holdout: tuple[Any, Any] | None = None,
                 protected: Any = None, fairness: dict[str, Any] | None = None,
                 accept_stale: bool = False,
                 reason: str | None = None, actor: str | None = None,
                 description: str | None = None) -> RegisteredModel:
        """Check the training data, save the estimator, write the model card, record the
        version (next for ``name``) and tell lineage. Refused (RunRefused, nothing stored) when
        the gate fails; stale subjects alone may be accepted with ``accept_stale`` and a
        ``reason`` (recorded on the card and in the audit event).

        ``holdout`` (X, y) gives the card AUC, accuracy and Brier score; with ``protected`` (a
        table of the policy's protected attributes, one row per holdout row, in the same order)
        the card also gets a fairness report of the holdout's decisions (score >= threshold is
        an approval; y = 1 the favourable outcome). ``fairness`` is a report made elsewhere."""
        from veil._actor import default_actor
        from veil.decisions.model_metrics import clean_metrics, holdout_metrics

        actor = default_actor(actor)
        features = [str(f) for f in features]
        kind = kind or infer_kind(estimator)
        self._check_input(name, purpose, features, threshold, kind, estimator)
        if accept_stale and not (reason or "").strip():
            raise InputError("--accept-stale needs --reason TEXT (it is recorded)",
                             where="model register")
        gate, outs = self.check_training_data(purpose, trained_on)
        if gate.stale_count and accept_stale and not gate.problems:
            from dataclasses import replace

            gate = replace(gate, accepted_stale=True, reason=reason.strip() if reason else None)
        if gate.outcome == "refused":
            self._audit_refusal(name, purpose, gate, outs, actor)
            raise RunRefused(gate.refusal(), where=f"model {name}")
        mets = clean_metrics(metrics)
        if holdout is not None:
            if estimator is None:
                raise InputError("a holdout needs the estimator", where="model register")
            mets.update(holdout_metrics(estimator, holdout[0], holdout[1], float(threshold)))
        if protected is not None:
            if holdout is None or estimator is None:
                raise InputError("protected attributes need the estimator and a holdout",
                                 where="model register")
            from veil.decisions.model_fairness import holdout_fairness

            fairness = holdout_fairness(self._policy(), purpose, estimator, holdout,
                                        protected, float(threshold))
        return self._store(name, purpose, features, float(threshold), kind, estimator, gate,
                           outs, mets, fairness, actor, description)

    def _store(self, name: str, purpose: str, features: list[str], threshold: float, kind: str,
               estimator: Any, gate: GateResult, outs: list[OutputRecord],
               metrics: dict[str, Any], fairness: dict[str, Any] | None, actor: str,
               description: str | None) -> RegisteredModel:
        from veil.decisions.model_artifacts import remove_artifact, save_estimator
        from veil.decisions.model_card import build_card
        from veil.lineage import Lineage

        version = self._next_version(name)
        now = datetime.now(UTC)
        rel = sha = None
        if estimator is not None:
            rel, sha = save_estimator(self.workspace.root, name, version, estimator)
        info = {"name": name, "version": version, "id": f"{name}.v{version}", "kind": kind,
                "threshold": threshold, "artifact": rel, "artifact_sha256": sha,
                "estimator": type(estimator).__name__ if estimator is not None else None,
                "registered_at": _iso(now), "registered_by": actor, "description": description}
        card = build_card(policy=self._policy(), model=info, purpose_id=purpose,
                          features=features, gate=gate, metrics=metrics, fairness=fairness)
        model = RegisteredModel(name, version, purpose, features, threshold, kind, rel, sha,
                                [o.run_id for o in outs], now, actor, card)
        t = _table()
        try:
            with self.engine.begin() as conn:
                conn.execute(t.insert().values(
                    name=name, version=version, purpose=purpose, features=features,
                    threshold=threshold, kind=kind, artifact=rel, artifact_sha256=sha,
                    trained_on=model.trained_on, registered_at=now, registered_by=actor,
                    gate=gate.to_dict(), card=card))
        except sa.exc.IntegrityError:
            if rel:
                remove_artifact(self.workspace.root, rel)
            raise InputError(f"model {model.id} was registered at the same time by someone "
                             "else: register again", where="model register") from None
        try:
            Lineage(self.workspace).register_model(
                model.id, model.trained_on, actor=actor, description=description,
                accept_stale=gate.accepted_stale, reason=gate.reason)
        except Exception:
            with self.engine.begin() as conn:
                conn.execute(t.delete().where(t.c.name == name, t.c.version == version))
            if rel:
                remove_artifact(self.workspace.root, rel)
            raise
        self._write_card_files(model)
        self._audit(model, gate, outs)
        return model

    def _write_card_files(self, model: RegisteredModel) -> None:
        from veil.decisions.model_card import card_json, card_markdown
        from veil.io.writers import atomic_write_bytes

        folder = self.workspace.root / "models"
        folder.mkdir(mode=0o700, exist_ok=True)
        for suffix, text in ((".card.json", card_json(model.card)),
                             (".card.md", card_markdown(model.card))):
            path = folder / f"{model.id}{suffix}"
            path.unlink(missing_ok=True)
            atomic_write_bytes(path, text.encode())

    # -- audit ---------------------------------------------------------------------------
    def _event(self, action: str, outcome: str, purpose: str, gate: GateResult,
               outs: list[OutputRecord], actor: str, details: dict[str, Any],
               digests: dict[str, str] | None = None) -> None:
        from veil.audit.event import AuditEvent
        from veil.audit.log import AuditLog

        cats = sorted({c for o in outs for c in o.categories})
        d = {f"output:{o.run_id}": f"sha256:{o.digest}" for o in outs}
        d.update(digests or {})
        AuditLog(self.workspace).append([AuditEvent(
            time=datetime.now(UTC), actor=actor, action=action, purpose=purpose,
            legal_basis="Art. 5(2) GDPR accountability; AI Act Art. 10, 11", outcome=outcome,
            data_categories=cats,
            counts={"runs": len(outs), "subjects": sum(o.subject_count for o in outs),
                    "stale_subjects": gate.stale_count, "problems": len(gate.problems)},
            digests=d, details=details)])

    def _audit(self, model: RegisteredModel, gate: GateResult, outs: list[OutputRecord]) -> None:
        details: dict[str, Any] = {"model": model.id, "kind": model.kind,
                                   "threshold": model.threshold, "gate": gate.outcome,
                                   "features": len(model.features)}
        if gate.accepted_stale:
            details["accepted_stale_reason"] = gate.reason
        dig = {"artifact": f"sha256:{model.artifact_sha256}"} if model.artifact_sha256 else {}
        self._event("decisions.model.register", "success", model.purpose, gate, outs,
                    model.registered_by, details, dig)

    def _audit_refusal(self, name: str, purpose: str, gate: GateResult,
                       outs: list[OutputRecord], actor: str) -> None:
        try:
            self._event("decisions.model.register", "refused", purpose, gate, outs, actor,
                        {"model": name, "gate": gate.outcome})
        except StoreError:  # the refusal stands even if its record cannot be written
            pass
