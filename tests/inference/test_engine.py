"""TensorRT engines: the build config, calibration batches and engine IO checks everywhere; the build and the
backend itself only where TensorRT and a CUDA GPU exist (they skip, with the reason, elsewhere)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from inference.backends import OnnxRuntimeBackend, PostParams, check_model
from inference.backends.tensorrt import (
    TensorRTBackend,
    TensorSpec,
    check_batch,
    check_engine_io,
    output_shape,
    parse_cuda_device,
    read_engine_metadata,
)
from inference.detector import Detector
from inference.engine import (
    EngineConfig,
    build_engine,
    calibration_images,
    iter_calibration_batches,
    profile_shapes,
)
from inference.errors import InferenceError, ModelLoadError
from inference.model import ModelMetadata, file_sha256, metadata_path
from inference.preprocess import decode_jpeg, letterbox, to_batch
from tests.conftest import MODEL


def _has_trt_gpu() -> bool:
    try:
        import tensorrt  # noqa: F401

        from inference.backends.tensorrt import _Cuda

        return _Cuda().device_count() > 0
    except Exception:  # no tensorrt, no cuda-python, or no driver: all mean "not here"
        return False


needs_gpu = pytest.mark.skipif(not _has_trt_gpu(), reason="needs TensorRT and a CUDA GPU; none on this machine")
trt_installed = importlib.util.find_spec("tensorrt") is not None


# -- EngineConfig ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "names", "fix"),
    [
        ({"height": 380}, "EngineConfig.height is 380", "Use 384"),
        ({"width": 0}, "EngineConfig.width is 0", "Use 32"),
        ({"width": -64}, "EngineConfig.width is -64", "multiple of 32"),
        ({"min_batch": 0}, "min_batch=0", "1 <= min_batch <= opt_batch <= max_batch"),
        ({"opt_batch": 8, "max_batch": 4}, "opt_batch=8, max_batch=4", "ITS_INFERENCE_MAX_BATCH"),
        ({"min_batch": 3, "opt_batch": 2}, "min_batch=3, opt_batch=2", "1 <= min_batch"),
        ({"workspace_gb": 0}, "EngineConfig.workspace_gb is 0", "Use 4"),
        ({"calibration_batches": 0}, "EngineConfig.calibration_batches is 0", "Use 16"),
        ({"int8": True}, "EngineConfig.int8 is True but calibration is None", "folder of JPEG frames"),
        ({"int8": True, "calibration": []}, "EngineConfig.int8 is True but calibration is ()", "folder of JPEG"),
    ],
)
def test_engine_config_rejects_bad_fields_naming_the_field_and_the_fix(
    kwargs: dict[str, Any], names: str, fix: str
) -> None:
    args: dict[str, Any] = {"height": 384, "width": 640, "opt_batch": 2, "max_batch": 4} | kwargs
    with pytest.raises(ModelLoadError) as e:
        EngineConfig(**args)
    assert names in str(e.value) and fix in str(e.value)


def test_engine_config_keeps_a_calibration_list_hashable() -> None:
    cfg = EngineConfig(640, 640, int8=True, calibration=["a.jpg", "b.jpg"])
    assert cfg.calibration == ("a.jpg", "b.jpg")
    assert hash(cfg) == hash(replace(cfg))
    assert cfg.precision == "int8" and EngineConfig(640, 640).precision == "fp16"
    assert EngineConfig(640, 640, fp16=False).precision == "fp32"


@pytest.mark.parametrize(
    ("imgsz", "aspect", "hw"),
    [
        (640, (16, 9), (384, 640)),  # round(360) -> 384
        (640, None, (640, 640)),
        (1280, (16, 9), (736, 1280)),
        (320, (16, 9), (192, 320)),
        (640, (4, 3), (480, 640)),
        (640, (9, 16), (640, 384)),  # a portrait camera
    ],
)
def test_for_imgsz_gives_the_cameras_letterbox_shape(
    imgsz: int, aspect: tuple[int, int] | None, hw: tuple[int, int]
) -> None:
    cfg = EngineConfig.for_imgsz(imgsz, aspect)
    assert (cfg.height, cfg.width) == hw
    if aspect is not None:  # what the detector's rect letterbox gives such a camera's frames
        aw, ah = aspect
        assert letterbox(np.zeros((ah * 120, aw * 120, 3), np.uint8), imgsz, rect=True).shape == hw


def test_for_imgsz_tunes_for_half_the_max_batch_unless_told() -> None:
    cfg = EngineConfig.for_imgsz(640, max_batch=64)
    assert (cfg.min_batch, cfg.opt_batch, cfg.max_batch) == (1, 32, 64)
    assert EngineConfig.for_imgsz(640, max_batch=4, opt_batch=4).opt_batch == 4


@pytest.mark.parametrize(("imgsz", "aspect", "names"), [(600, (16, 9), "imgsz is 600"), (640, (0, 9), "aspect")])
def test_for_imgsz_rejects_bad_sizes(imgsz: int, aspect: tuple[int, int], names: str) -> None:
    with pytest.raises(ModelLoadError, match=names):
        EngineConfig.for_imgsz(imgsz, aspect)


def test_profile_shapes_are_min_opt_max_nchw() -> None:
    cfg = EngineConfig(384, 640, min_batch=1, opt_batch=2, max_batch=4)
    assert profile_shapes(cfg) == {"images": ((1, 3, 384, 640), (2, 3, 384, 640), (4, 3, 384, 640))}
    assert list(profile_shapes(cfg, "input")) == ["input"]


# -- calibration ----------------------------------------------------------------------------------------------


@pytest.fixture
def jpegs(tmp_path: Path) -> Callable[..., list[Path]]:
    """Factory: JPEG frames of the given (h, w) sizes, each a different gradient, in a fresh folder."""

    def make(*sizes: tuple[int, int]) -> list[Path]:
        folder = tmp_path / f"calib{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        paths = []
        for i, (h, w) in enumerate(sizes):
            y, x = np.mgrid[0:h, 0:w]
            img = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, 40 * i)], -1).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            path = folder / f"frame{i:03d}.jpg"
            path.write_bytes(buf.tobytes())
            paths.append(path)
        return paths

    return make


def test_calibration_images_lists_a_folders_jpegs(jpegs: Callable[..., list[Path]]) -> None:
    paths = jpegs((72, 128), (72, 128))
    (paths[0].parent / "notes.txt").write_text("not an image")
    assert calibration_images(str(paths[0].parent)) == paths
    assert calibration_images([str(p) for p in paths]) == paths


def test_calibration_images_rejects_missing_or_empty_sets(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"Calibration folder .*nowhere does not exist"):
        calibration_images(str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match=r"holds no \.jpg/\.jpeg files"):
        calibration_images(str(tmp_path))
    with pytest.raises(ModelLoadError, match=r"gone\.jpg"):
        calibration_images([str(tmp_path / "gone.jpg")])


def test_calibration_batches_are_what_letterbox_and_to_batch_make(jpegs: Callable[..., list[Path]]) -> None:
    # all under twice the input size: the detector decodes them at full scale too
    paths = jpegs((360, 640), (480, 640), (300, 300), (700, 1000), (200, 500))
    cfg = EngineConfig(384, 640, opt_batch=2, max_batch=4)
    batches = list(iter_calibration_batches(paths, cfg))
    assert len(batches) == 2  # 5 frames -> two full batches of opt_batch; the fifth is left out
    for b, batch in enumerate(batches):
        assert batch.shape == (2, 3, 384, 640) and batch.dtype == np.float32
        assert batch.min() >= 0.0 and batch.max() <= 1.0
        items = [letterbox(decode_jpeg(p.read_bytes()), shape=(384, 640), rect=False) for p in paths[2 * b : 2 * b + 2]]
        np.testing.assert_array_equal(batch, to_batch(items))
    assert np.isclose(batches[0][1, :, 0, 0], 114 / 255).all()  # the 480x640 frame is padded left and right


def test_calibration_of_a_large_frame_matches_the_detector_input_fake_engine_backend(
    jpegs: Callable[..., list[Path]],
) -> None:
    # A 1080p frame is decoded at reduced scale by the detector; calibration must see the same pixels.
    (path,) = jpegs((1080, 1920))
    engine_like: Any = SimpleNamespace(fixed_hw=(384, 640))  # stands in for a TensorRT engine (no GPU here)
    prepared = Detector(engine_like, imgsz=640).prepare_jpeg(path.read_bytes())
    (batch,) = iter_calibration_batches([path], EngineConfig(384, 640, opt_batch=1, max_batch=1))
    np.testing.assert_array_equal(batch, to_batch([prepared.letterbox]))


def test_calibration_stops_after_calibration_batches_and_needs_one_full_batch(
    jpegs: Callable[..., list[Path]],
) -> None:
    paths = jpegs(*[(64, 64)] * 5)
    assert len(list(iter_calibration_batches(paths, EngineConfig(64, 64, opt_batch=1, calibration_batches=3)))) == 3
    with pytest.raises(ModelLoadError, match="5 images, fewer than one batch of opt_batch=8"):
        iter_calibration_batches(paths, EngineConfig(64, 64, opt_batch=8))


# -- engine IO and batches ------------------------------------------------------------------------------------

_IN = TensorSpec("images", True, (-1, 3, 384, 640), "float32")
_OUT = TensorSpec("output0", False, (-1, 84, 5040), "float32")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_check_engine_io_accepts_a_yolo11_engine(dtype: str) -> None:
    inp, out = replace(_IN, dtype=dtype), replace(_OUT, dtype=dtype)
    assert check_engine_io("yolo11n.engine", [out, inp], 80) == (inp, out)
    assert check_engine_io("yolo11n.engine", [replace(inp, shape=(4, 3, 384, 640)), out], None) == (
        replace(inp, shape=(4, 3, 384, 640)),
        out,
    )


@pytest.mark.parametrize(
    ("tensors", "names"),
    [
        ([_IN, _OUT, replace(_OUT, name="output1")], "1 inputs and 2 outputs"),
        ([replace(_IN, shape=(-1, 3, -1, -1)), _OUT], "fixed height and width"),
        ([replace(_IN, shape=(-1, 1, 384, 640)), _OUT], "[batch, 3, height, width]"),
        ([_IN, replace(_OUT, shape=(-1, 85, 5040))], "4 + 80 = 84"),
        ([_IN, replace(_OUT, shape=(-1, 84, 8400))], "input 384x640 returns [-1, 4 + 80 = 84, 5040]"),
        ([_IN, replace(_OUT, shape=(-1, 84))], "returns output0 [-1, 84]"),
        ([replace(_IN, dtype="int8"), _OUT], "int8 tensor images"),
    ],
)
def test_check_engine_io_rejects_non_yolo11_engines_naming_the_file(tensors: list[TensorSpec], names: str) -> None:
    with pytest.raises(ModelLoadError) as e:
        check_engine_io("/models/yolo11n.engine", tensors, 80)
    msg = str(e.value)
    assert names in msg and "/models/yolo11n.engine" in msg and "itscam model export --format engine" in msg


def test_output_shape_is_what_the_onnx_model_returns() -> None:
    assert output_shape(80, 4, 384, 640) == (4, 84, 5040)
    assert output_shape(80, 1, 640, 640) == (1, 84, 8400)
    raw = OnnxRuntimeBackend(str(MODEL)).run(np.full((2, 3, 384, 640), 114 / 255, np.float32))
    assert raw.shape == output_shape(80, 2, 384, 640)


def test_check_batch_names_the_engines_shape_and_limit() -> None:
    assert check_batch((3, 3, 384, 640), (384, 640), 4, "e.engine") == 3
    with pytest.raises(InferenceError, match=r"\[n, 3, 384, 640\].*got \[1, 3, 640, 640\]"):
        check_batch((1, 3, 640, 640), (384, 640), 4, "e.engine")
    with pytest.raises(InferenceError, match="batches of 1 to 4 images; got 5"):
        check_batch((5, 3, 384, 640), (384, 640), 4, "e.engine")


@pytest.mark.parametrize(("device", "index"), [("cuda", 0), ("cuda:0", 0), ("cuda:1", 1)])
def test_parse_cuda_device(device: str, index: int) -> None:
    assert parse_cuda_device(device) == index


@pytest.mark.parametrize("device", ["cpu", "cuda:x", "mps"])
def test_parse_cuda_device_rejects_non_cuda_devices(device: str) -> None:
    with pytest.raises(ModelLoadError, match="ITS_INFERENCE_DEVICE"):
        parse_cuda_device(device)


def test_read_engine_metadata_needs_the_file_and_its_sidecar(tmp_path: Path) -> None:
    engine = tmp_path / "yolo11n.engine"
    with pytest.raises(ModelLoadError, match=r"yolo11n\.engine does not exist"):
        read_engine_metadata(engine)
    engine.write_bytes(b"not really an engine")
    with pytest.raises(ModelLoadError, match=r"no metadata file yolo11n\.engine\.meta\.json.*--format engine"):
        read_engine_metadata(engine)
    meta = ModelMetadata("yolo11n", "v1", file_sha256(engine), 640, ["car"], format="engine", precision="fp16")
    meta.write(engine)
    assert metadata_path(engine).is_file() and read_engine_metadata(engine) == meta


@pytest.mark.skipif(trt_installed, reason="TensorRT is installed here; this checks the message where it is not")
def test_without_tensorrt_the_backend_and_the_build_say_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"pip install tensorrt.*\.\[gpu\].*GPU"):
        TensorRTBackend(str(tmp_path / "yolo11n.engine"))
    with pytest.raises(ModelLoadError, match=r"pip install tensorrt"):
        build_engine(MODEL, tmp_path / "yolo11n.engine", EngineConfig(384, 640))


# -- on a GPU -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TensorRTBackend]:
    import tensorrt as trt

    # TensorRT 11 dropped the FP16 builder flag (precision comes from the ONNX types), and yolo11n.onnx is FP32.
    fp16 = hasattr(trt.BuilderFlag, "FP16")
    cfg = EngineConfig(384, 640, min_batch=1, opt_batch=2, max_batch=4, fp16=fp16)
    path = build_engine(MODEL, tmp_path_factory.mktemp("trt") / "yolo11n.engine", cfg)
    backend = TensorRTBackend(str(path))
    yield backend
    backend.close()


# TensorRT 10.x deprecates the weakly typed FP16 flag the build uses; its warnings are not ours to fix.
ignore_trt_deprecations = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@needs_gpu
@ignore_trt_deprecations
@pytest.mark.parametrize("n", [1, 3, 4])
def test_engine_runs_batches_up_to_its_profile_max(engine: TensorRTBackend, n: int) -> None:
    assert (engine.fixed_hw, engine.max_batch, engine.meta.format) == ((384, 640), 4, "engine")
    assert len(engine.meta.class_names) == 80 and engine.meta.precision in ("fp16", "fp32")
    assert engine.meta.toolchain["tensorrt"] and engine.meta.source.startswith("yolo11n.onnx@")
    raw = engine.run(np.full((n, 3, 384, 640), 114 / 255, np.float32))
    assert raw.shape == output_shape(80, n, 384, 640) and raw.dtype == np.float32
    check_model(engine, 640)
    with pytest.raises(InferenceError, match="1 to 4"):
        engine.run(np.zeros((5, 3, 384, 640), np.float32))


@needs_gpu
@ignore_trt_deprecations
def test_engine_boxes_match_onnx_runtime_on_a_real_image(
    engine: TensorRTBackend, test_image: Callable[[str], Path]
) -> None:
    img = decode_jpeg(test_image("zidane.jpg").read_bytes())
    lb = letterbox(img, shape=(384, 640), rect=False)
    batch = to_batch([lb, lb])
    params = PostParams()
    ort = OnnxRuntimeBackend(str(MODEL))
    want = ort.decode(ort.run(batch), lb.shape, [lb.orig_shape] * 2, params)
    got = engine.decode(engine.run(batch), lb.shape, [lb.orig_shape] * 2, params)
    for w, g in zip(want, got, strict=True):
        assert len(w) >= 3 and len(g) == len(w)  # zidane: two people and a tie, well above conf 0.25
        for box in w:  # FP16 moves boxes a little: each ORT box has a TensorRT twin of its class within 4 px
            same = g[g[:, 5] == box[5]]
            assert len(same) and np.abs(same[:, :4] - box[:4]).max(1).min() < 4, (box, g)
