"""Where each stage of a chaos pipeline stands: end offsets of its topics, what each consumer group has committed
(Kafka for inference and analytics, PostgreSQL's projection_offsets for the projector), data left unconsumed."""

from __future__ import annotations

from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from bench.chaos.pipeline import Pipeline
from eventbus.config import consumer_config
from eventbus.errors import EventBusError
from eventbus.watermarks import read_until

__all__ = ["QUIET", "Offsets", "Probe", "committed", "data_left", "end_offsets", "group_readers", "inputs"]

Offsets = dict[tuple[str, int], int]

#: the harness's own Kafka clients log nothing (a broker restart would print a connection error every 50 ms)
QUIET: dict[str, Any] = {"log_level": 0}


def inputs(p: Pipeline) -> dict[str, list[str]]:
    """Consumer group -> the topics it must drain."""
    t = p.topics
    return {
        p.groups["inference"]: [t["frames"]],
        p.groups["analytics"]: [t["det"], t["status"]],
        p.groups["projector"]: [t["det"], t["status"], t["veh"], t["stats"], t["inc"], t["mov"], t["cams"]],
    }


def end_offsets(c: Consumer, topics: list[str], timeout_s: float = 5.0) -> Offsets:
    out: Offsets = {}
    md = c.list_topics(timeout=timeout_s).topics
    for topic in topics:
        for part in md[topic].partitions:
            _lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=timeout_s)
            out[(topic, part)] = hi
    return out


def committed(
    p: Pipeline, readers: dict[str, Consumer], conn: psycopg.Connection[Any], ends: Offsets
) -> dict[str, Offsets]:
    """Group -> offsets it committed on the partitions of `ends` (missing: nothing committed yet). Kafka groups are
    read through a consumer of the group that never joins it (`readers`): the AdminClient's
    ListConsumerGroupOffsets crashes the process (SIGSEGV in rd_kafka_cgrp_op, librdkafka 2.16.0) when it gets an
    error answer, as it does while a restarted broker loads its groups."""
    out: dict[str, Offsets] = {}
    for group in (p.groups["inference"], p.groups["analytics"]):
        topics = set(inputs(p)[group])
        parts = [TopicPartition(t, part) for (t, part) in ends if t in topics]
        got = readers[group].committed(parts, timeout=5)
        out[group] = {(tp.topic, tp.partition): tp.offset for tp in got if tp.offset >= 0}
    rows = conn.execute(
        "SELECT topic, partition, next_offset FROM projection_offsets WHERE consumer_group = %s",
        (p.groups["projector"],),
    ).fetchall()
    out[p.groups["projector"]] = {(r[0], int(r[1])): int(r[2]) for r in rows}
    conn.commit()
    return out


def group_readers(p: Pipeline) -> dict[str, Consumer]:
    """A consumer per Kafka consumer group of `p` that reads its committed offsets without ever joining it."""
    return {
        g: Consumer(consumer_config(p.bootstrap, g, **QUIET)) for g in (p.groups["inference"], p.groups["analytics"])
    }


def behind(
    p: Pipeline, done: dict[str, Offsets], targets: Offsets, slack: int = 1, groups: list[str] | None = None
) -> list[str]:
    """The (group, topic, partition) that have not consumed up to `targets` (less `slack`: a transaction's commit
    marker at the end of a partition is never consumed as a record); only `groups` when given."""
    out = []
    for group, topics in inputs(p).items():
        if groups is not None and group not in groups:
            continue
        for (topic, part), end in targets.items():
            if topic in topics and done.get(group, {}).get((topic, part), 0) < end - slack:
                out.append(f"{group}:{topic}[{part}]")
    return out


def data_left(bootstrap: str, start: Offsets, timeout_s: float = 10.0) -> int:
    """Records (not transaction markers) a read_committed consumer finds from `start` to each partition's end."""
    c = Consumer(consumer_config(bootstrap, "chaos-lag-probe", **QUIET))
    try:
        ends = {k: hi for k, hi in end_offsets(c, sorted({t for t, _ in start})).items() if start.get(k, 0) < hi}
        starts = {k: start.get(k, 0) for k in ends}
        try:
            batches = read_until(c, ends, bootstrap=bootstrap, starts=starts, timeout=timeout_s)
            return sum(len(batch) for batch in batches)
        except EventBusError as e:
            raise TimeoutError(f"could not read to the end of {sorted(ends)} within {timeout_s:.0f} s") from e
    finally:
        c.close()


class Probe:
    """Reusable clients for the progress checks of one pipeline; every call survives a broker or database that is
    away (it answers "not yet")."""

    def __init__(self, p: Pipeline) -> None:
        self.p = p
        self.conn: psycopg.Connection[Any] | None = None
        self._clients()

    def _clients(self) -> None:
        """(Re)made after any failure: a client that saw the broker die can keep timing out on a stale
        coordinator long after the broker is back."""
        self.consumer = Consumer(consumer_config(self.p.bootstrap, "chaos-probe", **QUIET))
        self.readers = group_readers(self.p)

    def _close_clients(self) -> None:
        for c in [self.consumer, *self.readers.values()]:
            c.close()

    def _conn(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.p.pg_dsn, autocommit=False, connect_timeout=3)
            self.conn.execute(f'SET search_path TO "{self.p.schema}"')
            self.conn.commit()
        return self.conn

    def ends(self) -> Offsets | None:
        topics = sorted({t for ts in inputs(self.p).values() for t in ts})
        try:
            return end_offsets(self.consumer, topics)
        except (KafkaException, KeyError):
            self._close_clients()
            self._clients()
            return None

    def lagging(self, targets: Offsets, groups: list[str] | None = None) -> list[str] | None:
        """What has not caught up with `targets` (of `groups`, default all); None when the broker or database did
        not answer."""
        try:
            done = committed(self.p, self.readers, self._conn(), targets)
        except (KafkaException, psycopg.Error):
            if self.conn is not None:
                self.conn.close()
            self._close_clients()
            self._clients()
            return None
        return behind(self.p, done, targets, groups=groups)

    def close(self) -> None:
        self._close_clients()
        if self.conn is not None:
            self.conn.close()
