"""kamrules: Key Account Management rule packs evaluated against CRM data, written back as tasks."""

from __future__ import annotations

__version__ = "0.1.0"
