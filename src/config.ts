// Configuration: TOML at /etc/pistonprotection/config.toml (or --config PATH), every key
// overridable by a PP_* environment variable, validated before anything starts.
// A wrong key or value is a ConfigError naming the key; the CLI turns it into exit code 2.
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { validateCronExpression } from "cron";

export const DEFAULT_CONFIG_PATH = "/etc/pistonprotection/config.toml";

const listen = (purpose: string) =>
	T.String({
		pattern: String.raw`^(\[[0-9a-fA-F:.]+\]|[^:\s]+):[0-9]{1,5}$`,
		description: `host:port or [v6]:port (${purpose})`,
	});
const size = (min: number, max: number, description: string) => T.Integer({ minimum: min, maximum: max, description });
const cidr = T.String({ pattern: "^[0-9a-fA-F:.]+/[0-9]{1,3}$", description: "a CIDR such as 10.0.0.0/8" });

export const ConfigSchema = T.Object(
	{
		server: T.Object(
			{
				https_listen: listen("API and web UI over TLS"),
				http_listen: listen("plain HTTP for local scripts; keep it on loopback"),
				grpc_listen: listen("gRPC API"),
				https_enabled: T.Boolean({ description: "serve the HTTPS listener" }),
				tls_cert: T.String({
					description: "PEM certificate; empty: self-signed, generated at first start",
				}),
				tls_key: T.String({ description: "PEM private key for tls_cert" }),
			},
			{ additionalProperties: false },
		),
		storage: T.Object(
			{
				data_dir: T.String({
					minLength: 1,
					description: "database, keys and certificates",
				}),
			},
			{ additionalProperties: false },
		),
		log: T.Object(
			{
				level: T.Union([T.Literal("debug"), T.Literal("info"), T.Literal("warn"), T.Literal("error")], {
					description: "minimum level written",
				}),
			},
			{ additionalProperties: false },
		),
		api: T.Object(
			{
				body_limit_bytes: size(1024, 64 * 1024 * 1024, "largest accepted request body; larger ones answer 400"),
				anonymous_tier: T.Union([T.Literal("FREE"), T.Literal("PRO"), T.Literal("BUSINESS"), T.Literal("ENTERPRISE")], {
					description: "rate-limit tier applied per source address to requests without credentials",
				}),
			},
			{ additionalProperties: false },
		),
		auth: T.Object(
			{
				refresh_token_ttl_seconds: size(300, 365 * 86_400, "lifetime of a refresh token (each use rotates it)"),
				session_ttl_seconds: size(300, 30 * 86_400, "lifetime of a web UI session cookie"),
				login_slow_after: size(1, 1000, "failed logins (per account and address) before each answer is delayed"),
				login_max_failures: size(1, 1000, "failed logins per account and address before that address is refused"),
				address_max_failures: size(1, 100_000, "failed logins from one address (any account) before it is refused"),
				login_lockout_seconds: size(1, 86_400, "how long a refused account/address stays refused"),
				invitation_ttl_seconds: size(300, 90 * 86_400, "lifetime of an invitation token"),
				oauth_code_ttl_seconds: size(10, 600, "lifetime of an OAuth authorization code"),
			},
			{ additionalProperties: false },
		),
		limits: T.Object(
			{
				max_backends: size(0, 1_000_000, "backends per organization"),
				max_domains_per_backend: size(0, 10_000, "domains per backend"),
				max_filter_rules: size(0, 1_000_000, "filter rules per organization"),
				max_bandwidth_bytes: T.Integer({ minimum: 0, description: "protected bytes per organization and month" }),
				max_requests: T.Integer({ minimum: 0, description: "protected requests per organization and month" }),
			},
			{ additionalProperties: false },
		),
		notify: T.Object(
			{
				smtp_host: T.String({ description: "SMTP server for EMAIL alerts; empty: EMAIL notifications are refused" }),
				smtp_port: size(1, 65535, "SMTP port"),
				smtp_secure: T.Boolean({ description: "TLS from the first byte (port 465); false uses STARTTLS when offered" }),
				smtp_user: T.String({ description: "SMTP user; empty: no authentication" }),
				smtp_password: T.String({ description: "SMTP password" }),
				smtp_from: T.String({ minLength: 3, description: "sender address of alert emails" }),
				pagerduty_events_url: T.String({
					pattern: "^https?://",
					description: "PagerDuty Events API v2 endpoint (point it at a relay on air-gapped sites)",
				}),
				alert_interval_seconds: size(1, 3600, "how often alert conditions are evaluated"),
			},
			{ additionalProperties: false },
		),
		dataplane: T.Object(
			{
				enabled: T.Boolean({
					description: "load the XDP program; false disables the data plane deliberately",
				}),
				interfaces: T.Array(T.String({ pattern: "^[A-Za-z0-9_.:@-]{1,15}$" }), {
					description: "interfaces to attach XDP to; nothing is attached when empty",
				}),
				xdp_mode: T.Union([T.Literal("auto"), T.Literal("native"), T.Literal("generic")], {
					description: "auto tries native and falls back to generic",
				}),
				syn_proxy: T.Boolean({
					description:
						"at HIGH and up, answer SYNs to TCP backends from XDP and complete them with the kernel's nftables SYNPROXY; false leaves SYN floods to the kernel's own SYN cookies",
				}),
				pin_path: T.String({
					pattern: "^/sys/fs/bpf/",
					description: "where maps are pinned",
				}),
				admin_networks: T.Array(cidr, {
					description: "sources that always reach the management ports",
				}),
				management_ports: T.Array(size(1, 65535, "port"), {
					maxItems: 8,
					description: "TCP ports (SSH, API/UI) that admin networks always reach",
				}),
				map_sizes: T.Object(
					{
						blocklist: size(16, 4_000_000, "block-list prefixes per family"),
						allowlist: size(16, 1_000_000, "allow-list prefixes per family"),
						bans: size(16, 4_000_000, "dynamic bans"),
						services: size(1, 65_536, "services (listener address, port, protocol)"),
						backends: size(2, 65_536, "backends (counters, buckets and rule sets per backend)"),
						rules: size(1, 65_536, "compiled filter rules"),
						source_sets: size(16, 4_000_000, "source-set prefixes per family"),
						rate_limit_sources: size(
							1024,
							16_000_000,
							"sources the kernel tracks: (backend, source) pairs in one table shared by all backends (rounded up to whole sets of 4), and as many rate-limit-rule buckets",
						),
					},
					{ additionalProperties: false },
				),
			},
			{ additionalProperties: false },
		),
		geoip: T.Object(
			{
				country_database: T.String({
					description: "country database (mmdb, or start,end,country CSV); empty: <data_dir>/geoip/country.mmdb",
				}),
				asn_database: T.String({
					description: "ASN database (mmdb, or start,end,asn,name CSV); empty: <data_dir>/geoip/asn.mmdb, else asn.csv",
				}),
				country_update_url: T.String({
					pattern: "^(https?://.+)?$",
					description: "URL of a country database (.mmdb, .mmdb.gz, .tar.gz or .csv) that updates fetch",
				}),
				asn_update_url: T.String({
					pattern: "^(https?://.+)?$",
					description: "URL of an ASN database that updates fetch",
				}),
				maxmind_account_id: T.String({ description: "MaxMind account ID for GeoLite2 downloads" }),
				maxmind_license_key: T.String({
					description: "MaxMind license key: updates fetch GeoLite2-Country and GeoLite2-ASN when no URL is set",
				}),
				update_schedule: T.String({
					minLength: 9,
					description: "cron expression of the scheduled update (only when a URL or license key is set)",
				}),
			},
			{ additionalProperties: false },
		),
		filters: T.Object(
			{
				timezone: T.String({
					minLength: 1,
					description: "IANA timezone in which filter rules' timeMatch days and minutes are read",
				}),
			},
			{ additionalProperties: false },
		),
		stats: T.Object(
			{
				rule_sample_seconds: size(1, 3600, "how often per-rule counters are stored for rule statistics"),
				rule_retention_days: size(1, 3650, "how long per-rule counter samples are kept"),
			},
			{ additionalProperties: false },
		),
		telemetry: T.Object(
			{
				live_seconds: size(60, 3600, "per-second history kept in memory (charts, streams, attack baselines)"),
				flush_seconds: size(1, 60, "how often the collector writes the open rollup buckets to SQLite"),
				source_scan_seconds: size(1, 300, "how often the source table is read for top sources and countries"),
				retention_minute_days: size(1, 365, "how long MINUTE rollups are kept"),
				retention_five_minutes_days: size(1, 3650, "how long FIVE_MINUTES rollups are kept"),
				retention_hour_days: size(1, 3650, "how long HOUR rollups are kept"),
				retention_day_days: size(1, 36_500, "how long DAY rollups are kept"),
				attack_retention_days: size(1, 36_500, "how long ended attacks are kept"),
				prometheus_enabled: T.Boolean({ description: "serve Prometheus text exposition at /metrics" }),
				prometheus_listen: T.String({
					pattern: String.raw`^$|^(\[[0-9a-fA-F:.]+\]|[^:\s]+):[0-9]{1,5}$`,
					description: "empty: /metrics on the loopback HTTP listener (server.http_listen) only; else its own listener",
				}),
				attack_min_pps: size(
					1,
					1_000_000_000,
					"received packets per second below which a backend is never under attack",
				),
				attack_dropped_pps: size(
					1,
					1_000_000_000,
					"dropped packets per second for a backend that start an attack on their own",
				),
				attack_baseline_factor: size(
					1,
					1000,
					"received pps above this multiple of the baseline (p95 of recent seconds) start an attack",
				),
				attack_start_seconds: size(1, 60, "consecutive seconds over a threshold before an attack starts"),
				attack_quiet_seconds: size(1, 3600, "seconds under every threshold before an attack ends"),
				escalation_level: T.Union(
					[T.Literal("LOW"), T.Literal("MEDIUM"), T.Literal("HIGH"), T.Literal("UNDER_ATTACK")],
					{
						description: "level a backend with protection.autoMitigate enabled (and no level of its own) is raised to",
					},
				),
			},
			{ additionalProperties: false },
		),
		proxy: T.Object(
			{
				enabled: T.Boolean({ description: "run the proxy: bind every backend's listeners and forward to origins" }),
				unknown_host_message: T.String({
					minLength: 1,
					maxLength: 1000,
					description: "disconnect message (and server-list text) for a hostname no backend serves",
				}),
				challenge_message: T.String({
					minLength: 1,
					maxLength: 1000,
					description: "disconnect message of a Minecraft challenge: the player reconnects to be let in",
				}),
				challenge_window_seconds: size(5, 3600, "a challenged player must reconnect within this long"),
				challenge_remember_seconds: size(60, 30 * 86_400, "how long a verified address skips the challenge"),
				challenge_allowlist: T.Boolean({
					description: "also put verified addresses on the backend's allow-list for challenge_remember_seconds",
				}),
				clearance_ttl_seconds: size(60, 30 * 86_400, "lifetime of the HTTP challenge's clearance cookie"),
				trusted_upstreams: T.Array(cidr, {
					description: "sources whose PROXY v2 header is believed (other proxies in front of this one)",
				}),
				udp_idle_timeout_seconds: size(1, 3600, "a UDP/QUIC client session without packets for this long ends"),
				max_connections_per_ip: size(
					0,
					1_000_000,
					"open proxied TCP connections and UDP sessions per source address; 0: unlimited",
				),
				sticky_ttl_seconds: size(1, 86_400, "how long a sticky session keeps its origin after its last connection"),
				status_timeout_ms: size(
					100,
					60_000,
					"a Minecraft status the origin has not answered in this long is answered from the cache",
				),
				status_cache_max_age_seconds: size(
					10,
					30 * 86_400,
					"oldest cached server-list status or RakNet pong still served",
				),
			},
			{ additionalProperties: false },
		),
	},
	{ additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;

export const DEFAULTS: Config = {
	server: {
		https_listen: "0.0.0.0:8443",
		http_listen: "127.0.0.1:8080",
		grpc_listen: "127.0.0.1:9090",
		https_enabled: true,
		tls_cert: "",
		tls_key: "",
	},
	storage: { data_dir: "./data" },
	log: { level: "info" },
	api: { body_limit_bytes: 1_048_576, anonymous_tier: "FREE" },
	auth: {
		refresh_token_ttl_seconds: 30 * 86_400,
		session_ttl_seconds: 12 * 3600,
		login_slow_after: 3,
		login_max_failures: 10,
		address_max_failures: 100,
		login_lockout_seconds: 900,
		invitation_ttl_seconds: 7 * 86_400,
		oauth_code_ttl_seconds: 60,
	},
	limits: {
		max_backends: 10,
		max_domains_per_backend: 5,
		max_filter_rules: 100,
		max_bandwidth_bytes: 10_995_116_277_760,
		max_requests: 1_000_000_000,
	},
	notify: {
		smtp_host: "",
		smtp_port: 587,
		smtp_secure: false,
		smtp_user: "",
		smtp_password: "",
		smtp_from: "pistonprotection@localhost",
		pagerduty_events_url: "https://events.pagerduty.com/v2/enqueue",
		alert_interval_seconds: 5,
	},
	dataplane: {
		enabled: true,
		interfaces: [],
		xdp_mode: "auto",
		syn_proxy: true,
		pin_path: "/sys/fs/bpf/pistonprotection",
		admin_networks: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
		management_ports: [22, 8443],
		map_sizes: {
			blocklist: 262_144,
			allowlist: 16_384,
			bans: 131_072,
			services: 1024,
			backends: 1024,
			rules: 4096,
			source_sets: 262_144,
			rate_limit_sources: 262_144,
		},
	},
	geoip: {
		country_database: "",
		asn_database: "",
		country_update_url: "",
		asn_update_url: "",
		maxmind_account_id: "",
		maxmind_license_key: "",
		update_schedule: "0 30 4 * * 3",
	},
	filters: { timezone: "UTC" },
	stats: { rule_sample_seconds: 60, rule_retention_days: 7 },
	telemetry: {
		live_seconds: 300,
		flush_seconds: 5,
		source_scan_seconds: 5,
		retention_minute_days: 7,
		retention_five_minutes_days: 30,
		retention_hour_days: 180,
		retention_day_days: 730,
		attack_retention_days: 365,
		prometheus_enabled: true,
		prometheus_listen: "",
		attack_min_pps: 5000,
		attack_dropped_pps: 2000,
		attack_baseline_factor: 3,
		attack_start_seconds: 3,
		attack_quiet_seconds: 30,
		escalation_level: "UNDER_ATTACK",
	},
	proxy: {
		enabled: true,
		unknown_host_message: "Unknown server address. Check the address you connected with.",
		challenge_message: "Checking your connection: please reconnect to join.",
		challenge_window_seconds: 120,
		challenge_remember_seconds: 86_400,
		challenge_allowlist: false,
		clearance_ttl_seconds: 3600,
		trusted_upstreams: [],
		udp_idle_timeout_seconds: 60,
		max_connections_per_ip: 64,
		sticky_ttl_seconds: 1800,
		status_timeout_ms: 1500,
		status_cache_max_age_seconds: 3600,
	},
};

export class ConfigError extends Error {
	constructor(
		readonly key: string,
		message: string,
	) {
		super(`config: ${key}: ${message}`);
	}
}

export interface LoadedConfig {
	config: Config;
	/** The file that was read, or null when only defaults and environment applied. */
	path: string | null;
}

/**
 * Reads the file (if any), applies PP_* overrides and validates the result.
 * An explicit path must exist; the default path is optional so a newcomer needs no file.
 */
export function loadConfig(
	explicitPath: string | undefined,
	env: Record<string, string | undefined> = process.env,
): LoadedConfig {
	const path = explicitPath ?? env.PP_CONFIG ?? DEFAULT_CONFIG_PATH;
	const explicit = explicitPath !== undefined || env.PP_CONFIG !== undefined;
	let fromFile: unknown = {};
	let readPath: string | null = null;
	if (existsSync(path)) {
		let text: string;
		try {
			text = readFileSync(path, "utf8");
		} catch (err) {
			throw new ConfigError("file", `cannot read ${path}: ${(err as Error).message}`);
		}
		try {
			fromFile = Bun.TOML.parse(text);
		} catch (err) {
			throw new ConfigError("file", `${path} is not valid TOML: ${(err as Error).message}`);
		}
		readPath = resolve(path);
	} else if (explicit) {
		throw new ConfigError("file", `${path} does not exist`);
	}

	const merged = structuredClone(DEFAULTS) as unknown as Record<string, unknown>;
	mergeInto(merged, fromFile, "");
	applyEnv(merged, env);
	validate(merged);
	return { config: merged as unknown as Config, path: readPath };
}

/** Environment variable name for a dotted key: dataplane.map_sizes.bans → PP_DATAPLANE_MAP_SIZES_BANS. */
export function envName(key: string): string {
	return `PP_${key.replaceAll(".", "_").toUpperCase()}`;
}

function mergeInto(target: Record<string, unknown>, source: unknown, prefix: string): void {
	if (!isPlainObject(source)) throw new ConfigError(prefix || "file", "must be a table");
	for (const [k, v] of Object.entries(source)) {
		const key = prefix ? `${prefix}.${k}` : k;
		if (!(k in target)) throw new ConfigError(key, "unknown key");
		const current = target[k];
		if (isPlainObject(current)) {
			if (!isPlainObject(v)) throw new ConfigError(key, "must be a table");
			mergeInto(current, v, key);
		} else {
			target[k] = v;
		}
	}
}

/** Every leaf key of the schema with its TypeBox schema, for env parsing and docs. */
export function configKeys(): Array<{ key: string; schema: TSchema }> {
	const out: Array<{ key: string; schema: TSchema }> = [];
	const walk = (schema: TSchema, prefix: string) => {
		if (schema.type === "object" && schema.properties) {
			for (const [k, s] of Object.entries(schema.properties as Record<string, TSchema>)) {
				walk(s, prefix ? `${prefix}.${k}` : k);
			}
		} else {
			out.push({ key: prefix, schema });
		}
	};
	walk(ConfigSchema, "");
	return out;
}

const RESERVED_ENV = new Set(["PP_CONFIG"]);

function applyEnv(target: Record<string, unknown>, env: Record<string, string | undefined>): void {
	const known = new Map(configKeys().map((k) => [envName(k.key), k]));
	for (const [name, raw] of Object.entries(env)) {
		if (!name.startsWith("PP_") || RESERVED_ENV.has(name) || raw === undefined) continue;
		const entry = known.get(name);
		if (!entry) throw new ConfigError(name, "unknown environment variable (no such config key)");
		setPath(target, entry.key, parseEnvValue(entry.key, name, entry.schema, raw));
	}
}

function parseEnvValue(key: string, name: string, schema: TSchema, raw: string): unknown {
	const kind = schema.type ?? (schema.anyOf ? "string" : undefined);
	switch (kind) {
		case "boolean":
			if (raw === "true" || raw === "1") return true;
			if (raw === "false" || raw === "0") return false;
			throw new ConfigError(key, `${name} must be true or false, got "${raw}"`);
		case "integer": {
			if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(key, `${name} must be an integer, got "${raw}"`);
			return Number(raw);
		}
		case "array": {
			const items = raw.trim() === "" ? [] : raw.split(",").map((s) => s.trim());
			return (schema.items as TSchema).type === "integer"
				? items.map((s) => {
						if (!/^\d+$/.test(s)) throw new ConfigError(key, `${name} must be a comma-separated list of integers`);
						return Number(s);
					})
				: items;
		}
		default:
			return raw;
	}
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
	const parts = key.split(".");
	let node = target;
	for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
	node[parts[parts.length - 1] as string] = value;
}

function validate(value: unknown): void {
	const first = Value.Errors(ConfigSchema, value).First();
	if (first) {
		const key = first.path.replace(/^\//, "").replaceAll("/", ".") || "file";
		const got = JSON.stringify(first.value);
		const options = (first.schema.anyOf as TSchema[] | undefined)?.map((o) => JSON.stringify(o.const));
		const message = options ? `must be one of ${options.join(", ")}` : first.message.toLowerCase();
		throw new ConfigError(key, `${message} (got ${got})`);
	}
	const cfg = value as Config;
	if ((cfg.server.tls_cert === "") !== (cfg.server.tls_key === "")) {
		throw new ConfigError("server.tls_key", "tls_cert and tls_key must be set together");
	}
	try {
		new Intl.DateTimeFormat("en-US", { timeZone: cfg.filters.timezone });
	} catch {
		throw new ConfigError(
			"filters.timezone",
			`"${cfg.filters.timezone}" is not an IANA timezone such as Europe/Berlin`,
		);
	}
	const cron = validateCronExpression(cfg.geoip.update_schedule);
	if (!cron.valid)
		throw new ConfigError("geoip.update_schedule", `not a cron expression: ${cron.error?.message ?? ""}`);
	for (const [i, net] of cfg.dataplane.admin_networks.entries()) {
		if (!isValidCidr(net)) throw new ConfigError(`dataplane.admin_networks.${i}`, `"${net}" is not a valid CIDR`);
	}
	for (const [i, net] of cfg.proxy.trusted_upstreams.entries()) {
		if (!isValidCidr(net)) throw new ConfigError(`proxy.trusted_upstreams.${i}`, `"${net}" is not a valid CIDR`);
	}
	for (const key of ["https_listen", "http_listen", "grpc_listen"] as const) {
		const port = Number(cfg.server[key].slice(cfg.server[key].lastIndexOf(":") + 1));
		if (port > 65535) throw new ConfigError(`server.${key}`, `port ${port} is out of range`);
	}
}

function isValidCidr(text: string): boolean {
	const [addr, len, extra] = text.split("/");
	if (!addr || len === undefined || extra !== undefined || !/^\d{1,3}$/.test(len)) return false;
	const family = isIP(addr);
	return family !== 0 && Number(len) <= (family === 4 ? 32 : 128);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
	return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Splits "host:port" / "[v6]:port" into parts for Bun.serve and grpc-js. */
export function parseListen(value: string): { hostname: string; port: number } {
	const idx = value.lastIndexOf(":");
	const host = value.slice(0, idx).replace(/^\[(.*)\]$/, "$1");
	return { hostname: host, port: Number(value.slice(idx + 1)) };
}
