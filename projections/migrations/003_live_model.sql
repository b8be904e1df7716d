-- The ModelInfo of each camera's latest frame, so the Redis live document (its:live:{camera_id}) can be rebuilt from
-- PostgreSQL alone (frames keep only the model's name and sha256).
ALTER TABLE cameras ADD COLUMN last_model jsonb;
