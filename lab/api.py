"""The lab: four SSH hosts on loopback addresses running a 3-node KRaft cluster and a Connect worker."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request
import uuid
import base64
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional, Union

from . import config as C
from . import procs, templates
from .config import HostSpec
from .kafka_dist import ensure_libs
from .postgres import BIN as POSTGRES_BIN, StateServer

HOSTS_BEGIN = f"# BEGIN {C.HOSTS_MARK} (added by `python -m lab up`, removed by `down`)"
HOSTS_END = f"# END {C.HOSTS_MARK}"
HEALTH_TOPIC = "lab-healthcheck"
# The sudoers rule README.md ("The hosts") tells admins to write, word for word (tests/lab checks it):
# the operator may run `/bin/bash -c <script>` as root and nothing else.
SUDOERS_RULE = f"{C.OPERATOR_USER} ALL=(root) NOPASSWD: /bin/bash -c *"


@contextmanager
def _shared_lock():
    """Held while /etc/hosts, the accounts or the mountpoints change: another lab may be coming up
    or going down at the same time."""
    import fcntl

    C.shared_dir().mkdir(parents=True, exist_ok=True)
    with open(C.shared_dir() / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _other_labs() -> list[str]:
    """The /etc/hosts blocks of labs other than this one (another slot's)."""
    marks = [words[2] for words in map(str.split, Path("/etc/hosts").read_text().splitlines())
             if words[:2] == ["#", "BEGIN"] and len(words) > 2 and words[2].startswith(C.HOSTS_MARK_BASE)]
    return [m for m in marks if m != C.HOSTS_MARK]


def sudo_bash(command: str) -> str:
    """`command` as root the one way SUDOERS_RULE allows (as kafka-tls runs its host scripts)."""
    return f"sudo -n -- /bin/bash -c {shlex.quote(command)}"


class LabError(RuntimeError):
    pass


def _random_cluster_id() -> str:
    """A Kafka Uuid string (base64url of 16 random bytes, no padding), as StorageTool random-uuid makes."""
    while True:
        s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not s.startswith("-"):
            return s


def _tcp_open(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_properties(text: str) -> dict[str, str]:
    """Java properties (key=value, key: value, key value; continuation lines, backslash escapes)."""
    out, buf = {}, ""
    for raw in text.splitlines():
        line = raw.lstrip()
        if not buf and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:  # an odd number of backslashes continues the line
            buf += line[:-1]
            continue
        line, buf = buf + line, ""
        key, i = "", 0
        while i < len(line) and line[i] not in "=: \t":
            if line[i] == "\\" and i + 1 < len(line):
                i += 1
            key += line[i]
            i += 1
        rest = line[i:].lstrip(" \t")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t")
        out[key] = _unescape(rest)
    return out


def _unescape(v: str) -> str:
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            i += 1
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(v[i], v[i]))
        else:
            out.append(v[i])
        i += 1
    return "".join(out)


def _listeners(value: str) -> list[tuple[str, str]]:
    """`NAME://host:port,...` -> [(NAME, port)]."""
    out = []
    for entry in value.split(","):
        entry = entry.strip()
        if "://" in entry:
            name, rest = entry.split("://", 1)
            out.append((name.strip().upper(), rest.rsplit(":", 1)[-1].strip()))
    return out


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True)


def _parallel(fn: Callable, items: list) -> list:
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as ex:
        return list(ex.map(fn, items))


class Lab:
    """Handle on the lab. Cheap to create; `up()` builds or resumes it, `down()` removes it."""

    def __init__(self, lab_dir: Union[str, Path, None] = None, log: Optional[Callable[[str], None]] = None):
        self.dir = Path(lab_dir) if lab_dir else C.lab_dir()
        self._log_fn = log
        self._t0 = time.monotonic()
        self.ssh_dir = self.dir / "ssh"
        self.key = self.ssh_dir / "id_ed25519"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.authorized_keys = self.ssh_dir / "authorized_keys"
        self.bin_dir = self.dir / "bin"
        self.java_cmd = self.bin_dir / "kafka-java"
        self.inventory_path = self.dir / "inventory.json"
        self.pulumi_dir = self.dir / "pulumi"  # labstack keeps the state of stacks aimed at the lab here
        self.hosts = list(C.HOSTS)
        self._children: dict[int, subprocess.Popen] = {}

    # ------------------------------------------------------------------ logging
    def log(self, msg: str) -> None:
        line = f"[{time.monotonic() - self._t0:7.1f}s] {msg}"
        if self._log_fn:
            self._log_fn(line)
        else:
            print(line, flush=True)

    @contextmanager
    def step(self, what: str):
        t = time.monotonic()
        self.log(f"{what} ...")
        try:
            yield
        except BaseException:
            self.log(f"{what}: FAILED after {time.monotonic() - t:.1f}s")
            raise
        self.log(f"{what}: done ({time.monotonic() - t:.1f}s)")

    # ------------------------------------------------------------------ paths
    def host_dir(self, h: HostSpec) -> Path:
        return self.dir / "hosts" / h.short

    def etc_dir(self, h: HostSpec) -> Path:
        return self.host_dir(h) / "etc-kafka"

    def lib_dir(self, h: HostSpec) -> Path:
        return self.host_dir(h) / "var-lib-kafka"

    def logs_dir(self, h: HostSpec) -> Path:
        return self.host_dir(h) / "var-log-kafka"

    def opt_dir(self, h: HostSpec) -> Path:
        return self.host_dir(h) / "opt-kafka"

    def sshd_dir(self, h: HostSpec) -> Path:
        return self.host_dir(h) / "sshd"

    def cache_dir(self, h: HostSpec) -> Path:
        return self.host_dir(h) / "var-cache-kafka-tls"

    def pristine_dir(self, h: HostSpec) -> Path:
        return self.dir / "pristine" / h.short

    def config_file(self, h: HostSpec) -> str:
        return C.SERVER_PROPERTIES if h.role == "broker" else C.CONNECT_PROPERTIES

    def local_path(self, h: HostSpec, host_path: str) -> Path:
        """Where a host path (/etc/kafka/..., /var/lib/kafka/..., /var/log/kafka/...) lives on this machine."""
        for prefix, local in ((C.ETC_KAFKA, self.etc_dir(h)), (C.VAR_LIB_KAFKA, self.lib_dir(h)),
                              (C.VAR_LOG_KAFKA, self.logs_dir(h)), (C.OPT_KAFKA, self.opt_dir(h))):
            if host_path == prefix or host_path.startswith(prefix + "/"):
                return local / host_path[len(prefix):].lstrip("/")
        raise ValueError(f"{host_path} is not under a per-host lab folder")

    @property
    def cluster_id(self) -> str:
        return (self.dir / "cluster_id").read_text().strip()

    @property
    def bootstrap_servers(self) -> str:
        return C.bootstrap_servers()

    @property
    def connect_url(self) -> str:
        h = C.CONNECT_HOSTS[0]
        return f"http://{h.name}:{C.CONNECT_PORT}"

    def restart_command(self, h: HostSpec) -> str:
        return f"{C.SERVICE_SCRIPT} restart {h.service}"

    @property
    def layout(self) -> str:
        """The listener layout of the brokers' pristine files (reset_plaintext(layout=...) sets it)."""
        f = self.dir / "layout"
        return f.read_text().strip() if f.exists() else "default"

    # ------------------------------------------------------------------ up
    def up(self) -> dict:
        self._t0 = time.monotonic()
        self.log(f"lab up: {self.dir}")
        with self.step("prerequisites"):
            self._prerequisites()
        with self.step(f"Kafka {C.KAFKA_VERSION} libs"):
            libs = ensure_libs(log=self.log)
            self.log(f"  libs: {libs}")
        with self.step("state folder"):
            self._init_state(libs)
        with self.step("accounts"), _shared_lock():
            self._ensure_accounts()
        with self.step("/etc/hosts block"), _shared_lock():
            self._hosts_block_add()
        with self.step("mountpoints"), _shared_lock():
            self._mountpoints_create()
        if C.IPV6:
            with self.step("IPv6 addresses on lo"):
                self._addresses_add()
        with self.step("sshd on every host"):
            self._start_sshd_all()
        with self.step("storage format (first start only)"):
            self._format_all()
        with self.step(f"{C.VAR_LIB_KAFKA}, {C.VAR_LOG_KAFKA} owned by {C.SERVICE_USER}"):
            self._own_service_dirs()
        why = self._plaintext_problem()
        if not why:
            try:
                self._start_and_check()
            except LabError as e:
                why = str(e).splitlines()[0]
        if why:
            # whatever a stack left behind (SSL-only listeners, a broker that cannot start, ...):
            # the lab's checks speak plaintext on 9092, so go back to the pristine files
            self.log(f"lab up: not serving plaintext ({why}): reset to the pristine {self.layout!r} layout")
            self.reset_plaintext(self.layout)
        inv = self._write_inventory()
        self.log(f"lab up: ready in {time.monotonic() - self._t0:.1f}s; inventory {self.inventory_path}")
        return inv

    # the checks a first try of up() gets before it falls back to a reset (a healthy lab needs a few seconds)
    QUICK_CHECK_TIMEOUT = 60
    RESET_STOP_TIMEOUT = 5

    def _start_and_check(self) -> None:
        """Start what is not running and check the lab serves plaintext; LabError says why not."""
        with self.step("brokers"):
            self._service_all("start", C.BROKERS)
        with self.step("quorum leader"):
            self.wait_quorum(self.QUICK_CHECK_TIMEOUT)
        with self.step("Connect worker"):
            self._service_all("start", C.CONNECT_HOSTS)
        with self.step("produce/consume round trip"):
            self.roundtrip(self.QUICK_CHECK_TIMEOUT)
        with self.step("Connect REST"):
            self.wait_connect(self.QUICK_CHECK_TIMEOUT)

    def _plaintext_problem(self) -> Optional[str]:
        """Why a host's properties file cannot serve the lab's plaintext checks, or None.

        The rule: a broker file must keep a listener on 9092 whose protocol is PLAINTEXT, the Connect file
        an http listener on 8083. A stack that added SSL next to PLAINTEXT leaves a healthy lab.
        """
        for h in self.hosts:
            f = self.local_path(h, self.config_file(h))
            if not f.is_file():
                return f"{h.name}: {self.config_file(h)} is missing"
            props = _read_properties(f.read_text(errors="replace"))
            if h.role == "broker":
                default_map = {p: p for p in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")}
                pmap = dict(default_map)
                for pair in props.get("listener.security.protocol.map", "").split(","):
                    if ":" in pair:
                        k, v = pair.split(":", 1)
                        pmap[k.strip().upper()] = v.strip().upper()
                value = props.get("listeners", f"PLAINTEXT://:{C.BROKER_PORT}")
                if not any(port == str(C.BROKER_PORT) and pmap.get(name) == "PLAINTEXT"
                           for name, port in _listeners(value)):
                    return f"{h.name}: no PLAINTEXT listener on {C.BROKER_PORT} in listeners={value}"
            else:
                value = props.get("listeners", f"http://:{C.CONNECT_PORT}")
                if (("HTTP", str(C.CONNECT_PORT)) not in _listeners(value)):
                    return f"{h.name}: no http listener on {C.CONNECT_PORT} in listeners={value}"
        return None

    def _apt_install(self, package: str, path: str) -> None:
        if os.path.exists(path):
            return
        self.log(f"  installing {package} (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", package], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env)
            r = subprocess.run(["apt-get", "install", "-y", package], capture_output=True, text=True, env=env)
        if r.returncode != 0 or not os.path.exists(path):
            raise LabError(f"cannot install {package}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")

    def _prerequisites(self) -> None:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (mount namespaces, /etc/hosts, port 22, accounts)")
        self._apt_install("openssh-server", "/usr/sbin/sshd")
        self._apt_install("sudo", "/usr/bin/sudo")
        for tool in ("java", "ssh", "ssh-keygen", "unshare", "mount", "setpriv", "useradd", "visudo", *(["ip"] if C.IPV6 else [])):
            if not shutil.which(tool):
                raise LabError(f"{tool} not found on PATH")

    def _init_state(self, libs: Path) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.ssh_dir.mkdir(mode=0o700, exist_ok=True)
        # sshd reads authorized_keys as the user logging in (kafka-admin too): traversable, not listable;
        # the private key stays 0600
        self.ssh_dir.chmod(0o711)
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kafka-tls-lab",
                            "-f", str(self.key)], check=True)
        shutil.copyfile(f"{self.key}.pub", self.authorized_keys)
        self.authorized_keys.chmod(0o644)
        # the service user reads the jars through the /opt/kafka/libs bind mount (older caches were 0700)
        libs.chmod(0o755)
        if not (self.dir / "layout").exists():
            (self.dir / "layout").write_text("default\n")
        cid = self.dir / "cluster_id"
        if not cid.exists():
            cid.write_text(_random_cluster_id() + "\n")
        # local tool runner (java_cmd)
        self.bin_dir.mkdir(exist_ok=True)
        (self.bin_dir / "log4j2-tools.properties").write_text(templates.LOG4J2_TOOLS)
        self.java_cmd.write_text(templates.java_cmd_script(str(libs), str(self.bin_dir / "log4j2-tools.properties")))
        self.java_cmd.chmod(0o755)
        for h in self.hosts:
            first = not self.host_dir(h).exists()
            for d in (self.etc_dir(h), self.lib_dir(h), self.logs_dir(h), self.opt_dir(h), self.sshd_dir(h),
                      self.pristine_dir(h), self.cache_dir(h)):
                d.mkdir(parents=True, exist_ok=True)
            self.cache_dir(h).chmod(0o700)
            # /etc/kafka: root's, readable by the service user; no ssl/ folder until a stack makes one
            os.chown(self.etc_dir(h), 0, 0)
            self.etc_dir(h).chmod(0o755)
            if first:
                # the only time the lab writes the program-owned properties files
                self._write_pristine(h, self.layout)
                self._copy_pristine(h)
            # lab-owned files, refreshed on every up
            opt = self.opt_dir(h)
            for d in ("bin", "config", "plugins"):
                (opt / d).mkdir(exist_ok=True)
            # /opt/kafka/libs is a mountpoint: the sshd launcher binds the libs folder there, so the
            # service user never traverses /root (a symlink into the cache would need that)
            mp = opt / "libs"
            if mp.is_symlink() or mp.is_file():
                mp.unlink()
            mp.mkdir(exist_ok=True)
            (opt / "host.env").write_text(templates.host_env(h, str(self.dir)))
            (opt / "config" / "log4j2.properties").write_text(templates.LOG4J2_SERVICE)
            (opt / "config" / "log4j2-tools.properties").write_text(templates.LOG4J2_TOOLS)
            svc = opt / "bin" / "kafka-service"
            svc.write_text(templates.SERVICE_SCRIPT)
            svc.chmod(0o755)
            krc = opt / "bin" / "kafka-run-class"
            krc.write_text(templates.java_cmd_script(C.LIBS_ON_HOST, f"{C.OPT_KAFKA}/config/log4j2-tools.properties"))
            krc.chmod(0o755)
            # The CLI tools a Kafka install has under bin/ (kafka-tls's health gates run these).
            for script, main_class in templates.KAFKA_TOOLS.items():
                tool = opt / "bin" / script
                tool.write_text(templates.tool_script(main_class))
                tool.chmod(0o755)
            hk = self.sshd_dir(h) / "ssh_host_ed25519_key"
            if not hk.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{h.name}",
                                "-f", str(hk)], check=True)
            (self.sshd_dir(h) / "sshd_config").write_text(templates.SSHD_CONFIG.format(
                name=h.name, port=C.SSH_PORT, address=h.address, host_key=hk,
                pid_file=self.sshd_dir(h) / "sshd.pid", authorized_keys=self.authorized_keys, lab_dir=self.dir))
        self._write_known_hosts()

    def _write_known_hosts(self) -> None:
        self.known_hosts.write_text("".join(f"{h.name},{h.address} {self.host_public_key(h)}\n" for h in self.hosts))

    def _write_pristine(self, h: HostSpec, layout: str) -> None:
        p = self.pristine_dir(h)
        if h.role == "broker":
            (p / "server.properties").write_text(templates.server_properties(h, layout))
        else:
            (p / "connect-avro-distributed.properties").write_text(templates.connect_properties(h))

    def _restore_pristine_etc(self, h: HostSpec) -> None:
        """The host's /etc/kafka holds its pristine files and nothing else."""
        keep = {f.name for f in self.pristine_dir(h).iterdir()}
        for f in self.etc_dir(h).iterdir():
            if f.name in keep and f.is_file() and not f.is_symlink():
                continue  # overwritten below (a symlink would be written through: removed instead)
            shutil.rmtree(f) if f.is_dir() and not f.is_symlink() else f.unlink()
        self._copy_pristine(h)

    def _copy_pristine(self, h: HostSpec) -> None:
        for f in self.pristine_dir(h).iterdir():
            dst = self.etc_dir(h) / f.name
            shutil.copyfile(f, dst)
            os.chown(dst, 0, 0)
            dst.chmod(0o644)  # the service user reads it; nothing secret in the pristine files

    # ------------------------------------------------------------------ accounts
    @staticmethod
    def _accounts_record() -> Path:
        return C.shared_dir() / "created-accounts.json"

    def _record_created(self, kind: str, name: str) -> None:
        rec = self._accounts_record()
        created = json.loads(rec.read_text()) if rec.exists() else []
        if [kind, name] not in created:
            created.append([kind, name])
        rec.write_text(json.dumps(created, indent=1))

    @staticmethod
    def _exists(database: str, name: str) -> bool:
        return _run(["getent", database, name]).returncode == 0

    def _ensure_accounts(self) -> None:
        """The service user and group (JVMs), the operator (stacks log in as it, sudo without password).

        Only what this creates is recorded, and `down` removes exactly that.
        """
        svc, op = C.SERVICE_USER, C.OPERATOR_USER
        steps = [
            ("group", svc, ["groupadd", "--system", svc]),
            ("passwd", svc, ["useradd", "--system", "--gid", svc, "--no-create-home", "--home-dir", "/nonexistent",
                             "--shell", "/usr/sbin/nologin", "--comment", "Kafka service (kafka-tls lab)", svc]),
            # password '*' (no password, not locked): sshd without PAM refuses pubkey logins of locked ('!') accounts
            ("passwd", op, ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", "--password", "*",
                            "--comment", "Kafka operator (kafka-tls lab)", op]),
        ]
        for database, name, argv in steps:
            if self._exists(database, name):
                continue
            r = _run(argv)
            if r.returncode != 0:
                raise LabError(f"{' '.join(argv)} failed: {r.stderr.strip()}")
            self._record_created("group" if database == "group" else "user", name)
            self.log(f"  created {'group' if database == 'group' else 'user'} {name}")
        self._ensure_sudoers()

    def _ensure_sudoers(self) -> None:
        text = f"# kafka-tls lab: the README's rule (\"The hosts\"): the operator runs /bin/bash -c as root\n" \
               f"{SUDOERS_RULE}\n"
        f = Path(C.SUDOERS_FILE)
        if f.is_file() and f.read_text() == text:
            return
        existed = f.exists()
        f.parent.mkdir(mode=0o750, exist_ok=True)
        tmp = f.parent / f".{f.name}.tmp"  # sudo skips names with a dot
        tmp.write_text(text)
        tmp.chmod(0o440)
        r = _run(["visudo", "-cf", str(tmp)])
        if r.returncode != 0:
            tmp.unlink()
            raise LabError(f"visudo rejects the lab's sudoers file: {r.stdout}{r.stderr}")
        tmp.rename(f)
        if not existed:
            self._record_created("file", str(f))
        self.log(f"  wrote {f}")

    def _remove_accounts(self) -> list[str]:
        """Undo _ensure_accounts: remove what it recorded (newest first). Returns what could not be removed."""
        rec = self._accounts_record()
        if not rec.exists():
            return []
        left = []
        for kind, name in reversed(json.loads(rec.read_text())):
            if kind == "file":
                Path(name).unlink(missing_ok=True)
                self.log(f"  removed {name}")
                continue
            database = "group" if kind == "group" else "passwd"
            if not self._exists(database, name):
                continue  # userdel removes a user's own group (USERGROUPS_ENAB)
            argv = ["groupdel", name] if kind == "group" else \
                ["userdel", "--remove", name] if name == C.OPERATOR_USER else ["userdel", name]
            r = _run(argv)
            if r.returncode != 0 and self._exists(database, name):
                left.append(f"{' '.join(argv)}: {r.stderr.strip()}")
            else:
                self.log(f"  removed {kind} {name}")
        if not left:  # otherwise a later down tries again (what is gone is skipped)
            rec.unlink()
        return left

    def _own_service_dirs(self) -> None:
        """/var/lib/kafka and /var/log/kafka belong to the service user (StorageTool format runs as root,
        older labs ran everything as root)."""
        import pwd
        try:
            pw = pwd.getpwnam(C.SERVICE_USER)
        except KeyError:
            raise LabError(f"no user {C.SERVICE_USER}: run `python -m lab up` (it creates the accounts)") from None
        for h in self.hosts:
            for top in (self.lib_dir(h), self.logs_dir(h)):
                for root, dirs, files in os.walk(top):
                    for n in [root, *(os.path.join(root, x) for x in dirs + files)]:
                        st = os.lstat(n)
                        if (st.st_uid, st.st_gid) != (pw.pw_uid, pw.pw_gid):
                            os.lchown(n, pw.pw_uid, pw.pw_gid)

    def host_public_key(self, h: HostSpec) -> str:
        """`ssh-ed25519 AAAA...` (without comment)."""
        parts = (self.sshd_dir(h) / "ssh_host_ed25519_key.pub").read_text().split()
        return f"{parts[0]} {parts[1]}"

    # ------------------------------------------------------------------ /etc/hosts
    @staticmethod
    def _hosts_strip(text: str) -> str:
        out, skip = [], False
        for line in text.splitlines(keepends=True):
            if line.split()[:3] == ["#", "BEGIN", C.HOSTS_MARK]:  # not another slot's kafka-tls-lab-2
                skip = True
                continue
            if skip and line.strip() == HOSTS_END:
                skip = False
                continue
            if not skip:
                out.append(line)
        return "".join(out)

    @staticmethod
    def _hosts_write(text: str) -> None:
        # in place: /etc/hosts may be a bind mount (containers), so never replace the inode
        with open("/etc/hosts", "r+") as f:
            if f.read() == text:
                return
            f.seek(0)
            f.write(text)
            f.truncate()

    def _hosts_block_add(self) -> None:
        base = self._hosts_strip(Path("/etc/hosts").read_text())
        if base and not base.endswith("\n"):
            base += "\n"
        # The short names are the first lab's alone: another lab's would shadow nothing and mislead.
        block = [HOSTS_BEGIN] + [f"{h.address}\t{h.name}" + (f" {h.short}" if C.SLOT == 0 else "") for h in self.hosts] + [HOSTS_END]
        self._hosts_write(base + "\n".join(block) + "\n")

    def _hosts_block_remove(self) -> None:
        text = Path("/etc/hosts").read_text()
        stripped = self._hosts_strip(text)
        if stripped != text:
            self._hosts_write(stripped)

    # ------------------------------------------------------------------ IPv6 addresses
    def _on_lo(self) -> set[str]:
        out = _run(["ip", "-6", "-o", "addr", "show", "dev", "lo"]).stdout
        return {word.split("/")[0] for word in out.split() if "/" in word}

    def _addresses_add(self) -> None:
        """The hosts' IPv6 addresses on lo (127.0.0.0/8 is there already; these are not)."""
        for h in self.hosts:
            if h.address not in self._on_lo():
                r = _run(["ip", "-6", "addr", "add", f"{h.address}/128", "dev", "lo"])
                if r.returncode != 0:
                    raise LabError(f"cannot add {h.address} to lo: {r.stderr.strip()}")

    def _addresses_remove(self) -> None:
        for h in self.hosts:
            if h.address in self._on_lo():
                _run(["ip", "-6", "addr", "del", f"{h.address}/128", "dev", "lo"])

    # ------------------------------------------------------------------ mountpoints
    @staticmethod
    def _created_record() -> Path:
        return C.shared_dir() / "created-paths.json"

    def _mountpoints_create(self) -> None:
        rec = self._created_record()
        created = json.loads(rec.read_text()) if rec.exists() else []
        for mp in [*C.MOUNTPOINTS, "/run/sshd"]:
            missing = []
            p = Path(mp)
            while not p.exists():
                missing.append(str(p))
                p = p.parent
            for m in reversed(missing):
                os.mkdir(m, 0o755)
                if m not in created:
                    created.append(m)
        rec.write_text(json.dumps(created, indent=1))

    def _mountpoints_remove(self) -> list[str]:
        rec = self._created_record()
        if not rec.exists():
            return []
        left = []
        for m in reversed(json.loads(rec.read_text())):
            try:
                os.rmdir(m)
            except FileNotFoundError:
                pass
            except OSError as e:
                left.append(f"{m}: {e}")
        if not left:
            rec.unlink()
        return left

    # ------------------------------------------------------------------ sshd
    def sshd_pid(self, h: HostSpec) -> Optional[int]:
        f = self.sshd_dir(h) / "launcher.pid"
        try:
            pid = int(f.read_text())
        except (OSError, ValueError):
            return None
        if procs.alive(pid) and "sshd" in procs.cmdline(pid) and str(self.sshd_dir(h)) in procs.cmdline(pid):
            return pid
        return None

    def _start_sshd(self, h: HostSpec) -> None:
        if self.sshd_pid(h):
            return
        if _tcp_open(h.address, C.SSH_PORT, 0.5):
            raise LabError(f"{h.address}:{C.SSH_PORT} is taken by a process that is not this lab's sshd")
        binds = [(self.etc_dir(h), C.ETC_KAFKA), (self.lib_dir(h), C.VAR_LIB_KAFKA),
                 (self.logs_dir(h), C.VAR_LOG_KAFKA), (self.opt_dir(h), C.OPT_KAFKA),
                 (self.cache_dir(h), C.VAR_CACHE_KAFKA_TLS),
                 (C.libs_dir(), C.LIBS_ON_HOST)]  # onto the opt-kafka/libs mountpoint, after /opt/kafka
        script = " && ".join(f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in binds)
        cfg = self.sshd_dir(h) / "sshd_config"
        script += f" && exec /usr/sbin/sshd -D -f {shlex.quote(str(cfg))} -E {shlex.quote(str(self.sshd_dir(h) / 'sshd.log'))}"
        env = dict(os.environ, KAFKA_TLS_LAB_DIR=str(self.dir), KAFKA_TLS_LAB_HOST=h.name)
        out = open(self.sshd_dir(h) / "launcher.out", "ab")
        p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, env=env, close_fds=True)
        out.close()
        self._children[p.pid] = p
        (self.sshd_dir(h) / "launcher.pid").write_text(str(p.pid))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise LabError(f"sshd of {h.name} exited ({p.returncode}):\n"
                               + (self.sshd_dir(h) / "launcher.out").read_text()[-2000:]
                               + (self.sshd_dir(h) / "sshd.log").read_text()[-2000:]
                               if (self.sshd_dir(h) / "sshd.log").exists() else "")
            if _tcp_open(h.address, C.SSH_PORT, 0.5):
                ns = procs.mnt_ns(p.pid)
                if ns == procs.mnt_ns(os.getpid()):
                    raise LabError(f"sshd of {h.name} is not in a private mount namespace")
                (self.sshd_dir(h) / "mntns").write_text(ns or "")
                return
            time.sleep(0.1)
        raise LabError(f"sshd of {h.name} did not listen on {h.address}:{C.SSH_PORT} within 30s")

    def _start_sshd_all(self) -> None:
        _parallel(self._start_sshd, self.hosts)
        # check login + host key + private /etc/kafka view on every host; the operator logs in and sudoes
        def check(h):
            r = self.ssh(h.name, f"test -f {self.config_file(h)} && test -r {C.LIBS_ON_HOST}/kafka_2.13-{C.KAFKA_VERSION}.jar"
                                 f" && echo ok", timeout=30)
            if r.returncode != 0 or "ok" not in r.stdout:
                raise LabError(f"ssh to {h.name} failed ({r.returncode}): {r.stdout}{r.stderr}")
            r = self.ssh(h.name, sudo_bash("true") + " && echo ok", user=C.OPERATOR_USER, timeout=30)
            if r.returncode != 0 or "ok" not in r.stdout:
                raise LabError(f"ssh/sudo as {C.OPERATOR_USER} to {h.name} failed ({r.returncode}): {r.stdout}{r.stderr}")
        _parallel(check, self.hosts)

    # ------------------------------------------------------------------ ssh
    def ssh_options(self) -> list[str]:
        return ["-F", "/dev/null", "-i", str(self.key), "-o", "IdentitiesOnly=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "-p", str(C.SSH_PORT)]

    def ssh(self, host: str, command: str, input: Union[str, bytes, None] = None,
            timeout: Optional[float] = 300, check: bool = False, user: str = C.SSH_USER) -> subprocess.CompletedProcess:
        """Run `command` on a lab host over SSH (host key checked), as root unless `user` says otherwise
        (C.OPERATOR_USER: as a stack logs in). Text output unless input is bytes."""
        h = C.find_host(host)
        argv = ["ssh", *self.ssh_options(), f"{user}@{h.name}", command]
        text = not isinstance(input, bytes)
        return subprocess.run(argv, input=input, capture_output=True, text=text, timeout=timeout, check=check,
                              stdin=subprocess.DEVNULL if input is None else None)

    # ------------------------------------------------------------------ kafka
    def _format_all(self) -> None:
        cid = self.cluster_id

        def fmt(h):
            if (self.lib_dir(h) / "data" / "meta.properties").exists():
                return
            r = self.ssh(h.name, f"{C.OPT_KAFKA}/bin/kafka-run-class kafka.tools.StorageTool format "
                                 f"-t {cid} -c {C.SERVER_PROPERTIES}", timeout=300)
            if r.returncode != 0:
                raise LabError(f"StorageTool format on {h.name} failed:\n{r.stdout}\n{r.stderr}")
            self.log(f"  {h.name}: {r.stdout.strip().splitlines()[-1] if r.stdout.strip() else 'formatted'}")
        _parallel(fmt, C.BROKERS)

    def service(self, host: str, action: str, timeout: float = 300, stop_timeout: Optional[int] = None) -> subprocess.CompletedProcess:
        """`kafka-service <action> <service>` on a host over SSH; `stop_timeout` (s) before a stop
        turns into SIGKILL (the script's own default otherwise)."""
        h = C.find_host(host)
        env = f"KAFKA_SERVICE_STOP_TIMEOUT={int(stop_timeout)} " if stop_timeout is not None else ""
        return self.ssh(h.name, f"{env}{C.SERVICE_SCRIPT} {action} {h.service}", timeout=timeout)

    def _service_all(self, action: str, hosts: list[HostSpec], stop_timeout: Optional[int] = None) -> None:
        def run(h):
            r = self.service(h.name, action, stop_timeout=stop_timeout)
            if r.returncode != 0:
                said = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("kafka-service")]
                raise LabError(f"kafka-service {action} {h.service} on {h.name} failed ({r.returncode})"
                               f"{': ' + said[-1] if said else ''}\n{r.stdout}\n{r.stderr}")
            for line in r.stdout.strip().splitlines()[-1:]:
                self.log(f"  {line}")
        _parallel(run, hosts)

    def service_pid(self, host: str) -> Optional[int]:
        h = C.find_host(host)
        f = self.local_path(h, f"{C.RUN_DIR}/{h.service}.pid")
        try:
            pid = int(f.read_text())
        except (OSError, ValueError):
            return None
        return pid if procs.alive(pid) else None

    def kafka_tool(self, main_class: str, *args: str, timeout: float = 300, check: bool = False,
                   input: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run a Kafka tool class on this machine, e.g. kafka_tool("org.apache.kafka.tools.TopicCommand", ...)."""
        return subprocess.run([str(self.java_cmd), main_class, *args], capture_output=True, text=True,
                              timeout=timeout, check=check, input=input)

    def wait_quorum(self, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            r = self.kafka_tool("org.apache.kafka.tools.MetadataQuorumCommand",
                                "--bootstrap-server", self.bootstrap_servers, "describe", "--status", timeout=120)
            last = r.stdout + r.stderr
            if r.returncode == 0:
                for line in r.stdout.splitlines():
                    if line.strip().startswith("LeaderId:") and int(line.split(":")[1]) >= 0:
                        self.log(f"  quorum leader: node {int(line.split(':')[1])}")
                        return r.stdout
            time.sleep(1)
        raise LabError(f"no quorum leader within {timeout}s:\n{last[-3000:]}")

    def admin(self, **conf):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.bootstrap_servers, **conf})

    def ensure_topic(self, name: str, partitions: int = 1, replication: int = 3, config: Optional[dict] = None,
                     timeout: float = 60) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import NewTopic
        admin = self.admin()
        fut = admin.create_topics([NewTopic(name, partitions, replication, config=config or {})],
                                  operation_timeout=timeout, request_timeout=timeout)[name]
        try:
            fut.result(timeout)
        except KafkaException as e:
            if e.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS
                raise
        # metadata reaches the brokers shortly after the controller commits: wait until it is served
        deadline = time.monotonic() + timeout
        while True:
            md = admin.list_topics(name, timeout=10).topics.get(name)
            if md is not None and md.error is None and len(md.partitions) == partitions and all(
                    len(p.replicas) == replication for p in md.partitions.values()):
                return
            if time.monotonic() > deadline:
                raise LabError(f"topic {name} not in the metadata within {timeout}s: {md}")
            time.sleep(0.3)

    def roundtrip(self, timeout: float = 120) -> None:
        """Produce one message to a RF-3 topic and read it back (confluent-kafka, plaintext)."""
        from confluent_kafka import Consumer, Producer, TopicPartition
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                self.ensure_topic(HEALTH_TOPIC, 1, 3, {"min.insync.replicas": "2"})
                token = uuid.uuid4().hex.encode()
                got = {}
                p = Producer({"bootstrap.servers": self.bootstrap_servers, "acks": "all",
                              "message.timeout.ms": 20000})
                p.produce(HEALTH_TOPIC, token, on_delivery=lambda err, msg: got.update(err=err, msg=msg))
                p.flush(30)
                if not got or got["err"] is not None:
                    raise LabError(f"delivery failed: {got.get('err')}")
                off = got["msg"].offset()
                c = Consumer({"bootstrap.servers": self.bootstrap_servers, "group.id": f"lab-{uuid.uuid4().hex}",
                              "enable.auto.commit": False})
                try:
                    c.assign([TopicPartition(HEALTH_TOPIC, 0, off)])
                    end = time.monotonic() + 30
                    while time.monotonic() < end:
                        m = c.poll(1.0)
                        if m is not None and not m.error() and m.value() == token:
                            return
                finally:
                    c.close()
                raise LabError("message not consumed back within 30s")
            except Exception as e:  # noqa: BLE001 - retry until deadline
                last = e
                time.sleep(2)
        raise LabError(f"produce/consume round trip failed within {timeout}s: {last!r}")

    def connect_get(self, path: str = "/", timeout: float = 10):
        with urllib.request.urlopen(self.connect_url + path, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")

    def wait_connect(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                status, _ = self.connect_get("/connectors")
                if status == 200:
                    return
            except Exception as e:  # noqa: BLE001
                last = e
            time.sleep(1)
        raise LabError(f"Connect REST {self.connect_url}/connectors did not answer within {timeout}s: {last!r}")

    # ------------------------------------------------------------------ inventory
    def _write_inventory(self) -> dict:
        hosts = []
        for h in self.hosts:
            hosts.append({
                "name": h.name,
                "short_name": h.short,
                "address": h.address,
                "ssh_port": C.SSH_PORT,
                "ssh_user": C.OPERATOR_USER,  # what stacks log in as (the lab's own checks use root)
                "role": h.role,
                "node_id": h.node_id,
                "host_key": self.host_public_key(h),
                "service": h.service,
                "paths": {
                    "server_properties": C.SERVER_PROPERTIES if h.role == "broker" else None,
                    "connect_properties": C.CONNECT_PROPERTIES if h.role == "connect" else None,
                    "config_dir": C.ETC_KAFKA,
                    "ssl_dir": C.SSL_DIR,
                    "data_dir": C.DATA_DIR if h.role == "broker" else None,
                    "log_dir": C.VAR_LOG_KAFKA,
                    "libs_dir": C.LIBS_ON_HOST,
                    "service_script": C.SERVICE_SCRIPT,
                },
                "restart_command": self.restart_command(h),
                "pid_file": f"{C.RUN_DIR}/{h.service}.pid",
                "listeners": (self._broker_listeners(h) if h.role == "broker"
                              else {"REST": f"http://{h.name}:{C.CONNECT_PORT}"}),
                "state_dir": str(self.host_dir(h)),
            })
        inv = {
            "lab_dir": str(self.dir),
            "kafka_version": C.KAFKA_VERSION,
            "ssh_private_key": str(self.key),
            "ssh_public_key": (Path(f"{self.key}.pub").read_text().strip()),
            "known_hosts": str(self.known_hosts),
            "cluster_id": self.cluster_id,
            "bootstrap_servers": self.bootstrap_servers,
            "connect_rest_url": self.connect_url,
            "libs_dir": str(C.libs_dir()),
            "java_cmd": str(self.java_cmd),
            "operator_user": C.OPERATOR_USER,
            "service_user": C.SERVICE_USER,
            "listener_layout": self.layout,
            "hosts": hosts,
        }
        tmp = self.inventory_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(inv, indent=2) + "\n")
        tmp.rename(self.inventory_path)
        return inv

    def _broker_listeners(self, h: HostSpec) -> dict:
        if self.layout == "named":
            return {"INTERNAL": f"{h.name}:{C.BROKER_PORT}", "EXTERNAL": f"{h.name}:{C.NAMED_EXTERNAL_PORT}",
                    "CONTROLLER": f"{h.name}:{C.CONTROLLER_PORT}"}
        return {"PLAINTEXT": f"{h.name}:{C.BROKER_PORT}", "CONTROLLER": f"{h.name}:{C.CONTROLLER_PORT}"}

    def inventory(self) -> dict:
        if not self.inventory_path.exists():
            raise LabError(f"{self.inventory_path} missing: run `python -m lab up`")
        return json.loads(self.inventory_path.read_text())

    # ------------------------------------------------------------------ status
    def namespaces(self) -> list[str]:
        out = []
        for h in self.hosts:
            f = self.sshd_dir(h) / "mntns"
            if f.exists() and f.read_text().strip():
                out.append(f.read_text().strip())
        return out

    def processes(self) -> list[int]:
        """Every live process of this lab (sshd, sessions, JVMs)."""
        return procs.lab_pids(str(self.dir), self.namespaces())

    def status(self) -> dict:
        res = {"lab_dir": str(self.dir), "exists": self.dir.exists(), "hosts": {}}
        total_rss = 0
        for h in self.hosts:
            sshd = self.sshd_pid(h) if self.dir.exists() else None
            svc = self.service_pid(h.name) if self.dir.exists() else None
            res["hosts"][h.name] = {
                "address": h.address, "role": h.role,
                "sshd_pid": sshd, "ssh_port_open": _tcp_open(h.address, C.SSH_PORT, 0.5),
                "service": h.service, "service_pid": svc,
                "service_rss_mb": round(procs.rss_kb(svc) / 1024, 1) if svc else None,
            }
        pl = self.processes() if self.dir.exists() else []
        total_rss = sum(procs.rss_kb(p) for p in pl)
        res["processes"] = len(pl)
        res["total_rss_mb"] = round(total_rss / 1024, 1)
        res["hosts_block"] = HOSTS_BEGIN in Path("/etc/hosts").read_text()
        return res

    # ------------------------------------------------------------------ reset
    def pristine_problem(self, layout: str = "default") -> Optional[str]:
        """Why the lab is not as `reset_plaintext(layout)` leaves it, or None when it is.

        Cheap (files on this machine, pid files and /proc; no SSH, no Kafka request), so a test asks it
        first and resets only when the answer is not None (lab.fixtures.pristine_lab). Pristine: the
        recorded layout is `layout`; every host's /etc/kafka holds its properties file and nothing else, as
        the templates render it, root:root 0644; every service runs, and started after that file was
        written (a file put back without a restart is not what the JVM serves). Dynamic broker configs
        and topics are not looked at.
        """
        if self.layout != layout:
            return f"the listener layout is {self.layout!r}, not {layout!r}"
        for h in self.hosts:
            path = self.config_file(h)
            name = path.rsplit("/", 1)[1]
            want = templates.server_properties(h, layout) if h.role == "broker" else templates.connect_properties(h)
            try:
                names = sorted(os.listdir(self.etc_dir(h)))
                f = self.etc_dir(h) / name
                st = f.lstat()
                if names != [name]:
                    return f"{h.name}: {C.ETC_KAFKA} holds {names}, not just {name}"
                if not stat.S_ISREG(st.st_mode) or (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (0, 0, 0o644):
                    return f"{h.name}: {path} is not a root:root 0644 file"
                if f.read_text(errors="replace") != want:
                    return f"{h.name}: {path} is not the pristine {layout!r} file"
                if not self.service_pid(h.name):
                    return f"{h.name}: {h.service} is not running"
                started = self.local_path(h, f"{C.RUN_DIR}/{h.service}.pid").stat().st_mtime_ns
            except OSError as e:
                return f"{h.name}: {e}"
            if st.st_mtime_ns > started:
                return f"{h.name}: {path} was written after {h.service} started"
        return None

    def ensure_pristine(self, layout: str = "default") -> None:
        """The lab as `reset_plaintext(layout)` leaves it, resetting only when it is not (a reset costs
        about a minute; a module after a `destroy` finds the lab pristine). The lab's stack state goes
        either way: no stack starts from another module's resources."""
        why = self.pristine_problem(layout)
        if why is None:
            self._drop_stack_state()
            return
        self.log(f"not pristine ({why}): reset")
        self.reset_plaintext(layout)
        if why := self.pristine_problem(layout):
            raise LabError(f"the lab is not pristine after a reset: {why}")

    def _drop_stack_state(self) -> None:
        """The lab's stacks' state, in its file backend and in its PostgreSQL if one runs."""
        if self.pulumi_dir.exists():
            shutil.rmtree(self.pulumi_dir)
            self.log(f"  removed the Pulumi stack state of the lab ({self.pulumi_dir})")
        StateServer(self.dir).forget_state()

    def reset_plaintext(self, layout: str = "default") -> None:
        """Put back the pristine plaintext config on every host, remove everything else from /etc/kafka
        (ssl/, *.kafka-tls.orig, ...), restart the services, and drop the state of the lab's Pulumi stacks.

        `layout` ("default" | "named", see C.LAYOUTS) picks the brokers' listeners; it becomes the recorded
        layout that later up() recoveries reset to. Brokers are stopped together and started together: a
        rolling return from an SSL controller quorum to a plaintext one (or a change of listener names) cannot
        work one broker at a time. Dynamic broker configs (KIP-226) are deleted.
        """
        if layout not in C.LAYOUTS:
            raise LabError(f"unknown listener layout {layout!r} (known: {', '.join(C.LAYOUTS)})")
        t = time.monotonic()
        with self.step("reset: stop services"):
            self._service_all("stop", C.CONNECT_HOSTS)
            # Stopped together, the last combined node has no quorum left to grant its controlled
            # shutdown and would wait out the script's whole stop timeout (30 s). A SIGKILL after a
            # few seconds loses nothing written (it is in the page cache); the start recovers the logs.
            self._service_all("stop", C.BROKERS, stop_timeout=self.RESET_STOP_TIMEOUT)
        with self.step(f"reset: pristine files ({layout} layout)"):
            for h in self.hosts:  # from the templates: a pristine folder of an older lab is refreshed too
                self._write_pristine(h, layout)
            (self.dir / "layout").write_text(layout + "\n")
            for h in self.hosts:
                self._restore_pristine_etc(h)
        self._drop_stack_state()  # it describes files that are gone now
        self._own_service_dirs()
        with self.step("reset: start brokers"):
            self._service_all("start", C.BROKERS)
            self.wait_quorum()
        with self.step("reset: clear dynamic broker configs"):
            self._clear_dynamic_broker_configs()
        with self.step("reset: start Connect"):
            self._service_all("start", C.CONNECT_HOSTS)
            self.roundtrip()
            self.wait_connect()
        if self.inventory_path.exists():
            self._write_inventory()  # the listeners follow the layout
        self.log(f"reset_plaintext done ({time.monotonic() - t:.1f}s)")

    def _clear_dynamic_broker_configs(self) -> None:
        from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                           ResourceType)
        admin = self.admin()
        # per-broker dynamic configs (how KIP-226 keystore updates are set); the cluster-wide default
        # resource cannot be named through confluent-kafka's describe_configs
        for h in C.BROKERS:  # one BROKER resource per call
            res = ConfigResource(ResourceType.BROKER, str(h.node_id))
            entries = admin.describe_configs([res])[res].result(30)
            dyn = [name for name, e in entries.items() if e.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value]
            if not dyn:
                continue
            self.log(f"  broker {res.name}: deleting dynamic configs {dyn}")
            r = ConfigResource(ResourceType.BROKER, res.name, incremental_configs=[
                ConfigEntry(n, None, incremental_operation=AlterConfigOpType.DELETE) for n in dyn])
            for f in admin.incremental_alter_configs([r]).values():
                f.result(30)

    # ------------------------------------------------------------------ down
    def reimage(self, host: str) -> None:
        """``host`` as if rebuilt from its image: a new SSH host key (sshd reloads it; the lab's
        known_hosts and inventory follow), /etc/kafka back to the pristine properties file alone,
        and its service restarted on it (plaintext). Its Kafka data stays, as on a disk kept."""
        h = C.find_host(host)
        with self.step(f"re-image {h.name}"):
            self.service(h.name, "stop")
            key = self.sshd_dir(h) / "ssh_host_ed25519_key"
            key.unlink()
            Path(f"{key}.pub").unlink()
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{h.name}", "-f", str(key)], check=True)
            pid = self.sshd_pid(h)
            if pid is None:
                raise LabError(f"sshd of {h.name} is not running")
            os.kill(pid, signal.SIGHUP)  # sshd -D re-executes itself and reads its host key again
            self._write_known_hosts()
            self._write_inventory()
            self._restore_pristine_etc(h)
            deadline = time.monotonic() + 30
            while self.ssh(h.name, "true", timeout=10).returncode != 0:
                if time.monotonic() > deadline:
                    raise LabError(f"sshd of {h.name} does not take the new host key")
                time.sleep(0.5)
            started = self.service(h.name, "start")
            if started.returncode != 0:
                raise LabError(f"{h.name} did not start on its pristine file: {started.stdout}{started.stderr}")

    def state_server(self) -> StateServer:
        """The lab's PostgreSQL for Pulumi state (lab.postgres), started if it is not running."""
        with self.step("PostgreSQL for Pulumi state"):
            self._apt_install("postgresql", str(POSTGRES_BIN / "pg_ctl"))
            return StateServer(self.dir).start()

    def down(self) -> None:
        self._t0 = time.monotonic()
        self.log(f"lab down: {self.dir}")
        with self.step("stop PostgreSQL (if a test started it)"):
            StateServer(self.dir).stop()
        with self.step("kill lab processes"):
            pl = self.processes()
            for h in self.hosts:
                p = self.sshd_pid(h) if self.dir.exists() else None
                if p and p not in pl:
                    pl.append(p)
            left = procs.kill_all(pl)
            for p in list(self._children.values()):
                p.poll()
            self._children.clear()
            self.log(f"  killed {len(pl)} processes")
            if left:
                raise LabError(f"processes still alive after SIGKILL: {left}")
        if C.IPV6:
            with self.step("remove the IPv6 addresses from lo"):
                self._addresses_remove()
        with _shared_lock():
            with self.step("remove /etc/hosts block"):
                self._hosts_block_remove()
            others = _other_labs()
            if others:
                self.log(f"  {', '.join(others)} still up: the accounts, sudoers file and mountpoints stay for them")
            else:
                with self.step("remove the accounts and sudoers file up created"):
                    left = self._remove_accounts()
                    if left:
                        raise LabError(f"could not remove: {left}")
                with self.step("remove created mountpoints"):
                    left = self._mountpoints_remove()
                    if left:
                        self.log(f"  could not remove: {left}")
        with self.step("remove the state folder"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.log(f"lab down: done in {time.monotonic() - self._t0:.1f}s")
