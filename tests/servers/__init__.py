"""Real streaming servers on 127.0.0.1 for the camera-ingest tests (RTSP, MJPEG, HLS, broken streams, dead hosts).

Every server is a context manager: it picks a free loopback port, waits until it really answers, exposes `.url`,
and on exit stops its threads or processes and closes its sockets.
"""

from __future__ import annotations

from tests.servers.http_streams import GarbageServer, HlsServer, MjpegServer, NotVideoServer, ResolutionChangeServer
from tests.servers.rtsp import RtspServer, RtspServerError, rtsp_request_status
from tests.servers.sockets import BlackholeServer, refused_url

__all__: list[str] = [
    "BlackholeServer",
    "GarbageServer",
    "HlsServer",
    "MjpegServer",
    "NotVideoServer",
    "ResolutionChangeServer",
    "RtspServer",
    "RtspServerError",
    "refused_url",
    "rtsp_request_status",
]
