// Between HTML forms and the domain's input: form fields are named by the API's field paths
// (origins[0].port, protection.level), so the domain's field errors land next to their inputs.
// Values are only reshaped here (numbers, lists, booleans); every check is the domain's.
import type { Backend, BackendCreate, BackendUpdate, OriginInput } from "../domain/backends/model.ts";
import { ValidationError } from "../domain/errors.ts";
import type { FilterRule, RuleMatch } from "../domain/rules/model.ts";

export type Form = Record<string, string>;

/** "25565" → 25565; anything else stays text so the domain's schema names the field. */
export function num(value: string | undefined): number | string | undefined {
	const v = value?.trim();
	if (!v) return undefined;
	return /^-?\d+$/.test(v) ? Number(v) : v;
}

export function text(value: string | undefined): string | undefined {
	const v = value?.trim();
	return v ? v : undefined;
}

/** One item per line or comma. */
export function lines(value: string | undefined): string[] {
	return (value ?? "")
		.split(/[\n,]/)
		.map((s) => s.trim())
		.filter(Boolean);
}

export const bool = (form: Form, name: string) => form[name] === "true";

/** The values of a checkbox set (inputs named `name:value`). */
export function setOf(form: Form, name: string): string[] {
	const prefix = `${name}:`;
	return Object.keys(form)
		.filter((k) => k.startsWith(prefix) && form[k] === "true")
		.map((k) => k.slice(prefix.length));
}

/** A posted form as it is shown again: unchecked boxes read "false" rather than their default. */
export function shownAgain(form: Form, booleans: string[]): Form {
	const out = { ...form };
	for (const name of booleans) out[name] = form[name] === "true" ? "true" : "false";
	return out;
}

/** Indexes of the rows of a repeated group (origins[0].…, origins[3].…) present in the form. */
export function rows(form: Form, group: string): number[] {
	const found = new Set<number>();
	const re = new RegExp(`^${group}\\[(\\d+)\\]\\.`);
	for (const k of Object.keys(form)) {
		const m = re.exec(k);
		if (m) found.add(Number(m[1]));
	}
	return [...found].sort((a, b) => a - b);
}

/** Renumbers a group's rows 0…n-1 (after one was removed) so names stay dense. */
export function renumber(form: Form, group: string, remove?: number): Form {
	const out: Form = {};
	const order = rows(form, group).filter((i) => i !== remove);
	const re = new RegExp(`^${group}\\[(\\d+)\\]\\.(.*)$`);
	for (const [k, v] of Object.entries(form)) {
		const m = re.exec(k);
		if (!m) out[k] = v;
		else if (Number(m[1]) !== remove) out[`${group}[${order.indexOf(Number(m[1]))}].${m[2]}`] = v;
	}
	return out;
}

function prefix(value: string): { address: string; prefixLength?: number } {
	const [address, length] = value.split("/");
	const n = num(length);
	return n === undefined ? { address: address ?? "" } : { address: address ?? "", prefixLength: n as number };
}

const prefixText = (p: { address: string; prefixLength?: number }) =>
	p.prefixLength === undefined ? p.address : `${p.address}/${p.prefixLength}`;

// ---- backends -------------------------------------------------------------------------------

export const ORIGIN_FIELDS = ["name", "address", "port", "weight", "priority"] as const;
export const ORIGIN_SETTINGS = [
	"connectTimeoutMs",
	"readTimeoutMs",
	"writeTimeoutMs",
	"maxConnections",
	"proxyProtocol",
] as const;

export function backendBooleans(form: Form): string[] {
	return [
		"loadBalancer.stickySessions",
		"healthCheck.enabled",
		"healthCheck.minecraft.queryStatus",
		"protection.enabled",
		"protection.challenge.enabled",
		...rows(form, "origins").map((i) => `origins[${i}].enabled`),
	];
}

function originsOf(form: Form): OriginInput[] {
	return rows(form, "origins").flatMap((i) => {
		const f = (k: string) => form[`origins[${i}].${k}`];
		if (ORIGIN_FIELDS.every((k) => !text(f(k)))) return [];
		const settings: Record<string, unknown> = {};
		for (const k of ORIGIN_SETTINGS) if (num(f(`settings.${k}`)) !== undefined) settings[k] = num(f(`settings.${k}`));
		return [
			{
				name: f("name")?.trim() ?? "",
				address: f("address")?.trim() ?? "",
				port: num(f("port")),
				weight: num(f("weight")),
				priority: num(f("priority")),
				enabled: f("enabled") === "true",
				...(Object.keys(settings).length ? { settings } : {}),
			} as OriginInput,
		];
	});
}

function listenersOf(form: Form) {
	return rows(form, "listeners").flatMap((i) => {
		const f = (k: string) => form[`listeners[${i}].${k}`];
		if (!text(f("port"))) return [];
		return [{ address: f("address")?.trim() ?? "", port: num(f("port")), protocol: f("protocol") }];
	});
}

const rateLimit = (form: Form, base: string) =>
	text(form[`${base}.requestsPerSecond`])
		? { requestsPerSecond: num(form[`${base}.requestsPerSecond`]), burstSize: num(form[`${base}.burstSize`]) }
		: undefined;

/** The backend form as the API's create input. */
export function backendCreateInput(form: Form): BackendCreate {
	const type = form.type ?? "";
	const minecraft = type === "MINECRAFT_JAVA" || type === "MINECRAFT_BEDROCK";
	const listeners = listenersOf(form);
	const httpPath = text(form["healthCheck.http.path"]);
	const healthNumbers = ["intervalSeconds", "timeoutSeconds", "healthyThreshold", "unhealthyThreshold"];
	// Nothing changed from the defaults: leave the health check to the service's defaults.
	const defaultHealth =
		bool(form, "healthCheck.enabled") &&
		!httpPath &&
		!bool(form, "healthCheck.minecraft.queryStatus") &&
		healthNumbers.every((k) => !text(form[`healthCheck.${k}`]));
	const input: Record<string, unknown> = {
		name: form.name?.trim() ?? "",
		type,
		origins: originsOf(form),
		...(listeners.length ? { listeners } : {}),
		loadBalancer: {
			algorithm: form["loadBalancer.algorithm"],
			stickySessions: bool(form, "loadBalancer.stickySessions"),
		},
		healthCheck: defaultHealth
			? undefined
			: {
					enabled: bool(form, "healthCheck.enabled"),
					intervalSeconds: num(form["healthCheck.intervalSeconds"]),
					timeoutSeconds: num(form["healthCheck.timeoutSeconds"]),
					healthyThreshold: num(form["healthCheck.healthyThreshold"]),
					unhealthyThreshold: num(form["healthCheck.unhealthyThreshold"]),
					...(minecraft ? { minecraft: { queryStatus: bool(form, "healthCheck.minecraft.queryStatus") } } : {}),
					...(httpPath
						? { http: { path: httpPath, expectedStatus: num(form["healthCheck.http.expectedStatus"]) } }
						: {}),
				},
		protection: {
			enabled: bool(form, "protection.enabled"),
			level: form["protection.level"],
			globalRateLimit: rateLimit(form, "protection.globalRateLimit"),
			perIpRateLimit: rateLimit(form, "protection.perIpRateLimit"),
			perIpBandwidth: text(form["protection.perIpBandwidth.bytesPerSecond"])
				? {
						bytesPerSecond: num(form["protection.perIpBandwidth.bytesPerSecond"]),
						burstBytes: num(form["protection.perIpBandwidth.burstBytes"]),
					}
				: undefined,
			geoIp: {
				mode: form["protection.geoIp.mode"] || "OFF",
				countries: lines(form["protection.geoIp.countries"]).map((c) => c.toUpperCase()),
			},
			challenge: {
				enabled: bool(form, "protection.challenge.enabled"),
				type: text(form["protection.challenge.type"]),
				difficulty: num(form["protection.challenge.difficulty"]),
			},
		},
		domains: lines(form.domains),
	};
	return dropUndefined(input) as BackendCreate;
}

/**
 * The backend form as an update. A cleared override is sent as an explicit undefined, which
 * removes it from the stored protection; origins are sent only when they changed, so an edit of
 * anything else keeps the origins (and their health) as they are.
 */
export function backendUpdateInput(form: Form, current: Backend): BackendUpdate {
	const input = backendCreateInput(form) as BackendUpdate & { protection: Record<string, unknown> };
	const protection: Record<string, unknown> = { ...input.protection };
	for (const k of ["globalRateLimit", "perIpRateLimit", "perIpBandwidth"])
		if (!(k in protection)) protection[k] = undefined;
	input.protection = protection;
	const comparable = (o: OriginInput | Backend["origins"][number]) =>
		JSON.stringify([
			o.name,
			o.address,
			o.port,
			o.weight ?? 100,
			o.priority ?? 1,
			o.enabled !== false,
			o.settings ?? {},
		]);
	const same =
		input.origins?.length === current.origins.length &&
		input.origins.every((o, i) => comparable(o) === comparable(current.origins[i] as Backend["origins"][number]));
	if (same) delete input.origins;
	const listeners = input.listeners ?? [];
	const listenersSame = JSON.stringify(listeners) === JSON.stringify(current.listeners);
	if (listenersSame) delete input.listeners;
	return input;
}

function dropUndefined(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(dropUndefined);
	if (value && typeof value === "object") {
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = dropUndefined(v);
		return out;
	}
	return value;
}

const str = (v: unknown) => (v === undefined || v === null ? "" : String(v));

/** A stored backend as the form's values. */
export function backendValues(b: Backend): Form {
	const f: Form = {
		name: b.name,
		type: b.type,
		"loadBalancer.algorithm": b.loadBalancer.algorithm,
		"loadBalancer.stickySessions": String(!!b.loadBalancer.stickySessions),
		"healthCheck.enabled": String(b.healthCheck.enabled),
		"healthCheck.intervalSeconds": str(b.healthCheck.intervalSeconds),
		"healthCheck.timeoutSeconds": str(b.healthCheck.timeoutSeconds),
		"healthCheck.healthyThreshold": str(b.healthCheck.healthyThreshold),
		"healthCheck.unhealthyThreshold": str(b.healthCheck.unhealthyThreshold),
		"healthCheck.minecraft.queryStatus": String(!!b.healthCheck.minecraft?.queryStatus),
		"healthCheck.http.path": str(b.healthCheck.http?.path),
		"healthCheck.http.expectedStatus": str(b.healthCheck.http?.expectedStatus),
		"protection.enabled": String(b.protection.enabled),
		"protection.level": b.protection.level,
		"protection.globalRateLimit.requestsPerSecond": str(b.protection.globalRateLimit?.requestsPerSecond),
		"protection.globalRateLimit.burstSize": str(b.protection.globalRateLimit?.burstSize),
		"protection.perIpRateLimit.requestsPerSecond": str(b.protection.perIpRateLimit?.requestsPerSecond),
		"protection.perIpRateLimit.burstSize": str(b.protection.perIpRateLimit?.burstSize),
		"protection.perIpBandwidth.bytesPerSecond": str(b.protection.perIpBandwidth?.bytesPerSecond),
		"protection.perIpBandwidth.burstBytes": str(b.protection.perIpBandwidth?.burstBytes),
		"protection.geoIp.mode": b.protection.geoIp?.mode ?? "OFF",
		"protection.geoIp.countries": (b.protection.geoIp?.countries ?? []).join(", "),
		"protection.challenge.enabled": String(!!b.protection.challenge?.enabled),
		"protection.challenge.type": str(b.protection.challenge?.type),
		"protection.challenge.difficulty": str(b.protection.challenge?.difficulty),
		domains: b.domains.join("\n"),
	};
	b.listeners.forEach((l, i) => {
		f[`listeners[${i}].address`] = l.address;
		f[`listeners[${i}].port`] = String(l.port);
		f[`listeners[${i}].protocol`] = l.protocol;
	});
	b.origins.forEach((o, i) => {
		f[`origins[${i}].name`] = o.name;
		f[`origins[${i}].address`] = o.address;
		f[`origins[${i}].port`] = String(o.port);
		f[`origins[${i}].weight`] = String(o.weight);
		f[`origins[${i}].priority`] = String(o.priority);
		f[`origins[${i}].enabled`] = String(o.enabled);
		for (const k of ORIGIN_SETTINGS) f[`origins[${i}].settings.${k}`] = str(o.settings[k]);
	});
	return f;
}

// ---- filter rules ---------------------------------------------------------------------------

const PREFIX_LISTS = ["sourceIps", "sourceIpBlacklist", "destinationIps"] as const;

function minutes(hhmm: string): number | null {
	const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm.trim());
	if (!m) return null;
	return Number(m[1]) * 60 + Number(m[2]);
}

const hhmm = (n: number) => `${String(Math.floor(n / 60)).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}`;

/** The rule form's match conditions, action and rate limit as the API's input. */
export function ruleInput(form: Form): Record<string, unknown> {
	const match: Record<string, unknown> = {};
	for (const k of PREFIX_LISTS) {
		const items = lines(form[`match.${k}`]).map(prefix);
		if (items.length) match[k] = items;
	}
	for (const k of ["sourceCountries", "sourceCountryBlacklist"] as const) {
		const items = lines(form[`match.${k}`]).map((c) => c.toUpperCase());
		if (items.length) match[k] = items;
	}
	const asns = lines(form["match.sourceAsns"]).map((a) => num(a.replace(/^AS/i, "")));
	if (asns.length) match.sourceAsns = asns;
	const ports = lines(form["match.destinationPorts"]).map((p) => {
		const [start, end] = p.split("-");
		return { start: num(start), end: num(end ?? start) };
	});
	if (ports.length) match.destinationPorts = ports;
	const protocols = setOf(form, "match.protocols");
	if (protocols.length) match.protocols = protocols;
	const l7 = setOf(form, "match.l7Protocols");
	if (l7.length) match.l7Protocols = l7;
	const days = setOf(form, "match.timeMatch.daysOfWeek").map(Number);
	const ranges = lines(form["match.timeMatch.timeRanges"]).map((r, i) => {
		const [a, b] = r.split("-");
		const startMinutes = minutes(a ?? "");
		const endMinutes = minutes(b ?? "");
		if (startMinutes === null || endMinutes === null)
			throw ValidationError.field(`match.timeMatch.timeRanges[${i}]`, "invalid_value", "write a range as HH:MM-HH:MM");
		return { startMinutes, endMinutes };
	});
	if (days.length || ranges.length)
		match.timeMatch = {
			...(days.length ? { daysOfWeek: days } : {}),
			...(ranges.length ? { timeRanges: ranges } : {}),
		};
	const action = form.action ?? "";
	return dropUndefined({
		name: form.name?.trim() ?? "",
		description: form.description ?? "",
		priority: num(form.priority),
		enabled: bool(form, "enabled"),
		action,
		match,
		rateLimit: text(form["rateLimit.requestsPerSecond"])
			? {
					requestsPerSecond: num(form["rateLimit.requestsPerSecond"]),
					burstSize: num(form["rateLimit.burstSize"]),
					windowSeconds: num(form["rateLimit.windowSeconds"]),
				}
			: undefined,
	}) as Record<string, unknown>;
}

export function ruleValues(r: FilterRule): Form {
	const m: RuleMatch = r.match;
	const f: Form = {
		backendId: r.backendId,
		name: r.name,
		description: r.description,
		priority: String(r.priority),
		enabled: String(r.enabled),
		action: r.action,
		"rateLimit.requestsPerSecond": str(r.rateLimit?.requestsPerSecond),
		"rateLimit.burstSize": str(r.rateLimit?.burstSize),
		"rateLimit.windowSeconds": str(r.rateLimit?.windowSeconds),
		"match.sourceCountries": (m.sourceCountries ?? []).join(", "),
		"match.sourceCountryBlacklist": (m.sourceCountryBlacklist ?? []).join(", "),
		"match.sourceAsns": (m.sourceAsns ?? []).join(", "),
		"match.destinationPorts": (m.destinationPorts ?? [])
			.map((p) => (p.start === p.end ? String(p.start) : `${p.start}-${p.end}`))
			.join(", "),
		"match.timeMatch.timeRanges": (m.timeMatch?.timeRanges ?? [])
			.map((t) => `${hhmm(t.startMinutes)}-${hhmm(t.endMinutes)}`)
			.join("\n"),
	};
	for (const k of PREFIX_LISTS) f[`match.${k}`] = (m[k] ?? []).map(prefixText).join("\n");
	for (const p of m.protocols ?? []) f[`match.protocols:${p}`] = "true";
	for (const p of m.l7Protocols ?? []) f[`match.l7Protocols:${p}`] = "true";
	for (const d of m.timeMatch?.daysOfWeek ?? []) f[`match.timeMatch.daysOfWeek:${d}`] = "true";
	return f;
}
