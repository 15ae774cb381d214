"""The rule-pack language: pack model, loader, conditions, templates, generated docs, pack tests."""
