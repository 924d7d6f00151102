"""Offline checks of docker-compose.yml, Dockerfile and .dockerignore.

No Docker engine runs here. Debian's docker-compose 1.29.2 validates a compose file
without one (`config` exits non-zero on unknown keys and wrong types), so these tests
prove the *shape* of the stack: which services exist, pinned images, health checks,
start order, worker settings. They cannot prove that the images pull, that the
containers start, or that the health checks pass; that needs an engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = ["grafana", "prometheus", "store-db", "temporal", "temporal-db", "temporal-ui", "worker"]
DATABASES = {"temporal-db": "temporal-db-data", "store-db": "store-db-data"}
IMAGE_SERVICES = ["grafana", "prometheus", "store-db", "temporal", "temporal-db", "temporal-ui"]
# repository:tag with a version-like tag (digit first), optionally @sha256:digest
PINNED_IMAGE = re.compile(r"^[a-z0-9./_-]+:(?P<tag>v?\d[\w.-]*)(@sha256:[0-9a-f]{64})?$")
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# `KEY:` with no value = passed through from the environment (provider keys...)
PASS_THROUGH = re.compile(r"^\s+([A-Z][A-Z0-9_]*):\s*(?:#.*)?$", re.M)
TIMEOUT = 60


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def compose_bin() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        message = "docker-compose not installed: apt-get install docker-compose"
        if os.environ.get("CI"):
            pytest.fail(message + " (required when CI is set)")
        pytest.skip(message)
    return found


def clean_env() -> dict[str, str]:
    """The environment minus every variable the compose file reads.

    So the assertions below check the file's own defaults, not whatever the
    developer or CI runner happens to export (passwords, provider keys...), and
    no real key can end up in `config` output or a test failure message.
    """
    text = COMPOSE_FILE.read_text()
    names = set(VAR_REF.findall(text)) | set(PASS_THROUGH.findall(text))
    return {k: v for k, v in os.environ.items() if k not in names and not k.startswith("COMPOSE_")}


def compose(
    compose_bin: str, *args: str, file: Path = COMPOSE_FILE
) -> subprocess.CompletedProcess[str]:
    # --project-directory keeps relative paths (build context) anchored at the
    # repository even when the file under test is a copy in tmp_path.
    return subprocess.run(
        [compose_bin, "-f", str(file), "--project-directory", str(ROOT), *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def yaml_interpreter(compose_bin: str) -> str | None:
    """The Python that runs docker-compose 1.x has PyYAML (compose needs it).

    Our own venv does not, and must not grow a dependency for a test, so the
    normalised `config` output is converted to JSON by compose's interpreter.
    Returns None for a frozen (PyInstaller) docker-compose without a shebang.
    """
    try:
        first = Path(compose_bin).read_bytes()[:200].splitlines()[0]
    except (OSError, IndexError):
        return None
    if not first.startswith(b"#!"):
        return None
    interpreter = first[2:].decode().strip().split()
    if not interpreter or "python" not in Path(interpreter[-1]).name:
        return None
    probe = subprocess.run(
        [*interpreter, "-c", "import yaml"], capture_output=True, timeout=TIMEOUT
    )
    return " ".join(interpreter) if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def model(compose_bin: str) -> dict:
    """docker-compose's normalised, interpolated model of the file, as a dict."""
    result = compose(compose_bin, "config")
    assert result.returncode == 0, result.stderr
    interpreter = yaml_interpreter(compose_bin)
    if interpreter is None:
        pytest.skip("no PyYAML next to docker-compose; plain-text checks still ran")
    converted = subprocess.run(
        [
            *interpreter.split(),
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ],
        input=result.stdout,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert converted.returncode == 0, converted.stderr
    return json.loads(converted.stdout)


def published(model: dict, service: str) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) for each published port of a service."""
    out = []
    for port in model["services"][service].get("ports", []):
        if isinstance(port, dict):  # long syntax
            out.append((port.get("host_ip", ""), str(port["published"]), str(port["target"])))
        else:  # "ip:host:container/proto"
            parts = str(port).split("/")[0].split(":")
            ip = parts[0] if len(parts) == 3 else ""
            out.append((ip, parts[-2], parts[-1]))
    return out


def seconds(duration: str | int | float) -> float:
    """Compose durations as normalised by `config`: '40s', '1m', '1m30s', '500ms'."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


# ------------------------------------------------- (a) compose validates


def test_compose_config_is_valid(compose_bin: str) -> None:
    result = compose(compose_bin, "config", "--quiet")
    assert result.returncode == 0, result.stderr
    # every ${VAR} has a default: nothing interpolates to a blank string
    assert "is not set" not in result.stderr, result.stderr


def test_compose_services_are_exactly_the_stack(compose_bin: str) -> None:
    result = compose(compose_bin, "config", "--services")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == SERVICES


def test_compose_named_volumes_for_databases(compose_bin: str) -> None:
    result = compose(compose_bin, "config", "--volumes")
    assert result.returncode == 0, result.stderr
    volumes = [*DATABASES.values(), "prometheus-data", "grafana-data"]
    assert sorted(result.stdout.split()) == sorted(volumes)


def test_every_image_is_pinned_and_every_service_has_a_healthcheck_text() -> None:
    """Plain-text checks of the file itself; they need no docker-compose."""
    text = COMPOSE_FILE.read_text()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    images = re.findall(r"^\s*image:\s*(\S+)\s*$", code, flags=re.M)
    assert len(images) == len(SERVICES), images
    for image in images:
        if image.startswith("aiflow-worker:"):
            tag = image.split(":", 1)[1]
            assert tag and "latest" not in tag, image
            continue
        match = PINNED_IMAGE.match(image)
        assert match, f"{image}: not pinned to a version tag"
        assert "latest" not in match["tag"]
    assert ":latest" not in code
    assert len(re.findall(r"^\s{4}healthcheck:\s*$", code, flags=re.M)) == len(SERVICES)


def test_no_literal_secrets_in_compose_file() -> None:
    """Passwords come from ${VAR:-local-default}; keys are pass-through only."""
    for line in COMPOSE_FILE.read_text().splitlines():
        code = line.split("#", 1)[0]
        m = re.match(r"^\s*([A-Z_]*(PASSWORD|PWD|API_KEY|SECRET|TOKEN)[A-Z_]*):\s*(.*)$", code)
        if m:
            value = m.group(3).strip()
            assert value == "" or value.startswith("${"), line
    assert "postgresql+psycopg://aiflow:${AIFLOW_DB_PASSWORD:-" in COMPOSE_FILE.read_text()


def test_model_images_pinned(model: dict) -> None:
    services = model["services"]
    assert sorted(services) == SERVICES
    for name in IMAGE_SERVICES:
        image = services[name]["image"]
        assert PINNED_IMAGE.match(image), f"{name}: {image}"
        assert "build" not in services[name]
    assert services["temporal"]["image"].startswith("temporalio/auto-setup:1.2")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:2.")
    for db in DATABASES:
        assert re.match(r"^postgres:16\.\d+-alpine$", services[db]["image"])


def test_model_healthchecks(model: dict) -> None:
    services = model["services"]
    for name in SERVICES:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable", False)
        assert "start_period" in check, name
    for db in DATABASES:
        assert "pg_isready" in " ".join(services[db]["healthcheck"]["test"])
    temporal = " ".join(services["temporal"]["healthcheck"]["test"])
    assert "temporal operator cluster health" in temporal
    assert "grep -qw SERVING" in temporal  # NOT_SERVING must not count
    assert seconds(services["temporal"]["healthcheck"]["start_period"]) >= 30


def test_model_start_order(model: dict) -> None:
    services = model["services"]

    def healthy_deps(name: str) -> dict[str, str]:
        deps = services[name].get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions"
        return {dep: spec["condition"] for dep, spec in deps.items()}

    assert healthy_deps("temporal") == {"temporal-db": "service_healthy"}
    assert healthy_deps("temporal-ui") == {"temporal": "service_healthy"}
    assert healthy_deps("worker") == {
        "temporal": "service_healthy",
        "store-db": "service_healthy",
    }
    assert healthy_deps("prometheus") == {"worker": "service_started"}
    assert healthy_deps("grafana") == {"prometheus": "service_healthy"}


def test_model_temporal_on_its_own_postgres(model: dict) -> None:
    env = model["services"]["temporal"]["environment"]
    assert env["DB"] == "postgres12"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_SEEDS"] == "temporal-db"
    assert env["POSTGRES_USER"] == model["services"]["temporal-db"]["environment"]["POSTGRES_USER"]
    assert (
        env["POSTGRES_PWD"] == model["services"]["temporal-db"]["environment"]["POSTGRES_PASSWORD"]
    )
    assert published(model, "temporal") == [("127.0.0.1", "7233", "7233")]
    ui = model["services"]["temporal-ui"]
    assert ui["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_model_published_ports_default_to_loopback(model: dict) -> None:
    # unauthenticated Temporal, its UI and the store are not exposed by default
    assert published(model, "temporal-ui") == [("127.0.0.1", "8080", "8080")]
    assert published(model, "store-db") == [("127.0.0.1", "5433", "5432")]
    assert published(model, "temporal-db") == []
    assert published(model, "worker") == []
    assert published(model, "prometheus") == [("127.0.0.1", "9090", "9090")]
    assert published(model, "grafana") == [("127.0.0.1", "3000", "3000")]


def test_model_databases_use_named_volumes(model: dict) -> None:
    for db, volume in DATABASES.items():
        mounts = model["services"][db]["volumes"]
        assert any(str(m).startswith(f"{volume}:/var/lib/postgresql/data") for m in mounts), mounts
    assert set(DATABASES.values()) <= set(model["volumes"])


def test_model_worker(model: dict) -> None:
    worker = model["services"]["worker"]
    assert Path(worker["build"]["context"]) == ROOT
    assert worker["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    assert worker["restart"] == "unless-stopped"
    assert worker.get("init") is True
    env = worker["environment"]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["TEMPORAL_NAMESPACE"] == "default"
    assert env["DATABASE_URL"] == "postgresql+psycopg://aiflow:aiflow@store-db:5432/aiflow"
    store = model["services"]["store-db"]["environment"]
    assert (store["POSTGRES_USER"], store["POSTGRES_PASSWORD"], store["POSTGRES_DB"]) == (
        "aiflow",
        "aiflow",
        "aiflow",
    )
    assert (env["AIFLOW_CLASSIFY_MODEL"], env["AIFLOW_DRAFT_MODEL"]) == (
        "offline-classify",
        "offline-draft",
    )
    assert env["AIFLOW_SEARCH_ATTRIBUTES"] == "register"
    assert env["AIFLOW_METRICS_ADDRESS"] == "0.0.0.0:9464"
    grace = float(env["AIFLOW_SHUTDOWN_GRACE_SECONDS"])
    stop = seconds(worker["stop_grace_period"])
    assert grace < stop <= grace + 30, (grace, stop)
    # keys are pass-through (null = taken from the environment only when set)
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TEMPORAL_API_KEY"):
        assert key in env and env[key] is None, key


# ------------------------------------------- (b) the check can fail


MUTATIONS = {
    "unknown service key": (
        "  worker:\n    build:\n",
        "  worker:\n    no_such_option: true\n    build:\n",
        "no_such_option",
    ),
    "unknown healthcheck key": (
        '    healthcheck:\n      test: ["CMD-SHELL", "pg_isready -U aiflow',
        '    healthcheck:\n      probe_every: 5s\n      test: ["CMD-SHELL", "pg_isready -U aiflow',
        "probe_every",
    ),
    "wrong type": (
        "    restart: unless-stopped\n\n  temporal:\n",
        "    restart: unless-stopped\n    ports: 5432\n\n  temporal:\n",
        "ports",
    ),
}


def test_unmodified_copy_is_valid(compose_bin: str, tmp_path: Path) -> None:
    """Control for the mutation tests: a copy elsewhere validates as well."""
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(COMPOSE_FILE.read_text())
    result = compose(compose_bin, "config", "--quiet", file=copy)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_broken_copy_is_rejected(compose_bin: str, tmp_path: Path, name: str) -> None:
    old, new, culprit = MUTATIONS[name]
    text = COMPOSE_FILE.read_text()
    assert text.count(old) == 1, f"mutation anchor for {name!r} not found once"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new))
    result = compose(compose_bin, "config", "--quiet", file=broken)
    assert result.returncode != 0, f"{name}: docker-compose accepted a broken file"
    assert culprit in result.stderr, result.stderr


# ------------------------------------------------------ (c) Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuations joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_base_image_pinned_to_patch() -> None:
    froms = [args for ins, args in dockerfile_instructions() if ins == "FROM"]
    assert froms
    for args in froms:
        image = args.split()[0]
        assert re.match(r"^python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$", image), image


def test_dockerfile_runs_as_non_root() -> None:
    instructions = dockerfile_instructions()
    users = [(i, args) for i, (ins, args) in enumerate(instructions) if ins == "USER"]
    assert users, "no USER instruction: the worker would run as root"
    last_index, last_user = users[-1]
    assert last_user.split(":")[0] not in {"root", "0"}
    cmd_index = max(i for i, (ins, _) in enumerate(instructions) if ins == "CMD")
    assert last_index < cmd_index


def test_dockerfile_installs_editable_and_runs_worker() -> None:
    instructions = dockerfile_instructions()
    runs = " ".join(args for ins, args in instructions if ins == "RUN")
    assert re.search(r"pip install --no-cache-dir -e \.(\s|$)", runs), runs
    copies = [args for ins, args in instructions if ins == "COPY"]
    assert any(c.split()[0] == "pyproject.toml" for c in copies)
    assert ("STOPSIGNAL", "SIGTERM") in instructions
    cmds = [args for ins, args in instructions if ins == "CMD"]
    assert len(cmds) == 1
    assert json.loads(cmds[0]) == ["python", "worker.py"]
    assert not any(ins == "ENTRYPOINT" for ins, _ in instructions)


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (
        ".git",
        ".venv",
        "var",
        ".env",
        "**/__pycache__",
        "data/*.db",
        "**/.pytest_cache",
    ):
        assert required in patterns, required
    # the allowlist must keep what `pip install -e .` and the worker read
    for needed in (
        "pyproject.toml",
        "worker.py",
        "settings.py",
        "contracts",
        "workflows",
        "activities",
        "starter",
        "data",
    ):
        assert f"!{needed}" in patterns, needed


def test_prometheus_scrapes_the_worker_and_grafana_is_provisioned(model: dict) -> None:
    """The files the two services mount exist and point at each other."""
    import yaml

    prom = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    [job] = prom["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["worker:9464"]}]
    port = model["services"]["worker"]["environment"]["AIFLOW_METRICS_ADDRESS"].rsplit(":")[1]
    assert port == "9464"
    ds = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert [(d["uid"], d["url"]) for d in ds["datasources"]] == [
        ("aiflow-prometheus", "http://prometheus:9090")
    ]
    dash = json.loads((ROOT / "deploy/grafana/dashboards/aiflow.json").read_text())
    uids = {t["datasource"]["uid"] for p in dash["panels"] for t in [p]}
    assert uids == {"aiflow-prometheus"}
    mounts = model["services"]["grafana"]["volumes"]
    assert any(str(m).endswith(":/var/lib/grafana/dashboards:ro") for m in mounts), mounts
