"""Fake CRM servers on 127.0.0.1 speaking the real APIs' documented shapes, their data, and workspaces."""
