"""Veil's version: a module every layer may import (``veil/__init__`` is the interface)."""

__version__ = "0.1.0"
