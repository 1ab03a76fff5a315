"""
The chain heads anchored outside the database. Every AUDIT_ANCHOR_INTERVAL_SECONDS the worker
appends each head that moved, (chain, seq, hash, time), to AUDIT_ANCHOR_PATH as one JSON line
per chain (the default project's chain, 1, is written without `chain`, as every line was
before chains split), signed with an
HMAC-SHA256 whose key is derived from SECRET_KEY (`salted_hmac`): a key the database does not
hold. Each signature also covers the previous line's, so a line removed from the middle, or
lines reordered, break the file's own chain.

`audit_chain_verify` reads the file: a line whose signature does not check out is reported,
and so is an anchored (seq, hash) the event table no longer has (rewritten, or rewound and
re-appended) or a head behind the last anchor (rewound, truncated). Anchors at or below the
retention checkpoint are events `audits_expire` removed, and are not looked for.

What it cannot see: whoever can also rewrite this file (root on the same host, or a process
with the site's SECRET_KEY and write access) can rewind both; ship the file off the host
(docs/reliability.md, Threat model).
"""

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from audits.models import DEFAULT_CHAIN, AuditChainHead

_SALT = "audits.anchors"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str  # ISO 8601 UTC, as written
    sig: str
    line: int = 0
    chain: int = DEFAULT_CHAIN


class AnchorFileInvalid(Exception):
    """A line of the anchor file is malformed or its signature does not check out."""


def _signature(
    *, seq: int, hash: str, at: str, prev_sig: str, secret: str, chain: int = DEFAULT_CHAIN
) -> str:
    value = f"{seq}\n{hash}\n{at}\n{prev_sig}"
    if chain != DEFAULT_CHAIN:  # the default chain's lines keep their signatures
        value = f"chain {chain}\n{value}"
    return salted_hmac(_SALT, value, secret=secret, algorithm="sha256").hexdigest()


def _signature_valid(anchor: Anchor, prev_sig: str) -> bool:
    # SECRET_KEY_FALLBACKS too: lines signed before a key rotation still verify.
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(
        constant_time_compare(
            _signature(
                seq=anchor.seq,
                hash=anchor.hash,
                at=anchor.at,
                prev_sig=prev_sig,
                secret=s,
                chain=anchor.chain,
            ),
            anchor.sig,
        )
        for s in secrets
    )


def _anchor_parse(line: str, *, number: int, path: Path) -> Anchor:
    try:
        data = json.loads(line)
        return Anchor(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            at=str(data["at"]),
            sig=str(data["sig"]),
            line=number,
            chain=int(data.get("chain", DEFAULT_CHAIN)),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise AnchorFileInvalid(f"line {number} of {path} is not an anchor ({error}).") from error


def _bad_signature(number: int, path: Path) -> AnchorFileInvalid:
    return AnchorFileInvalid(
        f"line {number} of {path} has a bad signature (the anchor file was edited, "
        "or lines were removed or reordered)."
    )


def anchors_read(path: Path | None = None) -> list[Anchor]:
    """
    Every anchor in the file, signatures checked in order; [] when there is no file.
    Raises AnchorFileInvalid naming the first bad line.
    """
    path = Path(path or settings.AUDIT_ANCHOR_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    anchors: list[Anchor] = []
    prev_sig = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        anchor = _anchor_parse(line, number=number, path=path)
        if not _signature_valid(anchor, prev_sig):
            raise _bad_signature(number, path)
        anchors.append(anchor)
        prev_sig = anchor.sig
    return anchors


# Far more than two lines (each about 200 bytes), read from the end of the file.
_TAIL_BYTES = 8192


def anchors_tail(path: Path | None = None) -> list[Anchor]:
    """
    The file's last anchors, the last one's signature checked against the line before it;
    [] when there is no file or it is empty. Reads only the file's tail: the worker appends
    every AUDIT_ANCHOR_INTERVAL_SECONDS for years, and the whole file is checked by
    verification, not on every append. Their `line` is counted from the end (-1 is the last).
    """
    path = Path(path or settings.AUDIT_ANCHOR_PATH)
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(size - _TAIL_BYTES, 0))
            tail = file.read()
    except FileNotFoundError:
        return []
    lines = [line for line in tail.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if size > _TAIL_BYTES:
        lines = lines[1:]  # the first may be cut mid-line
    if not lines:
        return []
    anchors = [
        _anchor_parse(line, number=number - len(lines), path=path)
        for number, line in enumerate(lines)
    ]
    if len(anchors) == 1 and size > _TAIL_BYTES:
        raise AnchorFileInvalid(f"the last line of {path} is longer than any anchor.")
    prev_sig = anchors[-2].sig if len(anchors) > 1 else ""
    if not _signature_valid(anchors[-1], prev_sig):
        raise _bad_signature(-1, path)
    return anchors


def anchor_last(path: Path | None = None) -> Anchor | None:
    """The file's last anchor (`anchors_tail`), or None."""
    tail = anchors_tail(path)
    return tail[-1] if tail else None


def audit_chain_anchor(*, path: Path | None = None, now: datetime | None = None) -> list[Anchor]:
    """
    Append each chain head to the anchor file, unless the file's tail already records it (an
    idle trail adds no lines; a chain idle for longer than the tail is written again, which
    costs a line); returns the anchors written. The lines are written with one O_APPEND write
    and fsynced, so concurrent writers cannot interleave within a line.
    """
    path = Path(path or settings.AUDIT_ANCHOR_PATH)
    heads = AuditChainHead.objects.filter(last_seq__gt=0).order_by("id")
    tail = anchors_tail(path)
    recorded = {(anchor.chain, anchor.seq, anchor.hash) for anchor in tail}
    at = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    prev_sig = tail[-1].sig if tail else ""
    written: list[Anchor] = []
    lines: list[str] = []
    for chain, seq, hash_ in heads.values_list("id", "last_seq", "last_hash"):
        if (chain, seq, hash_) in recorded:
            continue
        sig = _signature(
            seq=seq, hash=hash_, at=at, prev_sig=prev_sig, secret=settings.SECRET_KEY, chain=chain
        )
        fields = {"seq": seq, "hash": hash_, "at": at, "sig": sig}
        if chain != DEFAULT_CHAIN:
            fields = {"chain": chain, **fields}
        lines.append(json.dumps(fields, separators=(",", ":")))
        written.append(Anchor(seq=seq, hash=hash_, at=at, sig=sig, line=-1, chain=chain))
        prev_sig = sig
    if not lines:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, ("\n".join(lines) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def anchors_beyond(anchors: Iterable[Anchor], *, after_seq: int) -> dict[int, Anchor]:
    """The anchors (of one chain) above `after_seq` (its retention checkpoint), by seq."""
    return {anchor.seq: anchor for anchor in anchors if anchor.seq > after_seq}
