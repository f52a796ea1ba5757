// IP addresses and prefixes as the data plane needs them: network-order bytes, a family,
// a prefix length, and one canonical text form (host bits cleared, IPv6 compressed).
import { isIP } from "node:net";

export interface Prefix {
	family: 4 | 6;
	/** 4 or 16 bytes, network order, host bits zero. */
	bytes: Uint8Array;
	prefixLength: number;
	/** Canonical "address/len". */
	text: string;
}

export class AddressError extends Error {
	constructor(
		readonly code: "invalid_ip" | "invalid_cidr",
		message: string,
	) {
		super(message);
	}
}

export function parseAddress(text: string): { family: 4 | 6; bytes: Uint8Array } {
	const family = isIP(text);
	if (family === 4) return { family, bytes: Uint8Array.from(text.split(".").map(Number)) };
	if (family === 6) return { family, bytes: parseV6(text) };
	throw new AddressError("invalid_ip", `'${text}' is not a valid IP address`);
}

/** Parses "a.b.c.d", "a.b.c.d/n", "v6" or "v6/n"; a bare address is a host prefix. */
export function parsePrefix(text: string): Prefix {
	const trimmed = text.trim();
	const slash = trimmed.indexOf("/");
	const addrText = slash === -1 ? trimmed : trimmed.slice(0, slash);
	const { family, bytes } = parseAddress(addrText);
	const max = family === 4 ? 32 : 128;
	let prefixLength = max;
	if (slash !== -1) {
		const lenText = trimmed.slice(slash + 1);
		if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max)
			throw new AddressError("invalid_cidr", `'${text}' has an invalid prefix length (0-${max})`);
		prefixLength = Number(lenText);
	}
	for (let bit = prefixLength; bit < max; bit++) {
		bytes[bit >> 3] = (bytes[bit >> 3] as number) & ~(0x80 >> (bit & 7));
	}
	return { family, bytes, prefixLength, text: `${formatAddress(bytes)}/${prefixLength}` };
}

export function formatAddress(bytes: Uint8Array): string {
	if (bytes.length === 4) return Array.from(bytes).join(".");
	const words: number[] = [];
	for (let i = 0; i < 16; i += 2) words.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
	// RFC 5952: compress the longest run (≥2) of zero words.
	let best = -1;
	let bestLen = 1;
	for (let i = 0; i < 8; ) {
		if (words[i] !== 0) {
			i++;
			continue;
		}
		let j = i;
		while (j < 8 && words[j] === 0) j++;
		if (j - i > bestLen) {
			best = i;
			bestLen = j - i;
		}
		i = j;
	}
	const hex = words.map((w) => w.toString(16));
	if (best === -1) return hex.join(":");
	return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** IPv4 as ::ffff:a.b.c.d, IPv6 as is: the one 16-byte form the ban map and events use. */
export function toMapped16(bytes: Uint8Array): Uint8Array {
	if (bytes.length === 16) return bytes;
	const out = new Uint8Array(16);
	out[10] = 0xff;
	out[11] = 0xff;
	out.set(bytes, 12);
	return out;
}

function parseV6(text: string): Uint8Array {
	let head = text;
	const tailV4: number[] = [];
	const lastColon = text.lastIndexOf(":");
	if (text.includes(".")) {
		tailV4.push(
			...text
				.slice(lastColon + 1)
				.split(".")
				.map(Number),
		);
		head = `${text.slice(0, lastColon)}:0:0`;
	}
	const [left, right] = head.includes("::") ? head.split("::") : [head, undefined];
	const parts = (s: string | undefined) => (s ? s.split(":").map((h) => Number.parseInt(h, 16)) : []);
	const l = parts(left);
	const r = parts(right);
	const words = right === undefined ? l : [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
	const out = new Uint8Array(16);
	words.forEach((w, i) => {
		out[i * 2] = w >> 8;
		out[i * 2 + 1] = w & 0xff;
	});
	if (tailV4.length === 4) out.set(tailV4, 12);
	return out;
}
