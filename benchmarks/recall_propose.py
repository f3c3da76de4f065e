"""Person boxes to start the recall ground truth from (benchmarks/recall_gt/), and their
drawings to check by eye.

Runs ../shared/models/yolo11n-pose.onnx directly (ONNX Runtime, not the pipeline) on the
chosen frames of a video scaled up so that its long side is ``--long-side`` (1920 finds
the 40-90 px people of vtest.mp4), keeps the boxes scoring above ``--score`` after box NMS,
and writes them in recall_gt/people.json's format (every box counted, with its score) plus
one PNG per frame (2x, boxes numbered) to look at. The proposals are only a start: every
frame is then checked by eye and edited (missed people added, false ones removed, ``ignore``
set), as recall_gt/README.md describes.

    python benchmarks/recall_propose.py ../shared/media/vtest.mp4 --frames 0 70 140 --out /tmp/gt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT.parent / "shared" / "models" / "yolo11n-pose.onnx"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--frames", type=int, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for JSON and PNGs")
    parser.add_argument("--long-side", type=int, default=1920)
    parser.add_argument("--score", type=float, default=0.2)
    parser.add_argument("--iou", type=float, default=0.6)
    parser.add_argument("--model", type=Path, default=MODEL)
    return parser.parse_args()


def frames_of(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The wanted frames of ``video`` by index, read in order."""
    capture, found, index = cv2.VideoCapture(str(video)), {}, 0
    while len(found) < len(wanted):
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            found[index] = frame
        index += 1
    capture.release()
    return found


def network_input(frame: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """The frame scaled (long side ``long_side``, sides rounded up to 32, padded right and
    bottom), as NCHW RGB 0..1, and the scale used."""
    h, w = frame.shape[:2]
    scale = long_side / max(h, w)
    sw, sh = round(w * scale), round(h * scale)
    padded = np.zeros((-(-sh // 32) * 32, -(-sw // 32) * 32, 3), np.uint8)
    padded[:sh, :sw] = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_LINEAR)
    tensor = padded[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(tensor), scale


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy box NMS, best score first."""
    order, kept = list(np.argsort(-scores)), []
    while order:
        best, order = order[0], order[1:]
        kept.append(int(best))
        order = [i for i in order if _iou(boxes[best], boxes[i]) <= threshold]
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def propose(session: ort.InferenceSession, frame: np.ndarray, args: argparse.Namespace
            ) -> list[dict[str, Any]]:
    """Boxes in frame pixels (clipped to the frame) with their person scores."""
    tensor, scale = network_input(frame, args.long_side)
    out = session.run(None, {"images": tensor})[0][0]
    keep = out[4] > args.score
    cx, cy, bw, bh = out[:4, keep] / scale
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    h, w = frame.shape[:2]
    boxes, scores = np.clip(boxes, 0, [w, h, w, h]), out[4, keep]
    return [{"box": [round(float(v), 1) for v in boxes[i]], "score": round(float(scores[i]), 2)}
            for i in nms(boxes, scores, args.iou)]


def draw(frame: np.ndarray, people: list[dict[str, Any]], path: Path) -> None:
    """The frame at 2x with each box numbered, for checking by eye."""
    big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    for n, person in enumerate(people):
        x1, y1, x2, y2 = (round(2 * v) for v in person["box"])
        cv2.rectangle(big, (x1, y1), (x2, y2), (0, 255, 0), 1)
        cv2.putText(big, f"{n}:{person['score']}", (x1, max(10, y1 - 3)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 0), 1)
    cv2.imwrite(str(path), big)


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    frames = frames_of(args.video, set(args.frames))
    if not frames:
        raise SystemExit(f"{args.video}: none of the frames {args.frames} could be read")
    proposals = {}
    for index, frame in sorted(frames.items()):
        proposals[str(index)] = propose(session, frame, args)
        draw(frame, proposals[str(index)], args.out / f"{args.video.stem}_{index}.png")
    h, w = next(iter(frames.values())).shape[:2]
    document = {"videos": {args.video.name: {"width": w, "height": h, "frames": proposals}}}
    (args.out / "proposals.json").write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
