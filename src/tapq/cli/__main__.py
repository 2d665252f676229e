"""``python -m tapq.cli``: the same as the ``tapq`` command."""
import sys

from tapq.cli import main

sys.exit(main())
