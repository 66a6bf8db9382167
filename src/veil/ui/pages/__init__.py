"""One module per page (or group of pages): each has a ``router`` that ``veil.ui.app`` includes."""
