"""The `veil` command line: thin shells over library functions."""
