"""Event contracts of the sales channel platform: the only place a message's shape is defined."""

from contracts.codec import InvalidEvent, decode, encode
from contracts.envelope import Event
from contracts.events import *  # noqa: F403
from contracts.events import ALL_EVENTS, EVENTS_BY_TYPE
from contracts.money import Money, round_money
from contracts.topics import ALL_TOPICS, TOPICS_BY_NAME, Topic, topic_for

__all__ = [
    "ALL_EVENTS", "ALL_TOPICS", "EVENTS_BY_TYPE", "TOPICS_BY_NAME", "Event", "InvalidEvent",
    "Money", "Topic", "decode", "encode", "round_money", "topic_for",
]
