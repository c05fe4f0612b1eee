"""``python -m fastbp``: train a network on the bundled digits and report its accuracy."""

from .cli import main

raise SystemExit(main())
