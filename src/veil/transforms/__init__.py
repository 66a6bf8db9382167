"""De-identification transforms, applied field by field inside the run."""

from veil.transforms.registry import REGISTRY, Transform, register

__all__ = ["REGISTRY", "Transform", "register"]
