// Secrets we hand out (refresh tokens, session cookies, invitation tokens, OAuth codes and client
// secrets): high-entropy random strings, stored only as SHA-256, compared in constant time.
import { timingSafeEqual } from "node:crypto";
import { randomString } from "../domain/ids.ts";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** prefix + 43 base-62 characters: about 256 bits. */
export function newSecret(prefix: string): string {
	return `${prefix}${randomString(43, BASE62)}`;
}

export function sha256Hex(value: string): string {
	return new Bun.CryptoHasher("sha256").update(value).digest("hex");
}

export function hmacHex(key: Buffer, value: string): string {
	return new Bun.CryptoHasher("sha256", key).update(value).digest("hex");
}

/** Constant-time equality of two strings of any length (compares their digests). */
export function safeEqual(a: string, b: string): boolean {
	const da = new Bun.CryptoHasher("sha256").update(a).digest();
	const db = new Bun.CryptoHasher("sha256").update(b).digest();
	return timingSafeEqual(da, db) && a.length === b.length;
}
