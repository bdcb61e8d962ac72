"""DigitalOcean's droplet metadata service for the local cloud (server.py runs in the `odl-metadata` container)."""
