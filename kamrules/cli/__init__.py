"""The `kamrules` command: the one place that wires config, connectors, packs and the run."""
