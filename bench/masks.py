"""Cost of privacy masks (issue 18) per frame, side by side in one run: `python -m bench.masks [CLIP]`.

A frame of the clip (default: the highway clip in shared/data), three mask polygons; medians of 200 runs of
fillPoly alone, a JPEG encode, and ingest's encode_frame for a camera's own JPEG (MJPEG) passed through without a
mask vs decoded, masked and encoded again with masks.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2

from deploy.stack.settings import repo_root
from streams.ingest.encoder import encode_frame
from streams.ingest.frames import DecodedFrame
from streams.ingest.masks import apply_masks

MASKS = (
    ((0.0, 0.0), (0.3, 0.0), (0.3, 0.2), (0.0, 0.2)),
    ((0.6, 0.1), (0.9, 0.1), (0.95, 0.4), (0.7, 0.5)),
    ((0.4, 0.7), (0.5, 0.65), (0.6, 0.8), (0.45, 0.9), (0.35, 0.85)),
)


def _median_ms(fn: Callable[[], object], n: int = 200) -> float:
    xs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(xs)


def main() -> int:
    shared = Path(os.environ.get("ITS_SHARED_DIR") or repo_root().parent / "shared")
    clip = sys.argv[1] if len(sys.argv) > 1 else str(shared / "data" / "highway_overpass_720p.mp4")
    with av.open(clip) as c:
        img = next(c.decode(video=0)).to_ndarray(format="bgr24")
    h, w = img.shape[:2]
    jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    df = DecodedFrame(t=0.0, pts_us=0, width=w, height=h, jpeg=jpeg)
    copy = _median_ms(img.copy)
    fill = _median_ms(lambda: apply_masks(img.copy(), MASKS)) - copy
    enc = _median_ms(lambda: cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90]))
    through = _median_ms(lambda: encode_frame(df, 0, 0, 90))
    masked = _median_ms(lambda: encode_frame(df, 0, 0, 90, MASKS))
    print(f"{w}x{h}, {len(MASKS)} masks, medians of 200 (ms):")
    print(f"  fillPoly alone                            {fill:8.3f}")
    print(f"  JPEG encode (for scale)                   {enc:8.3f}")
    print(f"  MJPEG frame, no mask (passed through)     {through:8.3f}")
    print(f"  MJPEG frame, masked (decode+mask+encode)  {masked:8.3f}  ({masked / max(enc, 1e-9):.1f}x a JPEG encode)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
