"""The embedded local CRM (SQLite), its demo portfolio and CSV import."""
