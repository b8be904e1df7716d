#!/usr/bin/env python3
"""YOLO11n on one GPU, standalone: PyTorch (Ultralytics) FP16 at batch 1/8/32/64, and end to end from JPEG bytes.

Runs on a bare single-GPU Linux machine with PyTorch, torchvision and CUDA and no network; everything else
(Ultralytics and its small pure-Python helpers) is carried in as wheels. Prints one JSON line of figures.

    YOLO_OFFLINE=1 python3 tests/gpu/bench_yolo_gpu.py --weights yolo11n.pt --frames DIR_OF_JPEGS

- model only: the fused FP16 DetectionModel on (B, 3, 640, 640) letterboxed real frames, eager and replayed as a
  CUDA graph; images/s and P95 batch latency per batch size;
- end to end: JPEG bytes -> torchvision.io.decode_jpeg on CUDA (nvJPEG, batched) -> resize + letterbox on the GPU
  -> model -> confidence filter + class-aware batched NMS (torchvision.ops) -> boxes in original pixels; frames/s and
  P95 batch latency, with a check against Ultralytics' own predict() on the first frame.
Not part of the test suite (no GPU in CI); the figures go into the closing note.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")  # no connectivity probes from Ultralytics

import torch
import torch.nn.functional as F
import torchvision
from torchvision.io import decode_jpeg
from torchvision.ops import batched_nms

IMGSZ = 640
CONF, IOU, MAX_DET = 0.25, 0.7, 300


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def timed(fn: Callable[[], Any], seconds: float, min_iters: int = 20) -> list[float]:
    """Per-call latencies (s), CUDA-synchronised, repeating for about `seconds` after 10 warm-up calls."""
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    lat: list[float] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(lat) < min_iters:
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        lat.append(time.perf_counter() - t0)
    return lat


SHAPE = [IMGSZ, IMGSZ]  # model input (height, width); --rect: the smallest multiple of 32 that holds the frame


def capture(model: torch.nn.Module, static: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """Warm `model` up on a side stream, then record one forward pass on `static` as a CUDA graph."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            model(static)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = model(static)[0]
    return graph, out


def letterbox(imgs: torch.Tensor) -> tuple[torch.Tensor, float, tuple[int, int]]:
    """uint8 (B, 3, H, W) on the GPU -> half (B, 3, *SHAPE) in 0..1, grey padding as Ultralytics; gain, pad."""
    _, _, h, w = imgs.shape
    th, tw = SHAPE
    gain = min(th / h, tw / w)
    nh, nw = round(h * gain), round(w * gain)
    x = F.interpolate(imgs.half(), size=(nh, nw), mode="bilinear", align_corners=False)
    top, left = (th - nh) // 2, (tw - nw) // 2
    out = torch.full((imgs.shape[0], 3, th, tw), 114.0, dtype=torch.half, device=imgs.device)
    out[:, :, top : top + nh, left : left + nw] = x
    return out.div_(255.0), gain, (left, top)


def postprocess(pred: torch.Tensor, gain: float, pad: tuple[int, int]) -> list[torch.Tensor]:
    """(B, 4 + classes, anchors) -> per image (n, 6): x1, y1, x2, y2 (original pixels), confidence, class."""
    p = pred.transpose(1, 2)  # (B, anchors, 84)
    scores, cls = p[..., 4:].max(-1)
    keep = scores > CONF
    b_idx, a_idx = keep.nonzero(as_tuple=True)
    boxes = p[b_idx, a_idx, :4].float()
    xyxy = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
    sc, cl = scores[b_idx, a_idx].float(), cls[b_idx, a_idx]
    kept = batched_nms(xyxy, sc, b_idx * 1000 + cl, IOU)  # class-aware, per image
    xyxy, sc, cl, bi = xyxy[kept], sc[kept], cl[kept], b_idx[kept]
    xyxy[:, [0, 2]] -= pad[0]
    xyxy[:, [1, 3]] -= pad[1]
    xyxy /= gain
    dets = torch.cat([xyxy, sc[:, None], cl[:, None].float()], 1)
    return [dets[bi == i][:MAX_DET] for i in range(pred.shape[0])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="yolo11n.pt")
    ap.add_argument("--frames", required=True, help="folder of JPEG frames (e.g. the highway clip at 720p)")
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration")
    ap.add_argument("--rect", action="store_true", help="rectangular input as Ultralytics predicts (640x384 for 720p)")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format for the convolutions")
    args = ap.parse_args()
    from ultralytics import YOLO

    t_start = time.perf_counter()
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    jpegs = [p.read_bytes() for p in sorted(Path(args.frames).glob("*.jpg"))]
    yolo = YOLO(args.weights)
    model = yolo.model.fuse().to(dev).half().eval()  # type: ignore[union-attr]
    for prm in model.parameters():
        prm.requires_grad_(False)
    raw = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in jpegs]
    batches = [int(b) for b in args.batches.split(",")]
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "model": Path(args.weights).name,
        "imgsz": IMGSZ,
        "half": True,
        "frames": len(jpegs),
        "frame_size": None,
        "model_only": [],
        "end_to_end": [],
    }

    with torch.inference_mode():
        first = decode_jpeg(raw[0], device=dev)
        out["frame_size"] = [int(first.shape[2]), int(first.shape[1])]
        if args.rect:
            g = IMGSZ / max(first.shape[1:])
            SHAPE[:] = [math.ceil(first.shape[1] * g / 32) * 32, math.ceil(first.shape[2] * g / 32) * 32]
        if args.channels_last:
            model.to(memory_format=torch.channels_last)
        out["input_shape"] = list(SHAPE)
        out["channels_last"] = args.channels_last
        # -- model only ------------------------------------------------------------------------------------
        for b in batches:
            imgs = torch.stack([decode_jpeg(raw[i % len(raw)], device=dev) for i in range(b)])
            x, _, _ = letterbox(imgs)
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            eager = timed(lambda x=x: model(x), args.seconds)
            graph, _ = capture(model, x.clone())
            replay = timed(graph.replay, args.seconds)
            row = {
                "batch": b,
                "eager_fps": round(b * len(eager) / sum(eager), 1),
                "eager_p95_ms": round(p95(eager) * 1000, 3),
                "graph_fps": round(b * len(replay) / sum(replay), 1),
                "graph_p95_ms": round(p95(replay) * 1000, 3),
            }
            out["model_only"].append(row)
            print(json.dumps({"model_only": row}), flush=True)
            del graph

        # -- end to end from JPEG bytes ----------------------------------------------------------------------
        for b in [b for b in batches if b >= 8]:
            static = torch.zeros((b, 3, *SHAPE), dtype=torch.half, device=dev)
            if args.channels_last:
                static = static.contiguous(memory_format=torch.channels_last)
            graph, static_out = capture(model, static)
            state = {"i": 0, "n": 0}

            def step(
                b: int = b,
                static: torch.Tensor = static,
                graph: Any = graph,
                so: Any = static_out,
                state: dict[str, int] = state,
            ) -> None:
                i = state["i"]
                chunk = [raw[(i + k) % len(raw)] for k in range(b)]
                state["i"] = (i + b) % len(raw)
                imgs = torch.stack(decode_jpeg(chunk, device=dev))
                x, gain, pad = letterbox(imgs)
                static.copy_(x)
                graph.replay()
                dets = postprocess(so, gain, pad)
                state["n"] += sum(int(d.shape[0]) for d in dets)

            lat = timed(step, args.seconds)
            row = {
                "batch": b,
                "fps": round(b * len(lat) / sum(lat), 1),
                "p95_ms": round(p95(lat) * 1000, 3),
                "detections_per_frame": round(state["n"] / (b * (len(lat) + 10)), 2),
            }
            out["end_to_end"].append(row)
            print(json.dumps({"end_to_end": row}), flush=True)
            del graph

        # -- the same frame through ours and through Ultralytics' predict ---------------------------------------
        imgs = decode_jpeg(raw[0], device=dev)[None]
        x, gain, pad = letterbox(imgs)
        ours = postprocess(model(x)[0], gain, pad)[0]
        import cv2
        import numpy as np

        bgr = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR)
        ref = yolo.predict(bgr, imgsz=IMGSZ, half=True, device=0, conf=CONF, iou=IOU, verbose=False)[0]
        ref_boxes = ref.boxes.xyxy.to(dev).float()
        matched = 0
        if len(ours) and len(ref_boxes):
            iou = torchvision.ops.box_iou(ours[:, :4], ref_boxes)
            matched = int((iou.max(1).values > 0.9).sum())
        out["check_first_frame"] = {"ours": len(ours), "ultralytics": len(ref_boxes), "iou_gt_0_9": matched}

    best = max([r["graph_fps"] for r in out["model_only"]] + [r["fps"] for r in out["end_to_end"]] + [0.0])
    out["best_end_to_end_fps"] = max([r["fps"] for r in out["end_to_end"]] + [0.0])
    out["best_fps"] = best
    out["goal_fps"] = 10000
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
