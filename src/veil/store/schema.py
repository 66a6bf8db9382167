"""The one SQLAlchemy metadata of Veil's store. Alembic migrations create it; a test checks
that the migrations and this metadata agree."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:  # module attributes made on first use (`__getattr__`)
    metadata: sa.MetaData
    decisions: sa.Table

metadata = _metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),  # running | succeeded | failed
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("dataset", sa.String(128), nullable=False),
    sa.Column("policy_path", sa.Text, nullable=False),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("input_ref", sa.Text, nullable=False),
    sa.Column("input_digest", sa.String(64)),
    sa.Column("output_ref", sa.Text, nullable=False),
    sa.Column("output_digest", sa.String(64)),
    sa.Column("rows_in", sa.BigInteger),
    sa.Column("rows_out", sa.BigInteger),
    sa.Column("receipt", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Index("ix_runs_started_at", "started_at"),
)


# -- audit log (issue 8: tamper-evident audit trail; see veil.audit.log) --------------------------
# Leaf and node indexes are INTEGER on SQLite so that audit_leaves.idx is the rowid (faster
# appends, no second index); BIGINT elsewhere. Times are the events' canonical RFC 3339 strings
# (fixed width, so they sort as they compare).
_AUDIT_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_state = sa.Table(
    "audit_state",  # one row (id = 1): the log's size and root, origin and public key; the lock row
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("origin", sa.String(255)),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("public_key", sa.Text),
    sa.Column("key_id", sa.String(8)),
)

audit_leaves = sa.Table(
    "audit_leaves",  # one row per event: its canonical bytes, leaf hash and filter columns
    metadata,
    sa.Column("idx", _AUDIT_INT, primary_key=True, autoincrement=False),
    sa.Column("event", sa.LargeBinary, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
    sa.Column("time", sa.String(27), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Index("ix_audit_leaves_time", "time"),
    sa.Index("ix_audit_leaves_action", "action"),
    # No index on purpose or actor: low-cardinality indexes cost ~40% of append speed; those
    # filters scan (narrowed by the time index when a range is given).
)

audit_nodes = sa.Table(
    "audit_nodes",  # one row per perfect subtree (level 0 = leaf hashes); written once
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

audit_heads = sa.Table(
    "audit_heads",  # signed tree heads (C2SP signed notes), one per tree size
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("timestamp", sa.String(27), nullable=False),
    sa.Column("key_id", sa.String(8), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

audit_outbox = sa.Table(
    "audit_outbox",  # events still to forward to a sink (deleted once delivered)
    metadata,
    sa.Column("id", _AUDIT_INT, primary_key=True, autoincrement=True),
    sa.Column("sink", sa.String(64), nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt", sa.String(27), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("sink", "idx", name="uq_audit_outbox_sink_idx"),
    sa.Index("ix_audit_outbox_due", "sink", "next_attempt"),
)

# -- audit witnesses (issue 17: checkpoints published outside the workspace; veil.audit) ---------

audit_checkpoints = sa.Table(
    "audit_checkpoints",  # per witness of this log: the latest head not yet published to it
    metadata,
    sa.Column("witness", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),  # the head it should hold
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("since", sa.String(27), nullable=False),  # first failed attempt
    sa.Column("last_error", sa.Text),
)

audit_witnessed = sa.Table(
    "audit_witnessed",  # this workspace as a witness: per log origin, the key pinned on first
    metadata,           # sight and the latest checkpoint it checked and co-signed
    sa.Column("origin", sa.String(255), primary_key=True),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(8), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("note", sa.Text, nullable=False),  # the checkpoint with this witness's cosignature
    sa.Column("updated", sa.String(27), nullable=False),
)


# -- consent ledger (issue 6: append-only consent events, derived state, notices; veil.consent) ---
# Times are integer microseconds since the Unix epoch, UTC ("_us"): exact, totally ordered, and
# loaded straight into numpy for the bulk check. Events are never updated or deleted; the state
# table holds, per (purpose, subject), what the last event in time order left, and is written in
# the same transaction as the events.
_CONSENT_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

consent_notices = sa.Table(
    "consent_notices",  # versioned notice texts per purpose; seq orders the versions
    metadata,
    sa.Column("purpose", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("effective_us", sa.BigInteger, nullable=False),
    sa.Column("reconsent", sa.Boolean, nullable=False),  # earlier versions' consents lapse
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.UniqueConstraint("purpose", "seq", name="uq_consent_notices_purpose_seq"),
)

consent_events = sa.Table(
    "consent_events",  # append-only: granted | renewed | withdrawn | expired
    metadata,
    sa.Column("seq", _CONSENT_INT, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(256), nullable=False),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("time_us", sa.BigInteger, nullable=False),
    sa.Column("recorded_us", sa.BigInteger, nullable=False),
    sa.Column("notice_version", sa.String(64)),
    sa.Column("notice_seq", sa.Integer),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("action", sa.Text),
    sa.Column("evidence", sa.String(71)),
    sa.Column("collector", sa.String(128), nullable=False),
    sa.Column("expires_us", sa.BigInteger),
    sa.Column("age", sa.SmallInteger),
    sa.Column("minor", sa.Boolean),
    sa.Column("guardian", sa.String(256)),
    sa.Column("source", sa.Text),
    sa.UniqueConstraint("event_id", name="uq_consent_events_event_id"),
    sa.Index("ix_consent_events_key_time", "purpose", "subject", "time_us", "seq"),
    sa.Index("ix_consent_events_subject", "subject", "time_us"),
)

consent_state = sa.Table(
    "consent_state",  # per (purpose, subject): the state the last event left
    metadata,
    sa.Column("purpose", sa.String(128), primary_key=True),
    sa.Column("subject", sa.String(256), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # granted | withdrawn | expired
    sa.Column("time_us", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("expires_us", sa.BigInteger),
    sa.Column("notice_version", sa.String(64)),
    sa.Column("notice_seq", sa.Integer),
    sa.Column("minor", sa.Boolean),
    # consents lapsing soon (the DPO's Today page, issue 20): a range read, not a full scan
    sa.Index("ix_consent_state_expiry", "status", "expires_us"),
    sqlite_with_rowid=False,
)


# -- keys (issue 7: key hierarchy and crypto-shredding; see veil.keys.manager / keystore) ------
# Secrets are stored only wrapped under the KEK; key_events never hold key material.
_KEYS_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

keysets = sa.Table(
    "keysets",  # one row per named Tink keyset, wrapped under the KEK (EncryptedKeyset)
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # streaming | aead | daead
    sa.Column("purpose", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ENABLED | DISABLED | DESTROYED
    sa.Column("encrypted_keyset", sa.LargeBinary),  # NULL once destroyed
    sa.Column("kek_id", sa.String(128)),
    sa.Column("primary_key_id", sa.BigInteger),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

key_events = sa.Table(
    "key_events",  # every key operation: who, what, which keyset/key/KEK (no secrets)
    metadata,
    sa.Column("id", _KEYS_INT, primary_key=True, autoincrement=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("op", sa.String(32), nullable=False),
    sa.Column("keyset", sa.String(128)),
    sa.Column("key_id", sa.BigInteger),
    sa.Column("kek_id", sa.String(128)),
    sa.Column("detail", sa.Text),  # JSON
    sa.Index("ix_key_events_time", "time"),
    sa.Index("ix_key_events_keyset", "keyset"),
)

subject_keys = sa.Table(
    "subject_keys",  # one random key per data subject (pseudonym), wrapped; NULL once erased
    metadata,
    sa.Column("subject", sa.String(255), primary_key=True),
    sa.Column("wrapped_key", sa.LargeBinary),
    sa.Column("kek_id", sa.String(128)),  # set only for a key wrapped directly under the KEK
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("erased_at", sa.DateTime(timezone=True)),
    sa.Column("epoch", sa.Integer),  # the key epoch wrapping it (NULL: directly under the KEK)
    sa.Index("ix_subject_keys_erased_at", "erased_at"),
    sa.Index("ix_subject_keys_epoch", "epoch"),
)

# -- key epochs (issue 17: subject keys wrapped under a rotating epoch key; veil.keys.epochs) ---
# The epoch keys themselves are NOT in the database: each is sealed under the KEK in
# keys/epochs/epoch-<id>.sealed, so a database backup alone never holds them.
key_epochs = sa.Table(
    "key_epochs",  # one row per epoch: its dates and a check value of its key (no key material)
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retired_at", sa.DateTime(timezone=True)),  # NULL: the current epoch
    sa.Column("destroyed_at", sa.DateTime(timezone=True)),  # its key file deleted
    sa.Column("key_check", sa.String(64), nullable=False),  # HMAC(key, label): which key it is
)


# -- lineage and data-subject requests (issue 9: veil.lineage, veil.rights) ----------------------
# Subjects appear only as keyed pseudonyms (HMAC-SHA256 hex of the subject id under the workspace's
# subject-reference key, veil.consent.models.SubjectRef); lineage keeps per output its sorted
# 16-byte pseudonym prefixes in up to 4096 bucket blobs (first 12 bits), not one row per subject.
lineage_outputs = sa.Table(
    "lineage_outputs",  # one row per published run output: what it holds and whose data
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("output_ref", sa.Text, nullable=False),
    sa.Column("output_digest", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("dataset", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("subject_count", sa.BigInteger, nullable=False),
    sa.Column("categories", sa.Text, nullable=False),  # JSON list of the kept fields' categories
    sa.Column("replaced_by", sa.String(32)),  # the run that overwrote this output (issue 25)
    sa.Index("ix_lineage_outputs_created_at", "created_at"),
)

lineage_subjects = sa.Table(
    "lineage_subjects",  # an output's pseudonym prefixes, split in 4096 buckets by their first
    metadata,  # 12 bits: a subject lookup reads one small blob per output, not the whole set
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("subjects", sa.LargeBinary, nullable=False),  # sorted 16-byte pseudonym prefixes
    sa.Index("ix_lineage_subjects_bucket", "bucket"),
)

lineage_models = sa.Table(
    "lineage_models",  # models trained on run outputs (registered by users)
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("description", sa.Text),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("registered_by", sa.String(128), nullable=False),
)

lineage_model_runs = sa.Table(
    "lineage_model_runs",  # model -> the run outputs it was trained on
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Index("ix_lineage_model_runs_run_id", "run_id"),
)

dsr_requests = sa.Table(
    "dsr_requests",  # data-subject requests (Art. 15-21); the subject id only AEAD-encrypted
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False),  # pseudonym (hex)
    sa.Column("sealed", sa.LargeBinary),  # AEAD(subject id + details); NULL once erased
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("extended_months", sa.Integer, nullable=False),
    sa.Column("extension_reason", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("verification", sa.Text),
    sa.Column("purposes", sa.Text),  # JSON list or NULL (all that apply)
    sa.Column("policy_path", sa.Text, nullable=False),
    sa.Column("opened_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("close_note", sa.Text),
    sa.Column("result", sa.JSON),  # the answer: no personal data
    sa.Column("error", sa.Text),
    sa.Column("lease_owner", sa.String(64)),  # the run holding the request (status running)
    sa.Column("running_since", sa.DateTime(timezone=True)),  # lease start (taken over if old)
    sa.Column("hold_until", sa.DateTime(timezone=True)),  # erasure kept open by a legal hold
    sa.Index("ix_dsr_requests_due_at", "status", "due_at"),
    sa.Index("ix_dsr_requests_subject", "subject"),
)

dsr_steps = sa.Table(
    "dsr_steps",  # each step of a request's run, recorded once done (reruns skip done steps)
    metadata,
    sa.Column("request_id", sa.String(16), primary_key=True),
    sa.Column("step", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # started | done | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", sa.JSON),
)

rights_exclusions = sa.Table(
    "rights_exclusions",  # subjects left out of runs: erased, restricted (Art. 18), objected
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),  # pseudonym (hex)
    sa.Column("reason", sa.String(16), primary_key=True),  # erased | restricted | objected
    sa.Column("purpose", sa.String(128), primary_key=True),  # a purpose id, or '*' for all
    sa.Column("request_id", sa.String(16), primary_key=True),  # each request lifts its own
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lifted_at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.Text),
    sa.Index("ix_rights_exclusions_active", "lifted_at", "purpose"),
)
# (end of issue 9 tables)


# -- breaches (issue 10: veil.breach) -------------------------------------------------------------
# Times are aware UTC datetimes. A breach row holds its facts; what was exposed, who was notified
# and every step taken are rows of their own, so the Art. 33(5) register is a join, not a blob.
_BREACH_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

breaches = sa.Table(
    "breaches",  # one row per breach (shown as BR-0001); version guards concurrent updates
    metadata,
    sa.Column("id", _BREACH_INT, primary_key=True, autoincrement=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | closed
    sa.Column("nature", sa.JSON, nullable=False),  # confidentiality, integrity, availability
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("occurred_until", sa.DateTime(timezone=True)),
    sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("circumstances", sa.JSON, nullable=False),  # recipients, malicious, recoverable
    sa.Column("consequences", sa.JSON, nullable=False),  # likely consequences (text list)
    sa.Column("measures", sa.JSON, nullable=False),  # measures taken or proposed (text list)
    sa.Column("controller", sa.JSON),  # snapshot: name, contact, DPO, authority, timezone
    sa.Column("timezone", sa.String(64)),  # IANA zone times are shown in (--tz, else policy)
    sa.Column("scope", sa.JSON),  # evidence-based scope (counts, categories, flags; no ids)
    sa.Column("assessment", sa.JSON),  # the latest risk assessment, every factor recorded
    sa.Column("decision", sa.String(32)),  # none | authority | authority_and_subjects
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("close_reason", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_breaches_status", "status"),
)

breach_items = sa.Table(
    "breach_items",  # what was exposed: an output (run), a dataset, a keyset, a window, other
    metadata,
    sa.Column("breach_id", _BREACH_INT, sa.ForeignKey("breaches.id"), primary_key=True,
              autoincrement=False),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(32)),
    sa.Column("encrypted", sa.Boolean),
    sa.Column("keyset", sa.String(128)),
    sa.Column("key_exposed", sa.Boolean),  # as declared by the DPO (evidence is in `detail`)
    sa.Column("detail", sa.JSON, nullable=False),
)

breach_subjects = sa.Table(
    "breach_subjects",  # the subject pseudonyms in scope (from lineage), for Art. 34 notices
    metadata,
    sa.Column("breach_id", _BREACH_INT, sa.ForeignKey("breaches.id"), primary_key=True,
              autoincrement=False),
    sa.Column("subject", sa.String(255), primary_key=True),
    sqlite_with_rowid=False,
)

breach_notifications = sa.Table(
    "breach_notifications",  # authority (initial / follow-up / final), subjects, public
    metadata,
    sa.Column("id", _BREACH_INT, primary_key=True, autoincrement=True),
    sa.Column("breach_id", _BREACH_INT, sa.ForeignKey("breaches.id"), nullable=False),
    sa.Column("recipient", sa.String(16), nullable=False),  # authority | subjects | public
    sa.Column("phase", sa.String(16), nullable=False),  # initial | follow_up | final | single
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("delay_reason", sa.Text),
    sa.Column("reference", sa.Text),  # the authority's case number, the mailing id, ...
    sa.Column("channel", sa.Text),
    sa.Column("content_sha256", sa.String(64)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_by", sa.String(128), nullable=False),
    sa.Index("ix_breach_notifications_breach_id", "breach_id"),
)

breach_steps = sa.Table(
    "breach_steps",  # every step taken on a breach, in order (mirrors its audit events)
    metadata,
    sa.Column("id", _BREACH_INT, primary_key=True, autoincrement=True),
    sa.Column("breach_id", _BREACH_INT, sa.ForeignKey("breaches.id"), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Index("ix_breach_steps_breach_id", "breach_id"),
)
# (end of issue 10 tables)


# -- API keys of the service (issue 11: veil.service) --------------------------------------------
# Times are integer microseconds since the Unix epoch, UTC ("_us"), as in the consent ledger.
# Secrets are never stored: only HMAC-SHA256(pepper, id:secret) (see veil.service.apikeys).

api_keys = sa.Table(
    "api_keys",  # one row per API key of the service; revoked keys stay (who, when)
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # dpo | engineer | service | auditor
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("expires_us", sa.BigInteger),
    sa.Column("revoked_us", sa.BigInteger),
    sa.Column("revoked_by", sa.String(128)),
    sa.Column("last_used_us", sa.BigInteger),
)

api_tokens = sa.Table(
    "api_tokens",  # short-lived bearer tokens issued for a key (POST /v1/auth/token)
    metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("key_id", sa.String(16), sa.ForeignKey("api_keys.key_id"), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Index("ix_api_tokens_key_id", "key_id"),
    sa.Index("ix_api_tokens_expires_us", "expires_us"),
)
# (end of issue 11 tables)

# -- the DPO's web pages (issue 20: veil.ui.sessions) -----------------------------------------
# A browser session is a row keyed by the SHA-256 of its cookie's random id (a copy of the
# database gives no usable cookie); its CSRF token is random too. A session from an API key dies
# with the key (the lookup joins api_keys). A one-time login link (``veil ui``) is a row keyed by
# the SHA-256 of its token, spent by one UPDATE.
ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("sid_hash", sa.String(64), primary_key=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_id", sa.String(16)),  # NULL: logged in by a one-time link
    sa.Column("via", sa.String(16), nullable=False),  # api-key | link
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("seen_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Index("ix_ui_sessions_expires_us", "expires_us"),
)
ui_links = sa.Table(
    "ui_links",
    metadata,
    sa.Column("link_hash", sa.String(64), primary_key=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    sa.Column("used_us", sa.BigInteger),
)
# (end of issue 20 tables)


# -- decision ledger (issue 19: veil.decisions.ledger) -------------------------------------------
# Append-only: a decision row is never updated or deleted. Contests, reviews and observed
# outcomes are rows of decision_events; a human decision that replaces an automated one is a new
# decisions row with final_of set. The subject is a keyed pseudonym; the inputs (and a contest's
# statement, a review's rationale) are encrypted under the subject's own key, so erasure shreds
# them while the record, which holds no personal data, stays.
# `decisions`: defined by `_decisions` on first use (see `__getattr__` at the end).

decision_events = sa.Table(
    "decision_events",  # contests, reviews and observed outcomes of decisions (append-only)
    metadata,
    sa.Column("id", _KEYS_INT, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # contest | review | actual
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("due", sa.DateTime(timezone=True)),  # a contest's review due date
    sa.Column("outcome", sa.String(64)),  # a review's outcome; the observed actual (0/1)
    sa.Column("final_id", sa.String(32)),  # a review's final decision row
    sa.Column("text", sa.LargeBinary),  # statement / rationale, under the subject's key
    sa.Index("ix_decision_events_decision_id", "decision_id"),
    sa.Index("ix_decision_events_kind", "kind", "decision_id"),  # contests, reviews (0017)
)

decision_sessions = sa.Table(
    "decision_sessions",  # each batch or online scoring session: the period of use (AI Act 12)
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # batch | online
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("decisions", sa.BigInteger, nullable=False),
    sa.Column("skipped", sa.BigInteger, nullable=False),  # objecting subjects refused
    sa.Column("by", sa.String(128), nullable=False),
)
# (end of issue 19 decision ledger tables)


# -- model registry (issue 19: veil.decisions.registry) ------------------------------------------
# One row per registered model version; the estimator itself is a file in the workspace whose
# sha256 is kept here and checked before it is loaded. `gate` is the training-data check's result
# (consent, stale subjects, risk figures, an accepted-stale reason); `card` the model card (JSON).
decision_models = sa.Table(
    "decision_models",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # linear | tree | external
    sa.Column("artifact", sa.Text),  # path relative to the workspace root
    sa.Column("artifact_sha256", sa.String(64)),
    sa.Column("trained_on", sa.JSON, nullable=False),  # run ids
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("registered_by", sa.String(128), nullable=False),
    sa.Column("gate", sa.JSON, nullable=False),
    sa.Column("card", sa.JSON, nullable=False),
    sa.Index("ix_decision_models_purpose", "purpose"),
)
# (end of issue 19 model registry tables)


# -- propagation and recipients (issue 18: veil.lineage marks, veil.lifecycle) -------------------
# Subjects by pseudonym only; a notice's subject id (the recipient needs it) is AEAD-sealed under
# the workspace's ``recipient-notices`` keyset, and only a hash of its acknowledgement token kept.
lineage_marks = sa.Table(
    "lineage_marks",  # an output or model holds a subject who was erased, withdrew, objected or
    metadata,         # was restricted; what was done about it (flag, purge, rebuild, retrain)
    sa.Column("kind", sa.String(8), primary_key=True),  # output | model
    sa.Column("target", sa.String(128), primary_key=True),  # run id or model name
    sa.Column("subject", sa.String(64), primary_key=True),  # pseudonym (hex)
    sa.Column("reason", sa.String(16), primary_key=True),  # erased|withdrawn|objected|restricted
    sa.Column("source", sa.String(160), nullable=False),  # request id, or consent:<purpose>
    sa.Column("action", sa.String(16), nullable=False),  # flag | purge | rebuild | retrain
    sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),  # purged or rebuilt without them
    sa.Column("note", sa.Text),
    sa.Index("ix_lineage_marks_target", "kind", "target"),
)

lineage_stale_accepts = sa.Table(
    "lineage_stale_accepts",  # a model registered on stale training data anyway: why, by whom
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("stale", sa.JSON, nullable=False),  # the stale counts per run at registration
    sa.Column("accepted_by", sa.String(128), nullable=False),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
)

recipient_notices = sa.Table(
    "recipient_notices",  # the Art. 19 outbox: one notice per (request, recipient)
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("recipient", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # rectification | erasure | restriction
    sa.Column("subject", sa.String(64), nullable=False),  # pseudonym (hex)
    sa.Column("purposes", sa.JSON, nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),  # webhook | email | manual
    sa.Column("sealed", sa.LargeBinary),  # AEAD(payload with the subject id and ack token)
    sa.Column("token_hash", sa.String(64), nullable=False),  # sha256 of the ack token
    sa.Column("status", sa.String(16), nullable=False),  # pending|sent|acknowledged|failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    sa.Column("acknowledged_by", sa.String(128)),
    sa.UniqueConstraint("request_id", "recipient", name="uq_recipient_notices_request_id"),
    sa.Index("ix_recipient_notices_due", "status", "next_attempt"),
)
# (end of issue 18 propagation tables)


# -- retention (issue 18: veil.lifecycle.retention_*) ------------------------------------------
# One row per published run output: its expiry (run start + the purpose's retention, calendar
# months), the keyset that alone encrypts it (crypto-shredding per output), a legal hold, and the
# disposal's progress. A disposal moves intent -> file_deleted -> key_destroyed -> done, each
# step recorded before the next starts, so a sweep killed at any point is re-run to completion.
retention_outputs = sa.Table(
    "retention_outputs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("output_ref", sa.Text, nullable=False),
    sa.Column("output_digest", sa.String(64)),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("retention", sa.String(64), nullable=False),  # the rule, as the policy wrote it
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("keyset", sa.String(128)),  # the keyset that encrypts it (NULL: written in clear)
    sa.Column("own_key", sa.Boolean, nullable=False),  # the keyset is this output's alone
    sa.Column("hold_reason", sa.Text),  # a legal hold (NULL: none)
    sa.Column("held_at", sa.DateTime(timezone=True)),
    sa.Column("held_by", sa.String(128)),
    sa.Column("state", sa.String(16), nullable=False),  # live | intent | file_deleted
    #                                                     | key_destroyed | done
    sa.Column("disposal_reason", sa.Text),
    sa.Column("disposal_actor", sa.String(128)),
    sa.Column("disposal_started_at", sa.DateTime(timezone=True)),
    sa.Column("disposed_at", sa.DateTime(timezone=True)),
    sa.Column("certificate", sa.Text),  # path of the disposal certificate (JSON)
    sa.Column("replaced_by", sa.String(32)),  # the run that overwrote the file (issue 25): a
    #                                           disposal then leaves the path's file alone
    sa.Index("ix_retention_outputs_expires_at", "state", "expires_at"),
)
# (end of issue 18 retention tables)


# -- run leases (issue 25: veil.pipeline.lease, veil.pipeline.recovery) -------------------------
# One row per run in progress, keyed by its output path: a second run to the same path finds the
# row and is refused. The holder (host, pid, process start) and a heartbeat tell whether it
# still lives; ``files`` lists its temporary files and, once the run is committed, the renames
# that publish it (so a run killed at any point is rolled back or finished by the next command).
run_leases = sa.Table(
    "run_leases",
    metadata,
    sa.Column("output_key", sa.String(64), primary_key=True),  # sha256 of the resolved path
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("output_ref", sa.Text, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("proc_start", sa.BigInteger),  # the holder's start (Linux clock ticks): pid reuse
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),  # writing | publishing
    sa.Column("files", sa.JSON, nullable=False),  # {"temp": [...], "moves": [[tmp, final]]}
    sa.UniqueConstraint("run_id"),
)
# (end of issue 25 tables)


def _decisions() -> sa.Table:
    """The decisions table, defined on first use: its partial index names a PostgreSQL option,
    and SQLAlchemy validates that by importing its PostgreSQL dialect (about 0.05 s of CPU that
    a run on SQLite, or any command that never touches decisions, need not pay)."""
    return sa.Table(
        "decisions",
        _metadata,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),  # pseudonym (hex)
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),  # JSON [{feature, contribution}]
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("final_of", sa.String(32)),  # the automated decision a human one replaces
        sa.Column("review", sa.String(16)),  # routed to review: refusal | near_threshold
        sa.Column("review_due", sa.DateTime(timezone=True)),
        sa.Column("session", sa.String(32)),  # the batch or online session (period of use)
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inputs", sa.LargeBinary),  # features, AES-GCM under the subject's key
        # The pseudonym's first 8 bytes as a signed integer: the index a person's decisions are
        # found by (access) is a fifth the size of one on the 64-digit pseudonym. Queries match
        # both columns. Only the indexes a query uses: by id, by person, by time (a random index
        # is a cache miss per row once the table is large; decisions.ids are time-ordered).
        sa.Column("subject8", sa.BigInteger, nullable=False),
        sa.Index("ix_decisions_subject8", "subject8"),
        sa.Index("ix_decisions_decided_at", "decided_at"),
        # the review queue (migration 0017): only the automated decisions routed to a person,
        # covering (the queue is counted from the index alone)
        sa.Index("ix_decisions_review_due", "review_due", "id", "review", "final_of",
                 sqlite_where=sa.text("review IS NOT NULL AND final_of IS NULL"),
                 postgresql_where=sa.text("review IS NOT NULL AND final_of IS NULL")),
    )


del metadata  # given out by `__getattr__` once complete (with `decisions`)
_complete = threading.Lock()


def __getattr__(name: str) -> Any:
    """``metadata`` and ``decisions``: the table is added to the metadata on first use."""
    if name not in ("metadata", "decisions"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _complete:
        if "decisions" not in globals():
            globals()["decisions"] = _decisions()
            globals()["metadata"] = _metadata
    return globals()[name]
