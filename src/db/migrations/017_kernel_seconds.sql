-- The seconds of a traffic rollup in which the data plane's counters were read. The proxy is
-- sampled also while the data plane is disabled; those seconds carry no kernel figures, and the
-- kernel's rates must say "not measured" (null) rather than 0 for them. Rows written before this
-- migration were all sampled from the kernel.
ALTER TABLE traffic_rollups ADD COLUMN kernel_seconds INTEGER NOT NULL DEFAULT 0;
UPDATE traffic_rollups SET kernel_seconds = seconds;
