-- The read side of every event topic (issue 6). Read models are projections of the Kafka log: `itscam rebuild`
-- replays the topics into fresh tables, so this migration recreates frames/detections partitioned by day instead
-- of copying rows (a deployment that had them rebuilds them from its.detections.v1).

-- cameras: the desired configuration from its.cameras.v1 (commands the API appends) and the activity seen in
-- its.detections.v1. A camera row exists once either side has spoken of it.
ALTER TABLE cameras
    ALTER COLUMN first_seen_at DROP NOT NULL,
    ALTER COLUMN last_seen_at DROP NOT NULL,
    ALTER COLUMN last_frame_seq DROP NOT NULL,
    ALTER COLUMN last_projected_at DROP NOT NULL,
    ADD COLUMN name               text,
    ADD COLUMN source_url         text,
    ADD COLUMN protocol           text,
    ADD COLUMN target_fps         double precision,
    ADD COLUMN enabled            boolean,
    ADD COLUMN config             jsonb,        -- the whole CameraConfig as JSON (lines, zones, calibration ...)
    ADD COLUMN config_updated_at  timestamptz,  -- CameraConfig.updated_at of the config applied
    ADD COLUMN deleted_at         timestamptz,  -- Kafka timestamp of the tombstone; NULL while configured
    ADD COLUMN counts_partition   integer,      -- its.vehicle-events.v1 partition and offset of the last vehicle
    ADD COLUMN counts_offset      bigint;       -- event applied: rebuilding Redis counters from PostgreSQL sets these

-- Latest health of each camera (its.camera-status.v1); newer changed_at wins.
CREATE TABLE camera_status (
    camera_id        text PRIMARY KEY,
    status           text             NOT NULL,
    previous         text,
    reason           text             NOT NULL,
    error            text,
    changed_at       timestamptz      NOT NULL,
    last_frame_at    timestamptz,
    measured_fps     double precision NOT NULL,
    target_fps       double precision NOT NULL,
    width            integer,
    height           integer,
    reconnects       bigint           NOT NULL,
    frames_produced  bigint           NOT NULL,
    frames_dropped   bigint           NOT NULL,
    worker           text             NOT NULL,
    source           text             NOT NULL
);

-- One row per VehicleCounted (its.vehicle-events.v1); event_id is deterministic, so replays are no-ops.
CREATE TABLE vehicle_events (
    event_id     text PRIMARY KEY,
    camera_id    text             NOT NULL,
    line_id      text             NOT NULL,
    line_name    text             NOT NULL,
    track_id     bigint           NOT NULL,
    direction    text             NOT NULL,  -- IN | OUT
    motion       text             NOT NULL,  -- UP | DOWN | LEFT | RIGHT
    class_name   text             NOT NULL,
    class_id     integer          NOT NULL,
    confidence   double precision NOT NULL,
    frame_seq    bigint           NOT NULL,
    crossed_at   timestamptz      NOT NULL,
    x            double precision NOT NULL,
    y            double precision NOT NULL,
    speed_kmh    double precision
);
-- Cursor pagination: (crossed_at, event_id) per camera, newest first.
CREATE INDEX vehicle_events_camera_time ON vehicle_events (camera_id, crossed_at DESC, event_id DESC);

-- Vehicles counted per camera, minute of crossed_at, line, class and direction: the counts API sums these into
-- 1m/15m/1h/1d buckets. Maintained from the vehicle events that were new in a batch.
CREATE TABLE vehicle_counts_minute (
    camera_id   text             NOT NULL,
    minute      timestamptz      NOT NULL,
    line_id     text             NOT NULL,
    class_name  text             NOT NULL,
    direction   text             NOT NULL,
    vehicles    bigint           NOT NULL,
    speed_sum   double precision NOT NULL DEFAULT 0,  -- sum of the known speeds (km/h)
    speed_n     bigint           NOT NULL DEFAULT 0,  -- how many vehicles had a speed
    PRIMARY KEY (camera_id, minute, line_id, class_name, direction)
);

-- TrafficStatsWindow (its.traffic-stats.v1): one row per camera window, its counts in traffic_stats_counts.
CREATE TABLE traffic_stats (
    camera_id       text             NOT NULL,
    window_start    timestamptz      NOT NULL,
    window_end      timestamptz      NOT NULL,
    frames          bigint           NOT NULL,
    vehicles        bigint           NOT NULL,
    mean_speed_kmh  double precision,
    speed_samples   bigint           NOT NULL,
    mean_occupancy  double precision NOT NULL,
    late_frames     bigint           NOT NULL,
    closed_by       text             NOT NULL,
    PRIMARY KEY (camera_id, window_start)
);
CREATE TABLE traffic_stats_counts (
    camera_id     text        NOT NULL,
    window_start  timestamptz NOT NULL,
    line_id       text        NOT NULL,
    class_name    text        NOT NULL,
    direction     text        NOT NULL,
    count         bigint      NOT NULL,
    PRIMARY KEY (camera_id, window_start, line_id, class_name, direction)
);

-- IncidentDetected (its.incidents.v1): OPEN then CLOSED with the same incident_id; CLOSED is final.
CREATE TABLE incidents (
    incident_id  text PRIMARY KEY,
    camera_id    text             NOT NULL,
    type         text             NOT NULL,
    state        text             NOT NULL,  -- OPEN | CLOSED
    started_at   timestamptz      NOT NULL,
    ended_at     timestamptz,
    track_id     bigint,
    class_name   text,
    line_id      text,
    zone_id      text,
    value        double precision,
    detail       text             NOT NULL
);
CREATE INDEX incidents_camera_started ON incidents (camera_id, started_at DESC);
CREATE INDEX incidents_open ON incidents (started_at DESC) WHERE state = 'OPEN';

-- Frames and detections: time-partitioned by day of captured_at (detections_pYYYYMMDD, frames_pYYYYMMDD), created
-- by the projector as days arrive and dropped by `itscam db retention`.
DROP TABLE detections;
DROP TABLE frames;
CREATE TABLE frames (
    camera_id     text        NOT NULL,
    captured_at   timestamptz NOT NULL,
    frame_seq     bigint      NOT NULL,
    width         integer     NOT NULL,
    height        integer     NOT NULL,
    model_name    text        NOT NULL,
    model_sha256  text        NOT NULL,
    n_detections  integer     NOT NULL,
    inference_ms  real        NOT NULL,
    produced_at   timestamptz NOT NULL,
    projected_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (camera_id, captured_at, frame_seq)
) PARTITION BY RANGE (captured_at);
CREATE INDEX frames_camera_seq ON frames (camera_id, frame_seq);
CREATE TABLE detections (
    camera_id    text        NOT NULL,
    captured_at  timestamptz NOT NULL,
    frame_seq    bigint      NOT NULL,
    idx          smallint    NOT NULL,
    class_id     smallint    NOT NULL,
    class_name   text        NOT NULL,
    confidence   real        NOT NULL,
    x1 real NOT NULL, y1 real NOT NULL, x2 real NOT NULL, y2 real NOT NULL,
    PRIMARY KEY (camera_id, captured_at, frame_seq, idx)
) PARTITION BY RANGE (captured_at);

-- The worker that last wrote each offset row (host-pid-uuid), for operators; fencing itself is a compare-and-set
-- on next_offset.
ALTER TABLE projection_offsets ADD COLUMN owner text;

-- API keys: `itscam keys create`. Only the SHA-256 of the secret is stored (keys are 256-bit random tokens, so a
-- fast hash is enough); the key id is the public prefix of the token.
CREATE TABLE api_keys (
    key_id               text PRIMARY KEY,
    name                 text        NOT NULL,
    secret_sha256        text        NOT NULL,
    scopes               text[]      NOT NULL,  -- read | ops | admin
    rate_per_minute      integer     NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    revoked_at           timestamptz
);

-- One row per API request (written in batches by the API).
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz      NOT NULL,
    key_id       text,
    method       text             NOT NULL,
    path         text             NOT NULL,
    route        text,
    query        text             NOT NULL,
    status       integer          NOT NULL,
    duration_ms  double precision NOT NULL,
    client       text,
    request_id   text             NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_key_at ON audit_log (key_id, at);
