"""CRM connectors: the embedded local CRM, Salesforce and HubSpot, behind one protocol."""
