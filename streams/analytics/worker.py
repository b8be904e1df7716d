"""Runs the analytics deployable: checks, camera follower, then the Faust worker until SIGTERM/SIGINT."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import socket
import sys
import time

import faust
from prometheus_client import start_http_server

from streams.analytics.app import build_app, check_copartitioning
from streams.analytics.cameras import CameraFollower
from streams.analytics.settings import AnalyticsSettings
from streams.analytics.statelog import changelog_topic, ensure_changelog
from streams.analytics.tracking import warm_up

__all__ = ["run"]

log = logging.getLogger(__name__)

#: the worker's garbage-collector thresholds (CPython's default: 700, 10, 10)
GC_THRESHOLDS = (20_000, 50, 50)


def run(s: AnalyticsSettings) -> int:
    partitions = check_copartitioning(s)
    started = time.monotonic()
    warm_up()
    # Each event allocates a few hundred short-lived objects (Faust's, aiokafka's, ours) and almost no cycles: at
    # CPython's default threshold (700) a young collection ran every several events. Collect far less often; freeze
    # what start-up made (modules, the compiled kernels) so older collections do not walk it again.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    log.info("tracker kernels ready in %.1f s", time.monotonic() - started)
    ensure_changelog(s.kafka_bootstrap, changelog_topic(s.app_id), partitions)
    if s.metrics_port:
        start_http_server(s.metrics_port, addr=s.metrics_host)
    cameras = CameraFollower(s.kafka_bootstrap, s.cameras_topic)
    if not cameras.sync(60):
        log.warning("camera topic not caught up after 60 s; starting anyway")
    # Faust's own folder, one per process (the camera states are read from the changelog, statelog.py).
    s = s.model_copy(update={"data_dir": s.data_dir / (s.worker_name or f"{socket.gethostname()}-{os.getpid()}")})
    shutil.rmtree(s.data_dir, ignore_errors=True)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(s, cameras, partitions)
    log.info("analytics: %d partitions, data %s", partitions, s.data_dir)
    # Faust (mode) replaces the root handlers with its own plain console handler: give it ours back, so the
    # worker's lines stay JSON and redacted (itscam/logs.py) like every other deployable's.
    ours = list(logging.getLogger().handlers)
    keep = {"version": 1, "disable_existing_loggers": False, "root": {"level": "INFO", "handlers": []}}
    if ours:
        app.conf.loghandlers = ours  # faust.Worker hands the app's loghandlers to mode
    worker = faust.Worker(
        app, loglevel="INFO", quiet=True, redirect_stdouts=False, logging_config=keep if ours else None
    )
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        cameras.close()
        shutil.rmtree(s.data_dir, ignore_errors=True)
    # Faust leaves its consumer thread (not a daemon) behind once its loop is closed, and the interpreter would wait
    # for it at exit: everything is committed and closed by now, so leave without waiting.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
