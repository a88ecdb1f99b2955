"""`railguard bench`: the proxy against a direct call and against the floor (a bare Starlette + httpx pass-through),
all on loopback, measured side by side in one run and reported as ratios.

    railguard bench [--requests 1000] [--seconds 10] [--policy passthrough|default|DIR] [--floor-client httpx|httpx2]
                    [--rate-limits [--redis-url redis://127.0.0.1:6379/0]]

Figures: sequential p50/p99 latency added over the direct call, throughput at concurrency 32 (wrk when installed,
else a Python load generator, named in the output), streaming time to first token, and RSS. The last line is JSON.

``--rate-limits`` adds two more proxies with the same policy plus tenant rate limits (requests, tokens and
concurrency per minute, set high enough never to refuse), one on the in-process state and one on Redis, measured
in the same interleaved rounds: the cost of a rate-limit check per request, as added latency and as ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from proxy.bench_ratelimit import (
    clean_redis,
    measure_checks,
    print_rate_limit_cost,
    rate_limit_cost,
    rate_limit_policies,
)
from proxy.servers import free_port


def passthrough_policy() -> str:
    """A `default` policy with every guard the schema knows switched off: the floor of Railguard itself."""
    import yaml
    from pydantic import BaseModel

    from policies.schema import Guard, Policy

    layers: dict[str, dict[str, Any]] = {}
    for layer_name, layer_field in Policy.model_fields.items():
        layer = layer_field.annotation
        if not (isinstance(layer, type) and issubclass(layer, BaseModel)) or layer_name in ("match", "refusal"):
            continue
        for guard_name, guard_field in layer.model_fields.items():
            guard = guard_field.annotation
            if isinstance(guard, type) and issubclass(guard, Guard):
                layers.setdefault(layer_name, {})[guard_name] = {"enabled": False}
    return yaml.safe_dump({"name": "default", "description": "Every guard off (benchmark floor).", **layers})


REQUEST = {"model": "bench", "messages": [{"role": "user", "content": "Say something short about foxes."}]}


@dataclass
class Target:
    name: str
    url: str
    process: subprocess.Popen[bytes] | None = None


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Logs go to a file: a pipe nobody reads would fill up and stall the server mid-benchmark.
    with log.open("wb") as sink:
        return subprocess.Popen(
            args, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path, path: str = "/v1/chat/completions") -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-2000:]}")
        try:
            httpx2.post(url + path, json=REQUEST, timeout=2)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


def _uvicorn(target: str, port: int, factory: bool = False) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    return [*args, "--factory"] if factory else args


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def sequential(targets: list[Target], count: int) -> dict[str, list[float]]:
    """Interleaved one-at-a-time requests over keep-alive connections: each round hits every target once."""
    clients = {t.name: httpx2.Client(base_url=t.url, timeout=30) for t in targets}
    timings: dict[str, list[float]] = {t.name: [] for t in targets}
    body = json.dumps(REQUEST).encode()
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    for round_number in range(count + 50):
        for target in targets:
            started = time.perf_counter()
            response = clients[target.name].post("/v1/chat/completions", content=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{target.name} answered {response.status_code}: {response.text[:300]}")
            if round_number >= 50:  # warm-up rounds are not counted
                timings[target.name].append(elapsed)
    for client in clients.values():
        client.close()
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def throughput_wrk(url: str, seconds: int, connections: int) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [[{json.dumps(REQUEST)}]]\n"
        )
        output = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url + "/v1/chat/completions"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    for line in output.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"could not read wrk output:\n{output}")


def throughput_python(url: str, seconds: int, connections: int) -> float:
    import asyncio

    async def run() -> int:
        done = 0
        deadline = time.perf_counter() + seconds
        async with httpx2.AsyncClient(base_url=url, limits=httpx2.Limits(max_connections=connections)) as client:

            async def worker() -> None:
                nonlocal done
                while time.perf_counter() < deadline:
                    await client.post("/v1/chat/completions", json=REQUEST)
                    done += 1

            await asyncio.gather(*(worker() for _ in range(connections)))
        return done

    return asyncio.run(run()) / seconds


def time_to_first_token(url: str, count: int) -> list[float]:
    timings = []
    with httpx2.Client(base_url=url, timeout=30) as client:
        for number in range(count + 5):
            started = time.perf_counter()
            first: float | None = None
            with client.stream("POST", "/v1/chat/completions", json={**REQUEST, "stream": True}) as response:
                for line in response.iter_lines():  # read to the end so the connection is reused
                    if first is None and line.startswith("data: ") and '"content"' in line:
                        first = (time.perf_counter() - started) * 1000
            if number >= 5 and first is not None:
                timings.append(first)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="railguard bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests per target")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each throughput run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ttft-requests", type=int, default=100)
    parser.add_argument(
        "--policy",
        default="passthrough",
        help="passthrough (every guard off), default (the built-in default) or a policy directory",
    )
    parser.add_argument("--floor-client", choices=["httpx", "httpx2"], default="httpx")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--compare-transports",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the proxy on httpx2's own connection pool (railguard-httpx)",
    )
    parser.add_argument("--rate-limits", action="store_true", help="also measure rate limits on memory and Redis")
    parser.add_argument(
        "--compare-precision",
        action="store_true",
        help="run the proxy with the shared encoder in float32 (railguard) and bfloat16 (railguard-bf16); without it, "
        "the encoder runs at the serve default (auto)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for --rate-limits")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="railguard-bench-"))
    policies: Path | None
    if args.policy == "passthrough":
        policies = workdir / "policies"
        policies.mkdir()
        (policies / "default.yaml").write_text(passthrough_policy())
    elif args.policy == "default":
        policies = None
    else:
        policies = Path(args.policy)

    variants: dict[str, dict[str, str]] = {"railguard": {}}
    if args.compare_transports:
        variants["railguard-httpx"] = {"RAILGUARD_UPSTREAM_TRANSPORT": "httpx"}
    if args.compare_precision:
        variants["railguard"] = {"RAILGUARD_ENCODER_PRECISION": "float32"}
        variants["railguard-bf16"] = {"RAILGUARD_ENCODER_PRECISION": "bfloat16"}
    redis_prefix = f"railguard-bench:{os.getpid()}:"
    if args.rate_limits:
        rate_policies = rate_limit_policies(workdir, policies)
        variants["rl-memory"] = {"RAILGUARD_POLICIES": str(rate_policies)}
        variants["rl-redis"] = {
            "RAILGUARD_POLICIES": str(rate_policies),
            "RAILGUARD_REDIS_URL": args.redis_url,
            "RAILGUARD_REDIS_PREFIX": redis_prefix,
        }
    upstream_port, floor_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    processes: list[subprocess.Popen[bytes]] = []
    rss: dict[str, dict[str, float]] = {}
    try:
        upstream = _spawn(_uvicorn("proxy.bench_apps:fast_upstream", upstream_port), {}, workdir / "upstream.log")
        processes.append(upstream)
        _wait_up(upstream_url, upstream, workdir / "upstream.log")
        floor = _spawn(
            _uvicorn("proxy.bench_apps:floor_app", floor_port, factory=True),
            {"BENCH_UPSTREAM": upstream_url + "/v1", "BENCH_FLOOR_CLIENT": args.floor_client},
            workdir / "floor.log",
        )
        processes.append(floor)
        targets = [
            Target("direct", upstream_url, upstream),
            Target("floor", f"http://127.0.0.1:{floor_port}", floor),
        ]
        for name, overrides in variants.items():
            port = free_port()
            env = {
                "RAILGUARD_UPSTREAM": upstream_url + "/v1",
                "RAILGUARD_PORT": str(port),
                "RAILGUARD_LOG_LEVEL": "warning",
                "RAILGUARD_REVIEW_DB": f"sqlite+aiosqlite:///{workdir / (name + '-reviews.db')}",
            }
            if policies is not None:
                env["RAILGUARD_POLICIES"] = str(policies)
            env.update(overrides)

            process = _spawn([sys.executable, "-m", "proxy.cli", "serve"], env, workdir / f"{name}.log")
            processes.append(process)
            targets.append(Target(name, f"http://127.0.0.1:{port}", process))
        for target in targets[1:]:
            assert target.process is not None
            _wait_up(target.url, target.process, workdir / f"{target.name}.log")
        proxies = [t for t in targets if t.name.startswith("railguard")]
        for target in proxies:
            assert target.process is not None
            rss[target.name] = {"idle": rss_mb(target.process.pid)}

        timings = sequential(targets, args.requests)
        p50 = {name: statistics.median(values) for name, values in timings.items()}
        p99 = {name: percentile(values, 0.99) for name, values in timings.items()}

        load = args.load if args.load != "auto" else ("wrk" if shutil.which("wrk") else "python")
        measure = throughput_wrk if load == "wrk" else throughput_python
        # CPU time per request is steadier than requests/s on a shared machine: report both.
        rps: dict[str, float] = {}
        cpu_us: dict[str, float] = {}
        for target in targets:
            assert target.process is not None
            before = cpu_seconds(target.process.pid)
            rps[target.name] = round(measure(target.url, args.seconds, args.concurrency), 1)
            spent = cpu_seconds(target.process.pid) - before
            cpu_us[target.name] = round(1e6 * spent / max(1.0, rps[target.name] * args.seconds), 1)
        for target in proxies:
            assert target.process is not None
            rss[target.name]["after_load"] = rss_mb(target.process.pid)

        ttft_runs = {t.name: time_to_first_token(t.url, args.ttft_requests) for t in targets}
        empty = [name for name, values in ttft_runs.items() if not values]
        if empty:
            raise RuntimeError(f"no streamed content from {', '.join(empty)}")
        ttft = {name: statistics.median(values) for name, values in ttft_runs.items()}
        checks = measure_checks(args.redis_url, redis_prefix, args.requests) if args.rate_limits else {}
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
        if args.rate_limits:
            clean_redis(args.redis_url, redis_prefix)

    measured = [name for name in p50 if name != "direct"]
    added = {name: p50[name] - p50["direct"] for name in measured}
    added99 = {name: p99[name] - p99["direct"] for name in measured}
    added_ttft = {name: ttft[name] - ttft["direct"] for name in measured}
    result: dict[str, Any] = {
        "policy": args.policy,
        "floor_client": args.floor_client,
        "load_generator": load,
        "concurrency": args.concurrency,
        "p50_ms": {k: round(v, 3) for k, v in p50.items()},
        "p99_ms": {k: round(v, 3) for k, v in p99.items()},
        "added_p50_ms": {k: round(v, 3) for k, v in added.items()},
        "added_p99_ms": {k: round(v, 3) for k, v in added99.items()},
        "rps": rps,
        "cpu_us_per_request": cpu_us,
        "ttft_ms": {k: round(v, 3) for k, v in ttft.items()},
        "added_ttft_ms": {k: round(v, 3) for k, v in added_ttft.items()},
        "rss_mb": rss,
        "ratios_vs_floor": {
            name: {
                "added_p50": round(added[name] / added["floor"], 2) if added["floor"] > 0 else None,
                "rps": round(rps[name] / rps["floor"], 2),
                "cpu_per_request": round(cpu_us[name] / cpu_us["floor"], 2),
                "added_ttft": round(added_ttft[name] / added_ttft["floor"], 2) if added_ttft["floor"] > 0 else None,
            }
            for name in measured
            if name != "floor"
        },
    }
    if args.rate_limits:
        result["rate_limits"] = rate_limit_cost(p50, p99, rps, checks)
    print(f"load generator: {load}, concurrency {args.concurrency}, policy {args.policy}, floor {args.floor_client}")
    print(f"{'':16}{'p50 ms':>10}{'p99 ms':>10}{'added p50':>11}{'req/s':>10}{'cpu us/req':>11}{'ttft ms':>10}")
    for name in p50:
        extra = f"{added[name]:11.3f}" if name != "direct" else f"{'':11}"
        print(
            f"{name:16}{p50[name]:10.3f}{p99[name]:10.3f}{extra}{rps[name]:10.1f}{cpu_us[name]:11.1f}{ttft[name]:10.3f}"
        )

    for name, figures in rss.items():
        print(f"{name} RSS: {figures['idle']} MB idle, {figures['after_load']} MB after load")
    if args.rate_limits:
        print_rate_limit_cost(result["rate_limits"])
    print(json.dumps(result))
    return 0
