-- Backpressure (issue 19): a statistics window says how many of its frames never reached analytics
-- (missing_frames: expired from the frames topic while inference was behind, dead-lettered upstream) and how many
-- were counted from detections produced long after capture (stale_frames); complete is false when either is not
-- 0. Windows projected before keep the defaults: nothing was measured then.
ALTER TABLE traffic_stats
    ADD COLUMN missing_frames bigint  NOT NULL DEFAULT 0,
    ADD COLUMN stale_frames   bigint  NOT NULL DEFAULT 0,
    ADD COLUMN complete       boolean NOT NULL DEFAULT true;
