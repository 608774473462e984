"""Media in S3 or an S3-compatible server (SeaweedFS, MinIO...): private objects, presigned links."""
from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from . import MediaNotFound, check_key

MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3MediaStore:
    """`MediaStore` on one bucket; `prefix` is prepended to every key. One client, made once, reused."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str = "us-east-1",
                 access_key: str | None = None, secret_key: str | None = None, client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client if client is not None else make_client(endpoint_url, region, access_key, secret_key)

    def object_key(self, key: str) -> str:
        """The bucket key of a media key (prefix included)."""
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store the object with its content type. Objects are private by default; an explicit ACL is left
        out because buckets with ACLs disabled (the AWS default since 2023) reject any ACL header."""
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        """The object's bytes; raises MediaNotFound."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING_CODES:
                raise MediaNotFound(key) from None
            raise
        with response["Body"] as body:
            return body.read()

    def url(self, key: str, expires_in: int = 3600) -> str:
        """A presigned GET URL valid for `expires_in` seconds."""
        return self.client.generate_presigned_url("get_object", ExpiresIn=expires_in,
                                                  Params={"Bucket": self.bucket, "Key": self.object_key(key)})

    def delete(self, key: str) -> None:
        """Remove the object if present (S3 deletes are idempotent)."""
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def keys(self, prefix: str) -> list[str]:
        """Every stored key under the folder `prefix`, sorted (the store's own prefix taken off)."""
        folder = self.prefix + check_key(prefix.rstrip("/")) + "/"
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            found += [item["Key"][len(self.prefix):] for item in page.get("Contents", [])]
        return sorted(found)

    def ping(self) -> None:
        """Raise if the bucket cannot be reached with these credentials."""
        self.client.head_bucket(Bucket=self.bucket)


def make_client(endpoint_url: str | None = None, region: str = "us-east-1", access_key: str | None = None,
                secret_key: str | None = None) -> Any:
    """A boto3 S3 client signing with v4; path-style addressing when a custom endpoint is given, since
    S3-compatible servers rarely resolve bucket subdomains."""
    style = "path" if endpoint_url else "auto"
    config = Config(signature_version="s3v4", s3={"addressing_style": style},
                    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, config=config)
