"""Addresses: local paths against storage URIs (s3://, gs://, ...), and whether anything
answers at a host's port."""

import socket


def is_remote(storage: str) -> bool:
    """Whether ``storage`` is a URI (s3://, gs://, ...) rather than a local path."""
    return "://" in storage


def unreachable(host: str, port: int, timeout_s: float) -> str | None:
    """Why nothing answers at ``host:port`` (a TCP connection), or None if something does."""
    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout_s).close()
    except OSError as err:
        return err.strerror or type(err).__name__
    return None
