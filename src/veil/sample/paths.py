"""Where the bundled sample policy lives (`--policy sample` on the command line)."""

from pathlib import Path

SAMPLE_POLICY = Path(__file__).with_name("sample_policy.yaml")
