"""The entry layer: the ``cbe`` command and the composition root, above ``tui/`` and ``api/``."""
