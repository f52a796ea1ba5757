// Resource IDs carry a type prefix (bk_, org_, usr_ …) followed by 12 random base-36 characters.
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

export type IdPrefix =
	| "org"
	| "usr"
	| "key"
	| "al"
	| "bk"
	| "or"
	| "fr"
	| "ip"
	| "evt"
	| "whd"
	| "alr"
	| "atk"
	| "wh"
	| "cl"
	| "ses"
	| "inv";

export function newId(prefix: IdPrefix, length = 12): string {
	return `${prefix}_${randomString(length, ALPHABET)}`;
}

/** Uniform random string over an alphabet (rejection sampling, no modulo bias). */
export function randomString(length: number, alphabet: string): string {
	const limit = 256 - (256 % alphabet.length);
	let out = "";
	while (out.length < length) {
		for (const b of crypto.getRandomValues(new Uint8Array(length * 2))) {
			if (b < limit && out.length < length) out += alphabet[b % alphabet.length];
		}
	}
	return out;
}

export function nowIso(): string {
	return new Date().toISOString();
}
