"""Pure renderers for the files a droplet runs: odoo.conf, docker-compose.yml + odoo.env, the nginx site.

Standard library only (the droplet runs them with Debian's python3); the builder uses the same
functions for `odoo-droplet render` previews, with `Secrets.redacted()`.
"""
