-- API keys can expire (`itscam keys create --expires-in 30d`): the API refuses a key from expires_at on (401),
-- cached or not. NULL: the key does not expire.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;
