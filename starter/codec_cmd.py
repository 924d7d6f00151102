"""The codec server and payload keys from a shell.

    aiflow codec serve [--host H] [--port P]   # decrypt payloads for the Web UI and CLI
    aiflow keys new [--id KEY_ID]              # a fresh key, as an AIFLOW_PAYLOAD_KEYS line

Point the CLI at the server with `temporal ... --codec-endpoint http://127.0.0.1:8081
--codec-auth "Bearer <token>"`; a browser logs in at http://127.0.0.1:8081/login first
(README "Codec server").
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from settings import Settings
from starter.terminal import CliError, CliParser, load_settings, run_main

CODEC_PROG = "aiflow codec"
KEYS_PROG = "aiflow keys"


def codec_parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=CODEC_PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="action", required=True, parser_class=CliParser)
    serve = sub.add_parser("serve", help="run the codec server until interrupted")
    serve.add_argument("--host", help="default: AIFLOW_CODEC_HOST")
    serve.add_argument("--port", type=int, help="default: AIFLOW_CODEC_PORT")
    return p


def keys_parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog=KEYS_PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="action", required=True, parser_class=CliParser)
    new = sub.add_parser("new", help="print a fresh AES-256 key as an AIFLOW_PAYLOAD_KEYS line")
    new.add_argument("--id", dest="key_id", help="its key id (default: k<today>, unique)")
    return p


async def serve(settings: Settings, host: str | None, port: int | None) -> int:
    from activities.logs import configure_logging
    from protection.codec import build_codec
    from starter.codec_server import build_server, log

    if not settings.codec_tokens:
        raise CliError("no operator can authenticate: set AIFLOW_CODEC_TOKENS (see .env.example)")
    if settings.keyring() is None:
        print(
            f"{CODEC_PROG}: no payload keys (AIFLOW_PAYLOAD_KEYS): only claim-checked payloads "
            "are resolved, nothing is decrypted",
            file=sys.stderr,
        )
    codec = build_codec(settings)
    if codec is None:
        raise CliError("no payload codec is configured: set AIFLOW_PAYLOAD_KEYS")
    try:
        server = build_server(settings, codec, host, port)
    except ValueError as err:  # tokens or origins; the message names the setting
        raise CliError(str(err)) from None
    configure_logging(settings.log_level, settings.log_format)
    log.info(
        "codec_server.start",
        host=server.config.host,
        port=server.config.port,
        operators=len(settings.codec_tokens),
        cors_origins=settings.codec_cors_origins,
    )
    await server.serve()
    return 0 if server.started else 4  # not started: the port is taken (uvicorn said why)


def new_key_line(key_id: str | None, taken: list[str], today: datetime) -> tuple[str, str]:
    """(key id, the AIFLOW_PAYLOAD_KEYS line) for a fresh key: `key_id`, else k<date>, with
    a -2, -3... suffix while the configured keys already use it."""
    from protection.keys import KEY_ID, new_key

    if key_id is not None and not KEY_ID.fullmatch(key_id):
        raise CliError(f"--id {key_id[:40]!r}: use 1-32 letters, digits, '.', '_' or '-'")
    if key_id is None:
        key_id = base = f"k{today:%Y%m%d}"
        n = 1
        while key_id in taken:
            n += 1
            key_id = f"{base}-{n}"
    elif key_id in taken:
        raise CliError(f"key id {key_id!r} is already configured; choose another --id")
    return key_id, "AIFLOW_PAYLOAD_KEYS=" + json.dumps({key_id: new_key()})


def configured_key_ids() -> list[str]:
    """The key ids the settings load now; none when they cannot be read (a new key is still
    useful then)."""
    try:
        ring = Settings().keyring()
    except Exception:  # a broken setting must not stop making the key that fixes it
        return []
    return ring.key_ids if ring else []


async def codec_amain(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = codec_parser().parse_args(argv)
    return await serve(settings or load_settings(), args.host, args.port)


async def keys_amain(argv: list[str] | None = None) -> int:
    args = keys_parser().parse_args(argv)
    key_id, line = new_key_line(args.key_id, configured_key_ids(), datetime.now(UTC))
    print(line, flush=True)
    print(
        f"{KEYS_PROG}: new key {key_id!r}. Keep it secret. To rotate, add it LAST to your "
        "AIFLOW_PAYLOAD_KEYS object (the last listed encrypts) and keep the old keys, so "
        "existing histories still decrypt.",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """`aiflow codec`."""
    return run_main(codec_amain, argv, CODEC_PROG)


def keys_main(argv: list[str] | None = None) -> int:
    """`aiflow keys`."""
    return run_main(keys_amain, argv, KEYS_PROG)


if __name__ == "__main__":
    sys.exit(main())
