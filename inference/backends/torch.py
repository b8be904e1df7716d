"""PyTorch backend through Ultralytics: the `.pt` checkpoint on CUDA in FP16 (or on CPU in FP32).

The raw output stays on the device: the candidate filter and one `torchvision.ops.batched_nms` call for the
whole batch (offset by image and class) run there, and only the kept boxes are copied back.
Import-guarded: torch, torchvision and ultralytics come with `pip install '.[export]'`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.backends.base import PostParams
from inference.errors import ModelLoadError
from inference.model import names_from_ultralytics, read_metadata
from inference.postprocess import scale_boxes

__all__ = ["TorchBackend", "decode_torch"]

FloatArray = npt.NDArray[np.float32]


def _import_torch() -> Any:
    try:
        import torch
        import torchvision  # noqa: F401  (batched_nms)
        import ultralytics  # noqa: F401
    except ImportError as e:
        raise ModelLoadError(
            f"The torch backend needs torch, torchvision and ultralytics ({e}). Install them with "
            "`pip install '.[export]'` (see the Makefile's install-export), or set ITS_INFERENCE_BACKEND=onnxruntime."
        ) from e
    return torch


class TorchBackend:
    name = "torch"
    fixed_hw: tuple[int, int] | None = None  # any multiple of 32
    max_batch = 0

    def __init__(self, model_path: str, device: str = "cuda:0", half: bool = True) -> None:
        torch = _import_torch()
        from ultralytics import YOLO  # type: ignore[attr-defined]

        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(
                f"Model file {path} does not exist. Set ITS_INFERENCE_MODEL_PATH to a YOLO11 .pt checkpoint "
                "(this repo expects ../shared/models/yolo11n.pt)."
            )
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(
                f"The torch backend was asked for device {device}, but torch sees no CUDA GPU. Set "
                "ITS_INFERENCE_DEVICE=cpu (and ITS_INFERENCE_HALF=false), or ITS_INFERENCE_BACKEND=onnxruntime."
            )
        if half and not device.startswith("cuda"):
            raise ModelLoadError("FP16 needs a CUDA device: set ITS_INFERENCE_HALF=false for the torch backend on CPU.")
        try:
            yolo = YOLO(str(path), task="detect")
            net = yolo.model
        except Exception as e:  # ultralytics/torch raise many untyped errors for a bad checkpoint
            raise ModelLoadError(
                f"Ultralytics could not load {path}: {e}. Is it a YOLO11 detection checkpoint (.pt)?"
            ) from e
        if not isinstance(net, torch.nn.Module):
            raise ModelLoadError(f"{path} is not a PyTorch checkpoint; the torch backend reads .pt files.")
        self.torch = torch
        self.device = device
        self.half = half
        self.dtype = torch.float16 if half else torch.float32
        self.net = net.to(device).eval()
        if half:
            self.net = self.net.half()
        self.model_path = str(path)
        names = names_from_ultralytics(yolo.names)
        meta = read_metadata(path, fmt="pt")  # the sidecar, else name/version/sha256 from the file
        self.meta = replace(meta, class_names=meta.class_names or names, precision="fp16" if half else "fp32")

    def run(self, batch: FloatArray) -> Any:
        torch = self.torch
        x = torch.from_numpy(batch).to(self.device, non_blocking=True).to(self.dtype)
        with torch.inference_mode():
            out = self.net(x)
        return out[0] if isinstance(out, tuple | list) else out

    def decode(
        self, raw: Any, input_hw: tuple[int, int], orig_shapes: list[tuple[int, int]], params: PostParams
    ) -> list[FloatArray]:
        return decode_torch(raw, input_hw, orig_shapes, params)


def decode_torch(
    raw: Any, input_hw: tuple[int, int], orig_shapes: list[tuple[int, int]], params: PostParams
) -> list[FloatArray]:
    """Batched twin of `inference.postprocess.postprocess` for a torch output [N, 4 + nc, anchors]."""
    import torch
    import torchvision

    pred = raw.float()
    n, rows, _ = pred.shape
    nc = rows - 4
    conf, cls = pred[:, 4:, :].max(1)  # [N, A]: best class over all classes, as Ultralytics
    mask = conf > params.conf
    if params.classes is not None:
        mask &= torch.isin(cls, torch.tensor(params.classes, device=cls.device))
    img, anchor = mask.nonzero(as_tuple=True)
    xywh = pred[img, :4, anchor]  # [K, 4]
    xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    score, label = conf[img, anchor], cls[img, anchor]
    keep = torchvision.ops.batched_nms(xyxy, score, img * nc + label, params.iou)  # by score, descending
    rows_out = torch.cat([xyxy[keep], score[keep, None], label[keep, None].float(), img[keep, None].float()], 1)
    host = rows_out.cpu().numpy().astype(np.float32)
    out: list[FloatArray] = []
    for i, shape in enumerate(orig_shapes[:n]):
        mine = host[host[:, 6] == i][: params.max_det, :6]
        mine[:, :4] = scale_boxes(mine[:, :4], input_hw, shape)
        out.append(mine)
    return out
