"""The lab: four SSH hosts on loopback addresses running a 3-node KRaft cluster and a Connect worker."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
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

HOSTS_BEGIN = f"# BEGIN {C.HOSTS_MARK} (added by `python -m lab up`, removed by `down`)"
HOSTS_END = f"# END {C.HOSTS_MARK}"
HEALTH_TOPIC = "lab-healthcheck"


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
        with self.step("/etc/hosts block"):
            self._hosts_block_add()
        with self.step("mountpoints"):
            self._mountpoints_create()
        with self.step("sshd on every host"):
            self._start_sshd_all()
        with self.step("storage format (first start only)"):
            self._format_all()
        with self.step("brokers"):
            self._service_all("start", C.BROKERS)
        with self.step("quorum leader"):
            self.wait_quorum()
        with self.step("Connect worker"):
            self._service_all("start", C.CONNECT_HOSTS)
        with self.step("produce/consume round trip"):
            self.roundtrip()
        with self.step("Connect REST"):
            self.wait_connect()
        inv = self._write_inventory()
        self.log(f"lab up: ready in {time.monotonic() - self._t0:.1f}s; inventory {self.inventory_path}")
        return inv

    def _prerequisites(self) -> None:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (mount namespaces, /etc/hosts, port 22)")
        if not os.path.exists("/usr/sbin/sshd"):
            self.log("  installing openssh-server (apt-get)")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            r = subprocess.run(["apt-get", "install", "-y", "openssh-server"], capture_output=True, text=True, env=env)
            if r.returncode != 0:
                subprocess.run(["apt-get", "update"], capture_output=True, env=env)
                r = subprocess.run(["apt-get", "install", "-y", "openssh-server"], capture_output=True, text=True, env=env)
            if r.returncode != 0 or not os.path.exists("/usr/sbin/sshd"):
                raise LabError(f"cannot install openssh-server:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        for tool in ("java", "ssh", "ssh-keygen", "unshare", "mount"):
            if not shutil.which(tool):
                raise LabError(f"{tool} not found on PATH")

    def _init_state(self, libs: Path) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ssh_dir.mkdir(mode=0o700, exist_ok=True)
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kafka-tls-lab",
                            "-f", str(self.key)], check=True)
        shutil.copyfile(f"{self.key}.pub", self.authorized_keys)
        cid = self.dir / "cluster_id"
        if not cid.exists():
            cid.write_text(_random_cluster_id() + "\n")
        # local tool runner (java_cmd)
        self.bin_dir.mkdir(exist_ok=True)
        (self.bin_dir / "log4j2-tools.properties").write_text(templates.LOG4J2_TOOLS)
        self.java_cmd.write_text(templates.java_cmd_script(str(libs), str(self.bin_dir / "log4j2-tools.properties")))
        self.java_cmd.chmod(0o755)
        known = []
        for h in self.hosts:
            first = not self.host_dir(h).exists()
            for d in (self.etc_dir(h), self.lib_dir(h), self.logs_dir(h), self.opt_dir(h), self.sshd_dir(h),
                      self.pristine_dir(h)):
                d.mkdir(parents=True, exist_ok=True)
            (self.etc_dir(h) / "ssl").mkdir(exist_ok=True)
            if first:
                # the only time the lab writes the program-owned properties files
                self._write_pristine(h)
                for f in self.pristine_dir(h).iterdir():
                    shutil.copyfile(f, self.etc_dir(h) / f.name)
            # lab-owned files, refreshed on every up
            opt = self.opt_dir(h)
            for d in ("bin", "config", "plugins"):
                (opt / d).mkdir(exist_ok=True)
            link = opt / "libs"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(libs)
            (opt / "host.env").write_text(templates.host_env(h, str(self.dir)))
            (opt / "config" / "log4j2.properties").write_text(templates.LOG4J2_SERVICE)
            (opt / "config" / "log4j2-tools.properties").write_text(templates.LOG4J2_TOOLS)
            svc = opt / "bin" / "kafka-service"
            svc.write_text(templates.SERVICE_SCRIPT)
            svc.chmod(0o755)
            krc = opt / "bin" / "kafka-run-class"
            krc.write_text(templates.java_cmd_script(C.LIBS_ON_HOST, f"{C.OPT_KAFKA}/config/log4j2-tools.properties"))
            krc.chmod(0o755)
            hk = self.sshd_dir(h) / "ssh_host_ed25519_key"
            if not hk.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{h.name}",
                                "-f", str(hk)], check=True)
            (self.sshd_dir(h) / "sshd_config").write_text(templates.SSHD_CONFIG.format(
                name=h.name, port=C.SSH_PORT, address=h.address, host_key=hk,
                pid_file=self.sshd_dir(h) / "sshd.pid", authorized_keys=self.authorized_keys, lab_dir=self.dir))
            known.append(f"{h.name},{h.address} {self.host_public_key(h)}")
        self.known_hosts.write_text("\n".join(known) + "\n")

    def _write_pristine(self, h: HostSpec) -> None:
        p = self.pristine_dir(h)
        if h.role == "broker":
            (p / "server.properties").write_text(templates.server_properties(h))
        else:
            (p / "connect-avro-distributed.properties").write_text(templates.connect_properties(h))

    def host_public_key(self, h: HostSpec) -> str:
        """`ssh-ed25519 AAAA...` (without comment)."""
        parts = (self.sshd_dir(h) / "ssh_host_ed25519_key.pub").read_text().split()
        return f"{parts[0]} {parts[1]}"

    # ------------------------------------------------------------------ /etc/hosts
    @staticmethod
    def _hosts_strip(text: str) -> str:
        out, skip = [], False
        for line in text.splitlines(keepends=True):
            if line.startswith(f"# BEGIN {C.HOSTS_MARK}"):
                skip = True
                continue
            if skip and line.startswith(HOSTS_END):
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
        block = [HOSTS_BEGIN] + [f"{h.address}\t{h.name} {h.short}" for h in self.hosts] + [HOSTS_END]
        self._hosts_write(base + "\n".join(block) + "\n")

    def _hosts_block_remove(self) -> None:
        text = Path("/etc/hosts").read_text()
        stripped = self._hosts_strip(text)
        if stripped != text:
            self._hosts_write(stripped)

    # ------------------------------------------------------------------ mountpoints
    def _created_record(self) -> Path:
        return self.dir / "created-paths.json"

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
                 (self.logs_dir(h), C.VAR_LOG_KAFKA), (self.opt_dir(h), C.OPT_KAFKA)]
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
        # check login + host key + private /etc/kafka view on every host
        def check(h):
            r = self.ssh(h.name, f"test -f {self.config_file(h)} && echo ok", timeout=30)
            if r.returncode != 0 or "ok" not in r.stdout:
                raise LabError(f"ssh to {h.name} failed ({r.returncode}): {r.stdout}{r.stderr}")
        _parallel(check, self.hosts)

    # ------------------------------------------------------------------ ssh
    def ssh_options(self) -> list[str]:
        return ["-F", "/dev/null", "-i", str(self.key), "-o", "IdentitiesOnly=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "-p", str(C.SSH_PORT)]

    def ssh(self, host: str, command: str, input: Union[str, bytes, None] = None,
            timeout: Optional[float] = 300, check: bool = False) -> subprocess.CompletedProcess:
        """Run `command` on a lab host as root over SSH (host key checked). Text output unless input is bytes."""
        h = C.find_host(host)
        argv = ["ssh", *self.ssh_options(), f"{C.SSH_USER}@{h.name}", command]
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

    def service(self, host: str, action: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`kafka-service <action> <service>` on a host over SSH."""
        h = C.find_host(host)
        return self.ssh(h.name, f"{C.SERVICE_SCRIPT} {action} {h.service}", timeout=timeout)

    def _service_all(self, action: str, hosts: list[HostSpec]) -> None:
        def run(h):
            r = self.service(h.name, action)
            if r.returncode != 0:
                raise LabError(f"kafka-service {action} {h.service} on {h.name} failed ({r.returncode}):\n"
                               f"{r.stdout}\n{r.stderr}")
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
                "ssh_user": C.SSH_USER,
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
                "listeners": ({"PLAINTEXT": f"{h.name}:{C.BROKER_PORT}", "CONTROLLER": f"{h.name}:{C.CONTROLLER_PORT}"}
                              if h.role == "broker" else {"REST": f"http://{h.name}:{C.CONNECT_PORT}"}),
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
            "hosts": hosts,
        }
        tmp = self.inventory_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(inv, indent=2) + "\n")
        tmp.rename(self.inventory_path)
        return inv

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
    def reset_plaintext(self) -> None:
        """Put back the pristine plaintext config on every host, empty /etc/kafka/ssl, restart the services.

        Brokers are stopped together and started together: a rolling return from an SSL controller quorum
        to a plaintext one cannot work one broker at a time. Dynamic broker configs (KIP-226) are deleted.
        """
        t = time.monotonic()
        with self.step("reset: stop services"):
            self._service_all("stop", C.CONNECT_HOSTS)
            self._service_all("stop", C.BROKERS)
        with self.step("reset: pristine files"):
            for h in self.hosts:
                etc = self.etc_dir(h)
                keep = {f.name for f in self.pristine_dir(h).iterdir()}
                for f in etc.iterdir():
                    if f.name in keep or f.name == "ssl":
                        continue
                    shutil.rmtree(f) if f.is_dir() and not f.is_symlink() else f.unlink()
                ssl = etc / "ssl"
                if ssl.is_symlink() or ssl.is_file():
                    ssl.unlink()
                ssl.mkdir(exist_ok=True)
                for f in ssl.iterdir():
                    shutil.rmtree(f) if f.is_dir() and not f.is_symlink() else f.unlink()
                for f in self.pristine_dir(h).iterdir():
                    shutil.copyfile(f, etc / f.name)
        with self.step("reset: start brokers"):
            self._service_all("start", C.BROKERS)
            self.wait_quorum()
        with self.step("reset: clear dynamic broker configs"):
            self._clear_dynamic_broker_configs()
        with self.step("reset: start Connect"):
            self._service_all("start", C.CONNECT_HOSTS)
            self.roundtrip()
            self.wait_connect()
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
    def down(self) -> None:
        self._t0 = time.monotonic()
        self.log(f"lab down: {self.dir}")
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
        with self.step("remove /etc/hosts block"):
            self._hosts_block_remove()
        with self.step("remove created mountpoints and the state folder"):
            left = self._mountpoints_remove()
            if left:
                self.log(f"  could not remove: {left}")
            shutil.rmtree(self.dir, ignore_errors=True)
        self.log(f"lab down: done in {time.monotonic() - self._t0:.1f}s")
