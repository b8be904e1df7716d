"""The Kafka client side every stage and the CLI share: client settings and config, topic admin, consume loops,
reading a topic to its high watermark, the camera registry's producer and reader.

A shared library, not a stage: it imports schemas/ (the contracts) and nothing else of ours (checked by
import-linter), and the stages may import it.
"""

from eventbus.admin import apply_topics, publish_schemas
from eventbus.batching import consume_loop, poll_batch
from eventbus.config import DEFAULT_BOOTSTRAP, check_kafka, consumer_config, producer_config
from eventbus.errors import EventBusError, KafkaUnavailableError, TopicNotFoundError
from eventbus.registry import put_camera, read_cameras, remove_camera
from eventbus.watermarks import PartitionKey, partitions, read_to_end, read_until, watermark, watermarks

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "EventBusError",
    "KafkaUnavailableError",
    "PartitionKey",
    "TopicNotFoundError",
    "apply_topics",
    "check_kafka",
    "consume_loop",
    "consumer_config",
    "partitions",
    "poll_batch",
    "producer_config",
    "publish_schemas",
    "put_camera",
    "read_cameras",
    "read_to_end",
    "read_until",
    "remove_camera",
    "watermark",
    "watermarks",
]
