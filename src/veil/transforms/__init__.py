"""De-identification transforms, applied field by field inside the run.

Importing this package registers every transform family in `REGISTRY`:

=================  ==========================================================================
``keep``, ``drop``  keep the value; remove the field (``registry``)
``redact``          the value becomes null (``basic``)
``replace``         a fixed value, or the field's category as ``<TYPE>`` (``basic``)
``mask``            keep first/last characters, IBAN and card aware (``basic``)
``pseudonymize``    keyed HMAC-SHA256 pseudonyms per purpose domain (``pseudonymize``)
``tokenize``        reversible AES-SIV join tokens; ``veil reidentify`` (``tokenize``)
``fpe``             FF3-1 format-preserving encryption, check digits recomputed (``fpe``)
``generalize``      bins, age bands, month/quarter/year, prefixes, hierarchies (``generalize``)
``date_shift``      per-subject consistent random date shift (``dates``)
``noise``           calibrated Laplace / Gaussian noise (``noise``)
``redact_text``     replace the spans discovery finds in free text (``text``)
=================  ==========================================================================

Keyed transforms take their keys from the run's `veil.transforms.keys.TransformKeys`
(``ctx.keys``); `veil.transforms.context.TransformContext` is everything a transform reads
besides its values and parameters.
"""

from veil.transforms import (  # noqa: F401 - registers the transforms
    basic,
    dates,
    fpe,
    generalize,
    noise,
    pseudonymize,
    subject_encrypt,
    text,
    tokenize,
)
from veil.transforms.context import (
    TransformContext,
    TransformState,
    describe_treatments,
    treat_batch,
)
from veil.transforms.keys import InMemoryTransformKeys, KeysetTransformKeys, TransformKeys
from veil.transforms.registry import REGISTRY, Transform, check_treatment, register

__all__ = [
    "REGISTRY",
    "InMemoryTransformKeys",
    "KeysetTransformKeys",
    "Transform",
    "TransformContext",
    "TransformKeys",
    "TransformState",
    "check_treatment",
    "describe_treatments",
    "register",
    "treat_batch",
]
