"""The Salesforce connector (simple-salesforce): config, auth, client, mapping, pull, write."""
