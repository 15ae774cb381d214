"""Playbooks: multi-step plays per account that run across nights, rebuilt from the CRM's tasks."""
