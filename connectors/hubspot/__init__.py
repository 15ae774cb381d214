"""The HubSpot connector (hubspot-api-client): config, HTTP, mapping, custom objects, pull, tasks."""
