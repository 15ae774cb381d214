"""The portfolio report: its content and its HTML page."""
