"""streampose.outputs: where results go, one module per sink (see ARCHITECTURE.md).

``base`` (the Sink base and a frame's identity), ``video`` (annotated MP4, encoded by
``encoder``), ``images`` (annotated image folder), ``jsonl``, ``coco``, ``openpose``;
``writable`` checks a path before anything is written; ``registry`` holds one descriptor
per output (files, MQTT, events, console) and ``registry.make_sinks`` makes a run's
sinks from them. Adding a file output: its module here and one entry in ``registry``.
"""
