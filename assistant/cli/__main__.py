"""``python -m assistant.cli``: the same as the ``memchat`` command."""

from assistant.cli import main

main()
