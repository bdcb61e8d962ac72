"""The first-boot agent and the pure renderers a droplet runs.

Runs on the droplet with Debian 12's python3 and its standard library only: nothing here may import
`builder/` or a third-party package, so the snapshot needs no pip.
"""
