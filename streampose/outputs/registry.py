"""The sink registry: one descriptor (:class:`Output`) per output a run can write.

Each descriptor says which setting turns the output on (and its flag), whether it is
written per stream (a path template: the annotated video or image folder) or spans
streams (one file for every stream: written as one part per render shard, joined after
the run), whether it is a file (checked, locked), whether its sinks want the frame's
pixels or events, which keypoint layout it writes, how to check it and how to make its
sinks. Everything that needs the list of outputs iterates over :data:`OUTPUTS`:
:func:`check_outputs` (before the run), the output locks
(:func:`streampose.outputs.lock.run_outputs`), the parts
(:meth:`Registry.spanning`, for :mod:`streampose.outputs.parts`), the stage layout, and
:func:`make_sinks`, the one function that makes a render shard's sinks.

Every sink of a run is made here, by the outputs' makers (:func:`video_sink` also makes
a changing seat's per-camera recordings, :mod:`streampose.stages.recording`). A new file output is
its sink module plus one entry here; :meth:`Registry.registered` adds one for a while
(tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streampose.config.sections import PipelineConfig
from streampose.mqtt.client import require_paho
from streampose.mqtt.discovery import line_refs
from streampose.observe.counters import StreamCounters
from streampose.outputs.base import Sink
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.factory import (
    DEFAULT_FPS,
    EncoderSettings,
    StreamFacts,
    annotated_path,
    check_annotated,
    coco_ids,
    writes_folder,
)
from streampose.outputs.images import ImageFolderSink
from streampose.outputs.jsonl import EventsSink, JsonLinesSink
from streampose.outputs.mqtt import MqttSink
from streampose.outputs.openpose import OpenPoseJsonSink, openpose_layout
from streampose.outputs.parts import Join, Spanning, concatenate, join_coco, part_path
from streampose.outputs.stream import StreamSink
from streampose.outputs.writable import check_writable
from streampose.pose import COCO17, Skeleton

if TYPE_CHECKING:
    from streampose.console.link import ConsoleLink

__all__ = ["OUTPUTS", "Output", "Registry", "SinkContext", "annotated_sinks", "camera_recordings",
           "check_outputs",
           "make_sinks", "video_sink"]


@dataclass(frozen=True, kw_only=True)
class SinkContext:
    """What a maker needs to make one render shard's sinks: the run's ``config``, every
    stream's facts (``streams``, with its camera name), the video ``encoder``, the streams
    the shard owns (``owned``, None: all), its ``part`` (None: the only shard), the
    shared ``counters`` (MQTT drops), the web ``console``'s link (with ``--serve``) and
    the ``caller`` channel (with :func:`streampose.stream`: the run's ``caller`` queue)."""

    config: PipelineConfig
    streams: Sequence[StreamFacts]
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    owned: Sequence[int] | None = None
    part: int | None = None
    counters: StreamCounters | None = None
    console: ConsoleLink | None = None
    caller: Any = None

    @property
    def cameras(self) -> list[str]:
        return [s.camera for s in self.streams]


Setting = Callable[[PipelineConfig], str | Path | None]
Check = Callable[["Output", PipelineConfig, Sequence[StreamFacts]], None]
Maker = Callable[[SinkContext, Any], list[Sink]]


def writable(output: Output, config: PipelineConfig, streams: Sequence[StreamFacts]) -> None:
    """The default check: OutputError unless the output's file can be written."""
    check_writable(Path(output.where(config)), output.what)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class Output:
    """One output. ``flag``: its option, in messages; ``what``: its name, in messages;
    ``setting``: where it goes, from the config (None: off); ``make(context, where)``: its
    sinks (None: written by the parent, e.g. the summary), ``where`` the setting or, for a
    file that ``spans`` streams, this shard's part of it; ``check``: raises unless it can
    be written (None: nothing to check); ``join``: how the parts of a spanning file
    become the file; ``per_stream``: the setting is a path template, one path per stream
    (:func:`~streampose.outputs.factory.annotated_path`); ``file``: written to the
    setting's path (False: a broker, the console); ``locked``: the path is locked for the
    run and refused by ``--no-overwrite`` when it exists; ``pixels``/``events``: its sinks
    want the drawn frame / each frame's events; ``layout(skeleton)``: the keypoint layout
    it writes poses of ``skeleton`` in (None: any)."""

    flag: str
    what: str
    setting: Setting
    make: Maker | None = None
    check: Check | None = writable
    spans: bool = False
    join: Join = concatenate
    per_stream: bool = False
    file: bool = True
    locked: bool = True
    pixels: bool = False
    events: bool = False
    layout: Callable[[Skeleton], Skeleton] | None = None

    def where(self, config: PipelineConfig) -> str | Path | None:
        """The output's setting in ``config`` (None: not written)."""
        return self.setting(config)

    def paths(self, config: PipelineConfig, cameras: Sequence[str | None],
              recorded: Sequence[bool]) -> list[Path]:
        """The files or folders it writes for streams named ``cameras`` (None: by index);
        a per-stream output: each recorded stream's."""
        where = self.where(config)
        if where is None or not self.file:
            return []
        if not self.per_stream:
            return [Path(where)]
        found = (annotated_path(str(where), i, len(cameras), camera)
                 for i, (camera, record) in enumerate(zip(cameras, recorded, strict=True))
                 if record)
        return [p for p in found if p is not None]


class Registry:
    """The outputs, in the order their sinks are made."""

    def __init__(self, outputs: Sequence[Output]) -> None:
        self._outputs = list(outputs)

    def __iter__(self) -> Iterator[Output]:
        return iter(list(self._outputs))

    @contextlib.contextmanager
    def registered(self, output: Output) -> Iterator[Output]:
        """``output`` is one of the registry's while the ``with`` block runs."""
        self._outputs.append(output)
        try:
            yield output
        finally:
            self._outputs.remove(output)

    def active(self, config: PipelineConfig) -> list[Output]:
        """The outputs ``config`` turns on."""
        return [o for o in self if o.where(config) is not None]

    def spanning(self, config: PipelineConfig) -> list[Spanning]:
        """The files ``config`` writes that span streams, with how their parts are joined."""
        return [(Path(o.where(config)), o.join)  # type: ignore[arg-type]
                for o in self.active(config) if o.spans]


def check_outputs(config: PipelineConfig, streams: Sequence[StreamFacts],
                  registry: Registry | None = None) -> None:
    """Raise ConfigError or OutputError unless every output ``config`` turns on can be
    written, for the sources ``streams`` (every output's ``check``)."""
    for output in (registry or OUTPUTS).active(config):
        if output.check is not None:
            output.check(output, config, streams)


def make_sinks(context: SinkContext, registry: Registry | None = None) -> list[Sink]:
    """Every sink of one render shard, output by output in registry order, after
    :func:`check_outputs`; a file that spans streams is written as the shard's part."""
    check_outputs(context.config, context.streams, registry)
    sinks: list[Sink] = []
    for output in (registry or OUTPUTS).active(context.config):
        if output.make is None:
            continue
        where = output.where(context.config)
        if output.spans:
            where = part_path(Path(where), context.part)  # type: ignore[arg-type]
        sinks += output.make(context, where)
    return sinks


# -- the built-in outputs' checks and makers --------------------------------------------

def _check_video(output: Output, config: PipelineConfig,
                 streams: Sequence[StreamFacts]) -> None:
    check_annotated(str(output.where(config)), streams)


def camera_recordings(config: PipelineConfig) -> str | None:
    """The annotated-video template render applies to each camera at its first frame, in
    a run whose cameras change (:mod:`streampose.stages.recording`); None: the run's
    annotated videos are sinks made at the start (:func:`_video`), one per stream."""
    return config.outputs.video if config.cameras_change else None


def _video(context: SinkContext, template: str) -> list[Sink]:
    if camera_recordings(context.config) is not None:  # render opens them per camera
        return []
    return annotated_sinks(template, context.streams, context.encoder, context.owned)


def annotated_sinks(template: str, streams: Sequence[StreamFacts], encoder: EncoderSettings,
                    owned: Sequence[int] | None = None) -> list[Sink]:
    """The annotated output (video or image folder) of each recorded stream of ``owned``
    (default: all), in stream order."""
    mine = range(len(streams)) if owned is None else owned
    return [_annotated_sink(template, i, streams, encoder) for i in mine if streams[i].record]


def _annotated_sink(template: str, stream: int, streams: Sequence[StreamFacts],
                    encoder: EncoderSettings) -> Sink:
    path = annotated_path(template, stream, len(streams), streams[stream].camera)
    assert path is not None
    if writes_folder(template, path):
        return ImageFolderSink(folder=path)
    facts = streams[stream]
    return video_sink(stream, path, width=facts.width, height=facts.height,
                      fps=facts.fps or DEFAULT_FPS, time_base=facts.time_base, encoder=encoder,
                      rotation=facts.rotation)


def video_sink(stream: int, path: Path, *, width: int, height: int, fps: Fraction,
               time_base: Fraction, encoder: EncoderSettings, rotation: int = 0) -> Sink:
    """The annotated video of ``stream`` at ``path`` (also a camera's recording on a seat;
    ``rotation``: the display matrix it keeps)."""
    from streampose.outputs.video import VideoSink  # PyAV: only where a video is written

    return VideoSink(stream=stream, path=path, width=width, height=height, fps=fps,
                     time_base=time_base, preset=encoder.preset, crf=encoder.crf,
                     threads=encoder.threads, resize=encoder.resize, rotation=rotation)


def _check_coco(output: Output, config: PipelineConfig,
                streams: Sequence[StreamFacts]) -> None:
    writable(output, config, streams)
    coco_ids(config.outputs, streams)


def _coco(context: SinkContext, path: Path) -> list[Sink]:
    return [CocoResultsSink(path=path, ids=coco_ids(context.config.outputs, context.streams))]


def _openpose(context: SinkContext, folder: Path) -> list[Sink]:
    return [OpenPoseJsonSink(folder=Path(folder), stems=[s.stem for s in context.streams])]


def _console(context: SinkContext, _serve: str) -> list[Sink]:
    """One console sink per stream the shard owns (each ignores the other streams)."""
    if context.console is None:  # the run has not started its console
        return []
    from streampose.console.sink import ConsoleSink  # OpenCV: only with --serve

    return [ConsoleSink(link=context.console, stream=i, camera=camera)
            for i, camera in enumerate(context.cameras)
            if context.owned is None or i in context.owned]


def _caller_setting(config: PipelineConfig) -> str | None:
    return "stream()" if config.caller is not None else None


def _caller(context: SinkContext, _where: str) -> list[Sink]:
    """One sink for the shard's streams: each frame's result to the Python caller."""
    settings = context.config.caller
    if context.caller is None or settings is None:  # the run made no caller channel
        return []
    return [StreamSink(channel=context.caller, live=[s.live for s in context.streams],
                       cameras=context.cameras, images=settings.images)]


def _mqtt(context: SinkContext, _url: str) -> list[Sink]:
    require_paho()
    events = context.config.events
    return [MqttSink(config=context.config.mqtt, cameras=context.cameras,
                     counters=context.counters, lines=line_refs(events.line),
                     fall=events.fall is not None)]


OUTPUTS = Registry([
    Output(flag="-o", what="video output", setting=attrgetter("outputs.video"),
           make=_video, check=_check_video, per_stream=True, pixels=True),
    Output(flag="--json", what="JSON lines output", setting=attrgetter("outputs.json"),
           make=lambda context, path: [JsonLinesSink(path=path)], spans=True),
    Output(flag="--summary", what="summary", setting=attrgetter("outputs.summary")),
    Output(flag="--coco", what="COCO results", setting=attrgetter("outputs.coco"),
           make=_coco, check=_check_coco, spans=True, join=join_coco,
           layout=lambda skeleton: COCO17),
    Output(flag="--openpose-json", what="OpenPose JSON", setting=attrgetter(
        "outputs.openpose_json"), make=_openpose, check=None, layout=openpose_layout),
    Output(flag="--serve", what="web console", setting=attrgetter("console.serve"),
           make=_console, check=None, file=False, pixels=True, events=True),
    Output(flag="--events", what="events output", setting=attrgetter("events.jsonl"),
           make=lambda context, path: [EventsSink(path=path)], spans=True, locked=False,
           events=True),
    Output(flag="--mqtt", what="MQTT", setting=attrgetter("mqtt.url"), make=_mqtt,
           check=None, file=False, events=True),
    Output(flag="stream()", what="Python stream", setting=_caller_setting, make=_caller,
           check=None, file=False, locked=False, events=True),
])
