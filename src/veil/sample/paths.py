"""Where the bundled sample policy lives (`--policy sample` on the command line)."""

from veil.policy.loader import SAMPLE_POLICY

__all__ = ["SAMPLE_POLICY"]
