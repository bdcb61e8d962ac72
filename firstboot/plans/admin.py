"""The admin account and the public URL, set at install: what to write, as an `odoo shell` script (pure).

`-i base` leaves the user `admin` with the password `admin`, and `web.base.url` stays
`http://localhost:8069` until an administrator logs in through the proxy (DESIGN.md section 4). The agent
sets both through `odoo shell -d DB --no-http` in a one-off container of the image, the script on stdin:
Odoo's own `write` hashes the password (so it stays right whatever Odoo does to stored passwords) and ends
the sessions opened with the old one; the password is on no command line and in no log. Real Odoo rolls the
shell's transaction back at the end, so the script commits. The same script works on real Odoo and on the
stand-in (localcloud/images/odoo/standin_shell.py).
"""

from __future__ import annotations

from typing import Literal

DEFAULT_LOGIN = "admin"
DEFAULT_PASSWORD = "admin"  # what `-i base` gives the admin user
DONE_MARKER = "odoo-droplet: admin account and web.base.url set"


def public_base_url(domain: str | None, reserved_ip: str | None, public_ipv4: str | None) -> str | None:
    """`https://<edge.domain>`, else the address users reach the droplet at (its reserved IP, else its
    public IPv4); None when none is known."""
    host = domain or reserved_ip or public_ipv4
    return f"https://{host}" if host else None


def plan_admin(*, fresh_db: bool | None, done: bool) -> Literal["skip", "password", "base_url_only"]:
    """skip: this attempt set them already (a resumed agent). password: a database this deploy created, whose
    admin still has Odoo's default password: set the password (and login) and the URL. base_url_only: a
    database that existed before (managed, carrying data): its users are its own, only the URL is ours."""
    if done:
        return "skip"
    return "password" if fresh_db else "base_url_only"


def admin_script(base_url: str, password: str | None = None, login: str | None = None) -> str:
    """The `odoo shell` script (stdin). `password`/`login`: None leaves them as they are. Values are written
    as Python string literals (repr), so no quote in them can change the script."""
    vals: dict[str, str] = {}
    if password is not None:
        if not password:
            raise ValueError("the admin password may not be empty")
        vals["password"] = password
    if login:
        vals["login"] = login
    if not base_url.startswith("https://") or any(c.isspace() for c in base_url):
        raise ValueError(f"web.base.url must be an https URL: {base_url!r}")
    lines = []
    if vals:
        lines += ['admin = env.ref("base.user_admin")', f"admin.write({vals!r})"]
    lines += [
        'icp = env["ir.config_parameter"].sudo()',
        f"icp.set_param('web.base.url', {base_url!r})",
        "icp.set_param('web.base.url.freeze', 'True')",
        "env.cr.commit()",
        f"print({DONE_MARKER!r})",
    ]
    return "\n".join(lines) + "\n"


def admin_failure(returncode: int, output: str) -> str | None:
    """Why the shell did not set them, or None. The marker proves the script ran to its commit."""
    if returncode == 0 and DONE_MARKER in output:
        return None
    tail = " ".join(output.split())[-200:]
    return f"odoo shell exited {returncode} before setting the admin account: {tail or 'no output'}"
