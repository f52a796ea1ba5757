-- The proxy's figures in the traffic rollups, next to the data plane's: payload bytes each way,
-- connections and UDP sessions opened and closed, and refusals by cause. proxy_seconds counts the
-- seconds in which the proxy served the backend; where it is 0 these figures were not measured.
ALTER TABLE traffic_rollups ADD COLUMN proxy_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN bytes_from_clients INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN bytes_to_clients INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN connections_opened INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN connections_closed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN refused_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN refused_challenge INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN refused_routing INTEGER NOT NULL DEFAULT 0;
