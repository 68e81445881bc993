"""``pgseek consume``: documents from a durable NATS JetStream subject, acknowledged once they are safe.

A message is acknowledged only after the transaction that queued its change has committed: the queue is in the
same PostgreSQL as the documents, so from then on the change survives any crash. A consumer killed before that
commit leaves its messages unacknowledged, and JetStream delivers them again after ``ack_wait``. A message delivered
twice (a crash between the commit and the acknowledgement, or a lost acknowledgement) queues the same content twice:
the queue merges it into the job still waiting, or the second job finds the content hash unchanged and writes
nothing. So a message is never lost, and never applied twice.

A message that can never be applied (not JSON, a field wrong) is logged with what is wrong and terminated, so that
it is not redelivered forever. Messages are handled in batches, the newest change of each document winning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgseek.errors import BrokerError, DatabaseError, DocumentError
from pgseek.sources.changes import Change, Sink, newest_per_document, parse_message

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

log = logging.getLogger("pgseek.consume")

FETCH_WAIT_S = 1.0
"""How long one fetch waits for messages: the longest a stop waits, too."""
RETRY_S = (0.5, 10.0)
"""First and longest pause after the queue could not be written (the database away): nothing is acknowledged."""


@dataclass(frozen=True, slots=True)
class StreamOptions:
    url: str = "nats://127.0.0.1:4222"
    subject: str = "pgseek.documents"
    stream: str = "PGSEEK"
    """The JetStream stream holding the subject; created (file storage) when there is none of that name."""
    durable: str = "pgseek"
    """The durable consumer's name: consumers of one name share the messages; its position survives restarts."""
    batch: int = 64
    ack_wait_s: float = 30.0
    """Unacknowledged for this long, a message is delivered again."""


@dataclass(frozen=True, slots=True)
class Consumed:
    """One batch: messages read, changes queued with their job ids, messages rejected (and why)."""

    messages: int
    writes: int
    deletes: int
    jobs: tuple[int, ...]
    rejected: tuple[str, ...] = ()


ConsumedCallback = Callable[[Consumed], None]


class NatsStream:
    """Consume ``options.subject`` into a tenant's collection until cancelled or ``stop`` is set."""

    def __init__(
        self,
        sink: Sink,
        options: StreamOptions,
        *,
        collection: str,
        tenant: str,
        on_batch: ConsumedCallback | None = None,
    ) -> None:
        self._sink = sink
        self._options = options
        self._collection = collection
        self._tenant = tenant
        self._on_batch = on_batch or (lambda _c: None)

    async def run(self, stop: asyncio.Event | None = None, *, ready: asyncio.Event | None = None) -> None:
        import nats

        stop = stop or asyncio.Event()
        o = self._options
        try:
            nc = await nats.connect(o.url, name="pgseek-consume", max_reconnect_attempts=-1, connect_timeout=5)
        except Exception as exc:  # nats-py raises its own and OSError kinds: all mean "cannot reach the broker"
            raise BrokerError(f"cannot connect to NATS at {o.url}: {exc}; is nats-server running (with -js)?") from exc
        try:
            subscription = await self._subscribe(nc)
            if ready is not None:
                ready.set()
            pause = RETRY_S[0]
            while not stop.is_set():
                messages = await self._fetch(subscription)
                if not messages:
                    continue
                try:
                    self._on_batch(await self._handle(messages))
                    pause = RETRY_S[0]
                except DatabaseError as exc:
                    # Nothing acknowledged: the messages come back after ack_wait; sooner when asked to.
                    log.warning("could not queue %d messages (they will be delivered again): %s", len(messages), exc)
                    for msg in messages:
                        await msg.nak(delay=pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, RETRY_S[1])
        finally:
            # Not drain(): it waits out the pull request in flight. Flushed, the acknowledgements sent are delivered;
            # messages fetched and not acknowledged come again after ack_wait, as after a crash.
            with contextlib.suppress(Exception):
                await nc.flush(timeout=2)
            await nc.close()

    async def _subscribe(self, nc: Client) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        o = self._options
        js = nc.jetstream()
        try:
            info = await js.stream_info(o.stream)
        except NotFoundError:
            await js.add_stream(name=o.stream, subjects=[o.subject])
        else:
            subjects = info.config.subjects or []
            if not any(_covers(pattern, o.subject) for pattern in subjects):
                raise BrokerError(
                    f"stream {o.stream!r} does not hold subject {o.subject!r} (it holds {', '.join(subjects)}): "
                    "name the stream that does with --stream, or a subject it holds with --subject"
                )
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=o.ack_wait_s,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,
            max_ack_pending=max(o.batch * 4, 256),
        )
        return await js.pull_subscribe(o.subject, durable=o.durable, stream=o.stream, config=config)

    async def _fetch(self, subscription: Any) -> list[Msg]:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            messages: list[Msg] = await subscription.fetch(self._options.batch, timeout=FETCH_WAIT_S)
        except (NatsTimeout, TimeoutError):
            return []
        return messages

    async def _handle(self, messages: list[Msg]) -> Consumed:
        changes: list[Change] = []
        good: list[Msg] = []
        rejected: list[str] = []
        for msg in messages:
            try:
                changes.append(parse_message(msg.data, source=f"nats:{msg.subject}"))
                good.append(msg)
            except DocumentError as exc:
                sequence = msg.metadata.sequence.stream if msg.metadata.sequence else "?"
                problem = f"message {sequence} on {msg.subject}: {exc}"
                log.warning("rejected %s (not delivered again)", problem)
                rejected.append(problem)
                await msg.term()
        writes, deletes = newest_per_document(changes)
        jobs: list[int] = []
        if writes or deletes:
            jobs = await self._sink.enqueue(writes, deletes=deletes, collection=self._collection, tenant=self._tenant)
        # Only now, with the jobs committed, may the broker forget the messages.
        for msg in good:
            await msg.ack()
        return Consumed(len(messages), len(writes), len(deletes), tuple(jobs), tuple(rejected))


def _covers(pattern: str, subject: str) -> bool:
    """Whether a NATS subject pattern (``*`` one token, ``>`` the rest) matches ``subject``."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
