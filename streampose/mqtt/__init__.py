"""MQTT results: a broker URL, a publisher that never blocks, camera status, frame gating.

The pieces are shared by the single-host pipeline and, later, a fleet node:

- :mod:`~streampose.mqtt.url`: ``mqtt://[user:pass@]host[:port][/prefix]``, checked
  before anything starts (the password never appears in a message);
- :mod:`~streampose.mqtt.client`: :class:`Publisher`, a paho-mqtt client whose
  ``publish`` never waits (bounded queue, dropped messages counted, reconnect with
  backoff, retained messages re-sent after a reconnect); paho is imported lazily;
- :mod:`~streampose.mqtt.status`: the parent's ``<prefix>/node/<node>/availability``
  (with a last will: each pipeline its own), ``<prefix>/<camera>/status`` and
  ``<prefix>/<camera>/availability`` messages (each camera's state is the live view's:
  :mod:`streampose.observe.camera_state`);
- :mod:`~streampose.mqtt.discovery`: Home Assistant's discovery configs, a device per
  camera (``--mqtt-discovery``), and :mod:`~streampose.mqtt.counts`, the figures its
  entities read on ``<prefix>/<camera>/state``;
- :mod:`~streampose.mqtt.gate`: which frames' poses are published (every Nth, at most
  R per second by presentation time).

The per-frame sink (poses and events) is :class:`streampose.outputs.mqtt.MqttSink`.
"""
