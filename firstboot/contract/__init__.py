"""The droplet's contract: the one source of what a droplet looks like from every side.

The agent (firstboot/), the operator's CLI (builder/), the Packer scripts (builder/assets/images/scripts/) and the
tests read these names from here and never spell them again: the droplet's layout (layout.py, and
paths.env rendered from it for the shell side), Spaces object keys, deploy ids, proof file names, the
env-file format of secrets. Standard-library Python only: it ships inside the snapshot.
"""
