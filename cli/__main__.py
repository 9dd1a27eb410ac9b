"""``python -m cli``: the ``cbe`` command."""

from cli.main import main

main()
