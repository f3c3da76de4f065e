"""The run's services: what the parent process does while the stages run.

Each service is a small object with ``start()``, ``tick(now)`` and ``stop()``
(:class:`~streampose.services.service.Service`); :class:`Pipeline
<streampose.pipeline.Pipeline>` builds the stages, starts its services as one
:class:`~streampose.services.service.ServiceSet`, and the supervisor ticks them while
the stages run: the camera assigner (changing seats), the live view, the MQTT status, the
metrics server, the web console, the progress callback and the summary.
"""

from streampose.services.service import Phase, Service, ServiceSet

__all__ = ["Phase", "Service", "ServiceSet"]
