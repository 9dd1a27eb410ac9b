"""cbe's HTTP interface: HubSpot's events and CRM APIs, and the JavaScript collector."""
