-- Read models of the walking skeleton. Every table can be rebuilt by replaying the topics.

CREATE TABLE cameras (
    camera_id          text PRIMARY KEY,
    first_seen_at      timestamptz NOT NULL,  -- captured_at of the earliest frame projected
    last_seen_at       timestamptz NOT NULL,  -- captured_at of the latest frame projected
    last_frame_seq     bigint      NOT NULL,
    frames             bigint      NOT NULL DEFAULT 0,
    detections         bigint      NOT NULL DEFAULT 0,
    last_projected_at  timestamptz NOT NULL
);

-- One row per frame that went through inference. The key makes re-projection idempotent.
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
);
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
);

-- Per camera, per minute of captured_at: frames seen and detections per class.
CREATE TABLE frames_minute (
    camera_id  text        NOT NULL,
    minute     timestamptz NOT NULL,
    frames     bigint      NOT NULL,
    PRIMARY KEY (camera_id, minute)
);
CREATE TABLE class_counts_minute (
    camera_id   text        NOT NULL,
    minute      timestamptz NOT NULL,
    class_name  text        NOT NULL,
    detections  bigint      NOT NULL,
    PRIMARY KEY (camera_id, minute, class_name)
);

-- Consumer offsets stored with the rows they produced (same transaction): the projector seeks to
-- these on partition assignment, so a crash never double-counts or skips.
CREATE TABLE projection_offsets (
    consumer_group  text        NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    next_offset     bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
