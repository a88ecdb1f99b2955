"""`railguard` command line: serve | demo | policy | eval | models | bench."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, ValidationError

if TYPE_CHECKING:
    from proxy.settings import Settings

# ---------------------------------------------------------------------------------------------- serve


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, generated from the settings model so `serve --help` lists everything."""
    from proxy.settings import Settings

    parser.add_argument("--config", type=Path, help="YAML settings file (env: RAILGUARD_CONFIG)")
    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = "RAILGUARD_" + name.upper()
        default = info.default if not isinstance(info.default, SecretStr) else "(secret)"
        help_text = f"{info.description or ''} [env: {env}; default: {default}]".strip()
        if info.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text, metavar=name.upper())


def _serve(args: argparse.Namespace, extra: list[str]) -> int:
    import uvicorn

    from policies.loader import PolicyError
    from proxy.settings import Settings

    flags = {name: getattr(args, name) for name in Settings.model_fields if getattr(args, name, None) is not None}
    config = args.config or (Path(os.environ["RAILGUARD_CONFIG"]) if os.environ.get("RAILGUARD_CONFIG") else None)
    try:
        settings = Settings.load(config, **flags)
    except ValidationError as exc:
        print(f"railguard: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    if settings.upstream is None:
        print("railguard: no upstream; pass --upstream URL or set RAILGUARD_UPSTREAM", file=sys.stderr)
        return 2
    try:
        from policies.loader import load_policy_set

        load_policy_set(settings.policies)
    except PolicyError as exc:
        print(f"railguard: invalid policies:\n{exc}", file=sys.stderr)
        return 2
    if settings.tracing != "off" and not _otel_installed():
        print("railguard: --tracing needs the otel extra: pip install 'railguard[otel]'", file=sys.stderr)
        return 2
    # Workers build their own app from the environment; hand them exactly what this process resolved.
    for name, value in flags.items():
        os.environ["RAILGUARD_" + name.upper()] = str(value)
    if config is not None:
        os.environ["RAILGUARD_CONFIG"] = str(config)
    settings.export_for_detectors()
    from proxy.logs import configure_logging

    configure_logging(settings.log_level)
    temporary_metrics_dir = _multiprocess_metrics(settings)
    # On SIGTERM uvicorn stops accepting, lets requests and streams in flight finish (up to --shutdown-grace), runs
    # the app's shutdown (events flushed), then re-raises the signal to the handler it found: make that handler a
    # clean exit, so an orchestrator sees status 0 after a graceful stop. With several workers, the supervisor
    # passes SIGTERM to each worker, waits for them, and returns.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(
            "proxy.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            log_config=None,
            access_log=False,  # our own access log (--access-log) carries request and trace ids
            timeout_graceful_shutdown=settings.shutdown_grace,
            loop="auto",
            http="auto",
        )
    finally:
        if temporary_metrics_dir is not None:
            shutil.rmtree(temporary_metrics_dir, ignore_errors=True)
    return 0


def _otel_installed() -> bool:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def _multiprocess_metrics(settings: Settings) -> Path | None:
    """With several workers, point prometheus-client's multiprocess mode at a wiped directory before the workers
    start (they inherit the environment). Returns the directory when it is a temporary one to remove at exit."""
    if settings.workers <= 1 or not settings.metrics:
        return None
    from proxy.metrics import MULTIPROCESS_ENV, prepare_multiprocess_dir

    directory = settings.metrics_dir or Path(tempfile.mkdtemp(prefix="railguard-metrics-"))
    prepare_multiprocess_dir(directory)
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory if settings.metrics_dir is None else None


# ---------------------------------------------------------------------------------------------- policy


def _policy(args: argparse.Namespace, extra: list[str]) -> int:
    from policies.loader import PolicyError, load_files

    if args.action == "schema":
        from policies.export import export_schema, schema_path

        target = Path(args.files[0]) if args.files else schema_path()
        target.write_text(export_schema())
        print(f"wrote {target}")
        return 0
    if args.action == "validate":
        if not args.files:
            print("railguard policy validate FILE...", file=sys.stderr)
            return 2
        try:
            resolved = load_files([Path(f) for f in args.files])
        except PolicyError as exc:
            for problem in exc.problems:
                print(problem)
            print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
            return 1
        for path in args.files:
            policy = resolved[Path(path).stem]
            print(
                f"{path}: ok ({policy.name} version {policy.version}, extends {' -> '.join(policy.chain[1:]) or '-'})"
            )
        return 0
    if args.action == "explain":
        return _explain(args)
    if args.action == "test":
        from proxy.policy_test import run_cases

        if len(args.files) != 2:
            print("railguard policy test POLICY.yaml CASES.yaml", file=sys.stderr)
            return 2
        return int(run_cases(Path(args.files[0]), Path(args.files[1])))
    return 2


def _explain(args: argparse.Namespace) -> int:
    import yaml

    from policies.loader import PolicyError, load_policy_set

    target = Path(args.files[0]) if args.files else None
    directory = target if target is None or target.is_dir() else target.parent
    try:
        policy_set = load_policy_set(directory)
    except PolicyError as exc:
        print(exc)
        return 1
    if target is not None and target.is_file() and args.tenant is None and args.route is None and args.model is None:
        chosen = policy_set.policies[target.stem]
        why = "named on the command line"
    else:
        tenant, route, model = args.tenant or "default", args.route or "/v1/chat/completions", args.model or "*"
        chosen = policy_set.select(tenant, route, model)
        why = f"most specific match for tenant={tenant} route={route} model={model}"
    print(f"# policy {chosen.name} (version {chosen.version}) — {why}")
    print(f"# inherits: {' -> '.join(chosen.chain)}")
    print(yaml.safe_dump(chosen.policy.model_dump(mode="json"), sort_keys=False, allow_unicode=True), end="")
    return 0


# ---------------------------------------------------------------------------------------------- eval, models


def _eval(args: argparse.Namespace, extra: list[str]) -> int:
    from detectors.evaluation import evaluator
    from detectors.models.encoder import use_reference_precision
    from detectors.models.runtime import limit_blas_threads

    use_reference_precision()  # figures comparable with the recorded ones (float32), unless asked otherwise
    limit_blas_threads()  # p50_ms as the service sees it
    module = evaluator(args.family)
    parser = argparse.ArgumentParser(prog=f"railguard eval {args.family}")
    module.add_arguments(parser)
    result = module.run(parser.parse_args(extra))
    print(json.dumps(result, sort_keys=True))
    return 0


def _models(args: argparse.Namespace, extra: list[str]) -> int:
    from detectors.models.catalog import all_specs, pull, status

    specs = all_specs()
    if args.action == "list":
        for spec in specs.values():
            where = spec.location + (f"@{spec.revision}" if spec.revision else "")
            print(f"{spec.name:32} {spec.kind:24} {spec.source.value:9} {status(spec):10} {where}")
        return 0
    if args.action == "verify":
        return _verify_models(specs, args.names)
    names = args.names or [s.name for s in specs.values() if s.source.value in ("hub", "url")]
    for name in names:
        if name not in specs:
            print(f"unknown model {name!r}", file=sys.stderr)
            return 2
        print(f"pulled {name} -> {pull(specs[name])}")
    return 0


def _tokenizers(args: argparse.Namespace, extra: list[str]) -> int:
    from proxy.tokens import DEFAULT_DIR, ENCODING_FILES, fetch, find_file, search_dirs

    if args.action == "fetch":
        for path in fetch(args.dir or DEFAULT_DIR):
            print(f"ok {path}")
        return 0
    missing = 0
    for encoding in ENCODING_FILES.values():
        found = find_file(encoding, search_dirs(args.dir))
        missing += found is None
        print(f"{encoding.name:14} {found or 'missing (run `railguard tokenizers fetch`)'}")
    return 1 if missing else 0


def _verify_models(specs: dict[str, Any], names: list[str]) -> int:
    """Check sha256 digests (image builds): every packaged model and every named model must be present and intact;
    any other model that is present must be intact."""
    from detectors.models.catalog import status
    from detectors.models.spec import ModelSource

    unknown = [name for name in names if name not in specs]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    failures = 0
    for spec in specs.values():
        state = status(spec)
        required = spec.name in names or spec.source is ModelSource.PACKAGED
        bad = state.startswith("corrupt") or (state == "missing" and required)
        failures += bad
        print(f"{'FAIL' if bad else 'ok':4}  {spec.name:32} {spec.source.value:9} {state}")
    return 1 if failures else 0


def _demo(args: argparse.Namespace, extra: list[str]) -> int:
    from proxy.demo import run_demo

    return int(run_demo())


def _bench(args: argparse.Namespace, extra: list[str]) -> int:
    from proxy.bench import main as bench_main

    return int(bench_main(extra))


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="railguard", description="Railguard: a guardrails proxy for OpenAI-compatible APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the proxy",
        description="Run the proxy. Precedence: flags > environment (RAILGUARD_*) > --config file > defaults.",
    )
    _settings_flags(serve)
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser(
        "demo", help="start the proxy in front of an offline scripted upstream and show each guard"
    )
    demo.set_defaults(handler=_demo)

    policy = commands.add_parser("policy", help="validate, explain or test policy files")
    policy.add_argument("action", choices=["validate", "explain", "test", "schema"])
    policy.add_argument("files", nargs="*", help="policy files (test: POLICY.yaml CASES.yaml)")
    policy.add_argument("--tenant")
    policy.add_argument("--route")
    policy.add_argument("--model")
    policy.set_defaults(handler=_policy)

    evaluate = commands.add_parser("eval", help="measure a detector family on a labelled file; the last line is JSON")
    evaluate.add_argument("family", help="injection | pii | toxicity | faithfulness | topic | ...")
    evaluate.set_defaults(handler=_eval)

    models = commands.add_parser(
        "models", help="list the models the runtime knows, pull hub models ahead of time, or verify their digests"
    )
    models.add_argument("action", choices=["list", "pull", "verify"])
    models.add_argument(
        "names", nargs="*", help="models to pull (default: every hub/URL model) or that verify requires present"
    )
    models.set_defaults(handler=_models)

    tokenizers = commands.add_parser(
        "tokenizers", help="fetch tiktoken's BPE files ahead of time (rate limits count tokens offline), or check them"
    )
    tokenizers.add_argument("action", choices=["fetch", "status"])
    tokenizers.add_argument("--dir", type=Path, help="directory for the files (default: inside this environment)")
    tokenizers.set_defaults(handler=_tokenizers)

    bench = commands.add_parser(
        "bench", add_help=False, help="benchmark the proxy against a direct call and a bare pass-through"
    )

    bench.set_defaults(handler=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("eval", "bench"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    result: Any = args.handler(args, extra)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
