"""The container test's pieces: podman, a base image made without a registry, Signoff's image built
from the repo's Containerfile, and PostgreSQL in a container.

Without podman the tests skip (and fail in CI, where scripts/test installs it). The base image is
`SIGNOFF_CONTAINER_BASE` if set (e.g. docker.io/library/debian:bookworm-slim where a registry is
reachable), else the one scripts/container-base builds with debootstrap and keeps in podman's store.
Images are kept between runs (podman's layer cache makes a rebuild of unchanged code take seconds);
containers are removed by name at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.support.signoff_process import free_port
from tests.support.skips import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/signoff:test"
POSTGRES_IMAGE = "localhost/signoff-test-postgres:15"
HOW_TO = (
    "the container test needs podman (root, with runc): run scripts/test as root, which installs podman, runc "
    "and debootstrap, or install them and set CONTAINERS_CONF=scripts/containers.conf"
)
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def podman_env() -> dict[str, str]:
    """podman's environment: scripts/containers.conf (runc, ulimits that fit under the hard limit)
    where runc is installed and no CONTAINERS_CONF was chosen, as scripts/test sets it."""
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env and shutil.which("runc"):
        env["CONTAINERS_CONF"] = str(ROOT / "scripts" / "containers.conf")
    return env


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=podman_env())
    if check and run.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
    return run


@pytest.fixture(scope="session")
def podman_ready() -> None:
    if shutil.which("podman") is None:
        skip_or_fail(HOW_TO)
    info = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=60, env=podman_env())
    if info.returncode != 0:
        skip_or_fail(f"{HOW_TO} (podman info: {info.stderr.strip().splitlines()[-1:]})")


@pytest.fixture(scope="session")
def base_image(podman_ready: None) -> str:
    given = os.environ.get("SIGNOFF_CONTAINER_BASE")
    if given and podman("image", "exists", given, check=False).returncode == 0:
        return given
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        skip_or_fail(f"{HOW_TO}; or set SIGNOFF_CONTAINER_BASE to a Debian bookworm image podman has")
    made = subprocess.run(
        [str(ROOT / "scripts" / "container-base")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=podman_env(),
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def build(image: str, containerfile: Path, context: Path, base: str) -> float:
    """Build `image`; the seconds it took (a few when podman's cache has every layer)."""
    started = time.monotonic()
    args = ["build", "--format", "docker", "--network", "host", "--build-arg", f"BASE={base}", "-t", image]
    if HOST_CA.exists():  # pip through a TLS-intercepting proxy; a build secret, never in the image
        args += ["--secret", f"id=pipcert,src={HOST_CA}"]
    podman(*args, "-f", str(containerfile), str(context), timeout=1800)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def signoff_image(base_image: str) -> tuple[str, float]:
    return IMAGE, build(IMAGE, ROOT / "Containerfile", ROOT, base_image)


@pytest.fixture(scope="session")
def postgres_image(base_image: str) -> str:
    build(POSTGRES_IMAGE, Path(__file__).with_name("postgres.Containerfile"), Path(__file__).parent, base_image)
    return POSTGRES_IMAGE


@dataclass
class Containers:
    """Containers this test started, by name; all removed at the end."""

    prefix: str = field(default_factory=lambda: f"signoff-test-{uuid.uuid4().hex[:8]}")
    names: list[str] = field(default_factory=list)

    def run(self, name: str, image: str, *args: str, env: dict[str, str] | None = None) -> str:
        full = f"{self.prefix}-{name}"
        envs = [f"--env={key}={value}" for key, value in (env or {}).items()]
        self.names.append(full)
        podman("run", "-d", "--name", full, "--network", "host", *envs, *args, image, timeout=300)
        return full

    def remove(self) -> None:
        for name in self.names:
            podman("rm", "--force", "--volumes", "--time", "0", name, check=False, timeout=120)


@pytest.fixture
def containers() -> Iterator[Containers]:
    made = Containers()
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture
def postgres_in_a_container(postgres_image: str, containers: Containers) -> str:
    """PostgreSQL in a container on a free loopback port, with a database `signoff`; its URL."""
    port = free_port()
    containers.run("postgres", postgres_image, env={"PGPORT": str(port)})
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 120
    while True:
        try:
            with psycopg.connect(admin, connect_timeout=2, autocommit=True) as connection:
                connection.execute("CREATE DATABASE signoff")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # ok: polling with a deadline
    return f"postgresql://postgres@127.0.0.1:{port}/signoff"
