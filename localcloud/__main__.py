"""`python -m localcloud up|down|status|env|serve` (the builder's `odoo-droplet local ...` calls `main`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from localcloud import control
from localcloud.state import localcloud_home


def serve(home: Path, host: str, port: int, backend_name: str) -> int:
    """Run the API server in the foreground until SIGTERM/SIGINT (what `up` starts as a daemon)."""
    from localcloud.api import ApiServer
    from localcloud.backend import Backend, MemoryBackend
    from localcloud.state import write_atomic

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    backend: Backend
    if backend_name == "memory":
        backend = MemoryBackend()
    else:
        from localcloud.docker_backend import DockerBackend

        backend = DockerBackend(home)
    server = ApiServer(home, backend, host, port)
    write_atomic(home / "api.pid", f"{os.getpid()}\n".encode(), 0o644)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run outside the serving thread.
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("localcloud.api").info("serving %s (backend %s, state %s)", server.url, backend_name, home)
    server.serve_forever()
    server.httpd.server_close()
    server.cloud.close()
    server.state.save()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="localcloud", description="The local cloud: DigitalOcean's API on Docker.")
    p.add_argument("--home", type=Path, default=None, help="state dir (default $ODL_LOCALCLOUD_HOME or "
                                                           "/var/lib/odoo-droplet-localcloud)")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="build what is missing and start everything (idempotent)")
    u.add_argument("--api-only", action="store_true", help="only the API server, on the in-memory backend")
    u.add_argument("--host", default=None, help="bind address (default 10.213.0.1; 127.0.0.1 with --api-only)")
    u.add_argument("--port", type=int, default=control.API_PORT)
    u.add_argument("--backend", choices=("docker", "memory"), default=None)
    sub.add_parser("down", help="stop the API server and the services (droplets and state are kept)")
    sub.add_parser("status", help="print what runs, as JSON")
    sub.add_parser("env", help="print export lines for eval")
    s = sub.add_parser("serve", help="run the API server in the foreground")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=control.API_PORT)
    s.add_argument("--backend", choices=("docker", "memory"), default="docker")
    args = p.parse_args(argv)
    home = Path(args.home or localcloud_home())

    if args.cmd == "serve":
        return serve(home, args.host, args.port, args.backend)
    if args.cmd == "up":
        try:
            cfg = control.up(home, api_only=args.api_only, host=args.host, port=args.port, backend=args.backend)
        except RuntimeError as e:
            print(f"local cloud did not start: {e}", file=sys.stderr)
            return 1
        print(f"local cloud API at {cfg.url} (backend {cfg.backend}); `eval \"$(python -m localcloud env)\"`")
        return 0
    if args.cmd == "down":
        control.down(home)
        return 0
    if args.cmd == "status":
        st = control.status(home)
        print(json.dumps(st, indent=2))
        return 0 if st["api"]["running"] else 3
    if args.cmd == "env":
        print("\n".join(control.env_lines(home)))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
