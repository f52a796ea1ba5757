// Signing keys for access tokens: Ed25519 key pairs in <data_dir>/keys/signing-keys.json (0600,
// directory 0700), generated on first use (install runs `migrate`, so that is at install).
// Rotation adds a new current key; earlier keys keep verifying until every token they signed
// has expired, then they are pruned.

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomString } from "../domain/ids.ts";

/** Access tokens live this long (the spec's expiresIn); retired keys verify for this long too. */
export const ACCESS_TOKEN_TTL_SECONDS = 900;

interface StoredKey {
	kid: string;
	privateKeyPem: string;
	createdAt: string;
	/** When a newer key replaced it; it verifies until retiredAt + the access-token lifetime. */
	retiredAt: string | null;
}

interface StoredRing {
	version: 1;
	keys: StoredKey[];
	/** HMAC key for CSRF tokens, bound to the session secret. */
	csrfSecret: string;
}

export interface SigningKey {
	kid: string;
	privateKey: KeyObject;
	publicKey: KeyObject;
}

export class KeyRingError extends Error {}

const ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz";
const RELOAD_INTERVAL_MS = 1000;

export class KeyRing {
	private current!: SigningKey;
	private verifying = new Map<string, KeyObject>();
	private csrf!: Buffer;
	private loadedMtime = 0;
	private checkedAt = 0;

	private constructor(readonly path: string) {}

	/** Loads the ring, generating it (0600) when absent. */
	static open(dataDir: string): KeyRing {
		const dir = join(dataDir, "keys");
		const ring = new KeyRing(join(dir, "signing-keys.json"));
		if (!existsSync(ring.path)) {
			mkdirSync(dir, { recursive: true, mode: 0o700 });
			ring.write({ version: 1, keys: [newKey()], csrfSecret: randomString(64, ALNUM) });
		}
		ring.load();
		return ring;
	}

	signingKey(): SigningKey {
		this.refresh();
		return this.current;
	}

	/** The public key for a kid, re-reading the file once if the kid is unknown (rotated by the CLI). */
	verificationKey(kid: string): KeyObject | null {
		this.refresh();
		return this.verifying.get(kid) ?? null;
	}

	csrfSecret(): Buffer {
		return this.csrf;
	}

	/** Adds a new current key, retires the previous one, prunes keys whose tokens have all expired. */
	rotate(now = Date.now()): string {
		const stored = this.read();
		const graceMs = (ACCESS_TOKEN_TTL_SECONDS + 60) * 1000;
		const keys = stored.keys
			.map((k) => (k.retiredAt ? k : { ...k, retiredAt: new Date(now).toISOString() }))
			.filter((k) => now - Date.parse(k.retiredAt as string) < graceMs);
		const fresh = newKey();
		this.write({ ...stored, keys: [...keys, fresh] });
		this.load();
		return fresh.kid;
	}

	private refresh(): void {
		const now = Date.now();
		if (now - this.checkedAt < RELOAD_INTERVAL_MS) return;
		this.checkedAt = now;
		try {
			if (statSync(this.path).mtimeMs !== this.loadedMtime) this.load();
		} catch {
			// The file vanished under us: keep serving with the keys in memory.
		}
	}

	private read(): StoredRing {
		try {
			return JSON.parse(readFileSync(this.path, "utf8")) as StoredRing;
		} catch (err) {
			throw new KeyRingError(`cannot read signing keys ${this.path}: ${(err as Error).message}`);
		}
	}

	private load(): void {
		const stored = this.read();
		const active = stored.keys.filter((k) => k.retiredAt === null).at(-1);
		if (!active) throw new KeyRingError(`${this.path} has no current signing key`);
		const now = Date.now();
		const graceMs = (ACCESS_TOKEN_TTL_SECONDS + 60) * 1000;
		this.verifying = new Map();
		for (const k of stored.keys) {
			if (k.retiredAt && now - Date.parse(k.retiredAt) >= graceMs) continue;
			this.verifying.set(k.kid, createPublicKey(createPrivateKey(k.privateKeyPem)));
		}
		const privateKey = createPrivateKey(active.privateKeyPem);
		this.current = { kid: active.kid, privateKey, publicKey: createPublicKey(privateKey) };
		this.csrf = Buffer.from(stored.csrfSecret);
		this.loadedMtime = statSync(this.path).mtimeMs;
		this.checkedAt = now;
	}

	private write(ring: StoredRing): void {
		const tmp = `${this.path}.tmp`;
		writeFileSync(tmp, JSON.stringify(ring, null, "\t"), { mode: 0o600 });
		chmodSync(tmp, 0o600);
		renameSync(tmp, this.path);
	}
}

function newKey(): StoredKey {
	const { privateKey } = generateKeyPairSync("ed25519");
	return {
		kid: randomString(16, ALNUM),
		privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
		createdAt: new Date().toISOString(),
		retiredAt: null,
	};
}
