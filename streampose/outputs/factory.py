"""What the outputs know of each stream (:class:`StreamFacts`), and the annotated output.

The annotated output is written per stream: a video (or an image folder) whose path is
the ``-o`` template with the stream's index or camera name (:func:`annotated_path`).
:func:`check_annotated` is its check in the sink registry
(:mod:`streampose.outputs.registry`), which makes every sink of a run (and a changing
seat's per-camera recordings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from streampose.config.sections import OutputsConfig, PerformanceConfig
from streampose.errors import ConfigError
from streampose.outputs.coco_ids import check_names, load_image_ids
from streampose.outputs.writable import check_writable

__all__ = ["DEFAULT_FPS", "EncoderSettings", "StreamFacts", "annotated_path",
           "check_annotated", "coco_ids", "writes_folder"]

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
    (or image folder) is written (a cameras file's ``record = false``: no);
    ``rotation``: the display matrix its annotated video keeps (frames left as stored,
    ``--no-autorotate``).
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
    rotation: int = 0


@dataclass(frozen=True, kw_only=True)
class EncoderSettings:
    """How annotated videos are encoded: x264 ``preset``, ``crf`` and ``threads``;
    ``resize``: what a video does when its frames change size (``segment``: a new file
    per size; ``letterbox``: scaled into the first size, aspect ratio kept)."""

    preset: str = "ultrafast"
    crf: int = 23
    threads: int = 1
    resize: str = "segment"

    @classmethod
    def from_performance(cls, performance: PerformanceConfig,
                         threads: int | None = None) -> EncoderSettings:
        """The settings in ``performance``; ``threads``: x264's (default: the config's
        ``encoder_threads``, else 1)."""
        if threads is None:
            threads = performance.encoder_threads
        return cls(preset=performance.encoder_preset, crf=performance.crf,
                   threads=1 if threads is None else threads,
                   resize=performance.recording_resize)


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


def _ends_with_separator(template: str) -> bool:
    return template.endswith(("/", "\\"))
