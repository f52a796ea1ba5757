-- Traffic per backend by class, from the kernel's per-backend counters (pp_backend_ctr): TCP SYN
-- without ACK, other TCP (ACKs, data, FIN, RST), UDP, ICMP and ICMPv6, IP fragments; packets
-- received and dropped. Rows written before this migration count 0 for every class.
ALTER TABLE traffic_rollups ADD COLUMN syn_packets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN syn_drops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN ack_packets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN ack_drops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN udp_packets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN udp_drops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN icmp_packets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN icmp_drops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN frag_packets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE traffic_rollups ADD COLUMN frag_drops INTEGER NOT NULL DEFAULT 0;
