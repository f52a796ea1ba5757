// Login throttling. Failures are counted per (account, address), per address and per account:
//  - per (account, address): after `login_slow_after` failures each answer is delayed (doubling,
//    capped), after `login_max_failures` the address is refused for that account;
//  - per address: after `address_max_failures` (any account) the address is refused;
//  - per account from every address: only slowed, never refused, so an attacker cannot lock the
//    owner out of their own box — the right user still gets in from another address.
// The answer is the same whether or not the account exists.
import type { Config } from "../config.ts";
import { TooManyRequests } from "./ratelimit.ts";

interface Counter {
	failures: number;
	lastAt: number;
	lockedUntil: number;
}

const MAX_DELAY_MS = 2000;
const BASE_DELAY_MS = 100;
const MAX_TRACKED = 100_000;

export class LoginThrottle {
	private readonly pairs = new Map<string, Counter>();
	private readonly addresses = new Map<string, Counter>();
	private readonly accounts = new Map<string, Counter>();

	constructor(private readonly settings: () => Config["auth"]) {}

	/** Throws TooManyRequests when refused; otherwise returns how long to delay this attempt. */
	admit(email: string, address: string | null, now = Date.now()): number {
		const s = this.settings();
		const pair = this.get(this.pairs, pairKey(email, address), now);
		const addr = this.get(this.addresses, address ?? "", now);
		const lockedUntil = Math.max(pair?.lockedUntil ?? 0, addr?.lockedUntil ?? 0);
		if (lockedUntil > now) {
			throw new TooManyRequests(
				Math.ceil((lockedUntil - now) / 1000),
				"too many failed sign-in attempts; try again later",
			);
		}
		const account = this.get(this.accounts, email.toLowerCase(), now);
		const excess = Math.max(
			(pair?.failures ?? 0) - s.login_slow_after,
			(account?.failures ?? 0) - s.login_max_failures,
			-1,
		);
		return excess < 0 ? 0 : Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** excess);
	}

	failed(email: string, address: string | null, now = Date.now()): void {
		const s = this.settings();
		const lockMs = s.login_lockout_seconds * 1000;
		const pair = this.bump(this.pairs, pairKey(email, address), now);
		if (pair.failures >= s.login_max_failures) pair.lockedUntil = now + lockMs;
		const addr = this.bump(this.addresses, address ?? "", now);
		if (addr.failures >= s.address_max_failures) addr.lockedUntil = now + lockMs;
		this.bump(this.accounts, email.toLowerCase(), now);
	}

	succeeded(email: string, address: string | null): void {
		this.pairs.delete(pairKey(email, address));
		this.accounts.delete(email.toLowerCase());
	}

	/** A counter forgets failures older than the lockout period. */
	private get(map: Map<string, Counter>, key: string, now: number): Counter | undefined {
		const c = map.get(key);
		if (c && c.lockedUntil <= now && now - c.lastAt > this.settings().login_lockout_seconds * 1000) {
			map.delete(key);
			return undefined;
		}
		return c;
	}

	private bump(map: Map<string, Counter>, key: string, now: number): Counter {
		let c = this.get(map, key, now);
		if (!c) {
			if (map.size >= MAX_TRACKED) this.prune(map, now);
			c = { failures: 0, lastAt: now, lockedUntil: 0 };
			map.set(key, c);
		}
		c.failures++;
		c.lastAt = now;
		return c;
	}

	private prune(map: Map<string, Counter>, now: number): void {
		const keep = this.settings().login_lockout_seconds * 1000;
		for (const [k, c] of map) if (c.lockedUntil <= now && now - c.lastAt > keep) map.delete(k);
		if (map.size >= MAX_TRACKED) {
			let n = 0;
			for (const k of map.keys()) if (n++ < MAX_TRACKED / 2) map.delete(k);
		}
	}
}

function pairKey(email: string, address: string | null): string {
	return `${email.toLowerCase()}\n${address ?? ""}`;
}
