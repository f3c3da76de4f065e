"""A still scene with motion regions: what it costs, and how soon a walker is found.

Makes two clips at 10 fps from ``vtest.mp4`` (480x360) and runs the pipeline (the real
model, JSON lines only) on each, full-frame (``--motion off``) and with ``--motion on``,
one run after the other in this process:

- **still**: ``--seconds`` (60) of one background plate, with fresh sensor-like noise on
  every frame (sigma 2 grey levels, as a camera gives: a bit-exact repeat of one frame
  would be too easy). The plate is the per-pixel median of 60 frames spread over the
  first 600 of vtest: the campus with nobody on it (one raw frame of vtest has people
  standing in it; ``--plate frame`` uses frame 0 as it is, whose people are then kept
  inferred as tracked people, by design). Reported: CPU seconds per frame of every
  stage together (the run summary's ``cpu_s``), motion over full-frame (target <= 0.20).
- **walker**: ``--walker-seconds`` (20) of the same plate with one person, cut from
  vtest frame 210 (the ground-truth box of ``benchmarks/recall_gt``, 32x71 px; their
  pixels are those that differ from the plate), scaled by ``--walker-scale`` (1.5: the
  model at its default input finds people of vtest's size only now and then, see the
  README's recall table) and walking in from the left edge at ``--speed`` px a frame
  from half the clip on. Reported: the delay from the first frame the walker is wholly
  inside the frame to the first frame a pose is found on it (most of the pose's found
  keypoints inside the walker's box grown by a quarter), in frames and seconds
  (target <= 1 s), for both runs.

    python benchmarks/still_scene.py [--model ../shared/models/openpose-mnthin-coco18.onnx]
        [--height H] [--seconds 60] [--walker-seconds 20] [--plate median|frame]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streampose.config import ModelConfig, OutputsConfig, PipelineConfig  # noqa: E402
from streampose.config.sections import MotionConfig  # noqa: E402
from streampose.pipeline import Pipeline  # noqa: E402

SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models/openpose-mnthin-coco18.onnx"
VIDEO = SHARED / "media/vtest.mp4"
FPS = 10
WALKER_FRAME, WALKER_BOX = 210, (407.8, 184.1, 440.3, 255.6)  # recall_gt/people.json
NOISE = 2.0


def vtest_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The BGR frames of ``video`` whose indices are ``wanted``."""
    found: dict[int, np.ndarray] = {}
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                found[i] = frame.to_ndarray(format="bgr24")
            if len(found) == len(wanted):
                break
    return found


def plate_of(frames: dict[int, np.ndarray], kind: str) -> np.ndarray:
    if kind == "frame":
        return frames[0]
    stack = np.stack([f for i, f in sorted(frames.items()) if i % 10 == 0])
    return np.median(stack, axis=0).astype(np.uint8)


def walker_patch(frame: np.ndarray, plate: np.ndarray, scale: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, alpha mask) of the person in ``WALKER_BOX``, scaled."""
    import cv2

    x1, y1, x2, y2 = (round(v) for v in WALKER_BOX)
    pixels = frame[y1:y2, x1:x2]
    diff = np.abs(pixels.astype(np.int16) - plate[y1:y2, x1:x2]).max(axis=2)
    mask = cv2.dilate((diff > 25).astype(np.uint8), np.ones((3, 3), np.uint8))
    size = (round((x2 - x1) * scale), round((y2 - y1) * scale))
    return (cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST).astype(bool))


def write_clip(path: Path, plate: np.ndarray, frames: int,
               walker: tuple[np.ndarray, np.ndarray] | None = None, *, start: int = 0,
               speed: float = 3.0) -> list[tuple[float, float, float, float] | None]:
    """The clip; returns the walker's box on each frame (None where it is not wholly
    inside the frame)."""
    rng = np.random.default_rng(0)
    height, width = plate.shape[:2]
    boxes: list[tuple[float, float, float, float] | None] = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.clip(plate + rng.normal(0, NOISE, plate.shape), 0, 255).astype(np.uint8)
            boxes.append(_paste(image, walker, i - start, speed) if walker else None)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return boxes


def _paste(image: np.ndarray, walker: tuple[np.ndarray, np.ndarray], step: int,
           speed: float) -> tuple[float, float, float, float] | None:
    """Paste the walker ``step`` frames after it starts entering; its box if whole."""
    if step < 0:
        return None
    pixels, mask = walker
    h, w = mask.shape
    x = round(-w + step * speed)
    y = round(WALKER_BOX[3] - h)
    width = image.shape[1]
    lo, hi = max(0, x), min(width, x + w)
    if hi > lo:
        region = image[y:y + h, lo:hi]
        region[mask[:, lo - x:hi - x]] = pixels[:, lo - x:hi - x][mask[:, lo - x:hi - x]]
    return (x, y, x + w, y + h) if x >= 0 and x + w <= width else None


def run(clip: Path, model: Path, height: int | None, motion: str, out: Path
        ) -> tuple[float, list[dict[str, object]], dict[str, object]]:
    """(stage CPU seconds per frame, JSON records by frame, the stream's summary)."""
    jsonl = out / f"{clip.stem}-{motion}.jsonl"
    config = PipelineConfig(sources=(str(clip),), model=ModelConfig(path=model, height=height),
                            motion=MotionConfig(mode=motion), outputs=OutputsConfig(json=jsonl))
    summary = Pipeline(config).run()
    frames = summary.frames_out
    cpu = sum(float(s["cpu_s"]) for s in summary.stages)
    records = sorted((json.loads(line) for line in jsonl.read_text().splitlines()),
                     key=lambda r: r["frame"])
    return cpu / frames, records, summary.streams[0]


def found_on(record: dict[str, object], box: tuple[float, float, float, float]) -> bool:
    """Whether a pose of ``record`` lies on the walker: most of its found keypoints
    inside ``box`` grown by a quarter of its size."""
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) / 4, (y2 - y1) / 4
    for person in record["persons"]:  # type: ignore[attr-defined]
        kp = np.array(person["keypoints"], np.float64)
        kp = kp[kp[:, 2] > 0]
        inside = ((kp[:, 0] >= x1 - gx) & (kp[:, 0] <= x2 + gx) & (kp[:, 1] >= y1 - gy)
                  & (kp[:, 1] <= y2 + gy))
        if len(kp) and inside.mean() > 0.5:
            return True
    return False


def delay(records: list[dict[str, object]],
          boxes: list[tuple[float, float, float, float] | None]) -> int | None:
    """Frames from the walker's first whole frame to the first frame it is found on."""
    whole = [i for i, b in enumerate(boxes) if b is not None]
    if not whole:
        return None
    for i in range(whole[0], len(boxes)):
        box = boxes[i]
        if box is not None and found_on(records[i], box):
            return i - whole[0]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--walker-seconds", type=float, default=20.0)
    parser.add_argument("--walker-scale", type=float, default=1.5)
    parser.add_argument("--speed", type=float, default=3.0, help="walker px per frame")
    parser.add_argument("--plate", choices=("median", "frame"), default="median")
    args = parser.parse_args()
    frames = vtest_frames(args.video, set(range(0, 600, 10)) | {WALKER_FRAME})
    plate = plate_of(frames, args.plate)
    walker = walker_patch(frames[WALKER_FRAME], plate, args.walker_scale)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        still = out / "still.mp4"
        write_clip(still, plate, round(args.seconds * FPS))
        walk = out / "walker.mp4"
        count = round(args.walker_seconds * FPS)
        boxes = write_clip(walk, plate, count, walker, start=count // 2, speed=args.speed)
        print(f"{args.model.name} at --height {args.height or 'spec'}; plate: {args.plate}; "
              f"still clip {args.seconds:g} s, walker clip {args.walker_seconds:g} s "
              f"(walker {walker[1].shape[1]}x{walker[1].shape[0]} px, {args.speed:g} px/frame)")
        cpu = {}
        for motion in ("off", "on"):
            cpu[motion], _, stream = run(still, args.model, args.height, motion, out)
            print(f"still, --motion {motion}: {1000 * cpu[motion]:.1f} ms CPU per frame; "
                  + _counts(stream))
        print(f"still: motion / full-frame CPU per frame = {cpu['on'] / cpu['off']:.3f} "
              "(target <= 0.20)")
        for motion in ("off", "on"):
            _, records, stream = run(walk, args.model, args.height, motion, out)
            late = delay(records, boxes)
            shown = "never found" if late is None else f"{late} frames ({late / FPS:.1f} s)"
            print(f"walker, --motion {motion}: found after {shown} (target <= 1 s); "
                  + _counts(stream))


def _counts(stream: dict[str, object]) -> str:
    names = ("frames_inferred", "frames_regions", "regions_per_frame", "frames_still")
    return ", ".join(f"{n} {stream[n]}" for n in names)


if __name__ == "__main__":
    main()
