"""Digests: one message per owner after a run, by email (SMTP) or a chat webhook."""
