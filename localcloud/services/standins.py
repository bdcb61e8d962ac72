"""The stand-in images: what droplets pull instead of the official postgres, redis and odoo images (no image
can be pulled from a public registry here). Built from `localcloud/images/<name>/` on a Debian 12 minbase,
as the official images start from debian:bookworm-slim, and pushed to the local registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from localcloud.home import Home
from localcloud.network import NETWORK, Network
from localcloud.services.procs import ServiceError, Supervisor
from localcloud.services.registry import ensure_registry, push_ref

MINBASE_IMAGE = "odl/debian-minbase:12"
IMAGES_DIR = Path(__file__).resolve().parents[1] / "images"
STANDIN_DESCRIPTION = "odoo-droplet local stand-in"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Image tag -> the misbehaviour baked into it (localcloud/images/odoo/README.md).
ODOO_TAGS: dict[str, str] = {
    "18.0": "good",
    "18.0-good": "good",
    "18.0-prior": "good",
    "18.0-crashloop": "crashloop",
    "18.0-neverready": "neverready",
    "18.0-failinstall": "failinstall",
    "18.0-nogevent": "nogevent",
    "18.0-slowstart": "slowstart",
    "18.0-keepadmin": "keepadmin",
    "18.0-wrongbaseurl": "wrongbaseurl",
}
POSTGRES_TAG = "16"
REDIS_TAG = "7"

Build = tuple[str, Path, dict[str, str]]


# ------------------------------------------------------------------------------------------------ pure


def standin_builds(registry: str = NETWORK.registry) -> list[Build]:
    """(image ref, build context, build args) for every stand-in image and tag."""
    builds: list[Build] = [
        (f"{registry}/postgres:{POSTGRES_TAG}", IMAGES_DIR / "postgres", {}),
        (f"{registry}/redis:{REDIS_TAG}", IMAGES_DIR / "redis", {}),
    ]
    for tag, behaviour in ODOO_TAGS.items():
        args = {"ODL_STANDIN_BEHAVIOUR": behaviour, "ODL_STANDIN_TAG": tag}
        builds.append((f"{registry}/odoo:{tag}", IMAGES_DIR / "odoo", args))
    return builds


def docker_build_argv(ref: str, context: Path, build_args: dict[str, str], base: str = MINBASE_IMAGE) -> list[str]:
    argv = ["docker", "build", "-q", "-t", ref, "--build-arg", f"BASE={base}"]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    return [*argv, str(context)]


def base_sources(mirror: str = DEBIAN_MIRROR, security: str = DEBIAN_SECURITY_MIRROR) -> str:
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: bookworm-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


# ------------------------------------------------------------------------------------------------ shell


def _docker(*args: str, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # Debian's engine has no buildx; the classic builder caches fine
    res = subprocess.run(["docker", *args], capture_output=quiet, text=True, env=env, check=False)
    if check and res.returncode != 0:
        raise ServiceError(f"docker {' '.join(args[:3])} failed ({res.returncode}): {(res.stderr or '')[-2000:]}")
    return res


def image_exists(ref: str) -> bool:
    return _docker("image", "inspect", ref, check=False).returncode == 0


def ensure_minbase_image(home: Home, tag: str = MINBASE_IMAGE) -> str:
    """Debian 12 minbase from debootstrap, imported as `tag` (cached by tag: built once per machine).

    The stand-in service images start from this, as the official images start from debian:bookworm-slim; no
    image can be pulled from a public registry here.
    """
    with Supervisor(home).locked("base-image"):
        if image_exists(tag):
            return tag
        mirror = os.environ.get("DEBIAN_MIRROR", DEBIAN_MIRROR)
        work = Path(tempfile.mkdtemp(prefix="odl-minbase.", dir="/var/tmp"))
        try:
            root = work / "rootfs"
            subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(root), mirror],
                check=True,
                capture_output=True,
                text=True,
            )
            (root / "etc/apt/sources.list").unlink(missing_ok=True)
            sec = os.environ.get("DEBIAN_SECURITY_MIRROR", DEBIAN_SECURITY_MIRROR)
            (root / "etc/apt/sources.list.d/debian.sources").write_text(base_sources(mirror, sec))
            # What debian:bookworm-slim leaves out: downloaded packages and package lists.
            for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*"):
                for p in root.glob(pattern):
                    p.unlink()
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            imp = subprocess.run(
                [
                    "docker",
                    "import",
                    "-c",
                    'CMD ["bash"]',
                    "-c",
                    f'LABEL org.opencontainers.image.description="{STANDIN_DESCRIPTION} base: Debian 12 minbase"',
                    "-",
                    tag,
                ],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
            if imp.returncode != 0 or tar.returncode != 0:
                raise ServiceError(f"docker import of {tag} failed: {imp.stderr[-2000:]}")
        except subprocess.CalledProcessError as e:
            raise ServiceError(f"debootstrap failed: {(e.stderr or '')[-2000:]}") from e
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return tag


def build_standin_images(home: Home, registry: str = NETWORK.registry) -> list[str]:
    """Build (Docker-cached) every stand-in image under its `<registry>/<name>:<tag>` ref, without pushing."""
    base = ensure_minbase_image(home)
    refs = []
    with Supervisor(home).locked("images"):
        for ref, context, build_args in standin_builds(registry):
            _docker(*docker_build_argv(ref, context, build_args, base)[1:])
            refs.append(ref)
    return refs


def prune_superseded_standins() -> list[str]:
    """Remove stand-in images that a rebuild left untagged (dangling, labelled as ours); in use ones stay."""
    ids = _docker("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split()
    removed = []
    for image_id in dict.fromkeys(ids):
        label = _docker(
            "image",
            "inspect",
            "-f",
            '{{index .Config.Labels "org.opencontainers.image.description"}}',
            image_id,
            check=False,
        ).stdout
        if label.startswith(STANDIN_DESCRIPTION) and _docker("rmi", image_id, check=False).returncode == 0:
            removed.append(image_id)
    return removed


def ensure_standin_images(home: Home, net: Network = NETWORK) -> list[str]:
    """Build every stand-in image and push it to the local registry (started if needed). Idempotent; a rerun
    costs the Docker cache hits and "layer already exists" pushes. Returns the refs."""
    refs = build_standin_images(home, net.registry)
    ensure_registry(home, net)
    with Supervisor(home).locked("images"):
        for ref in refs:
            target = push_ref(ref, net)
            if target != ref:
                _docker("tag", ref, target)
            _docker("push", target)
            if target != ref:
                _docker("rmi", target)  # only the alias tag goes; the image keeps its `ref` name
        prune_superseded_standins()
    return refs
