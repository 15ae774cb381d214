"""One run: config, sync, the run lock, local state, snoozes, cleaning of CRM input."""
