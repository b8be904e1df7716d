"""Offsets stored with the read models, written by compare-and-set so a worker that lost its partitions (a zombie
that has not noticed yet, or any projector when `itscam rebuild` swaps the tables under it) writes nothing.

Each worker remembers, per (topic, partition), the next_offset it expects in projection_offsets: read on assignment,
then what it last wrote. A batch's offsets are written with
  UPDATE ... SET next_offset = new WHERE key AND next_offset = expected   (a row was expected)
  INSERT ... ON CONFLICT DO NOTHING                                       (no row was expected)
and every row must be hit; otherwise someone else wrote since, and the caller rolls the whole batch back.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import psycopg

from projections.errors import ProjectionError

__all__ = ["Fenced", "OffsetFence", "worker_id"]

TopicPartitionKey = tuple[str, int]


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Fenced(ProjectionError):
    """The stored offsets are not the ones this worker expected: another worker wrote them. The batch is rolled
    back; re-read the offsets and seek there."""


class OffsetFence:
    def __init__(self, group_id: str, owner: str | None = None) -> None:
        self.group_id = group_id
        self.owner = owner or worker_id()
        self.expected: dict[TopicPartitionKey, int | None] = {}

    def load(self, conn: psycopg.Connection[Any], keys: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Read the stored offsets of `keys` (committing the read) and expect them from now on; return those
        that have a row."""
        topics = sorted({t for t, _ in keys})
        rows = conn.execute(
            "SELECT topic, partition, next_offset FROM projection_offsets"
            " WHERE consumer_group = %s AND topic = ANY(%s)",
            (self.group_id, topics),
        ).fetchall()
        conn.commit()
        stored = {(str(t), int(p)): int(o) for t, p, o in rows}
        for k in keys:
            self.expected[k] = stored.get(k)
        return {k: stored[k] for k in keys if k in stored}

    def stale(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether any stored offset differs from what this worker expects (someone else wrote, or the tables
        were swapped by a rebuild): a worker with nothing to write finds out this way."""
        keys = list(self.expected)
        if not keys:
            return False
        rows = conn.execute(
            "SELECT topic, partition, next_offset FROM projection_offsets"
            " WHERE consumer_group = %s AND topic = ANY(%s)",
            (self.group_id, sorted({t for t, _ in keys})),
        ).fetchall()
        conn.commit()
        stored = {(str(t), int(p)): int(o) for t, p, o in rows}
        return any(stored.get(k) != self.expected[k] for k in keys)

    def drop(self, keys: list[TopicPartitionKey]) -> None:
        for k in keys:
            self.expected.pop(k, None)

    def write(self, cur: psycopg.Cursor[Any], offsets: dict[TopicPartitionKey, int]) -> None:
        """Compare-and-set `offsets` inside the caller's transaction; raise Fenced when any row was not ours."""
        upd = [(k, o, self.expected[k]) for k, o in offsets.items() if self.expected.get(k) is not None]
        ins = [(k, o) for k, o in offsets.items() if self.expected.get(k) is None]
        hit = 0
        if upd:
            cur.execute(
                "UPDATE projection_offsets o SET next_offset = u.new, owner = %s, updated_at = now()"
                " FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::bigint[]) AS u(topic, partition, new, expected)"
                " WHERE o.consumer_group = %s AND o.topic = u.topic AND o.partition = u.partition"
                " AND o.next_offset = u.expected",
                (
                    self.owner,
                    [k[0] for k, _, _ in upd],
                    [k[1] for k, _, _ in upd],
                    [o for _, o, _ in upd],
                    [e for _, _, e in upd],
                    self.group_id,
                ),
            )
            hit += cur.rowcount
        if ins:
            cur.execute(
                "INSERT INTO projection_offsets (consumer_group, topic, partition, next_offset, owner, updated_at)"
                " SELECT %s, u.topic, u.partition, u.new, %s, now()"
                " FROM unnest(%b::text[], %b::int[], %b::bigint[]) AS u(topic, partition, new)"
                " ON CONFLICT (consumer_group, topic, partition) DO NOTHING",
                (self.group_id, self.owner, [k[0] for k, _ in ins], [k[1] for k, _ in ins], [o for _, o in ins]),
            )
            hit += cur.rowcount
        if hit != len(offsets):
            raise Fenced(
                f"Consumer group {self.group_id}: {len(offsets) - hit} of {len(offsets)} stored offsets were not "
                "the ones this worker expected (another worker or a rebuild wrote them); batch rolled back."
            )

    def committed(self, offsets: dict[TopicPartitionKey, int]) -> None:
        """After the transaction that wrote `offsets` committed: expect them next."""
        self.expected.update(offsets)
