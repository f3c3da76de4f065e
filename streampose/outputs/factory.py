"""What the outputs know of each stream (:class:`StreamFacts`), and the annotated output.

The annotated output is written per stream: a video (or an image folder) whose path is
the ``-o`` template with the stream's index or camera name (:func:`annotated_path`).
:func:`check_annotated` and :func:`annotated_sinks` are its check and its maker in the
sink registry (:mod:`streampose.outputs.registry`), which makes every sink of a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from streampose.config.sections import OutputsConfig, PerformanceConfig
from streampose.errors import ConfigError
from streampose.outputs.base import Sink
from streampose.outputs.coco_ids import check_names, load_image_ids
from streampose.outputs.images import ImageFolderSink
from streampose.outputs.writable import check_writable

__all__ = ["DEFAULT_FPS", "EncoderSettings", "StreamFacts", "annotated_path",
           "annotated_sinks", "check_annotated", "coco_ids", "video_sink", "writes_folder"]

DEFAULT_FPS = Fraction(25)  # for a source that does not state its frame rate


@dataclass(frozen=True, kw_only=True)
class StreamFacts:
    """What the outputs need to know about one source (learnt by probing it).

    ``width``/``height``: the frame size (the first image's for image sources);
    ``time_base`` and ``fps`` (None: unknown) time the video output; ``stem`` names
    OpenPose files; ``images``: an image source (annotated output must be a folder);
    ``live``: a live source (never ends by itself; frames may be dropped);
    ``names``: an image source's file names, in frame order (COCO ids by file name);
    ``camera``: the stream's short name (unique in the run; MQTT topics, events, console,
    ``{camera}`` in the annotated video's path); ``record``: whether its annotated video
    (or image folder) is written (a cameras file's ``record = false``: no).
    """

    width: int
    height: int
    time_base: Fraction
    fps: Fraction | None = None
    stem: str = "source"
    images: bool = False
    live: bool = False
    names: tuple[str, ...] | None = None
    camera: str = "camera"
    record: bool = True


@dataclass(frozen=True, kw_only=True)
class EncoderSettings:
    """How annotated videos are encoded: x264 ``preset``, ``crf`` and ``threads``."""

    preset: str = "ultrafast"
    crf: int = 23
    threads: int = 1

    @classmethod
    def from_performance(cls, performance: PerformanceConfig,
                         threads: int | None = None) -> EncoderSettings:
        """The settings in ``performance``; ``threads``: x264's (default: the config's
        ``encoder_threads``, else 1)."""
        if threads is None:
            threads = performance.encoder_threads
        return cls(preset=performance.encoder_preset, crf=performance.crf,
                   threads=1 if threads is None else threads)


def annotated_path(template: str | None, stream: int, streams: int,
                   camera: str | None = None) -> Path | None:
    """The annotated output of ``stream`` (of ``streams``): a video file or a folder.

    ``{stream}`` in ``template`` is replaced by the stream index and ``{camera}`` by
    ``camera``, its name (default ``stream<index>``); without either, several sources get
    ``_<index>`` before the extension (``out.mp4`` -> ``out_0.mp4``, ...), unless
    ``template`` is a folder (ends with ``/``).
    """
    if not template:
        return None
    if "{stream}" in template or "{camera}" in template:
        name = camera if camera is not None else f"stream{stream}"
        return Path(template.replace("{stream}", str(stream)).replace("{camera}", name))
    path = Path(template)
    if streams == 1 or _ends_with_separator(template):
        return path
    return path.with_name(f"{path.stem}_{stream}{path.suffix}")


def writes_folder(template: str, path: Path) -> bool:
    """Whether the annotated output at ``path`` is a folder of images, not a video:
    ``template`` ends with ``/`` or ``path`` is an existing folder."""
    return _ends_with_separator(template) or path.is_dir()


def check_annotated(template: str, streams: Sequence[StreamFacts]) -> None:
    """Raise ConfigError or OutputError unless every recorded stream's annotated output
    (``template``, see :func:`annotated_path`) can be written; image sources need a
    folder (``-o annotated/``)."""
    for stream, facts in enumerate(streams):
        path = annotated_path(template, stream, len(streams), facts.camera)
        if path is None or not facts.record:
            continue
        folder = writes_folder(template, path)
        if facts.images and not folder:
            raise ConfigError(f"-o {template}: image sources are written to a folder: "
                              "end the path with '/' (e.g. -o annotated/)")
        if not folder:
            check_writable(path, "video output")


def annotated_sinks(template: str, streams: Sequence[StreamFacts], encoder: EncoderSettings,
                    owned: Sequence[int] | None = None) -> list[Sink]:
    """The annotated output (video or image folder) of each recorded stream of ``owned``
    (default: all), in stream order."""
    mine = range(len(streams)) if owned is None else owned
    return [_annotated_sink(template, i, streams, encoder) for i in mine if streams[i].record]


def coco_ids(outputs: OutputsConfig, streams: Sequence[StreamFacts]) -> dict[str, int] | None:
    """The image ids of ``outputs.coco_ids`` (None without it), checked against every
    stream's file names."""
    if outputs.coco_ids is None:
        return None
    ids = load_image_ids(outputs.coco_ids)
    for stream, facts in enumerate(streams):
        if facts.names is None:
            raise ConfigError(f"--coco-ids {outputs.coco_ids}: source {stream} "
                              f"({facts.stem}) is not images; ids by file name need "
                              "image sources")
        check_names(ids, facts.names, outputs.coco_ids)
    return ids


def _annotated_sink(template: str, stream: int, streams: Sequence[StreamFacts],
                    encoder: EncoderSettings) -> Sink:
    path = annotated_path(template, stream, len(streams), streams[stream].camera)
    assert path is not None
    if writes_folder(template, path):
        return ImageFolderSink(folder=path)
    facts = streams[stream]
    return video_sink(stream, path, width=facts.width, height=facts.height,
                      fps=facts.fps or DEFAULT_FPS, time_base=facts.time_base, encoder=encoder)


def video_sink(stream: int, path: Path, *, width: int, height: int, fps: Fraction,
               time_base: Fraction, encoder: EncoderSettings) -> Sink:
    """The annotated video of ``stream`` at ``path`` (also a seat's recording)."""
    from streampose.outputs.video import VideoSink  # PyAV: only where a video is written

    return VideoSink(stream=stream, path=path, width=width, height=height, fps=fps,
                     time_base=time_base, preset=encoder.preset, crf=encoder.crf,
                     threads=encoder.threads)


def _ends_with_separator(template: str) -> bool:
    return template.endswith(("/", "\\"))
