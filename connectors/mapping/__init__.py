"""The mapping language both CRM connectors share: value maps, splits, composition, per-field
failure (a value that does not parse loses its field, not its record)."""
