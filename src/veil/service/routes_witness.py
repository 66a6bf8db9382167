"""This service as a witness of other Veil logs: it checks their checkpoints and co-signs them.

``POST /v1/witness/{origin}`` takes a checkpoint of the log ``origin`` with the log's public key
and a consistency proof from the size this witness last accepted; the witness
(:class:`veil.audit.witness.Witness`) checks the signature against the key it pinned on first
sight and the consistency, co-signs, stores and answers the co-signed checkpoint, or refuses a
fork, a rollback or another key with 409. ``GET`` answers the latest co-signed checkpoint, which
the log's ``veil audit verify --witness`` checks itself against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from veil.service.auth import perm
from veil.service.deps import ERRORS, service_of
from veil.service.models import WholeNumber

if TYPE_CHECKING:  # pragma: no cover
    from veil.audit.witness import Witness, WitnessedHead

router = APIRouter(prefix="/v1", responses=ERRORS)

Origin = Annotated[str, PathParam(min_length=1, max_length=255,
                                  pattern=r"^[\x21-\x2a\x2c-\x7e]+$",
                                  description="The log's origin (its name in checkpoints)")]


class WitnessIn(BaseModel):
    """A checkpoint to witness."""

    model_config = ConfigDict(extra="forbid", strict=True)
    checkpoint: str = Field(max_length=4000, pattern=r"\n$",
                            description="The log's signed note (C2SP checkpoint: text ending "
                            "with a newline)")
    public_key: str = Field(max_length=1000, description="PEM of the log's Ed25519 public key "
                            "(pinned the first time this witness sees the origin)")
    old_size: Annotated[int, Field(
        ge=0, le=2**63 - 1,
        description="The size this witness holds for the log, as the publisher read it (0: none)"),
        WholeNumber]
    consistency: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, max_length=128,
        description="RFC 6962 consistency proof from old_size to the checkpoint's size (hex)")


class WitnessOut(BaseModel):
    """The latest checkpoint this witness co-signed for a log."""

    origin: str
    size: int
    root: str = Field(description="hex")
    key_id: str = Field(description="The log's key id pinned by this witness")
    witness: str = Field(description="The witness's name in its cosignature lines")
    witness_key: str = Field(description="PEM of the witness's Ed25519 public key")
    checkpoint: str = Field(description="The checkpoint with this witness's cosignature")
    updated: str


def _out(witness: Witness, held: WitnessedHead) -> WitnessOut:
    from veil.audit.heads import public_key_to_pem

    return WitnessOut(origin=held.origin, size=held.size, root=held.root.hex(),
                      key_id=held.key_id, witness=witness.name,
                      witness_key=public_key_to_pem(witness.public_key()).decode(),
                      checkpoint=held.note, updated=held.updated)


def _witness(request: Request) -> Witness:
    from veil.audit.witness import Witness

    svc = service_of(request)
    return Witness(svc.workspace.engine, svc.workspace.root)


@router.get("/witness/{origin:path}", response_model=WitnessOut, tags=["witness"],
            **perm("witness.read"))
async def witnessed(request: Request, origin: Origin) -> WitnessOut:
    """The latest checkpoint of log ``origin`` that this service checked and co-signed."""
    w = _witness(request)

    def run() -> WitnessOut:
        held = w.latest(origin)
        if held is None:
            raise HTTPException(404, "this witness holds no checkpoint of that log")
        return _out(w, held)

    return await run_in_threadpool(run)


@router.post("/witness/{origin:path}", response_model=WitnessOut, tags=["witness"],
             **perm("witness.cosign"))
async def witness(request: Request, origin: Origin, body: WitnessIn) -> WitnessOut:
    """Check a checkpoint of log ``origin`` (signature under the key pinned on first sight,
    consistency with the last one accepted) and co-sign it; 409 for a fork, a rollback or
    another key (nothing is stored)."""
    from veil.audit.heads import SignedTreeHead
    from veil.audit.witness import WitnessRefused
    from veil.errors import InputError

    w = _witness(request)

    def run() -> WitnessOut:
        head = SignedTreeHead.from_note(body.checkpoint)
        if head.origin != origin:
            raise InputError(f"the checkpoint is for {head.origin!r}, not for the path's origin",
                             where="body.checkpoint")
        proof = [bytes.fromhex(h) for h in body.consistency]
        try:
            held = w.add(body.checkpoint, body.public_key, body.old_size, proof)
        except WitnessRefused as exc:
            raise HTTPException(409, exc.message) from None
        return _out(w, held)

    return await run_in_threadpool(run)


__all__ = ["router"]
