"""Records of processing activities (Art. 30)."""

from veil.ropa.record import build_ropa, render_markdown, write_ropa

__all__ = ["build_ropa", "render_markdown", "write_ropa"]
