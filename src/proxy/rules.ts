// The filter rules the proxy acts on: CHALLENGE and REDIRECT for a backend (the data plane
// handles the packet-level actions). Every condition the data plane would apply to the source is
// evaluated here per connection, with the same meaning: source prefixes, countries and ASNs must
// all hold (sourceCountries and sourceAsns through the GeoIP databases; a source they do not know
// matches neither), sourceIpBlacklist and sourceCountryBlacklist exclude, then destination ports,
// transport and L7 protocol.
import type { Backend } from "../domain/backends/model.ts";
import type { RuleMatch } from "../domain/rules/model.ts";
import type { GeoAnswer } from "../geoip/database.ts";
import { parseAddress, parsePrefix } from "../net/cidr.ts";

export interface ProxyRule {
	id: string;
	action: "CHALLENGE" | "REDIRECT";
	match: RuleMatch;
	sources: Array<{ family: 4 | 6; bytes: Uint8Array; prefixLength: number }> | null;
	excluded: Array<{ family: 4 | 6; bytes: Uint8Array; prefixLength: number }>;
	countries: Set<string> | null;
	excludedCountries: Set<string> | null;
	asns: Set<number> | null;
}

export function compileProxyRule(id: string, action: ProxyRule["action"], match: RuleMatch): ProxyRule {
	const prefix = (p: { address: string; prefixLength?: number }) =>
		parsePrefix(p.prefixLength === undefined ? p.address : `${p.address}/${p.prefixLength}`);
	return {
		id,
		action,
		match,
		sources: match.sourceIps?.length ? match.sourceIps.map(prefix) : null,
		excluded: (match.sourceIpBlacklist ?? []).map(prefix),
		countries: match.sourceCountries?.length ? new Set(match.sourceCountries) : null,
		excludedCountries: match.sourceCountryBlacklist?.length ? new Set(match.sourceCountryBlacklist) : null,
		asns: match.sourceAsns?.length ? new Set(match.sourceAsns) : null,
	};
}

export function contains(
	p: { family: 4 | 6; bytes: Uint8Array; prefixLength: number },
	addr: { family: 4 | 6; bytes: Uint8Array },
) {
	if (p.family !== addr.family) return false;
	let bits = p.prefixLength;
	for (let i = 0; bits > 0; i++, bits -= 8) {
		const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
		if (((addr.bytes[i] as number) & mask) !== (p.bytes[i] as number)) return false;
	}
	return true;
}

export interface ConnectionFacts {
	ip: string;
	port: number;
	transport: "TCP" | "UDP";
	backendType: Backend["type"];
	/** The source's country and ASN; asked only by rules with such conditions. */
	geo(): GeoAnswer;
}

/** Facts whose GeoIP answer is looked up once, on the first rule that needs it. */
export function connectionFacts(
	facts: Omit<ConnectionFacts, "geo">,
	lookup: (ip: string) => GeoAnswer,
): ConnectionFacts {
	let answer: GeoAnswer | null = null;
	return {
		...facts,
		geo: () => {
			answer ??= lookup(facts.ip);
			return answer;
		},
	};
}

export function ruleMatches(rule: ProxyRule, facts: ConnectionFacts): boolean {
	const m = rule.match;
	if (m.protocols?.length && !m.protocols.includes(facts.transport)) return false;
	if (
		m.l7Protocols?.length &&
		!m.l7Protocols.some((p) => p === facts.backendType || (p === "HTTP" && facts.backendType === "HTTPS"))
	)
		return false;
	if (m.destinationPorts?.length && !m.destinationPorts.some((r) => facts.port >= r.start && facts.port <= r.end))
		return false;
	let addr: { family: 4 | 6; bytes: Uint8Array };
	try {
		addr = parseAddress(facts.ip);
	} catch {
		return false;
	}
	if (rule.sources && !rule.sources.some((p) => contains(p, addr))) return false;
	if (rule.excluded.some((p) => contains(p, addr))) return false;
	if (rule.countries || rule.excludedCountries || rule.asns) {
		const { country, asn } = facts.geo();
		if (rule.countries && (country === undefined || !rule.countries.has(country))) return false;
		if (rule.asns && (asn === undefined || !rule.asns.has(asn))) return false;
		if (rule.excludedCountries && country !== undefined && rule.excludedCountries.has(country)) return false;
	}
	return true;
}

/** The first matching rule's action (rules come in priority order), or null. */
export function proxyAction(rules: readonly ProxyRule[], facts: ConnectionFacts): ProxyRule["action"] | null {
	for (const r of rules) if (ruleMatches(r, facts)) return r.action;
	return null;
}
