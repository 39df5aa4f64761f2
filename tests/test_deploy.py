"""The deployment files agree: Procfile, docker-compose.yml, Dockerfile, scripts/run.sh,
and the PgBouncer of compose with the one the tests and the soak start (devstack/).

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

from devstack.servers import (
    DURABLE_PG_FLAGS,
    PGBOUNCER_PACKAGE,
    PGBOUNCER_POOL_INI,
    pgbouncer_ini,
    postgres_version,
    valkey_version,
)

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
RUN_SH = ROOT / "scripts" / "run.sh"
PGBOUNCER_DIR = ROOT / "deploy" / "pgbouncer"

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


def _dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


# What differs between the app's database environment and migrate's.
_DATABASE_ENV = {"DATABASE_URL", "DATABASE_POOLER"}


def _ini(path: Path, *, section: str = "pgbouncer") -> dict[str, str]:
    """Return the `key = value` settings of one section of a PgBouncer ini file (of all
    of a file with no section header), an `%include` line under the key `%include`."""
    settings, current = {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        if current not in (None, section):
            continue
        if line.startswith("%include"):
            settings["%include"] = line.split(None, 1)[1]
            continue
        key, _, value = line.partition("=")
        settings[key.strip()] = value.strip()
    return settings


def _pgbouncer_databases() -> dict[str, dict[str, str]]:
    """Return the [databases] of compose's PgBouncer: name -> its connection's fields."""
    return {
        name: dict(field.split("=", 1) for field in value.split())
        for name, value in _ini(PGBOUNCER_DIR / "pgbouncer.ini", section="databases").items()
    }


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
    app_env = compose["x-app"]["environment"]

    assert _argv(migrate["command"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert "manage.py migrate --noinput" in RUN_SH.read_text()
    assert migrate["restart"] == "no"
    # The app's environment, but straight to PostgreSQL: the same role and database.
    assert {k: v for k, v in migrate["environment"].items() if k not in _DATABASE_ENV} == {
        k: v for k, v in app_env.items() if k not in _DATABASE_ENV
    }
    direct = environ.Env.db_url_config(migrate["environment"]["DATABASE_URL"])
    pooled = environ.Env.db_url_config(app_env["DATABASE_URL"])
    assert (direct["HOST"], direct["PORT"]) == ("postgres", 5432)
    assert migrate["environment"]["DATABASE_POOLER"] == ""
    assert [direct[k] for k in ("USER", "PASSWORD", "NAME")] == [
        pooled[k] for k in ("USER", "PASSWORD", "NAME")
    ]
    assert set(migrate["depends_on"]) == {"postgres"}
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
    # Through PgBouncer to the postgres service.
    assert database["HOST"] == "pgbouncer"
    upstream = _pgbouncer_databases()[database["NAME"]]
    postgres = services[upstream["host"]]
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
    listen_port = _ini(PGBOUNCER_DIR / "pgbouncer.ini")["listen_port"]
    assert f"pg_isready -h 127.0.0.1 -p {listen_port}" in _healthcheck_text(
        services["pgbouncer"]
    )
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


# --- PgBouncer -----------------------------------------------------------------------------


def test_the_app_reaches_postgres_through_pgbouncer_in_transaction_mode():
    compose = _compose()
    env = compose["x-app"]["environment"]
    database = environ.Env.db_url_config(env["DATABASE_URL"])
    pgbouncer = compose["services"]["pgbouncer"]
    upstream = _pgbouncer_databases()[database["NAME"]]
    pool = _ini(PGBOUNCER_POOL_INI)

    assert env["DATABASE_POOLER"] == pool["pool_mode"] == "transaction"
    assert (database["HOST"], str(database["PORT"])) == (
        "pgbouncer", _ini(PGBOUNCER_DIR / "pgbouncer.ini")["listen_port"]
    )
    # Through to the postgres service, as the role and database the app names.
    postgres = compose["services"][upstream["host"]]
    assert (upstream["port"], upstream["dbname"]) == ("5432", database["NAME"])
    assert (pgbouncer["environment"]["POSTGRES_USER"], database["USER"]) == (
        postgres["environment"]["POSTGRES_USER"], postgres["environment"]["POSTGRES_USER"]
    )
    assert pgbouncer["environment"]["POSTGRES_PASSWORD"] == database["PASSWORD"] == (
        postgres["environment"]["POSTGRES_PASSWORD"]
    )
    assert pgbouncer["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in PROCESSES:
        assert compose["services"][name]["depends_on"]["pgbouncer"]["condition"] == (
            "service_healthy"
        ), name


def test_compose_pgbouncer_is_debians_package_with_the_pool_settings_of_the_soak():
    compose = _compose()
    service = compose["services"]["pgbouncer"]
    instructions = _dockerfile_instructions(PGBOUNCER_DIR / "Dockerfile")
    main = _ini(PGBOUNCER_DIR / "pgbouncer.ini")
    pool = _ini(PGBOUNCER_POOL_INI)

    # The package devstack installs and runs for the tests and `make soak --nodes 2`.
    assert service["build"] == "deploy/pgbouncer"
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("debian:")
    assert any(kw == "RUN" and re.search(rf"apt-get install .*\b{PGBOUNCER_PACKAGE}\b", rest)
               for kw, rest in instructions)
    assert ("COPY", "pgbouncer.ini pool.ini /etc/pgbouncer/") in instructions
    assert [rest for kw, rest in instructions if kw == "USER"] == ["postgres"]
    # Both include pool.ini, last, and set none of its settings themselves.
    assert main["%include"] == "/etc/pgbouncer/pool.ini"
    throwaway = pgbouncer_ini(port=1, upstream_port=2, workdir=Path("/w"))
    assert throwaway.strip().splitlines()[-1] == f"%include /w/{PGBOUNCER_POOL_INI.name}"
    assert PGBOUNCER_POOL_INI == PGBOUNCER_DIR / "pool.ini"
    for key in pool:
        assert not re.search(rf"^{key}\s*=", throwaway, re.M), key
        assert key not in main, key


def test_the_pool_settings_carry_what_the_app_needs_and_nothing_it_cannot_use():
    text = PGBOUNCER_POOL_INI.read_text()
    pool = _ini(PGBOUNCER_POOL_INI)

    # Included inside [pgbouncer]: a header of its own would reset what came before it.
    assert not re.search(r"^\s*\[", text, re.M)
    assert pool["pool_mode"] == "transaction"
    # `options` refused, never ignored: ignored, the timeouts would silently be 0.
    assert "options" not in pool.get("ignore_startup_parameters", "").split(",")
    # Debian 12's PgBouncer (1.18) carries no prepared statements in transaction mode, and
    # the app prepares none (tests/test_database.py).
    assert pool.get("max_prepared_statements", "0") == "0"


def test_the_soak_runs_its_processes_through_the_pooler_as_compose_does():
    from soak.stack import Settings, environment

    compose_env = _compose()["x-app"]["environment"]
    settings = Settings(
        database_url="postgres://postgres@127.0.0.1:5432/postgres", redis_url="redis://x",
        ports=(8001, 8002), ttl_seconds=20, release_interval_seconds=5, web_concurrency=4,
        worker_concurrency=2, pooled_database_url="postgres://postgres@127.0.0.1:6432/postgres",
        database_pooler="transaction",
    )

    process = environment(settings, application_name="stockhold-web", pooled=True)
    driver = environment(settings, application_name="stockhold-soak")

    assert process["DATABASE_POOLER"] == compose_env["DATABASE_POOLER"]
    assert urlsplit(process["DATABASE_URL"]).port == 6432
    # The driver migrates straight to PostgreSQL, as compose's migrate does.
    assert driver["DATABASE_POOLER"] == _compose()["services"]["migrate"]["environment"][
        "DATABASE_POOLER"
    ] == ""
    assert urlsplit(driver["DATABASE_URL"]).port == 5432


def test_compose_postgres_has_the_connections_of_devstacks_durable_servers():
    postgres = _compose()["services"]["postgres"]
    pool = _ini(PGBOUNCER_POOL_INI)

    assert _argv(postgres["command"]) == ["postgres", *shlex.split(DURABLE_PG_FLAGS)]
    max_connections = int(DURABLE_PG_FLAGS.split("max_connections=")[1].split()[0])
    # PgBouncer's pool, with its reserve, leaves room for migrate and the admin.
    assert int(pool["default_pool_size"]) + int(pool["reserve_pool_size"]) < max_connections / 2
