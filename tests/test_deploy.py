"""The deployment files agree: Procfile, docker-compose.yml, Dockerfile and scripts/run.sh.

Docker is not needed: the files are read and compared. `make run` runs the Procfile under
honcho; production runs the same commands as compose services. A drift between the two
(a flag added to one, a service missing, an environment variable nothing reads) fails here.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
import pytest
import yaml
from flower.command import is_flower_envvar
from flower.options import default_options as flower_defaults
from honcho.environ import parse_procfile

from devstack.servers import postgres_version, valkey_version

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
RUN_SH = ROOT / "scripts" / "run.sh"

PROCESSES = ("web", "worker", "beat", "flower")
# The values an operator passes to `docker compose up`.
OPERATOR_ENV = {
    "SECRET_KEY": "s3cret",
    "POSTGRES_PASSWORD": "pgpass",
    "FLOWER_BASIC_AUTH": "ops:flowerpass",
    "ALLOWED_HOSTS": "shop.example.com",
}
# Read by the programs the Procfile starts rather than by config/settings/; each one is
# checked against its program by a test below.
GUNICORN_ENV = {"PORT", "WEB_CONCURRENCY"}
CELERY_CLI_ENV = {"CELERY_WORKER_CONCURRENCY"}


class MissingVariable(Exception):
    pass


_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def _interpolate(node, env):
    """Expand ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ the way docker compose does."""
    if isinstance(node, dict):
        return {key: _interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(item, env) for item in node]
    if not isinstance(node, str):
        return node

    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        value = env.get(name)
        missing = not value if op and op.startswith(":") else value is None
        if op and op.endswith("-") and missing:
            return arg
        if op and op.endswith("?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(substitute, node)


def _procfile() -> dict[str, str]:
    return dict(parse_procfile(PROCFILE.read_text()).processes)


def _raw_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _compose(env=None) -> dict:
    return _interpolate(_raw_compose(), OPERATOR_ENV if env is None else env)


def _argv(command) -> list[str]:
    return list(command) if isinstance(command, list) else shlex.split(command)


def _app_services(compose) -> dict[str, dict]:
    """Services built from the shared x-app definition's image."""
    base = compose["x-app"]
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("build") == base["build"] and service.get("image") == base["image"]
    }


def _healthcheck_text(service) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def _settings_env_names() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "config" / "settings").glob("*.py"))
    read = re.findall(r"env\.\w+\(\s*\"([A-Z0-9_]+)\"", source)
    tested = re.findall(r"\"([A-Z0-9_]+)\" in env\b", source)
    return set(read) | set(tested)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


@pytest.fixture(autouse=True)
def _clear_cache():
    """Override the suite's cache clearing: these tests read files and need no Redis."""
    yield


@pytest.mark.slow
def test_honcho_accepts_the_procfile_with_the_four_processes():
    result = subprocess.run(
        [sys.executable, "-m", "honcho", "-f", str(PROCFILE), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "Valid procfile detected (web, worker, beat, flower)" in result.stderr
    assert tuple(_procfile()) == PROCESSES


def test_procfile_commands_are_production_commands_without_shell_variables():
    procfile = _procfile()

    # compose would expand a $VAR on the host, not in the container, so a command that
    # needs one cannot be the same in both places: the programs read the environment.
    assert {name: command for name, command in procfile.items() if "$" in command} == {}
    assert _argv(procfile["web"])[0] == "gunicorn"
    assert _argv(procfile["worker"])[:4] == ["celery", "-A", "config", "worker"]
    assert _argv(procfile["beat"])[:4] == ["celery", "-A", "config", "beat"]
    assert _argv(procfile["flower"])[:4] == ["celery", "-A", "config", "flower"]


@pytest.mark.parametrize("name", PROCESSES)
def test_each_procfile_entry_is_a_compose_service_with_the_same_command(name):
    services = _compose()["services"]

    assert name in services
    assert _argv(services[name]["command"]) == _argv(_procfile()[name])


def test_the_app_services_are_the_procfile_plus_the_one_shot_migrate():
    compose = _compose()

    assert set(_app_services(compose)) == set(PROCESSES) | {"migrate"}


def test_app_services_share_the_base_definition_and_differ_only_in_command_ports_healthcheck():
    compose = _compose()
    base = compose["x-app"]
    own = {"command", "ports", "healthcheck", "deploy"}

    for name in PROCESSES:
        service = compose["services"][name]
        shared = {key: value for key, value in service.items() if key not in own}
        assert shared == base, name


def test_migrate_runs_what_make_run_runs_before_the_others_start():
    compose = _compose()
    migrate = compose["services"]["migrate"]

    assert _argv(migrate["command"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert "manage.py migrate --noinput" in RUN_SH.read_text()
    assert migrate["restart"] == "no"
    assert migrate["environment"] == compose["x-app"]["environment"]
    for name in ("web", "worker", "beat"):
        condition = compose["services"][name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_compose_refuses_to_start_without_the_secrets():
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"):
        env = {key: value for key, value in OPERATOR_ENV.items() if key != name}
        with pytest.raises(MissingVariable, match=name):
            _compose(env)
        with pytest.raises(MissingVariable, match=name):
            _compose({**env, name: ""})


def _image_major(image: str) -> tuple[str, str]:
    """`postgres:18` -> ("postgres", "18"); `valkey/valkey:8.1` -> ("valkey/valkey", "8")."""
    name, _, tag = image.partition(":")
    return name, tag.split(".")[0]


@pytest.mark.slow  # asks the embedded binaries for their versions
def test_app_environment_points_at_the_compose_postgres_and_valkey():
    compose = _compose()
    env = compose["x-app"]["environment"]
    services = compose["services"]

    assert env["SECRET_KEY"] == OPERATOR_ENV["SECRET_KEY"]
    assert env["DEBUG"] == "0"
    assert env["FLOWER_BASIC_AUTH"] == OPERATOR_ENV["FLOWER_BASIC_AUTH"]
    assert "shop.example.com" in env["ALLOWED_HOSTS"].split(",")

    database = environ.Env.db_url_config(env["DATABASE_URL"])
    assert database["ENGINE"] == "django.db.backends.postgresql"
    postgres = services[database["HOST"]]
    # The same major as the server `make run` and `make test` start (devstack/).
    assert _image_major(postgres["image"]) == ("postgres", postgres_version().split(".")[0])
    assert (database["USER"], database["PASSWORD"], database["NAME"]) == (
        postgres["environment"]["POSTGRES_USER"],
        postgres["environment"]["POSTGRES_PASSWORD"],
        postgres["environment"]["POSTGRES_DB"],
    )

    redis = urlsplit(env["REDIS_URL"])
    assert redis.scheme == "redis"
    valkey = services[redis.hostname]
    assert _image_major(valkey["image"]) == ("valkey/valkey", valkey_version().split(".")[0])

    for name in PROCESSES:
        depends_on = services[name]["depends_on"]
        assert depends_on[database["HOST"]]["condition"] == "service_healthy", name
        assert depends_on[redis.hostname]["condition"] == "service_healthy", name


def test_every_environment_name_set_for_the_app_is_read_by_it():
    compose = _compose()
    names = set(compose["x-app"]["environment"])
    for service in _app_services(compose).values():
        names |= set(service.get("environment", {}))
    # Names that `make run` sets when they are unset.
    names |= set(re.findall(r': "\$\{([A-Z0-9_]+):=', RUN_SH.read_text()))

    unread = {
        name
        for name in names - _settings_env_names() - GUNICORN_ENV - CELERY_CLI_ENV
        if not is_flower_envvar(name) and name != "PYTHONUNBUFFERED"
    }

    assert unread == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= names & _settings_env_names()


@pytest.mark.slow
def test_gunicorn_reads_port_and_web_concurrency_from_the_environment():
    code = "from gunicorn.config import Config; c = Config(); print(c.bind[0], c.workers)"
    env = {**os.environ, "PORT": "8123", "WEB_CONCURRENCY": "3"}

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.0.0.0:8123", "3"]


@pytest.mark.slow
def test_celery_worker_reads_its_concurrency_from_the_environment():
    # The real `celery` entry point, with the worker's start swapped for a print.
    code = """
import sys
from celery.bin import celery as entry
from celery.bin.worker import worker

worker.callback = lambda **params: print("concurrency", params["concurrency"])
sys.argv = ["celery", "-A", "config", "worker", "--loglevel=INFO"]
entry.main()
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "CELERY_WORKER_CONCURRENCY": "3",
    }

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["concurrency", "3"]


def test_exactly_one_beat():
    compose = _compose()

    beats = [
        name
        for name, service in compose["services"].items()
        if "command" in service and "beat" in _argv(service["command"])
    ]
    assert beats == ["beat"]
    assert compose["services"]["beat"]["deploy"]["replicas"] == 1
    assert [name for name, cmd in _procfile().items() if "beat" in _argv(cmd)] == ["beat"]


def test_healthchecks_probe_each_service_where_it_listens():
    compose = _compose()
    services = compose["services"]
    env = compose["x-app"]["environment"]

    assert "pg_isready" in _healthcheck_text(services["postgres"])
    assert "valkey-cli ping" in _healthcheck_text(services["valkey"])

    web = _healthcheck_text(services["web"])
    assert f"http://127.0.0.1:{env['PORT']}/api/v1/health/" in web
    assert [port.rsplit(":", 1)[1] for port in services["web"]["ports"]] == [env["PORT"]]
    # The probe's Host header is 127.0.0.1; Django answers it only if it is allowed.
    assert "127.0.0.1" in env["ALLOWED_HOSTS"].split(",")

    worker = _healthcheck_text(services["worker"])
    assert "celery -A config inspect ping" in worker
    assert "celery@$HOSTNAME" in worker  # $$ in the file: the container's name

    flower_port = env.get("FLOWER_PORT", str(flower_defaults.port))
    assert f"http://127.0.0.1:{flower_port}/healthcheck" in _healthcheck_text(services["flower"])


def test_flower_is_published_on_loopback_only():
    compose = _compose()
    env = compose["x-app"]["environment"]
    flower_port = env.get("FLOWER_PORT", str(flower_defaults.port))

    ports = compose["services"]["flower"]["ports"]
    assert ports
    assert all(port.startswith("127.0.0.1:") for port in ports)
    assert [port.rsplit(":", 1)[1] for port in ports] == [flower_port]
    for name, service in compose["services"].items():
        if name != "flower":
            assert not any(
                str(port).rsplit(":", 1)[-1] == flower_port for port in service.get("ports", [])
            ), name


def test_dockerfile_cmd_is_the_procfile_web_command():
    cmds = [rest for keyword, rest in _dockerfile_instructions() if keyword == "CMD"]

    assert json.loads(cmds[-1]) == _argv(_procfile()["web"])


def test_dockerfile_builds_static_files_and_runs_as_an_unprivileged_user():
    instructions = _dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]

    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert any(kw == "RUN" and "collectstatic --noinput" in rest for kw, rest in instructions)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    # Nothing after the switch runs as root again.
    assert "USER" not in keywords[keywords.index("USER") + 1 :]


def test_every_container_runs_as_production_with_debug_off():
    env = _compose()["x-app"]["environment"]
    assert (env["ENVIRONMENT"], env["DEBUG"]) == ("production", "0")
    # The image itself says production, for a container started without compose.
    assert re.search(r"^\s+ENVIRONMENT=production\s*$", DOCKERFILE.read_text(), re.M)
