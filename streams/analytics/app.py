"""The Faust application: thin agents around `CameraAnalytics`.

Exactly-once: Faust runs one Kafka transaction per source partition; the events produced, the camera state written
to the table's changelog and the consumed offsets commit together, so a worker killed at any point resumes from
the last commit with the state that matched it, and read_committed readers see every event once.

Per event, in this order:
 0. while a partition settles after its assignment: apply first what the stream skipped before this record, read
    from the broker (Faust resume races, see resume.py);
 1. decode the Avro payload (a poison message goes to the dead-letter topic with its coordinates);
 2. find the camera's configuration (unknown or removed cameras: dead-letter topic);
 3. load the camera's state (memory cache, else the table, else new; a table record this version cannot decode is
    reported and the camera starts afresh from this record on: state.py, never executed);
 3b. check the frame's values (validate.py: a zero frame size, a NaN/inf, inverted or far-off box goes to the
    dead-letter topic; applying a frame that still fails does too, and the state is reloaded as last committed);
 4. classify the frame: a duplicate is skipped, a late frame goes to the dead-letter topic;
 5. apply it, send the events it caused;
 6. write the state back to the table (its changelog record is in the same transaction as 5 and the offset).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from confluent_kafka.admin import AdminClient
from faust.types import Message

from eventbus.config import KafkaSecurity, admin_config
from schemas.dlq import dead_letter, dlq_key
from schemas.errors import SchemaError
from schemas.serde import codec
from streams.analytics.camera import CameraAnalytics, Output, Params
from streams.analytics.cameras import CameraFollower
from streams.analytics.errors import CoPartitioningError
from streams.analytics.metrics import (
    EVENTS_OUT,
    FRAMES,
    PROCESS_SECONDS,
    READY,
    RESUMED,
    SKIPPED,
    STATE_BYTES,
    STATE_REFUSED,
)
from streams.analytics.resume import ResumeGuard
from streams.analytics.settings import AnalyticsSettings
from streams.analytics.state import StateDecodeError, dump_state, load_state
from streams.analytics.validate import bad_value

__all__ = ["build_app", "check_copartitioning", "dump_state", "load_state"]

log = logging.getLogger(__name__)

_RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
_SCHEMA_OF = {
    "vehicle": "VehicleCounted",
    "incident": "IncidentDetected",
    "stats": "TrafficStatsWindow",
    "movement": "TurningMovement",
}


def _outputs(s: AnalyticsSettings) -> dict[str, str]:
    return {
        "vehicle": s.vehicle_events_topic,
        "incident": s.incidents_topic,
        "stats": s.traffic_stats_topic,
        "movement": s.movements_topic,
    }


def check_copartitioning(s: AnalyticsSettings) -> int:
    """The partition count shared by the input and output topics; raises naming the topic that differs."""
    names = [s.detections_topic, s.camera_status_topic, *_outputs(s).values()]
    md = AdminClient(admin_config(s.kafka_bootstrap)).list_topics(timeout=30)
    counts: dict[str, int] = {}
    for name in names:
        t = md.topics.get(name)
        if t is None or t.error is not None or not t.partitions:
            raise CoPartitioningError(f"Topic {name!r} does not exist; run `itscam topics apply` first.")
        counts[name] = len(t.partitions)
    want = counts[s.detections_topic]
    bad = {n: c for n, c in counts.items() if c != want}
    if bad:
        raise CoPartitioningError(
            f"Topics are not co-partitioned: {s.detections_topic} has {want} partitions but {bad}. A camera's "
            "detections, status and analytics outputs must share a partition number so one worker owns the camera; "
            "recreate the differing topics with the same count (schemas/topics.py is the catalogue)."
        )
    return want


@dataclass(frozen=True)
class _Record:
    """A Faust message seen as the KafkaRecord the dead-letter helper takes."""

    msg: Any

    def topic(self) -> str | None:
        return str(self.msg.topic)

    def partition(self) -> int | None:
        return int(self.msg.partition)

    def offset(self) -> int | None:
        return int(self.msg.offset)

    def key(self) -> bytes | None:
        return self.msg.key  # type: ignore[no-any-return]

    def value(self) -> bytes | None:
        return self.msg.value  # type: ignore[no-any-return]


def build_app(s: AnalyticsSettings, cameras: CameraFollower, partitions: int) -> faust.App:
    params: Params = s.params()
    app = faust.App(
        s.app_id,
        broker=f"kafka://{s.kafka_bootstrap}",
        broker_credentials=KafkaSecurity().faust_credentials(),  # SCRAM / TLS identity (ITS_KAFKA_*)
        processing_guarantee="exactly_once",
        store=s.store_url(),
        datadir=str(s.data_dir),
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=s.commit_interval_s,
        web_enabled=False,
        producer_max_request_size=8 * 1024 * 1024,
    )
    detections = app.topic(s.detections_topic, partitions=partitions, **_RAW)
    statuses = app.topic(s.camera_status_topic, partitions=partitions, **_RAW)
    # Outputs and dead letters are declared so Faust checks they exist; records go to them through `write` below.
    for name in _outputs(s).values():
        app.topic(name, partitions=partitions, **_RAW)
    app.topic(s.dlq_topic, **_RAW)
    # bytes types make the table's key and value serializers "raw": the state is our own versioned msgpack (state.py).
    # One record per camera survives compaction; short segments keep what a restarting worker replays small.
    table = app.Table(
        "camera-state",
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        extra_topic_configs={"segment.ms": str(10 * 60 * 1000), "min.cleanable.dirty.ratio": "0.1"},
    )
    cache: dict[bytes, CameraAnalytics] = {}
    guard = ResumeGuard(s.kafka_bootstrap, s.app_id)
    inputs = {s.detections_topic, s.camera_status_topic}
    noted: dict[str, asyncio.Future[None]] = {}  # "resume": where the assigned partitions resume, being noted

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _forget(sender: Any, *args: Any, **kwargs: Any) -> None:
        # After a rebalance another worker may have moved a camera on: read it from the table again.
        cache.clear()
        guard.reset()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any = (), *args: Any, **kwargs: Any) -> None:
        cache.clear()
        # Noted now, while the table recovers: once the stream acks a record of the new assignment Faust may commit.
        tps = sorted((tp.topic, tp.partition) for tp in assigned if tp.topic in inputs)
        noted["resume"] = asyncio.ensure_future(asyncio.to_thread(guard.assigned, tps))
        READY.set(1)

    changelog = table.changelog_topic.get_topic_name()

    def state_of(key: bytes, camera_id: str, msg: Any) -> CameraAnalytics:
        st = cache.get(key)
        if st is None:
            raw = table.get(key)
            st = None if raw is None else decoded(raw, camera_id, msg)
            cache[key] = st = st or CameraAnalytics(camera_id, params)
        return st

    def decoded(raw: Any, camera_id: str, msg: Any) -> CameraAnalytics | None:
        """The stored state, or None (reported) when the record cannot be read: the camera then starts afresh from
        `msg` on, its state rebuilt from the input; the record's bytes are never run, logged or kept."""
        try:
            return load_state(bytes(raw), params, camera_id)
        except StateDecodeError as e:
            STATE_REFUSED.labels("legacy-pickle" if raw[:1] == b"\x01" else "undecodable").inc()
            log.error(
                "camera state of %r in the changelog could not be decoded (%s; %s partition %s, read for %s offset %s);"
                " rebuilding it from the input",
                camera_id,
                e,
                changelog,
                msg.partition,
                msg.topic,
                msg.offset,
                extra={
                    "camera_id": camera_id,
                    "reason": str(e),
                    "changelog_topic": changelog,
                    "partition": msg.partition,
                    "state_bytes": len(raw),
                    "input_topic": msg.topic,
                    "input_offset": msg.offset,
                },
            )
            return None

    dlq_name = s.dlq_topic
    output_topics = _outputs(s)
    synced: dict[str, float] = {}
    failing: dict[bytes, int] = {}  # camera key -> frames in a row that failed to apply (see on_detection)

    def config_of(camera_id: str) -> Any:
        cfg = cameras.get(camera_id)
        # An unknown camera may be one added a moment ago: catch up with the camera topic, at most once a minute per
        # camera so a stream of detections for a camera nobody added cannot stall the worker.
        if cfg is None and s.camera_sync_timeout_s > 0 and time.monotonic() - synced.get(camera_id, -1e9) > 60:
            synced[camera_id] = time.monotonic()
            cameras.sync(s.camera_sync_timeout_s)
            cfg = cameras.get(camera_id)
        return cfg

    def letter(msg: Any, error_type: str, error: str) -> tuple[str, bytes | None, bytes, int | None]:
        SKIPPED.labels(error_type).inc()
        return (dlq_name, dlq_key(msg.key), dead_letter(_Record(msg), "analytics", error_type, error), None)

    async def write(
        msg: Any, records: list[tuple[str, bytes | None, bytes, int | None]], state: CameraAnalytics | None
    ) -> None:
        """Steps 5 and 6 in the transaction that will commit this message's offset.

        Faust sends a record to a topic this app does not consume outside any transaction, and table writes go
        through a buffer that may reach the broker after the next commit; so both are written here straight to
        the source partition's transactional producer, holding the lock Faust's commit takes for it: a commit
        sees all of an event's records or none. A commit between this and the event's ack leaves the offset
        behind the state; the replayed event is then a duplicate of the state's last frame and is skipped.
        """
        producer: Any = app.producer
        tid = f"{app.conf.id}-{app.assignor.group_for_topic(msg.topic)}-{msg.partition}"
        async with producer._trn_locks[tid]:
            txn = producer._transaction_producers[tid]
            if not txn._txn_manager.is_in_transaction():
                await txn.begin_transaction()
            for topic, key, value, partition in records:
                await txn.send(topic, value=value, key=key, partition=partition)
            if state is not None:
                data = dump_state(state)
                STATE_BYTES.observe(len(data))
                await txn.send(changelog, value=data, key=state.camera_id.encode(), partition=msg.partition)
                table.data[state.camera_id.encode()] = data  # the local store; the changelog record is above

    def encoded(key: bytes, partition: int, outs: list[Output]) -> list[tuple[str, bytes | None, bytes, int | None]]:
        # Outputs go to the source's partition number: a camera's events stay co-partitioned with its detections.
        for kind, _rec in outs:
            EVENTS_OUT.labels(kind).inc()
        return [(output_topics[kind], key, codec(_SCHEMA_OF[kind]).encode(rec), partition) for kind, rec in outs]

    async def on_detection(msg: Any) -> None:
        started = time.perf_counter()
        try:
            ev = codec("DetectionsProduced").decode(msg.value)
        except SchemaError as e:
            await write(msg, [letter(msg, "bad-payload", str(e))], None)
            return
        camera_id = ev["camera_id"]
        cfg = config_of(camera_id)
        if cfg is None:
            removed = cameras.was_removed(camera_id)
            why = (
                f"Camera {camera_id!r} is {'removed' if removed else 'not'} in {cameras.topic}; its detections "
                "cannot be counted. Add the camera (itscam cameras add) and replay the dead letters."
            )
            await write(msg, [letter(msg, "removed-camera" if removed else "unknown-camera", why)], None)
            return
        bad = bad_value(ev)
        if bad is not None:
            await write(msg, [letter(msg, "bad-value", f"Detections of camera {camera_id!r}: {bad}.")], None)
            return
        key = camera_id.encode()
        st = state_of(key, camera_id, msg)
        verdict = st.classify(ev)
        if verdict == "duplicate":
            SKIPPED.labels("duplicate").inc()
            return
        if verdict == "late":
            st.note_late()
            why = (
                f"Frame {ev['frame_seq']} of camera {camera_id!r} arrived after frame {st.last_seq}: tracks and "
                "windows only move forward, so it was not applied."
            )
            await write(msg, [letter(msg, "late-frame", why)], st)
            return
        try:
            outs = st.process(ev, cfg)
        except Exception as e:  # a value validate.py does not catch yet: dead-letter the frame, not the worker
            # The state may be half-changed: reload the last stored one. Two frames in a row failing point at the
            # stored state itself: the camera then starts afresh, or every later frame would fail the same way.
            failing[key] = failing.get(key, 0) + 1
            cache.pop(key, None)
            fresh = CameraAnalytics(camera_id, params) if failing[key] >= 2 else None
            if fresh is not None:
                cache[key] = fresh
                STATE_REFUSED.labels("failing").inc()
            log.exception(
                "frame %s of camera %r could not be applied%s",
                ev["frame_seq"],
                camera_id,
                "; its state starts afresh" if fresh is not None else "",
                extra={"camera_id": camera_id},
            )
            why = f"Frame {ev['frame_seq']} of camera {camera_id!r} could not be applied: {type(e).__name__}: {e}"
            await write(msg, [letter(msg, "analytics-error", why[:2000])], fresh)
            return
        failing.pop(key, None)
        await write(msg, encoded(key, msg.partition, outs), st)
        FRAMES.inc()
        PROCESS_SECONDS.observe(time.perf_counter() - started)

    async def on_status_change(msg: Any) -> None:
        try:
            ev = codec("CameraStatusChanged").decode(msg.value)
        except SchemaError as e:
            await write(msg, [letter(msg, "bad-payload", str(e))], None)
            return
        key = ev["camera_id"].encode()
        st = state_of(key, ev["camera_id"], msg)
        await write(msg, encoded(key, msg.partition, st.status(ev)), st)

    async def catch_up(msg: Any, handle: Callable[[Any], Awaitable[None]]) -> None:
        """Apply first what Faust skipped on this partition just before `msg` (see resume.py); usually nothing."""
        pending = noted.get("resume")
        if pending is not None and not pending.done():
            await pending  # where the assigned partitions resume (a failure crashes the agent; Faust restarts it)
        start = guard.gap(msg.topic, msg.partition, msg.offset)
        if start is None:
            return
        missed = await asyncio.to_thread(guard.read, msg.topic, msg.partition, start, msg.offset)
        for rec in missed:
            await handle(rec)
        # Faust commits only a contiguous run of acked offsets: ack the range it dropped (transaction markers
        # included), now that it is applied, or this partition would never commit again (upstream #596).
        tp = msg.tp  # the consumer's own TopicPartition: a commit keyed by faust.types.TP is refused by aiokafka
        for offset in range(start, msg.offset):
            app.consumer.ack(Message(msg.topic, msg.partition, offset, 0.0, 0, None, None, None, None, tp=tp))
        RESUMED.labels(msg.topic).inc(len(missed))

    @app.agent(detections)
    async def on_detections(stream: Any) -> Any:
        async for event in stream.events():
            msg = event.message
            await catch_up(msg, on_detection)
            await on_detection(msg)
            guard.seen(msg.topic, msg.partition, msg.offset)

    @app.agent(statuses)
    async def on_status(stream: Any) -> Any:
        async for event in stream.events():
            msg = event.message
            await catch_up(msg, on_status_change)
            await on_status_change(msg)
            guard.seen(msg.topic, msg.partition, msg.offset)

    return app
