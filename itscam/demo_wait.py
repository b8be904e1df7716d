"""What the demo watches to know a stage is done: Prometheus /metrics of its stage processes, and how far a Kafka
consumer group has read.

A stage that reads with a consumer group has processed everything written to its inputs before a moment T once,
on every partition, no committed record lies between the group's committed offset and the high watermark taken at
T. "Committed offset >= high watermark" is not the test: the upstream stages write in transactions, so the last
offset of a partition is usually a transaction marker, which a consumer never returns and a group does not commit
past. The records in between are read (read_committed) to tell markers and aborted records from data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["GroupProgress", "metric_value", "scrape"]


def scrape(port: int) -> dict[str, float] | None:
    """Every sample of a local /metrics port, keyed by name and labels as exposed
    (`its_projector_frames_total{result="new"}`); None while the port does not answer."""
    import httpx

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return None
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def metric_value(port: int, name: str) -> float | None:
    """The value of an unlabelled metric on a local /metrics port; None while the port does not answer."""
    samples = scrape(port)
    return None if samples is None else samples.get(name)


class GroupProgress:
    """Watermarks of topics, and whether a consumer group has read everything before them (an admin client and two
    read_committed consumers in no group, reused: watermark look-ups on the one that reads wait behind its fetches)."""

    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient

        from eventbus.config import admin_config, consumer_config

        self.bootstrap = bootstrap
        self.timeout = timeout
        self._admin = AdminClient(admin_config(bootstrap))
        group = f"itscam-demo-progress-{uuid.uuid4().hex[:8]}"
        self._meta = Consumer(consumer_config(bootstrap, group))
        self._reader = Consumer(consumer_config(bootstrap, group, **{"fetch.wait.max.ms": 20}))

    def ends(self, topics: Iterable[str]) -> dict[tuple[str, int], tuple[int, int]]:
        """(low, high) watermark of every partition of `topics`, now."""
        from eventbus.watermarks import watermarks

        return watermarks(self._meta, topics, bootstrap=self.bootstrap, timeout=self.timeout)

    def committed(self, group: str, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The committed offsets of `group` on `keys` (-1 where it has none)."""
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        if not keys:
            return {}
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in keys])
        res = self._admin.list_consumer_group_offsets([req], request_timeout=self.timeout)[group].result()
        return {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else -1) for tp in res.topic_partitions}

    def behind(self, group: str, ends: dict[tuple[str, int], tuple[int, int]]) -> dict[tuple[str, int], int]:
        """The partitions where `group` has not read every committed record before the high watermark of `ends`:
        partition -> the group's committed offset. Empty when the group is done with them."""
        from eventbus.watermarks import read_until

        todo = {k: hw for k, (lo, hw) in ends.items() if hw > lo}
        committed = self.committed(group, sorted(todo))
        starts = {k: max(committed.get(k, -1), ends[k][0]) for k in todo}
        pending = {k: hw for k, hw in todo.items() if starts[k] < hw}
        if not pending:
            return {}
        with_data: set[tuple[str, int]] = set()
        try:
            for batch in read_until(
                self._reader, pending, bootstrap=self.bootstrap, starts=starts, timeout=self.timeout
            ):
                with_data.update((m.topic() or "", m.partition() or 0) for m in batch)
                if with_data >= set(pending):  # one record per partition is enough to know it is behind
                    break
        finally:
            self._reader.unassign()
        return {k: committed.get(k, -1) for k in sorted(with_data)}

    def wait(
        self,
        what: str,
        group: str,
        topics: list[str],
        timeout: float,
        check_alive: Callable[[], None],
        logs: Path,
    ) -> float:
        """Wait until `group` has read every record of `topics` written before this call; the seconds it took."""
        t0 = time.monotonic()
        ends = self.ends(topics)
        left: dict[tuple[str, int], int] = {}
        while time.monotonic() - t0 < timeout:
            check_alive()
            left = self.behind(group, ends)
            if not left:
                return time.monotonic() - t0
            time.sleep(0.2)
        where = ", ".join(f"{t}[{p}] committed {c}, end {ends[(t, p)][1]}" for (t, p), c in left.items())
        raise TimeoutError(
            f"{what} did not happen within {timeout:.0f}s: consumer group {group} is behind on {where}; "
            f"see {logs}/demo-*.log."
        )

    def close(self) -> None:
        self._meta.close()
        self._reader.close()
