"""streampose.outputs: where results go, one module per sink (see ARCHITECTURE.md).

``base`` (the Sink base and a frame's identity), ``video`` (annotated MP4, encoded by
``encoder``), ``images`` (annotated image folder), ``jsonl``, ``coco``, ``openpose``;
``writable`` checks a path before anything is written; ``factory.build_sinks`` builds a
run's sinks from the ``[outputs]`` settings. Adding a sink: one module here and one
branch in ``factory``.
"""
