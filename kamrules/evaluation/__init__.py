"""Evaluation: facts per account, the rule engine, findings."""
