"""A real Dovecot IMAP + LMTP server for tests, from a self-contained config in a temp dir.

    server = DovecotServer.start(users={"agent@example.test": "pw"})
    server.deliver(raw_bytes, to="agent@example.test")   # LMTP: the way real mail arrives
    server.kill(); server.restart()                      # same ports, same mail
    server.change_uidvalidity("agent@example.test")      # the server renumbers the mailbox
    server.stop()

As root, the whole server runs as `nobody` (Dovecot refuses root for logins and mailboxes), via
`setpriv`. It listens on 127.0.0.1 only, on free ports; `tls=True` adds an imaps listener and
STARTTLS with a trustme certificate. `dovecot_available()` says whether this can run here and,
if not, how to make it possible.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "install Dovecot to run it: apt-get install -y dovecot-imapd dovecot-lmtpd (Debian/Ubuntu; the CI script does this)"
)


def dovecot_available() -> tuple[bool, str]:
    """(True, "") when a test Dovecot can start here, else (False, why and how to fix it)."""
    if not shutil.which("dovecot"):
        return False, f"Dovecot is not installed: {INSTALL_HINT}"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return False, "running as root needs setpriv (util-linux) to start Dovecot as nobody"
    lmtp = Path("/usr/lib/dovecot/lmtp")
    if not lmtp.exists() and not any(Path(p).exists() for p in ("/usr/libexec/dovecot/lmtp",)):
        return False, f"Dovecot's LMTP server is missing: {INSTALL_HINT}"
    return True, ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DovecotServer:
    root: Path
    users: dict[str, str]
    imap_port: int
    lmtp_port: int
    imaps_port: int = 0
    tls: bool = False
    idle: bool = True
    ca_pem: bytes | None = None  # the trustme CA, when tls=True
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    host = "127.0.0.1"

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def start(cls, users: dict[str, str], *, tls: bool = False, idle: bool = True) -> DovecotServer:
        """Start a server; `idle=False` hides the IDLE capability (clients must poll)."""
        ok, reason = dovecot_available()
        if not ok:
            raise RuntimeError(reason)
        root = Path(tempfile.mkdtemp(prefix="signoff-dovecot-", dir="/tmp"))
        server = cls(
            root=root,
            users=dict(users),
            imap_port=free_port(),
            lmtp_port=free_port(),
            imaps_port=free_port() if tls else 0,
            tls=tls,
            idle=idle,
        )
        server._write_config()
        server._spawn()
        return server

    def restart(self) -> None:
        """Start again after `kill()` or `stop()`, on the same ports and mail directory."""
        if self.running:
            self.kill()
        self._spawn()

    def kill(self) -> None:
        """SIGKILL the whole server (master, logins, imap and lmtp processes): a crash."""
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.wait(timeout=10)
        self._proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- mail ---------------------------------------------------------------------------------

    def deliver(self, raw: bytes, to: str, *, sender: str = "sender@example.test") -> None:
        """Deliver one message over LMTP, as an MTA would (adds Return-Path and Delivered-To)."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(sender, [to], raw)

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / user / "Maildir"

    def change_uidvalidity(self, user: str) -> int:
        """Make the server renumber `user`'s INBOX with a new UIDVALIDITY; returns the new one.

        Restarts the server (it must not hold the mailbox open) with a fresh uidlist and no
        indexes: the messages stay, with their flags, under new UIDs.
        """
        was_running = self.running
        self.kill()
        maildir = self.maildir(user)
        uidlist = maildir / "dovecot-uidlist"
        old = 0
        if uidlist.exists():
            header = uidlist.read_text().splitlines()[0]
            match = re.search(r"\bV(\d+)", header)
            old = int(match.group(1)) if match else 0
            uidlist.unlink()
        for index in maildir.glob("dovecot.index*"):
            index.unlink()
        new = max(old + 1000, int(time.time()))
        uidlist.write_text(f"3 V{new} N1\n")
        self._chown(uidlist)
        if was_running:
            self._spawn()
        return new

    # -- internals ----------------------------------------------------------------------------

    def _identity(self) -> tuple[str, str]:
        if os.geteuid() == 0:
            return "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            user, group = self._identity()
            shutil.chown(path, user, group)

    def _write_config(self) -> None:
        user, group = self._identity()
        root = self.root
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        (root / "users").write_text(
            "".join(f"{name}:{{PLAIN}}{password}::::::\n" for name, password in self.users.items())
        )
        ssl_lines = "ssl = no\n"
        imaps = "    inet_listener imaps {\n        port = 0\n    }\n"
        if self.tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            cert.private_key_and_cert_chain_pem.write_to_path(str(root / "server.pem"))
            self.ca_pem = ca.cert_pem.bytes()
            ssl_lines = f"ssl = yes\nssl_cert = <{root}/server.pem\nssl_key = <{root}/server.pem\n"
            imaps = (
                f"    inet_listener imaps {{\n        address = 127.0.0.1\n        port = {self.imaps_port}\n    }}\n"
            )
        capability = "" if self.idle else "    imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS\n"
        (root / "dovecot.conf").write_text(
            f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
mail_location = maildir:{root}/mail/%u/Maildir
first_valid_uid = 0
passdb {{
    driver = passwd-file
    args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
    driver = static
    args = uid={user} gid={group} home={root}/mail/%u
}}
service imap-login {{
    chroot =
    inet_listener imap {{
        address = 127.0.0.1
        port = {self.imap_port}
    }}
{imaps}}}
service anvil {{
    chroot =
}}
service lmtp {{
    inet_listener lmtp {{
        address = 127.0.0.1
        port = {self.lmtp_port}
    }}
}}
protocol lmtp {{
    auth_username_format = %u
}}
protocol imap {{
    imap_idle_notify_interval = 2 mins
{capability}}}
"""
        )
        if os.geteuid() == 0:
            for path in [root, *root.rglob("*")]:
                self._chown(path)

    def _spawn(self) -> None:
        command = ["dovecot", "-F", "-c", str(self.root / "dovecot.conf")]
        if os.geteuid() == 0:
            user, group = self._identity()
            command = ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups", *command]
        log = open(self.root / "stderr.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"Dovecot exited with {self._proc.returncode}:\n{self.logs()}")
            if _greets(self.host, self.imap_port) and _greets(self.host, self.lmtp_port):
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"Dovecot did not start within {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)


def _greets(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.settimeout(1)
            return bool(sock.recv(64))
    except OSError:
        return False
