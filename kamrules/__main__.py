"""`python -m kamrules` runs the CLI."""

from __future__ import annotations

from kamrules.cli.main import main

main()
