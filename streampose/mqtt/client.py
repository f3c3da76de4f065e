"""A paho-mqtt connection whose ``publish`` never waits for the network.

paho's own thread does the network I/O (``loop_start``); :class:`Publisher` only hands it
messages. Its bound on messages waiting to be sent (``max_queued``) covers QoS 0 too
(paho bounds only QoS > 0, with ``max_queued_messages_set``): a message that finds the
queue full, or the broker unreachable, is dropped and counted, and the drops are logged
at most every :data:`LOG_EVERY_S` seconds. paho reconnects with exponential backoff;
retained messages (:meth:`Publisher.publish_retained`) are remembered and re-sent after
every (re)connection, so a subscriber always finds the latest ones.

paho-mqtt is imported here only, when a Publisher is made (``pip install
"streampose[mqtt]"``); :func:`require_paho` says so in one line when it is missing.
"""

from __future__ import annotations

import collections
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streampose.errors import ConfigError, describe_error
from streampose.mqtt.url import BrokerUrl

__all__ = ["LOG_EVERY_S", "Publisher", "require_paho"]

log = logging.getLogger(__name__)

LOG_EVERY_S = 10.0  # at most one "messages dropped" warning per connection this often
KEEPALIVE_S = 30
# CONNACK refusals that are the user's configuration, not a passing broker state.
_AUTH_REFUSALS = ("Bad user name or password", "Not authorized")


def require_paho() -> Any:
    """The ``paho.mqtt.client`` module; ConfigError (one line) when it is not installed."""
    try:
        import paho.mqtt.client as mqtt
    except ModuleNotFoundError:
        raise ConfigError('--mqtt needs paho-mqtt 2: pip install "streampose[mqtt]"'
                          ) from None
    if not hasattr(mqtt, "CallbackAPIVersion"):
        raise ConfigError('--mqtt needs paho-mqtt 2 (an older one is installed): '
                          'pip install "streampose[mqtt]"')
    return mqtt


def _sent(info: Any) -> bool:
    """Whether paho has written (QoS 0) or had acknowledged (QoS 1) the message. A QoS 1
    message handed over while disconnected keeps its "no connection" code even once paho
    sends it after reconnecting, and ``is_published()`` raises for it: read the flag."""
    if info.rc == 0:
        return bool(info.is_published())
    return bool(getattr(info, "_published", False))


@dataclass
class _Pending:
    """A message handed to paho and not yet written (QoS 0) or acknowledged (QoS 1)."""

    info: Any  # paho MQTTMessageInfo
    qos: int
    epoch: int  # the connection it was handed to
    tag: int


class Publisher:
    """One broker connection: ``start``, ``publish``/``publish_retained``, ``stop``.

    ``publish`` is called from one thread (the owner's); paho's callbacks run in its
    network thread and only flip flags and re-send the retained messages.
    ``will``: (topic, payload) the broker publishes, retained, if this connection dies
    without saying goodbye.
    """

    def __init__(self, url: BrokerUrl, *, client_id: str, max_queued: int = 1000,
                 max_backoff_s: int = 10, connect_timeout_s: float = 5.0,
                 will: tuple[str, str] | None = None, ca_file: Path | None = None,
                 what: str = "MQTT") -> None:
        mqtt = require_paho()
        self.url, self.max_queued, self.what = url, max_queued, what
        self.dropped = 0
        self.dropped_by: dict[int, int] = {}  # tag (e.g. the stream) -> messages dropped
        self._mqtt = mqtt
        self._connected = threading.Event()
        self._answered = threading.Event()  # the first attempt succeeded or failed
        self._refused: str | None = None
        self._epoch = 0
        # by QoS: 0 until written to the socket, 1 until acknowledged (paho re-sends those)
        self._pending: tuple[collections.deque[_Pending], ...] = (collections.deque(),
                                                                  collections.deque())
        self._retained: dict[str, str] = {}
        self._sent: dict[str, Any] = {}  # topic -> MQTTMessageInfo of its latest send
        self._retained_lock = threading.Lock()
        self._stopping = False
        self._next_log = 0.0
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self._configure(url, max_backoff_s, connect_timeout_s, will)
        if url.tls:
            self._tls(ca_file)

    def _configure(self, url: BrokerUrl, max_backoff_s: int, connect_timeout_s: float,
                   will: tuple[str, str] | None) -> None:
        client = self._client
        if url.username is not None:
            client.username_pw_set(url.username, url.password)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.max_queued_messages_set(self.max_queued)
        client.reconnect_delay_set(1, max(1, max_backoff_s))
        client.connect_timeout = connect_timeout_s
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect

    def _tls(self, ca_file: Path | None) -> None:
        """TLS with the system's CA certificates, or those of ``ca_file``."""
        try:
            self._client.tls_set(ca_certs=None if ca_file is None else str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--mqtt-ca {ca_file}: cannot load the CA certificates: "
                              f"{describe_error(exc)}") from None

    # -- life -----------------------------------------------------------------------------

    def start(self, wait_s: float, *, warn: bool = True) -> bool:
        """Connect in the background, waiting at most ``wait_s`` for the first answer;
        True when connected. A broker that refuses the credentials is a ConfigError
        (one line); an unreachable one is only a warning (``warn``; else logged at info
        level): paho keeps trying."""
        self._client.connect_async(self.url.host, self.url.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        self._answered.wait(wait_s)
        if self._refused is not None and self._refused in _AUTH_REFUSALS:
            self.stop(flush_s=0.0)
            raise ConfigError(f"--mqtt {self.url}: the broker refused the connection: "
                              f"{self._refused.lower()}")
        if not self._connected.is_set():
            why = f"refused ({self._refused})" if self._refused else "unreachable"
            log.log(logging.WARNING if warn else logging.INFO,
                    "%s broker %s is %s; publishing starts when it answers (messages until "
                    "then are dropped and counted)", self.what, self.url, why)
        return self._connected.is_set()

    def stop(self, flush_s: float = 2.0) -> None:
        """Wait at most ``flush_s`` for the messages in flight, then disconnect cleanly
        (a clean goodbye: no last will); what was never sent is counted. Idempotent."""
        if self._stopping:
            return
        self._wait_for([p.info for q in self._pending for p in q], flush_s)
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        for queue in self._pending:  # never sent (QoS 0) or never acknowledged (QoS 1)
            while queue:
                item = queue.popleft()
                if not _sent(item.info):
                    self._drop(item.tag, log_it=False)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- publishing -----------------------------------------------------------------------

    def publish(self, topic: str, payload: str, *, qos: int = 0, tag: int = 0,
                retain: bool = False) -> bool:
        """Hand ``payload`` to paho without waiting; False if dropped (counted under
        ``tag``). QoS 1 messages wait in paho's queue while the broker is away.
        ``retain``: a retained message sent once (not re-sent after a reconnection,
        unlike :meth:`publish_retained`)."""
        self._prune()
        if self._stopping or (qos == 0 and not self._connected.is_set()) \
                or self.queued >= self.max_queued:
            return self._drop(tag)
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE or (
                qos == 0 and info.rc != self._mqtt.MQTT_ERR_SUCCESS):
            return self._drop(tag)
        self._pending[min(qos, 1)].append(_Pending(info, qos, self._epoch, tag))
        return True

    def publish_retained(self, topic: str, payload: str) -> None:
        """A retained QoS 1 message, remembered and re-sent after every reconnection
        (while the broker is away, only the latest per topic is kept)."""
        with self._retained_lock:
            self._retained[topic] = payload
            if self._connected.is_set() and not self._stopping:
                self._sent[topic] = self._client.publish(topic, payload, qos=1, retain=True)

    def wait_retained(self, timeout_s: float) -> None:
        """Wait at most ``timeout_s`` for the broker to acknowledge the latest retained
        messages (a final state before ``stop``)."""
        with self._retained_lock:
            infos = list(self._sent.values())
        self._wait_for(infos, timeout_s)

    def _wait_for(self, infos: list[Any], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for info in infos:
            left = deadline - time.monotonic()
            if left <= 0 or not self._connected.is_set():
                return
            if info.rc == self._mqtt.MQTT_ERR_SUCCESS:
                info.wait_for_publish(left)

    # -- bookkeeping ----------------------------------------------------------------------

    def _drop(self, tag: int, *, log_it: bool = True) -> bool:
        self.dropped += 1
        self.dropped_by[tag] = self.dropped_by.get(tag, 0) + 1
        if log_it:
            self._log_drops()
        return False

    @property
    def queued(self) -> int:
        """Messages handed to paho and not yet sent (QoS 0) or acknowledged (QoS 1)."""
        return len(self._pending[0]) + len(self._pending[1])

    def _prune(self) -> None:
        """Forget what paho has sent. QoS 0 messages of a lost connection count as
        dropped (paho discards its unsent packets when it reconnects); QoS 1 ones stay
        queued (paho sends them again)."""
        zero, one = self._pending
        while zero:
            head = zero[0]
            if _sent(head.info):
                zero.popleft()
            elif head.epoch != self._epoch or not self._connected.is_set():
                zero.popleft()
                self._drop(head.tag, log_it=False)
            else:
                break
        while one and _sent(one[0].info):
            one.popleft()

    def _log_drops(self) -> None:
        now = time.monotonic()
        if now >= self._next_log:
            log.warning("%s: %d messages dropped so far (broker %s %s)", self.what,
                        self.dropped, self.url,
                        "connected, queue full" if self.connected else "unreachable")
            self._next_log = now + LOG_EVERY_S

    # -- paho callbacks (its network thread) -----------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            # after start-up nobody is waiting for the answer: say it (once per reason)
            level = logging.WARNING if self._answered.is_set() and \
                self._refused != str(reason) else logging.DEBUG
            self._refused = str(reason)
            log.log(level, "%s: %s refused the connection: %s; retrying", self.what,
                    self.url, reason)
            self._answered.set()
            return
        self._refused = None
        self._epoch += 1
        with self._retained_lock:
            self._connected.set()
            for topic, payload in self._retained.items():
                self._sent[topic] = client.publish(topic, payload, qos=1, retain=True)
        log.info("%s: connected to %s", self.what, self.url)
        self._answered.set()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._answered.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stopping:
            log.warning("%s: lost the broker %s (%s); reconnecting", self.what, self.url,
                        reason)
