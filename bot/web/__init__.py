"""The web side (aiohttp): study viewer, downloads, uploads, webhook receiver, operations."""
