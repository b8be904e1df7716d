"""The accuracy gate every backend and precision must pass: on frames of real traffic, a faster runtime has to find
what fp32 ONNX Runtime finds.

A reference detection (confidence above 0.25, the reported tier) is covered when the candidate has a box of the same
class at IoU >= 0.9 with it, matched one to one (greedy, best IoU first); at least 98 % must be covered. The tests
(tests/inference/backends/test_openvino.py, tests/inference/test_quantize.py) and `ITS_INFERENCE_BACKEND=auto`
(autoselect.py) apply the same rule.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["GATE_COVERAGE", "GATE_IOU", "coverage", "gate_frames", "iou"]

GATE_IOU, GATE_COVERAGE = 0.9, 0.98
_REPORTED = 0.25

Boxes = npt.NDArray[np.float32]


def iou(a: Boxes, b: Boxes) -> npt.NDArray[np.float64]:
    """Pairwise IoU of [n, 4+] and [m, 4+] xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter), np.float64)


def coverage(ref: list[Boxes], got: list[Boxes]) -> tuple[int, int]:
    """(reference detections above 0.25 matched one to one by a same-class box at IoU >= 0.9, all of them); boxes
    are [n, 6] x1, y1, x2, y2, confidence, class_id per frame."""
    matched = total = 0
    for r, g in zip(ref, got, strict=True):
        r, g = r[r[:, 4] > _REPORTED], g[g[:, 4] > _REPORTED]  # the reported tier of both (not the tracker's low one)
        total += len(r)
        if not len(r) or not len(g):
            continue
        m = iou(r, g) * (r[:, None, 5] == g[None, :, 5])
        used: set[int] = set()
        for i in np.argsort(-r[:, 4]):  # the most confident reference box chooses first
            for j in np.argsort(-m[i]):
                if m[i, j] < GATE_IOU:
                    break
                if int(j) not in used:
                    used.add(int(j))
                    matched += 1
                    break
    return matched, total


def gate_frames(data: Path, n: int = 12) -> list[npt.NDArray[np.uint8]]:
    """`n` frames of traffic: images (*.jpg, *.png) in `data`, else frames spread evenly over its clips (*.mp4);
    empty when there are none."""
    images = sorted([*data.glob("*.jpg"), *data.glob("*.png")]) if data.is_dir() else []
    if images:
        out = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in images[:n]]
        return [np.asarray(x, np.uint8) for x in out if x is not None]
    clips = sorted(data.glob("*.mp4")) if data.is_dir() else []
    frames: list[npt.NDArray[np.uint8]] = []
    for k, clip in enumerate(clips):
        want = n // len(clips) + (k < n % len(clips))
        cap = cv2.VideoCapture(str(clip))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or want
        for i in range(want):
            cap.set(cv2.CAP_PROP_POS_FRAMES, (2 * i + 1) * total // (2 * want))
            ok, img = cap.read()
            if ok:
                frames.append(np.asarray(img, np.uint8))
        cap.release()
    return frames
