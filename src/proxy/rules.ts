// The filter rules the proxy acts on: CHALLENGE and REDIRECT for a backend (the data plane
// handles the packet-level actions). Conditions the proxy can decide per connection are
// evaluated here: source prefixes (and their exclusions), destination ports, transport and L7
// protocol. Country and ASN conditions are the data plane's: a rule that has them never
// matches in the proxy.
import type { Backend } from "../domain/backends/model.ts";
import type { RuleMatch } from "../domain/rules/model.ts";
import { parseAddress, parsePrefix } from "../net/cidr.ts";

export interface ProxyRule {
	id: string;
	action: "CHALLENGE" | "REDIRECT";
	match: RuleMatch;
	sources: Array<{ family: 4 | 6; bytes: Uint8Array; prefixLength: number }> | null;
	excluded: Array<{ family: 4 | 6; bytes: Uint8Array; prefixLength: number }>;
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
}

export function ruleMatches(rule: ProxyRule, facts: ConnectionFacts): boolean {
	const m = rule.match;
	if (m.sourceCountries?.length || m.sourceCountryBlacklist?.length || m.sourceAsns?.length) return false;
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
	return true;
}

/** The first matching rule's action (rules come in priority order), or null. */
export function proxyAction(rules: readonly ProxyRule[], facts: ConnectionFacts): ProxyRule["action"] | null {
	for (const r of rules) if (ruleMatches(r, facts)) return r.action;
	return null;
}
