"""Policy-as-code: the model, the taxonomy and the loader."""

from veil.policy.loader import SAMPLE_POLICY, load_policy, parse_policy, policy_path
from veil.policy.model import Dataset, FieldDef, Policy, Purpose, Treatment
from veil.policy.taxonomy import BUILTIN_CATEGORIES, Category

__all__ = [
    "BUILTIN_CATEGORIES",
    "SAMPLE_POLICY",
    "Category",
    "Dataset",
    "FieldDef",
    "Policy",
    "Purpose",
    "Treatment",
    "load_policy",
    "parse_policy",
    "policy_path",
]
