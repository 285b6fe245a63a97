"""moto's real server on a free 127.0.0.1 port, with its signature checks switched on.

moto checks SigV4 header signatures only once its IAM authentication is on; this wrapper creates
an IAM user allowed to do everything, gives it an access key, then switches authentication on, so
a request signed with anything but that key (or with a tampered signature) is refused.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass, field
from typing import Iterable, Mapping

__all__ = ["MotoServer", "MotoCredentials"]

# moto authenticates every request after this many; a huge count means "off".
_AUTH_OFF = 10**12
_ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@dataclass(frozen=True)
class MotoCredentials:
    """The access key of the IAM user the server accepts."""

    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"


class MotoServer:
    """``ThreadedMotoServer`` on 127.0.0.1, signature checks on, seeded with buckets.

    >>> with MotoServer(buckets={"demo": {"a.txt": b"hello"}}) as moto:  # doctest: +SKIP
    ...     s3 = moto.client("s3")
    """

    def __init__(
        self,
        *,
        buckets: Mapping[str, Mapping[str, bytes]] | None = None,
        region: str = "us-east-1",
        verify_signatures: bool = True,
    ) -> None:
        self.region = region
        self._buckets = dict(buckets or {})
        self._verify = verify_signatures
        self._server = None
        self.url = ""
        self.credentials: MotoCredentials | None = None

    def start(self) -> "MotoServer":
        """Start the server, create the IAM user and key, seed buckets, switch auth on."""
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self._reset_auth(_AUTH_OFF)  # no auth while setting up, even if a previous run left it on
        self._post("/moto-api/reset")
        iam = self._client("iam", "bootstrap", "bootstrap")
        iam.create_user(UserName="awspar-test")
        iam.put_user_policy(UserName="awspar-test", PolicyName="all", PolicyDocument=_ALLOW_ALL)
        key = iam.create_access_key(UserName="awspar-test")["AccessKey"]
        self.credentials = MotoCredentials(key["AccessKeyId"], key["SecretAccessKey"], self.region)
        for bucket, objects in self._buckets.items():
            self.create_bucket(bucket, objects.items(), _bootstrap=True)
        if self._verify:
            self._reset_auth(0)
        return self

    def stop(self) -> None:
        """Stop the server and switch moto's auth back off for this process."""
        if self._server is not None:
            self._reset_auth(_AUTH_OFF)
            self._server.stop()
            self._server = None

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str, **kwargs: object):
        """A boto3 client for ``service`` pointed at this server with the accepted key."""
        assert self.credentials is not None, "start() first"
        return self._client(service, self.credentials.access_key, self.credentials.secret_key, **kwargs)

    def session(self):
        """A boto3 Session holding the accepted key and region."""
        import boto3

        assert self.credentials is not None, "start() first"
        return boto3.Session(
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            region_name=self.region,
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and awspar) at this server."""
        assert self.credentials is not None, "start() first"
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def create_bucket(self, bucket: str, objects: Iterable[tuple[str, bytes]] = (), *, _bootstrap: bool = False) -> None:
        """Create ``bucket`` and put ``(key, body)`` pairs into it."""
        s3 = self._client("s3", "bootstrap", "bootstrap") if _bootstrap else self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        for key, body in objects:
            s3.put_object(Bucket=bucket, Key=key, Body=body)

    def _client(self, service: str, access_key: str, secret_key: str, **kwargs: object):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            **kwargs,
        )

    def _reset_auth(self, count: int) -> None:
        self._post("/moto-api/reset-auth", str(count).encode())

    def _post(self, path: str, data: bytes = b"") -> None:
        with urllib.request.urlopen(urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": "text/plain"}
        ), timeout=10):
            pass
