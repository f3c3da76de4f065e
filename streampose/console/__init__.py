"""streampose.console: the web console (``--serve``), see ARCHITECTURE.md.

``link``: what the parent and the render process share (per-stream preview rings, the
"watched" flags, the bounded events queue); ``sink``: the render side (a Sink per stream
that copies a scaled-down picture only while watched, and forwards events);
``preview``: the parent side of the pictures (newest frame, JPEG on demand); ``events``:
the parent side of the events (bounded history, thumbnails, subscribers); ``auth``: who
may look; ``origin``: which pages may open the WebSocket; ``gate``: who may hold a
connection and for how long (caps, timeouts, the file descriptor reserve of ``fds``);
``listener``: the accept loop and connection protocol that apply the gate; ``burst``:
client-triggered log lines, once per burst; ``server``: the aiohttp application on its own
thread; ``static/index.html``: the page.
"""
