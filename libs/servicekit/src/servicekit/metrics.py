"""The runtime's Prometheus metrics; every series carries the service name."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

MESSAGES_HANDLED = Counter(
    "saleschannel_messages_handled_total", "Messages handled successfully", ["service", "topic"]
)
MESSAGES_FAILED = Counter(
    "saleschannel_messages_failed_total",
    "Messages that failed (parse error, handler error, redelivered batch)",
    ["service", "topic", "reason"],
)
MESSAGES_DEAD_LETTERED = Counter(
    "saleschannel_messages_dead_lettered_total", "Messages sent to the dead-letter topic",
    ["service", "topic"],
)
MESSAGES_DUPLICATE = Counter(
    "saleschannel_messages_duplicate_total", "Messages skipped because the inbox had them",
    ["service", "topic"],
)
HANDLER_DURATION = Histogram(
    "saleschannel_handler_duration_seconds", "Time to handle one batch, transaction included",
    ["service", "topic"], buckets=LATENCY_BUCKETS,
)
EVENT_AGE = Histogram(
    "saleschannel_event_age_seconds", "From an event's occurred_at to its handling committed",
    ["service", "topic"], buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "saleschannel_consumer_lag", "Messages behind the partition's end offset",
    ["service", "topic", "partition"],
)
OUTBOX_BACKLOG = Gauge(
    "saleschannel_outbox_backlog", "Outbox rows not yet published", ["service"]
)
OUTBOX_PUBLISHED = Counter(
    "saleschannel_outbox_published_total", "Events relayed from the outbox to Kafka",
    ["service", "topic"],
)
