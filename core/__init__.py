"""cbe's domain: HubSpot custom behavioral events, their rules, ingestion and use cases.

Nothing here imports an interface (Textual, HTTP) or a storage engine; storage adapters
implement the protocols in :mod:`core.ports`.
"""
