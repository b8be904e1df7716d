"""Raw YOLO11 output -> boxes in original-frame pixels: candidate filter, class-aware NMS, rescale.

Mirrors Ultralytics' `non_max_suppression` (single label per box, class offset NMS, IoU > thr suppresses)
and `scale_boxes`, in vectorised numpy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["nms", "postprocess", "scale_boxes"]

_MAX_WH = 7680  # class offset for batched NMS, as in Ultralytics
_MAX_NMS = 30000

FloatArray = npt.NDArray[np.float32]


def nms(boxes: FloatArray, scores: FloatArray, iou_thres: float) -> npt.NDArray[np.intp]:
    """Greedy NMS on xyxy boxes; returns kept indices in descending score order."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = (np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])).clip(0)
        h = (np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])).clip(0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-7)
        order = rest[iou <= iou_thres]
    return np.asarray(keep, dtype=np.intp)


def scale_boxes(boxes: FloatArray, input_shape: tuple[int, int], orig_shape: tuple[int, int]) -> FloatArray:
    """Map xyxy boxes from the letterboxed input (h, w) back to the original frame (h, w), clipped."""
    ih, iw = input_shape
    oh, ow = orig_shape
    gain = min(ih / oh, iw / ow)
    new_h, new_w = max(round(oh * gain), 1), max(round(ow * gain), 1)
    gain_y, gain_x = new_h / oh, new_w / ow
    pad_x, pad_y = round((iw - new_w) / 2 - 0.1), round((ih - new_h) / 2 - 0.1)
    out = boxes.astype(np.float32, copy=True)
    out[:, [0, 2]] = ((out[:, [0, 2]] - pad_x) / gain_x).clip(0, ow)
    out[:, [1, 3]] = ((out[:, [1, 3]] - pad_y) / gain_y).clip(0, oh)
    return out


def postprocess(
    pred: FloatArray,
    input_shape: tuple[int, int],
    orig_shape: tuple[int, int],
    conf_thres: float = 0.25,
    iou_thres: float = 0.7,
    max_det: int = 300,
    classes: npt.NDArray[np.intp] | None = None,
) -> FloatArray:
    """One image's raw output [4 + nc, anchors] -> array [n, 6] of x1, y1, x2, y2, confidence, class_id.

    `classes` keeps only boxes whose best class is one of these ids (Ultralytics' `classes=`: the best class is
    taken over all classes first, so a box that is more train than bus is not counted as a bus)."""
    scores_all = pred[4:]
    # max over classes first (a contiguous row-wise reduction, ~10x cheaper than argmax over all anchors), then
    # the class of the few anchors above the threshold
    conf = scores_all.max(0)
    mask = conf > conf_thres
    if not mask.any():
        return np.zeros((0, 6), dtype=np.float32)
    idx = np.flatnonzero(mask)
    cls = scores_all[:, idx].argmax(0)
    conf = conf[idx]
    if classes is not None:
        keep_cls = np.isin(cls, classes)
        idx, cls, conf = idx[keep_cls], cls[keep_cls], conf[keep_cls]
        if not idx.size:
            return np.zeros((0, 6), dtype=np.float32)
    xywh = pred[:4, idx].T
    xyxy = np.empty_like(xywh)
    xyxy[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
    xyxy[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
    if conf.size > _MAX_NMS:
        top = np.argsort(-conf, kind="stable")[:_MAX_NMS]
        xyxy, conf, cls = xyxy[top], conf[top], cls[top]
    keep = nms(xyxy + (cls[:, None] * _MAX_WH).astype(np.float32), conf, iou_thres)[:max_det]
    boxes = scale_boxes(xyxy[keep], input_shape, orig_shape)
    return np.concatenate([boxes, conf[keep, None].astype(np.float32), cls[keep, None].astype(np.float32)], axis=1)
