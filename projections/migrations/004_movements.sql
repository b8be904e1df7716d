-- Turning movements (issue 17): a vehicle tracked from one approach zone into another (its.movements.v1,
-- TurningMovement). movement_id is deterministic, so replays are no-ops.
CREATE TABLE movement_events (
    movement_id          text PRIMARY KEY,
    camera_id            text             NOT NULL,
    track_id             bigint           NOT NULL,
    origin_zone_id       text             NOT NULL,
    origin_name          text             NOT NULL,
    destination_zone_id  text             NOT NULL,
    destination_name     text             NOT NULL,
    class_name           text             NOT NULL,
    class_id             integer          NOT NULL,
    confidence           double precision NOT NULL,
    frame_seq            bigint           NOT NULL,
    entered_at           timestamptz      NOT NULL,  -- first seen in the origin zone
    moved_at             timestamptz      NOT NULL,  -- first seen in the destination zone
    speed_kmh            double precision
);
CREATE INDEX movement_events_camera_time ON movement_events (camera_id, moved_at DESC, movement_id DESC);

-- Movements per camera, minute of moved_at, origin, destination and class: the movements API sums these into
-- 1m/15m/1h/1d origin-destination matrices. Maintained from the movement events that were new in a batch.
CREATE TABLE movement_counts_minute (
    camera_id            text        NOT NULL,
    minute               timestamptz NOT NULL,
    origin_zone_id       text        NOT NULL,
    destination_zone_id  text        NOT NULL,
    class_name           text        NOT NULL,
    origin_name          text        NOT NULL,  -- the names of the latest event (zones can be renamed)
    destination_name     text        NOT NULL,
    vehicles             bigint      NOT NULL,
    PRIMARY KEY (camera_id, minute, origin_zone_id, destination_zone_id, class_name)
);

