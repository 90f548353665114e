"""``python -m assistant.cli``: the same as the ``memchat`` command."""

import sys

try:
    from assistant.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting up: one line, as at any other moment
    sys.stderr.write("Error: interrupted\n")
    sys.exit(130)

main()
