"""Least-privilege Redis: one ACL user per role, its rules as data, and the files each
container is given (docs/SECURITY.md, "Redis").

``python -m bus.credentials DIR`` (compose's ``credentials`` service, once before Redis
starts) writes, keeping any password already there so that a restart changes nothing:

- ``DIR/redis/users.acl``: Redis's ACL file (``--aclfile``), and ``DIR/redis/admin.password``,
  the default user's, for the health check and an operator's ``redis-cli``;
- ``DIR/<role>/redis-url``: ``redis://<role>:<password>@redis:6379/0`` for the gateway,
  chat and stocks containers, each of which mounts only its own directory
  (``REDIS_URL_FILE``).

A role gets the keys, channels and commands it needs and no more: a service cannot write
another's keys or publish on another's topics, and no role may run administrative or
dangerous commands (``FLUSHALL``, ``CONFIG``, ``KEYS``, ``CLIENT KILL``, ...). A client that
does not authenticate may run nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .channels import PREFIX

__all__ = ["ADMIN", "ROLES", "Role", "acl_file", "main"]

#: What every role may run: reading, writing, streams, pub/sub and running scripts, never
#: an administrative or dangerous command, nor flushing or replacing scripts and functions.
COMMANDS = (
    "-@all +@connection +@read +@write +@stream +@pubsub +@transaction"
    " +time +eval +evalsha +script|load +script|exists -function -@admin -@dangerous"
)


@dataclass(frozen=True)
class Role:
    """One ACL user: its key patterns (read-write, and read-only) and channel patterns."""

    keys: tuple[str, ...]
    channels: tuple[str, ...]
    read_only: tuple[str, ...] = ()

    def rules(self, password: str) -> str:
        """The role's rules in the ACL file, with ``password``."""
        keys = [f"~{pattern}" for pattern in self.keys]
        keys += [f"%R~{pattern}" for pattern in self.read_only]
        channels = [f"&{pattern}" for pattern in self.channels]
        return " ".join(["on", f">{password}", "resetkeys", "resetchannels", *keys, *channels,
                         COMMANDS])  # fmt: skip


#: Every role, by user name.
ROLES: Mapping[str, Role] = {
    # Appends envelopes for any service, keeps its alive key, reads the quotes; hears its
    # commands and any topic, and publishes its readiness canary to itself. The replicas
    # are only read, by bus.APPEND, but Redis checks a script's declared keys as written.
    "gateway": Role(
        keys=(f"{PREFIX}:svc:*:in", f"{PREFIX}:svc:*:replicas", f"{PREFIX}:gw:*"),
        read_only=(f"{PREFIX}:stocks:quotes",),
        channels=(f"{PREFIX}:gw:*", f"{PREFIX}:topic:*"),
    ),
    # Its own state and stream; gateways' alive keys to sweep; its own commands to
    # gateways (bus.command_channel) and the chat's topics.
    "chat": Role(
        keys=(f"{PREFIX}:chat:*", f"{PREFIX}:svc:chat:*"),
        read_only=(f"{PREFIX}:gw:*",),
        channels=(f"{PREFIX}:gw:*:chat", f"{PREFIX}:topic:chat.*"),
    ),
    "stocks": Role(
        keys=(f"{PREFIX}:stocks:*", f"{PREFIX}:svc:stocks:*"),
        read_only=(f"{PREFIX}:gw:*",),
        channels=(f"{PREFIX}:gw:*:stocks", f"{PREFIX}:topic:quotes.*"),
    ),
}
#: The operator's user, with every right: Redis's ``default`` user, given a password, so
#: that a client that does not authenticate can do nothing at all. (Not a restricted
#: default user: Redis before 8 replays the transactions of its append-only file as the
#: default user and drops those it may not run, redis/redis#14541.)
ADMIN = "default"


def acl_file(passwords: Mapping[str, str]) -> str:
    """Redis's ACL file: the operator and each role, with ``passwords`` by user name."""
    lines = [f"user {ADMIN} on >{passwords[ADMIN]} ~* &* +@all"]
    lines += [f"user {name} {role.rules(passwords[name])}" for name, role in ROLES.items()]
    return "\n".join(lines) + "\n"


def _password(path: Path) -> str:
    """The password kept in ``path``, made the first time."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_hex(24)
    path.write_text(password + "\n", encoding="utf-8")
    return password


def write(root: Path, host: str, owner: tuple[int, int] | None) -> None:
    """Write every file under ``root``; ``owner``: who Redis runs as (uid, gid), who must
    read its files."""
    for directory in (root / "redis", *(root / name for name in ROLES)):
        directory.mkdir(parents=True, exist_ok=True)
    passwords = {ADMIN: _password(root / "redis" / "admin.password")}
    for name in ROLES:
        passwords[name] = _password(root / name / "password")
        url = root / name / "redis-url"
        url.write_text(f"redis://{name}:{passwords[name]}@{host}:6379/0\n", encoding="utf-8")
        for path in (url, root / name / "password"):
            path.chmod(0o644)  # The service's user reads it; nobody else mounts it.
    acl = root / "redis" / "users.acl"
    acl.write_text(acl_file(passwords), encoding="utf-8")
    for path in (acl, root / "redis" / "admin.password"):
        path.chmod(0o600)
        if owner is not None:
            os.chown(path, *owner)


def give(directory: Path, owner: tuple[int, int]) -> None:
    """Give ``directory`` and everything in it to ``owner`` (uid, gid): data written by a
    Redis that ran as root is Redis's again."""
    os.chown(directory, *owner)
    for parent, directories, files in os.walk(directory):
        for name in (*directories, *files):
            os.chown(os.path.join(parent, name), *owner, follow_symlinks=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bus.credentials",
        description="Write Redis's ACL file and each role's Redis URL (docs/SECURITY.md).",
    )
    parser.add_argument("root", type=Path, help="where to write: ROOT/redis, ROOT/<role>")
    parser.add_argument("--host", default="redis", help="Redis's host name in the URLs")
    parser.add_argument(
        "--redis-owner",
        metavar="UID:GID",
        help="the user Redis runs as, who must own its files (default: leave them)",
    )
    parser.add_argument(
        "--chown",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also give DIR and all in it to --redis-owner (Redis's data volume)",
    )
    args = parser.parse_args(argv)
    owner = None
    if args.redis_owner:
        uid, _, gid = args.redis_owner.partition(":")
        owner = (int(uid), int(gid or uid))
    write(args.root, args.host, owner)
    if owner is not None:
        for directory in args.chown:
            give(directory, owner)
    print(f"credentials: {', '.join(ROLES)} and {ADMIN} in {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
