"""Kafka jars from Maven Central, cached per version in ${KAFKA_TLS_CACHE:-~/.cache/kafka-tls}/kafka-<v>/libs."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import config as C

POM = Path(__file__).with_name("kafka") / "pom.xml"
COMPAT_SRC = Path(__file__).with_name("kafka") / "compat"
COMPAT_JAR = "kafka-lab-compat.jar"
MARKER = ".complete"  # written after a successful copy: pom hash + jar list


def _pom_hash() -> str:
    h = hashlib.sha256(POM.read_bytes())
    for src in sorted(COMPAT_SRC.rglob("*.java")):
        h.update(src.read_bytes())
    return h.hexdigest()


def _build_compat(libs: Path) -> None:
    """Compile the compat shims (lab/kafka/compat) against the resolved jars into kafka-lab-compat.jar."""
    sources = sorted(str(p) for p in COMPAT_SRC.rglob("*.java"))
    if not sources:
        return
    with tempfile.TemporaryDirectory() as classes:
        subprocess.run(["javac", "-nowarn", "--release", "17", "-cp", f"{libs}/*", "-d", classes, *sources],
                       check=True, capture_output=True)
        subprocess.run(["jar", "cf", str(libs / COMPAT_JAR), "-C", classes, "."], check=True, capture_output=True)


def libs_complete(libs: Path) -> bool:
    marker = libs / MARKER
    if not marker.is_file():
        return False
    lines = marker.read_text().splitlines()
    if not lines or lines[0] != _pom_hash():
        return False
    return all((libs / j).is_file() for j in lines[1:]) and len(lines) > 1


def ensure_libs(version: str = C.KAFKA_VERSION, log=print) -> Path:
    """Return the libs folder, resolving it with Maven only when it is not complete."""
    libs = C.libs_dir(version)
    if libs_complete(libs):
        return libs
    if not shutil.which("mvn"):
        raise RuntimeError("mvn not found: install Maven (apt-get install -y maven)")
    libs.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="libs.", dir=libs.parent))
    cmd = ["mvn", "-q", "-B", "-f", str(POM), f"-Dkafka.version={version}",
           "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
    repo = os.environ.get("KAFKA_TLS_MAVEN_REPO_LOCAL")
    if repo:
        cmd.insert(1, f"-Dmaven.repo.local={repo}")
    log(f"resolving Kafka {version} with Maven into {libs}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"mvn failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    try:
        _build_compat(tmp)
    except subprocess.CalledProcessError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"compiling lab/kafka/compat failed: {e.stderr}") from e
    jars = sorted(p.name for p in tmp.glob("*.jar"))
    if not any(j.startswith("kafka_2.13-") for j in jars):
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"mvn produced no kafka_2.13 jar in {tmp}")
    (tmp / MARKER).write_text("\n".join([_pom_hash(), *jars]) + "\n")
    tmp.chmod(0o755)  # mkdtemp makes 0700; the service user reads the jars (bind-mounted at /opt/kafka/libs)
    if libs.exists():
        shutil.rmtree(libs)
    tmp.rename(libs)
    return libs
