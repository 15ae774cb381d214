"""The one boundary every file kamrules reads passes: YAML with source locations."""
