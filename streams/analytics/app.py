"""The Faust application: thin agents around `CameraAnalytics`.

Exactly-once: Faust runs one Kafka transaction per source partition. Each input record is applied holding that
transaction's lock (faustkit.py): its events go into the transaction as it is applied; the states of the cameras
it changed, and the offset it was read at, are written to the state changelog once per commit, in the committing
transaction itself, just before its consumed offsets. So a commit holds every effect of the records it covers and
nothing of any other, and a worker killed at any point resumes from the last commit with the state that matched it;
read_committed readers see every event once. Records at or below the committed applied offset (replayed after a
restart: Faust's own committed offset may trail it) are skipped whole, dead letters and status events included.

Per record, in this order:
 0. while a partition settles after its assignment: apply first what the stream skipped before this record, read
    from the broker (Faust resume races, see resume.py);
 1. decode the Avro payload (a poison message goes to the dead-letter topic with its coordinates);
 2. find the camera's configuration (unknown or removed cameras: dead-letter topic);
 3. load the camera's state (memory, else its last write, else the changelog as read at the assignment by
    statelog.py, else new; a changelog record this version cannot decode is reported and the camera starts afresh
    from this record on: state.py, never executed);
 3b. check the frame's values (validate.py: a zero frame size, a NaN/inf, inverted or far-off box goes to the
    dead-letter topic; applying a frame that still fails does too, and the state is rebuilt as it was before it);
 4. classify the frame: a duplicate is skipped, a late frame goes to the dead-letter topic;
 5. apply it, send the events it caused;
 6. at the next commit: the changed camera states and the applied offsets, to the changelog (on_commit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from confluent_kafka.admin import AdminClient
from mode import CrashingSupervisor

from eventbus.config import KafkaSecurity, admin_config
from schemas.dlq import dead_letter, dlq_key
from schemas.errors import SchemaError
from schemas.serde import codec
from streams.analytics.camera import CameraAnalytics, Output, Params
from streams.analytics.cameras import CameraFollower
from streams.analytics.errors import CoPartitioningError
from streams.analytics.faustkit import Send, Transactions, ack_range, fetched_past, repair_gaps
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
from streams.analytics.statelog import StateLog, changelog_topic
from streams.analytics.validate import bad_value
from streams.errors import StreamError

__all__ = ["build_app", "check_copartitioning", "dump_state", "load_state"]

log = logging.getLogger(__name__)

_RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
_SCHEMA_OF = {
    "vehicle": "VehicleCounted",
    "incident": "IncidentDetected",
    "stats": "TrafficStatsWindow",
    "movement": "TurningMovement",
}


_Out = tuple[str, bytes | None, bytes, int | None]  # topic, key, value, partition
_Step = tuple[list[_Out], CameraAnalytics | None, bool]  # records to send, the camera it changed, a frame applied?


@dataclass
class _Pending:
    """What the next commit of one transaction writes to the changelog."""

    states: dict[bytes, CameraAnalytics] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)  # input topic -> last offset applied


class _Failed(StreamError):
    """A record that could not be applied: the camera's state as rebuilt, and why (for the dead letter)."""

    def __init__(self, st: CameraAnalytics, why: str) -> None:
        super().__init__(why)
        self.st = st


def _misplaced(msg: Any, camera_id: str) -> str | None:
    """Why a record keyed other than by its camera id is refused: its camera's state lives on the partition its id
    hashes to, and a record on another partition would change that state in the wrong transaction."""
    if msg.key == camera_id.encode():
        return None
    return (
        f"A record of camera {camera_id!r} was keyed {msg.key!r}: analytics needs every record of a camera keyed by "
        "its camera id (one partition per camera). Produce it with key=camera_id and replay the dead letter."
    )


def _mark_key(topic: str, partition: int) -> bytes:
    """The changelog key of an input partition's applied offset (no camera id starts with a NUL byte)."""
    return b"\x00applied\x00%s\x00%d" % (topic.encode(), partition)


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
        # An agent that raises crashes the worker (restarted, it resumes from the last commit): Faust's default
        # restarts only the agent, and the abandoned stream acks the record it was on, applied or not.
        agent_supervisor=CrashingSupervisor,
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
    changelog = changelog_topic(s.app_id)  # our own: written in the transactions, read back by StateLog
    statelog = StateLog(s.kafka_bootstrap, changelog, f"{s.app_id}-statelog")
    cache: dict[bytes, CameraAnalytics] = {}  # cameras of the assigned partitions, as applied so far
    flushed: dict[bytes, bytes] = {}  # each camera's state as last written to the changelog
    pending: dict[str, _Pending] = {}  # by transactional id: what the next commit of that transaction writes
    marks: dict[tuple[str, int], int] = {}  # (input topic, partition) -> last offset applied
    loaded: dict[bytes, bytes] = {}  # the assigned partitions' changelog as committed when they were assigned
    since: dict[bytes, list[Callable[[CameraAnalytics], object]]] = {}  # changes since the camera's last write
    failing: dict[bytes, int] = {}  # camera key -> frames in a row that failed to apply (see detection)
    guard = ResumeGuard(s.kafka_bootstrap, s.app_id)
    inputs = {s.detections_topic, s.camera_status_topic}
    noted: dict[str, asyncio.Future[None]] = {}  # "resume": where the assigned partitions resume, being noted

    async def on_commit(tid: str, partition: int, send: Send) -> None:
        """Step 6: the states that changed and the offsets applied, into the transaction about to commit."""
        p = pending.pop(tid, None)
        if p is None:
            return
        try:
            for key, st in p.states.items():
                data = dump_state(st)
                STATE_BYTES.observe(len(data))
                await send(changelog, key, data, partition)
                flushed[key] = data
                since.pop(key, None)
            for topic, offset in p.marks.items():
                await send(changelog, _mark_key(topic, partition), b"%d" % offset, partition)
        except BaseException:
            pending[tid] = p  # not committed: written with the next commit, or lost with the transaction
            raise

    kit = Transactions(app, on_commit)
    kit.install()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _forget(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust committed what it could before this signal. A transaction with changes still pending (records
        # applied, none of their offsets committable yet) is aborted: the records are read again after the
        # rebalance, by this worker or another, from the committed offsets and states. After a rebalance another
        # worker may have moved a camera on: read it from the changelog again.
        for tid in list(pending):
            await kit.abort(tid)
        for kept in (cache, flushed, pending, marks, since, failing, loaded):
            kept.clear()
        guard.reset()

    async def load(partitions: list[int]) -> None:
        loaded.clear()
        loaded.update(await asyncio.to_thread(statelog.load, partitions))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any = (), *args: Any, **kwargs: Any) -> None:
        repair_gaps(app)  # before the fetch of the assignment records its gaps
        for kept in (cache, flushed, pending, marks, since, failing, loaded):
            kept.clear()
        # Noted now, while nothing of the new assignment is applied: where the assigned partitions resume (once the
        # stream acks a record Faust may commit), and the committed states and marks of their cameras.
        tps = sorted((tp.topic, tp.partition) for tp in assigned if tp.topic in inputs)
        noted["resume"] = asyncio.ensure_future(asyncio.to_thread(guard.assigned, tps))
        noted["state"] = asyncio.ensure_future(load(sorted({p for _t, p in tps})))  # noqa: RUF006 (kept in noted)
        READY.set(1)

    def stored(key: bytes, camera_id: str, msg: Any) -> CameraAnalytics | None:
        """The camera's state as last committed (written by this worker, else read from the changelog)."""
        raw = flushed.get(key) or loaded.get(key)
        return None if raw is None else decoded(raw, camera_id, msg)

    def state_of(key: bytes, camera_id: str, msg: Any) -> CameraAnalytics:
        st = cache.get(key)
        if st is None:
            cache[key] = st = stored(key, camera_id, msg) or CameraAnalytics(camera_id, params)
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

    def applied(msg: Any) -> int:
        """The last offset of msg's partition whose effects the committed state holds (-1: none)."""
        tp = (str(msg.topic), int(msg.partition))
        mark = marks.get(tp)
        if mark is None:
            raw = loaded.get(_mark_key(*tp))
            try:
                mark = marks[tp] = -1 if raw is None else int(bytes(raw))
            except ValueError:
                log.error("the applied-offset mark of %s partition %s in %s is not a number", *tp, changelog)
                mark = marks[tp] = -1
        return mark

    dlq_name = s.dlq_topic
    output_topics = _outputs(s)
    synced: dict[str, float] = {}

    def config_of(camera_id: str) -> Any:
        cfg = cameras.get(camera_id)
        # An unknown camera may be one added a moment ago: catch up with the camera topic, at most once a minute per
        # camera so a stream of detections for a camera nobody added cannot stall the worker.
        if cfg is None and s.camera_sync_timeout_s > 0 and time.monotonic() - synced.get(camera_id, -1e9) > 60:
            synced[camera_id] = time.monotonic()
            cameras.sync(s.camera_sync_timeout_s)
            cfg = cameras.get(camera_id)
        return cfg

    def letter(msg: Any, error_type: str, error: str) -> _Out:
        SKIPPED.labels(error_type).inc()
        return (dlq_name, dlq_key(msg.key), dead_letter(_Record(msg), "analytics", error_type, error), None)

    def encoded(key: bytes, partition: int, outs: list[Output]) -> list[_Out]:
        # Outputs go to the source's partition number: a camera's events stay co-partitioned with its detections.
        for kind, _rec in outs:
            EVENTS_OUT.labels(kind).inc()
        return [(output_topics[kind], key, codec(_SCHEMA_OF[kind]).encode(rec), partition) for kind, rec in outs]

    def changed(st: CameraAnalytics, change: Callable[[CameraAnalytics], Any]) -> Any:
        """Apply `change` and remember it until the camera's next write (to rebuild the state if a frame fails)."""
        out = change(st)
        since.setdefault(st.camera_id.encode(), []).append(change)
        return out

    def rebuilt(key: bytes, camera_id: str, msg: Any) -> CameraAnalytics:
        """The camera's state as before the frame that failed: the last written one and the changes since."""
        st = stored(key, camera_id, msg) or CameraAnalytics(camera_id, params)
        for change in since.get(key, []):
            change(st)
        return st

    def detection(msg: Any) -> _Step:
        try:
            ev = codec("DetectionsProduced").decode(msg.value)
        except SchemaError as e:
            return [letter(msg, "bad-payload", str(e))], None, False
        camera_id = ev["camera_id"]
        misplaced = _misplaced(msg, camera_id)
        if misplaced:
            return [letter(msg, "wrong-key", misplaced)], None, False
        cfg = config_of(camera_id)
        if cfg is None:
            removed = cameras.was_removed(camera_id)
            why = (
                f"Camera {camera_id!r} is {'removed' if removed else 'not'} in {cameras.topic}; its detections "
                "cannot be counted. Add the camera (itscam cameras add) and replay the dead letters."
            )
            return [letter(msg, "removed-camera" if removed else "unknown-camera", why)], None, False
        bad = bad_value(ev)
        if bad is not None:
            return [letter(msg, "bad-value", f"Detections of camera {camera_id!r}: {bad}.")], None, False
        key = camera_id.encode()
        st = state_of(key, camera_id, msg)
        verdict = st.classify(ev)
        if verdict == "duplicate":
            SKIPPED.labels("duplicate").inc()
            return [], None, False
        if verdict == "late":
            changed(st, lambda st: st.note_late())
            why = (
                f"Frame {ev['frame_seq']} of camera {camera_id!r} arrived after frame {st.last_seq}: tracks and "
                "windows only move forward, so it was not applied."
            )
            return [letter(msg, "late-frame", why)], st, False
        try:
            records = guarded(st, lambda st: st.process(ev, cfg), msg)
        except _Failed as f:
            return [letter(msg, "analytics-error", f"Frame {ev['frame_seq']} of camera {camera_id!r} {f}")], f.st, False
        failing.pop(key, None)
        FRAMES.inc()
        return records, st, True

    def guarded(st: CameraAnalytics, change: Callable[[CameraAnalytics], list[Output]], msg: Any) -> list[_Out]:
        """`change` and its events encoded; if either fails (a value validate.py does not catch yet), the camera's
        state as it was before it (its last write and the changes since), and `_Failed` for a dead letter. Two
        failures in a row point at the state itself: the camera then starts afresh, or every later record would
        fail the same way."""
        key = st.camera_id.encode()
        done = len(since.get(key, ()))
        try:
            return encoded(key, msg.partition, changed(st, change))
        except Exception as e:
            del since.setdefault(key, [])[done:]  # a change that was applied but whose events are not sent
            failing[key] = failing.get(key, 0) + 1
            fresh = failing[key] >= 2
            if fresh:
                for kept in (since, flushed, loaded):
                    kept.pop(key, None)
                STATE_REFUSED.labels("failing").inc()
            cache[key] = st = CameraAnalytics(st.camera_id, params) if fresh else rebuilt(key, st.camera_id, msg)
            log.exception(
                "a record of camera %r could not be applied (%s offset %s)%s",
                st.camera_id,
                msg.topic,
                msg.offset,
                "; its state starts afresh" if fresh else "",
                extra={"camera_id": st.camera_id},
            )
            raise _Failed(st, f"could not be applied: {type(e).__name__}: {e}"[:2000]) from None

    def status_change(msg: Any) -> _Step:
        try:
            ev = codec("CameraStatusChanged").decode(msg.value)
        except SchemaError as e:
            return [letter(msg, "bad-payload", str(e))], None, False
        misplaced = _misplaced(msg, ev["camera_id"])
        if misplaced:
            return [letter(msg, "wrong-key", misplaced)], None, False
        st = state_of(ev["camera_id"].encode(), ev["camera_id"], msg)
        try:
            return guarded(st, lambda st: st.status(ev), msg), st, False
        except _Failed as f:
            return [letter(msg, "analytics-error", f"Status of camera {ev['camera_id']!r} {f}")], f.st, False

    async def apply(msg: Any, step: Callable[[Any], _Step]) -> None:
        """Steps 1-5 for one input record, in the transaction of its partition (whose lock is held throughout, so
        a commit holds all of a record's effects or none: its events, its camera's state and its offset)."""
        started = time.perf_counter()  # waiting for the lock counts: a commit writing states holds it
        async with kit.open(msg.topic, msg.partition) as (tid, send):
            if msg.offset <= applied(msg):
                SKIPPED.labels("replayed").inc()  # the committed state already holds it (a replay after a restart)
                return
            records, st, frame = step(msg)
            for topic, key, value, partition in records:
                await send(topic, key, value, partition)
            p = pending.get(tid) or pending.setdefault(tid, _Pending())
            if st is not None:
                p.states[st.camera_id.encode()] = st
            p.marks[msg.topic] = marks[(msg.topic, msg.partition)] = msg.offset
            if frame:
                PROCESS_SECONDS.observe(time.perf_counter() - started)

    async def catch_up(msg: Any, step: Callable[[Any], _Step]) -> None:
        """Apply first what Faust skipped on this partition just before `msg` (see resume.py); usually nothing."""
        for what in ("resume", "state"):
            ready = noted.get(what)
            if ready is not None:
                await ready  # noted at the assignment (done: at once; a failure crashes the agent, Faust restarts it)
        start = guard.gap(msg.topic, msg.partition, msg.offset)
        if start is None or fetched_past(app, msg, start):
            return  # nothing skipped, or only offsets without a record (transaction markers, aborted records)
        missed = await asyncio.to_thread(guard.read, msg.topic, msg.partition, start, msg.offset)
        for rec in missed:
            await apply(rec, step)
        # Faust commits only a contiguous run of acked offsets: ack the range it dropped (transaction markers
        # included), now that it is applied, or this partition would never commit again.
        ack_range(app, msg, start)
        RESUMED.labels(msg.topic).inc(len(missed))

    @app.agent(detections)
    async def on_detections(stream: Any) -> Any:
        async for event in stream.events():
            msg = event.message
            await catch_up(msg, detection)
            await apply(msg, detection)
            guard.seen(msg.topic, msg.partition, msg.offset)

    @app.agent(statuses)
    async def on_status(stream: Any) -> Any:
        async for event in stream.events():
            msg = event.message
            await catch_up(msg, status_change)
            await apply(msg, status_change)
            guard.seen(msg.topic, msg.partition, msg.offset)

    return app
