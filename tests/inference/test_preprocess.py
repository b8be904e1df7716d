import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inference import BadFrameError, decode_jpeg, letterbox, scale_boxes, to_batch


@pytest.mark.parametrize(
    ("hw", "imgsz", "rect", "expected"),
    [
        ((720, 1280), 640, True, (384, 640)),  # 360 rows padded to the next multiple of 32
        ((1080, 810), 640, True, (640, 480)),  # bus.jpg
        ((720, 1280), 320, True, (192, 320)),
        ((360, 640), 640, True, (384, 640)),  # upscaled x2 like Ultralytics (scaleup=True), then padded
        ((720, 1280), 640, False, (640, 640)),
        ((100, 100), 640, True, (640, 640)),
    ],
)
def test_letterbox_shapes(hw: tuple[int, int], imgsz: int, rect: bool, expected: tuple[int, int]) -> None:
    lb = letterbox(np.zeros((*hw, 3), np.uint8), imgsz, rect=rect)
    assert lb.shape == expected
    assert lb.orig_shape == hw


def test_letterbox_pads_with_grey_and_centres_the_image() -> None:
    lb = letterbox(np.full((720, 1280, 3), 255, np.uint8), 640)
    assert lb.image.shape == (384, 640, 3)
    assert (lb.image[:12] == 114).all() and (lb.image[-12:] == 114).all()
    assert (lb.image[12:372] == 255).all()


def test_to_batch_is_rgb_nchw_unit_range() -> None:
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    batch = to_batch([letterbox(img, 32)])
    assert batch.shape == (1, 3, 32, 32) and batch.dtype == np.float32
    assert batch[0, 2].max() == 1.0 and batch[0, 0].max() == 0.0  # blue ends up in channel 2 (RGB)


@given(
    h=st.integers(20, 2000),
    w=st.integers(20, 2000),
    imgsz=st.sampled_from([320, 640, 1280]),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
)
def test_scale_boxes_inverts_the_letterbox(h: int, w: int, imgsz: int, fx: float, fy: float) -> None:
    lb = letterbox(np.zeros((h, w, 3), np.uint8), imgsz)
    ih, iw = lb.shape
    gain = min(imgsz / h, imgsz / w)
    nw, nh = max(round(w * gain), 1), max(round(h * gain), 1)
    left, top = round((iw - nw) / 2 - 0.1), round((ih - nh) / 2 - 0.1)
    # a point at (fx, fy) of the original maps into the letterbox and back
    px, py = left + fx * nw, top + fy * nh
    back = scale_boxes(np.array([[px, py, px, py]], np.float32), lb.shape, (h, w))[0]
    assert abs(back[0] - fx * w) < 0.01 * w + 1e-3
    assert abs(back[1] - fy * h) < 0.01 * h + 1e-3


@pytest.mark.parametrize("data", [b"", b"not a jpeg", b"\xff\xd8\xff\xe0" + bytes(100)])
def test_corrupt_jpeg_raises_bad_frame_with_the_fix(data: bytes) -> None:
    with pytest.raises(BadFrameError, match="not a decodable JPEG"):
        decode_jpeg(data)
