"""``awspar sign``: print the signed request boto3 would send, as JSON or a ready-to-run curl line.

This command's output *is* the signed request, so it shows the ``Authorization`` header or the
presigned URL's signature: that is its purpose. Errors never do.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from awspar.cli._options import EndpointUrl, Profile, Region
from awspar.cli._output import fail

__all__ = ["curl_command", "parse_params", "register", "sign_command"]

# Shapes whose --param values are taken as text rather than JSON.
_TEXT_TYPES = frozenset({"string", "blob", "timestamp"})
_DEFAULT_EXPIRES = 3600


def register(app: typer.Typer) -> None:
    """Add ``awspar sign`` to the app."""
    app.command("sign")(sign_command)


def sign_command(
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="botocore service name, e.g. s3, sqs, bedrock-runtime.")],
    operation: Annotated[str, typer.Argument(metavar="OPERATION", help="Operation, PascalCase or snake_case, e.g. GetObject.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="A parameter as Key=Value (repeatable). Value is JSON for numbers, booleans, lists and "
            "objects, plain text for string parameters; Key=@path reads the value from a file.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the request as JSON (the default; SignedRequest.to_dict()).")
    ] = False,
    as_curl: Annotated[bool, typer.Option("--curl", help="Print a ready-to-run curl command line.")] = False,
    presign: Annotated[
        bool, typer.Option("--presign", help="Presign a URL instead (prints the URL unless --json or --curl).")
    ] = False,
    expires: Annotated[
        int | None,
        typer.Option("--expires", help=f"Seconds the presigned URL is valid, 1 to 604800 (default: {_DEFAULT_EXPIRES})."),
    ] = None,
    region: Region = None,
    endpoint_url: EndpointUrl = None,
    profile: Profile = None,
) -> None:
    """Sign SERVICE OPERATION exactly as boto3 would send it, and print it instead of sending it.

    Nothing is sent: signing needs credentials but no network.

    Example: awspar sign s3 GetObject --param Bucket=demo --param Key=hello.txt --curl
    """
    from awspar.signer import Signer

    if as_json and as_curl:
        fail("choose one of --json and --curl")
    if expires is not None and not presign:
        fail("--expires applies to --presign only")
    signer = Signer(service, region=region, endpoint_url=endpoint_url, profile=profile)
    params = parse_params(param or [], signer.operation_model(operation).input_shape)
    request = signer.sign(operation, params)
    if presign:
        if request.body or request.method == "POST":  # a URL carries no body: it would be dropped
            fail(f"--presign: {operation} sends a {request.method} with a body, which a presigned URL cannot "
                 "carry; sign it without --presign (--curl or --json)")
        request = signer.presign(operation, params, expires_in=_DEFAULT_EXPIRES if expires is None else expires)
    if as_curl:
        typer.echo(curl_command(request.method, request.url, request.headers, request.body))
    elif presign and not as_json:
        typer.echo(request.url)
    else:
        typer.echo(json.dumps(request.to_dict(), indent=2, ensure_ascii=False))


def parse_params(items: list[str], input_shape: Any) -> dict[str, Any]:
    """``["Key=Value", ...]`` as API parameters, typed by the operation's input shape.

    String, blob and timestamp parameters take the text as it is; every other parameter is JSON.
    ``Key=@path`` reads the file: bytes for a blob, text for a string, JSON otherwise.
    """
    members = input_shape.members if input_shape is not None else {}
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"--param {item!r}: expected Key=Value")
        if key in params:  # the last one winning silently hides a typo
            fail(f"--param {key} is given twice; give each parameter once (a list is one JSON value: {key}='[...]')")
        shape = members.get(key)
        type_name = shape.type_name if shape is not None else None
        text = raw
        if raw.startswith("@"):
            try:
                data = Path(raw[1:]).expanduser().read_bytes()
            except OSError as exc:
                fail(f"--param {key}: cannot read {raw[1:]!r}: {exc.strerror or exc}")
            if type_name == "blob":
                params[key] = data
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                fail(f"--param {key}: {raw[1:]!r} is not UTF-8 text (only blob parameters take bytes)")
        params[key] = _typed_value(key, text, type_name)
    return params


def _typed_value(key: str, text: str, type_name: str | None) -> Any:
    if type_name in _TEXT_TYPES:
        return text
    try:
        return json.loads(text)
    except ValueError:
        if type_name is None:
            return text  # not a parameter of this operation: botocore's validation names it
        fail(f"--param {key}: needs a JSON {type_name} value, got {text[:60]!r}")


def curl_command(method: str, url: str, headers: Any, body: bytes) -> str:
    """A shell command line that sends exactly this request with curl.

    ``--globoff --path-as-is`` keep the signed URL byte for byte; a binary body is piped in
    through ``printf`` so that every byte survives the shell.
    """
    words = ["curl", "--globoff", "--path-as-is"]
    words += ["--head"] if method == "HEAD" else ["--request", method]
    words.append(url)
    for name, value in headers.items():
        words += ["--header", f"{name}: {value}" if value else f"{name};"]
    if body and not any(name.lower() == "content-type" for name in headers):
        words += ["--header", "Content-Type:"]  # curl would add its own form content type
    prefix = ""
    if body:
        text = _printable(body)
        if text is not None:
            words += ["--data-binary", text]
        else:
            escaped = "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\0{b:03o}" for b in body)
            prefix = f"printf '%b' {shlex.quote(escaped)} | "
            words += ["--data-binary", "@-"]
    return prefix + " ".join(shlex.quote(word) for word in words)


def _printable(body: bytes) -> str | None:
    """The body as text when the shell can carry it as a plain argument (no NUL, no '@' first,
    which curl would read as a file name)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or text.startswith("@") or any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        return None
    return text
