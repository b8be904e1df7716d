"""The root error of the Kafka client side, and the errors its reads and writes raise."""

from schemas.errors import ItsCameraError

__all__ = ["EventBusError", "KafkaUnavailableError", "TopicNotFoundError"]


class EventBusError(ItsCameraError):
    """Kafka did not do what a client of ours asked (a write not acknowledged, a read that did not finish)."""


class KafkaUnavailableError(EventBusError, ConnectionError):
    """No broker answered at the bootstrap address."""


class TopicNotFoundError(EventBusError):
    """A topic a client needs does not exist on the broker."""
