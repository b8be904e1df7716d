"""Degraded versions of the shared clips, for `itscam bench counting --conditions` (issue 20).

No new footage: each condition is made from a clip, frame by frame, with fixed seeds, and re-encoded nearly
losslessly (H.264, CRF 10) so what the pipeline sees is the condition, not our encoder. The hand counts stay the
clip's: the vehicles and the line are the same, only the picture is worse.

- `rain`: rain streaks (thin bright slanted lines, a new layer every frame, falling) over a veil of spray: contrast
  down by a quarter, a grey haze, and blotchy spray heavier towards the bottom of the frame, where wheels throw it.
- `jpeg30`: every frame through JPEG at quality 30 (blocking, smeared edges), as a starved camera link sends it.
- `lowlight`: gamma 2.5 and half the gain: dusk, unlit road.
- `blur`: motion blur, 9 px along the frame's vertical (the shared clips' traffic moves mostly up and down it).
- `noise`: Gaussian sensor noise, sigma 12 grey levels.
- `fps5`: the clean clip sampled at 5 fps instead of 10 (the pipeline's and the peer's frames alike).
- `360p`: downscaled to 360 lines (the line scaled with it); the urban clip is 360p already.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bench.counting import Clip

__all__ = ["CONDITIONS", "SETTINGS", "degrade", "degraded_clip", "run_conditions"]

Image = npt.NDArray[Any]  # BGR uint8

CONDITIONS = ("clean", "rain", "jpeg30", "lowlight", "blur", "noise", "fps5", "360p")
#: what each condition does, as written into the results
SETTINGS = {
    "clean": "the clip as shared",
    "rain": "streaks: 1 per 400 px, 12-28 px long, 70-80 deg, 1 px, +90 grey; spray: contrast x0.75, haze +40, "
    "blotches up to +60 growing to the bottom",
    "jpeg30": "JPEG quality 30 per frame",
    "lowlight": "gamma 2.5, gain 0.5",
    "blur": "motion blur 9 px, vertical",
    "noise": "Gaussian noise sigma 12",
    "fps5": "sampled at 5 fps",
    "360p": "downscaled to 360 lines",
}


def _rain(rng: np.random.Generator, shape: tuple[int, ...]) -> Callable[[Image, int], Image]:
    h, w = shape[:2]
    spray = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigmaX=max(w, h) / 60)
    spray = (spray - spray.min()) / max(float(spray.max() - spray.min()), 1e-6)
    spray *= np.linspace(0.3, 1.0, h, dtype=np.float32)[:, None]  # heavier towards the road, where wheels throw it

    def streaks(seed: int) -> npt.NDArray[Any]:
        r = np.random.default_rng(seed)
        layer = np.zeros((h, w), np.uint8)
        for _ in range(h * w // 400):
            x, y = int(r.integers(0, w)), int(r.integers(0, h))
            length, angle = r.uniform(12, 28), np.deg2rad(r.uniform(70, 80))
            cv2.line(layer, (x, y), (int(x + length * np.cos(angle)), int(y + length * np.sin(angle))), 255, 1)
        return cv2.GaussianBlur(layer, (3, 3), 0).astype(np.float32) / 255

    base = int(rng.integers(0, 2**31))

    def apply(img: Image, i: int) -> Image:
        f: npt.NDArray[np.float32] = img.astype(np.float32) * 0.75 + 40 + 60 * spray[:, :, None]
        f += 90 * streaks(base + i)[:, :, None]
        out: Image = np.clip(f, 0, 255).astype(np.uint8)
        return out

    return apply


def _jpeg30(img: Image, _i: int) -> Image:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)


_GAMMA = (255 * (np.arange(256) / 255) ** 2.5 * 0.5).astype(np.uint8)


def _lowlight(img: Image, _i: int) -> Image:
    return cv2.LUT(img, _GAMMA)


_BLUR = np.full((9, 1), 1 / 9, np.float32)


def _blur(img: Image, _i: int) -> Image:
    return cv2.filter2D(img, -1, _BLUR)


def _noise(rng: np.random.Generator) -> Callable[[Image, int], Image]:
    def apply(img: Image, _i: int) -> Image:
        noise = rng.standard_normal(img.shape, dtype=np.float32) * 12
        out: Image = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        return out

    return apply


def degrade(condition: str, rng: np.random.Generator, shape: tuple[int, ...]) -> Callable[[Image, int], Image] | None:
    """The per-frame transform of a picture condition (frame, index -> frame), or None for clean, fps5 and 360p."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    fixed: dict[str, Callable[[Image, int], Image]] = {"jpeg30": _jpeg30, "lowlight": _lowlight, "blur": _blur}
    if condition == "rain":
        return _rain(rng, shape)
    if condition == "noise":
        return _noise(rng)
    return fixed.get(condition)


def degraded_clip(clip: Clip, condition: str, out_dir: Path, seconds: float | None = None) -> Clip:
    """`clip` under `condition`, written once under `out_dir` (the clip itself for clean and fps5); with `seconds`,
    only its start. The line is scaled with the picture; the hand counts are the clip's."""
    import av

    if condition in ("clean", "fps5") and seconds is None:
        return clip
    scale = min(1.0, 360 / clip.height) if condition == "360p" else 1.0
    w, h = round(clip.width * scale / 2) * 2, round(clip.height * scale / 2) * 2
    path = out_dir / f"{Path(clip.name).stem}.{condition}{'' if seconds is None else f'.{seconds:g}s'}.mp4"
    seed = int.from_bytes(hashlib.sha256(f"{clip.name}/{condition}".encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    (x0, y0), (x1, y1) = clip.line
    out = replace(clip, path=path, width=w, height=h, line=((x0 * scale, y0 * scale), (x1 * scale, y1 * scale)))
    if path.is_file():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(clip.path)) as inp, av.open(str(tmp), "w") as dst:
        src = inp.streams.video[0]
        rate = Fraction(src.average_rate or 25).limit_denominator(1001)
        stream: Any = dst.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "10", "preset": "veryfast"}
        fn: Callable[[Image, int], Image] | None = None
        for i, frame in enumerate(inp.decode(video=0)):
            if seconds is not None and i >= seconds * float(rate):
                break
            img: Image = frame.to_ndarray(format="bgr24")
            if scale != 1.0:
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            if fn is None:
                fn = degrade(condition, rng, img.shape) or (lambda x, _i: x)
            vf = av.VideoFrame.from_ndarray(fn(img, i), format="bgr24")
            vf.pts, vf.time_base = i, 1 / rate
            for pkt in stream.encode(vf):
                dst.mux(pkt)
        for pkt in stream.encode(None):
            dst.mux(pkt)
    tmp.rename(path)
    return out


def run_conditions(
    args: Any, clips: list[Clip], bootstrap: str, model_path: str, clean: dict[str, Any]
) -> list[dict[str, Any]]:
    """Our count and the peer's on each clip under each condition (bench/conditions.py); clean is `clean`'s run."""
    from bench.counting import _print, measure
    from deploy.stack.settings import StackSettings

    wanted = CONDITIONS if args.conditions == "all" else ("clean", *args.conditions.split(","))
    unknown = [c for c in wanted if c not in CONDITIONS]
    if unknown:
        raise SystemExit(f"--conditions: unknown {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
    cache = StackSettings().home / "cache" / "conditions"
    rows = []
    for cond in dict.fromkeys(wanted):
        if cond == "clean":
            res = clean
        else:
            print(f"\ncondition {cond}: {SETTINGS[cond]}", flush=True)
            degraded = [degraded_clip(c, cond, cache) for c in clips]
            fps = 5.0 if cond == "fps5" else args.fps
            res = measure(degraded, bootstrap, fps, args.imgsz, model_path, peer=not args.no_peer)
            _print(res)
        for r in res["clips"]:
            keys = ("clip", "ours", "truth", "peer", "ours_error_pct", "peer_error_pct", "fps", "imgsz", "frames")
            rows.append({"condition": cond, "settings": SETTINGS[cond]} | {k: r[k] for k in keys})
    _print_conditions(rows)
    return rows


def _print_conditions(rows: list[dict[str, Any]]) -> None:
    print(f"\n  {'clip':34} {'condition':10} {'ours':>5} {'truth':>5} {'peer':>5}  within 10 %  closer than peer")
    for r in rows:
        peer = "-" if r["peer"] is None else str(r["peer"])
        ok = abs(r["ours"] - r["truth"]) <= 0.1 * r["truth"]
        ours, peer_off = abs(r["ours"] - r["truth"]), None if r["peer"] is None else abs(r["peer"] - r["truth"])
        closer = "-" if peer_off is None else "yes" if ours < peer_off else "tie" if ours == peer_off else "no"
        print(
            f"  {r['clip']:34} {r['condition']:10} {r['ours']:5d} {r['truth']:5d} {peer:>5}  "
            f"{'yes' if ok else 'NO':11}  {closer}"
        )
