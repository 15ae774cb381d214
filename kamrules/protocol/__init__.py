"""The contract between the core and the connectors.

The connector protocol, the changes it applies and their results, the marker a task carries,
and the crash points of fault-injection tests.
"""
