// Challenges for new sources. Minecraft Java: the first login from an address is refused with a
// "reconnect" message; a reconnect within the window verifies the address for a while (kept in
// SQLite, so a restart does not challenge verified players again). HTTP: an interstitial page
// makes the browser find a nonce whose SHA-256 has `difficulty` leading zero bits, then a signed
// clearance cookie (HMAC, bound to address, backend and expiry) lets it in.
import type { Database } from "bun:sqlite";
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import powPageAsset from "../../views/challenge/pow.html" with { type: "text" };
import type { Logger } from "../log.ts";

// bun-types declares *.html as an HTMLBundle; imported as text it is the file's contents.
const powPage = powPageAsset as unknown as string;

/** Where verified addresses outlive the process. */
export interface VerifiedStore {
	/** Every entry not expired at now. */
	load(now: number): Array<{ backendId: string; address: string; expiresAt: number }>;
	save(backendId: string, address: string, expiresAt: number): void;
	/** Deletes entries expired at now. */
	prune(now: number): void;
}

/** The challenge_verified table (migration 013); rows go with their backend. A failed write is logged: the address stays verified in memory. */
export function sqliteVerifiedStore(db: Database, log: Logger): VerifiedStore {
	return {
		load: (now) =>
			db
				.query<{ backendId: string; address: string; expiresAt: number }, [number]>(
					`SELECT backend_id AS backendId, address, expires_at AS expiresAt FROM challenge_verified
					 WHERE expires_at > ?`,
				)
				.all(now),
		save: (backendId, address, expiresAt) => {
			try {
				db.query(
					`INSERT INTO challenge_verified (backend_id, address, expires_at) SELECT ?1, ?2, ?3
					 WHERE EXISTS (SELECT 1 FROM backends WHERE id = ?1)
					 ON CONFLICT (backend_id, address) DO UPDATE SET expires_at = excluded.expires_at`,
				).run(backendId, address, expiresAt);
			} catch (err) {
				log.warn("cannot store a verified address", { backendId, address, error: err });
			}
		},
		prune: (now) => {
			try {
				db.query("DELETE FROM challenge_verified WHERE expires_at <= ?").run(now);
			} catch (err) {
				log.warn("cannot prune verified addresses", { error: err });
			}
		},
	};
}

/** Expired rows are deleted at most this often (the in-memory map is swept every call). */
const PRUNE_STORE_MS = 60_000;

export class ReconnectChallenge {
	private readonly pending = new Map<string, number>();
	private readonly verified = new Map<string, number>();
	private lastPrune = 0;

	constructor(
		private settings: { windowMs: number; rememberMs: number },
		private readonly store: VerifiedStore | null = null,
		now = Date.now(),
	) {
		for (const v of store?.load(now) ?? []) this.verified.set(`${v.backendId}|${v.address}`, v.expiresAt);
	}

	setSettings(settings: { windowMs: number; rememberMs: number }): void {
		this.settings = settings;
	}

	/** "pass": verified before; "verified": this attempt completes the challenge; "challenge": refuse with the message. */
	check(backendId: string, address: string, now = Date.now()): "pass" | "verified" | "challenge" {
		const key = `${backendId}|${address}`;
		const until = this.verified.get(key);
		if (until !== undefined && until > now) return "pass";
		const first = this.pending.get(key);
		if (first !== undefined && now - first <= this.settings.windowMs) {
			this.pending.delete(key);
			const expiresAt = now + this.settings.rememberMs;
			this.verified.set(key, expiresAt);
			this.store?.save(backendId, address, expiresAt);
			return "verified";
		}
		this.pending.set(key, now);
		return "challenge";
	}

	sweep(now = Date.now()): void {
		for (const [k, t] of this.pending) if (now - t > this.settings.windowMs) this.pending.delete(k);
		for (const [k, t] of this.verified) if (t <= now) this.verified.delete(k);
		if (this.store && now - this.lastPrune >= PRUNE_STORE_MS) {
			this.lastPrune = now;
			this.store.prune(now);
		}
	}
}

const KEY_FILE = "proxy-clearance.key";

/** The HMAC key for challenge tokens and clearance cookies: 32 random bytes in the data dir, 0600. */
export function loadClearanceKey(dataDir: string): Buffer {
	const path = join(dataDir, KEY_FILE);
	if (existsSync(path)) {
		const key = readFileSync(path);
		if (key.length >= 32) return key;
	}
	const key = randomBytes(32);
	writeFileSync(path, key, { mode: 0o600 });
	chmodSync(path, 0o600);
	return key;
}

export const COOKIE_NAME = "pp_clearance";
export const VERIFY_PATH = "/.pp-challenge/verify";
const TOKEN_TTL_MS = 5 * 60_000;

const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export class ProofOfWork {
	constructor(
		private readonly key: Buffer,
		private clearanceTtlMs: number,
	) {}

	setClearanceTtl(ms: number): void {
		this.clearanceTtlMs = ms;
	}

	private sign(payload: string): string {
		return b64(createHmac("sha256", this.key).update(payload).digest());
	}

	private verifySigned(value: string): string[] | null {
		const dot = value.lastIndexOf(".");
		if (dot <= 0) return null;
		const payload = value.slice(0, dot);
		const mac = Buffer.from(value.slice(dot + 1));
		const want = Buffer.from(this.sign(payload));
		if (mac.length !== want.length || !timingSafeEqual(mac, want)) return null;
		return Buffer.from(payload, "base64url").toString("utf8").split("|");
	}

	/** A challenge token: what to hash, bound to the client address and backend, valid for minutes. */
	issue(backendId: string, ip: string, difficulty: number, now = Date.now()): string {
		const payload = b64(
			["c", backendId, ip, String(difficulty), String(now + TOKEN_TTL_MS), b64(randomBytes(12))].join("|"),
		);
		return `${payload}.${this.sign(payload)}`;
	}

	/** Checks a solved challenge; returns the clearance cookie value or null. */
	solve(token: string, nonce: string, backendId: string, ip: string, now = Date.now()): string | null {
		const parts = this.verifySigned(token);
		if (parts?.[0] !== "c" || parts[1] !== backendId || parts[2] !== ip) return null;
		if (Number(parts[4]) < now || !/^[0-9]{1,16}$/.test(nonce)) return null;
		if (leadingZeroBits(createHash("sha256").update(`${token}:${nonce}`).digest()) < Number(parts[3])) return null;
		const payload = b64(["k", backendId, ip, String(now + this.clearanceTtlMs)].join("|"));
		return `${payload}.${this.sign(payload)}`;
	}

	/** Whether a Cookie header carries a valid clearance for this backend and address. */
	cleared(cookieHeader: string | undefined, backendId: string, ip: string, now = Date.now()): boolean {
		if (!cookieHeader) return false;
		for (const part of cookieHeader.split(";")) {
			const eq = part.indexOf("=");
			if (eq === -1 || part.slice(0, eq).trim() !== COOKIE_NAME) continue;
			const parts = this.verifySigned(part.slice(eq + 1).trim());
			if (parts && parts[0] === "k" && parts[1] === backendId && parts[2] === ip && Number(parts[3]) > now) return true;
		}
		return false;
	}

	get clearanceSeconds(): number {
		return Math.floor(this.clearanceTtlMs / 1000);
	}
}

export function leadingZeroBits(digest: Uint8Array): number {
	let bits = 0;
	for (const byte of digest) {
		if (byte === 0) {
			bits += 8;
			continue;
		}
		return bits + Math.clz32(byte) - 24;
	}
	return bits;
}

const escapeHtml = (s: string) =>
	s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

/** The interstitial page (views/challenge/pow.html) filled in for one request. */
export function renderPowPage(token: string, difficulty: number, returnTo: string): string {
	return powPage
		.replaceAll("{{token}}", escapeHtml(token))
		.replaceAll("{{difficulty}}", String(difficulty))
		.replaceAll("{{return}}", escapeHtml(returnTo))
		.replaceAll("{{verify}}", VERIFY_PATH);
}

/** A complete HTTP/1.1 response (the connection closes after it). */
export function httpResponse(status: number, reason: string, headers: Record<string, string>, body: string): Buffer {
	const bytes = Buffer.from(body, "utf8");
	const lines = [`HTTP/1.1 ${status} ${reason}`];
	for (const [k, v] of Object.entries({ ...headers, "Content-Length": String(bytes.length), Connection: "close" }))
		lines.push(`${k}: ${v}`);
	return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), bytes]);
}
