"""The API under gunicorn: hold requests against the cheapest endpoint of the same server.

gunicorn runs the Procfile's `web` command word for word, with the production settings
(DEBUG off) and the production worker count (WEB_CONCURRENCY, docker-compose.yml's
default). The load comes from wrk when installed (C: it leaves the two cores to the
server), else from Python threads with http.client keep-alive in two processes.
"""

import http.client
import json
import multiprocessing as mp
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import ROOT, django_env, latency_summary, log
from devstack.processes import process_start, process_stop
from devstack.servers import free_port

LIVE_PATH = "/api/v1/health/live/"


def production_web_concurrency() -> int:
    """WEB_CONCURRENCY as docker-compose.yml sets it for production (default 4)."""
    if os.environ.get("WEB_CONCURRENCY", "").isdigit():
        return int(os.environ["WEB_CONCURRENCY"])
    compose = ROOT / "docker-compose.yml"
    found = re.search(r"WEB_CONCURRENCY:\s*\$\{WEB_CONCURRENCY:-(\d+)\}",
                      compose.read_text() if compose.exists() else "")
    return int(found.group(1)) if found else 4


def procfile_web_command() -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.split(":", 1)[1])
    raise RuntimeError("Procfile has no web: line")


class Gunicorn:
    """The web process of a deployment, on a free port; stopped by `stop()`."""

    def __init__(self, *, workers: int):
        self.port = free_port()
        self.workers = workers
        self.command = procfile_web_command()
        env = django_env()
        env.update({"PORT": str(self.port), "WEB_CONCURRENCY": str(workers)})
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="stockhold-bench-"))
        self.log_path = work / "gunicorn.log"
        self.pid_path = work / "gunicorn.pid"
        self.proc = process_start(self.command, env=env, log_path=self.log_path)
        self.pid_path.write_text(str(self.proc.pid))
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                status, _ = request("GET", self.port, LIVE_PATH)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        process_stop(self.proc)
        self.pid_path.unlink(missing_ok=True)


def request(method: str, port: int, path: str, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json"} if payload else {}
        all_headers.update(headers or {})
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)
    finally:
        conn.close()


def debug_on(port: int) -> bool:
    """Whether the server runs with DEBUG on: only then is a page that no route takes
    answered with Django's technical 404, which names the URLconf."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/bench-no-such-page/")
        response = conn.getresponse()
        return b"URLconf" in response.read()
    finally:
        conn.close()


def redis_stats() -> dict[str, int]:
    """Counters of the suite's Valkey (REDIS_URL), read in one INFO call: calls of SET and
    of INCR (redis-py sends INCRBY for it), and read events (`total_reads_processed`: a
    client's round trip is one, this call's own included)."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        info = client.info("all")
    finally:
        client.close()
    return {
        "set": info.get("cmdstat_set", {}).get("calls", 0),
        "incr": sum(info.get(f"cmdstat_{name}", {}).get("calls", 0)
                    for name in ("incr", "incrby")),
        "reads": info["total_reads_processed"],
    }


def carts_create(port: int, count: int) -> list[tuple[str, str]]:
    """Open carts through the API; return (id, token) pairs."""
    carts = []
    for _ in range(count):
        status, data = request("POST", port, "/api/v1/carts/")
        if status != 201:
            raise RuntimeError(f"POST /api/v1/carts/ answered {status}: {data}")
        carts.append((data["id"], data["token"]))
    return carts


def hold_path(cart_id: str, product_id: int) -> str:
    return f"/api/v1/carts/{cart_id}/items/{product_id}/"


# ------------------------------------------------------------------------------ wrk ---
_WRK_CARTS = """\
-- Each wrk thread takes every Nth cart. A PUT sets the next cart's line to the other of
-- 1 and 2 units, so every request moves the product's counter; a GET reads the cart.
local carts = {%(carts)s}
local product = %(product)d
local threads = %(threads)d
local method = "%(method)s"
local made = 0
function setup(thread)
  thread:set("offset", made)
  made = made + 1
end
function init(args)
  position = offset
  quantities = {}
end
function request()
  position = position + threads
  local i = (position %% #carts) + 1
  local cart = carts[i]
  if method == "GET" then
    return wrk.format("GET", "/api/v1/carts/" .. cart[1] .. "/", {["X-Cart-Token"] = cart[2]})
  end
  local q = (quantities[i] == 2) and 1 or 2
  quantities[i] = q
  return wrk.format("PUT", "/api/v1/carts/" .. cart[1] .. "/items/" .. product .. "/",
    {["Content-Type"] = "application/json", ["X-Cart-Token"] = cart[2]},
    '{"quantity": ' .. q .. '}')
end
"""


def _wrk_parse(output: str, seconds: float) -> dict:
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    percentiles = {}
    lines = re.findall(r"^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s)\s*$", output, re.M)
    for pct, value, unit in lines:
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        percentiles[f"p{pct}_ms"] = round(float(value) * scale, 3)
    if rps is None:
        raise RuntimeError(f"wrk output not understood:\n{output}")
    return {
        "requests_per_s": float(rps.group(1)),
        "requests": int(total.group(1)) if total else None,
        "seconds": seconds,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": [int(x) for x in sock.groups()] if sock else [0, 0, 0, 0],
        "latency": percentiles,
    }


def wrk_run(*, port: int, path: str, connections: int, seconds: float, threads: int = 2,
            script: str | None = None) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(round(seconds))}s",
               "--latency", "--timeout", "10s"]
    script_path = None
    if script:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(script)
            script_path = handle.name
        command += ["-s", script_path]
    command.append(f"http://127.0.0.1:{port}{path}")
    try:
        done = subprocess.run(  # noqa: S603 - wrk, arguments built here
            command, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        if script_path:
            os.unlink(script_path)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stdout}{done.stderr}")
    return _wrk_parse(done.stdout, seconds)


def wrk_carts_script(carts: list[tuple[str, str]], product_id: int, threads: int,
                     method: str) -> str:
    listed = ",".join(f'{{"{cid}","{token}"}}' for cid, token in carts)
    return _WRK_CARTS % {"carts": listed, "product": product_id, "threads": threads,
                         "method": method}


# ------------------------------------------------------------- Python fallback ---
def _py_thread(port, jobs, end_at, out, lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies, errors, quantities, i = [], 0, {}, 0
    while time.time() < end_at:
        method, path, headers, cart = jobs[i % len(jobs)]
        i += 1
        body = None
        if method == "PUT":
            quantities[cart] = 1 if quantities.get(cart) == 2 else 2
            body = json.dumps({"quantity": quantities[cart]}).encode()
        began = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status >= 300:
                errors += 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies.append(time.perf_counter() - began)
    conn.close()
    with lock:
        out.append((latencies, errors))


def _py_process(port, job_groups, end_at, results):
    out, lock = [], threading.Lock()
    threads = [threading.Thread(target=_py_thread, args=(port, jobs, end_at, out, lock))
               for jobs in job_groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(out)


def python_run(*, port: int, jobs_per_connection: list[list], seconds: float,
               processes: int = 2) -> dict:
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    end_at = time.time() + seconds
    groups = [jobs_per_connection[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=_py_process, args=(port, g, end_at, results)) for g in groups]
    for proc in procs:
        proc.start()
    latencies, errors = [], 0
    for _ in procs:
        for lat, err in results.get(timeout=seconds + 60):
            latencies.extend(lat)
            errors += err
    for proc in procs:
        proc.join()
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "requests": len(latencies),
        "seconds": seconds,
        "non_2xx": errors,
        "latency": latency_summary(latencies),
    }


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run_endpoint(*, which: str, port: int, carts, product_id: int, connections: int,
                 seconds: float) -> dict:
    """Drive `live` (GET liveness), `hold` (PUT a cart line) or `cart` (GET the cart)."""
    if load_generator() == "wrk":
        if which == "live":
            return wrk_run(port=port, path=LIVE_PATH, connections=connections, seconds=seconds)
        method = "PUT" if which == "hold" else "GET"
        return wrk_run(port=port, path="/", connections=connections, seconds=seconds,
                       script=wrk_carts_script(carts, product_id, threads=2, method=method))
    jobs = []
    for c in range(connections):
        mine = carts[c::connections]
        if which == "live":
            jobs.append([("GET", LIVE_PATH, {}, None)])
        elif which == "hold":
            jobs.append([("PUT", hold_path(cid, product_id),
                          {"Content-Type": "application/json", "X-Cart-Token": token}, cid)
                         for cid, token in mine])
        else:
            jobs.append([("GET", f"/api/v1/carts/{cid}/", {"X-Cart-Token": token}, cid)
                         for cid, token in mine])
    return python_run(port=port, jobs_per_connection=jobs, seconds=seconds)


def gunicorn_log_tail(server: Gunicorn, lines: int = 20) -> str:
    try:
        return "\n".join(server.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


__all__ = ["Gunicorn", "carts_create", "debug_on", "load_generator",
           "production_web_concurrency", "redis_stats", "run_endpoint", "gunicorn_log_tail",
           "log"]
