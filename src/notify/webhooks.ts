// Delivers queued webhook events: signed POSTs, retried at 1 min, 5 min, 30 min, 2 h, 8 h and
// 24 h; after 7 failed attempts the delivery fails and the webhook is disabled with the reason.
// The queue is the webhook_deliveries table, so a restart resumes where it stopped, and a
// delivery recorded as succeeded is never sent again.
import type { Database } from "bun:sqlite";
import type { DeliveryRow } from "../domain/webhooks/service.ts";
import type { Logger } from "../log.ts";
import { VERSION } from "../version.ts";

/** Delay before attempt n+1 after n failed attempts (n = 1 … 6). */
export const RETRY_DELAYS_MS = [60_000, 300_000, 1_800_000, 7_200_000, 28_800_000, 86_400_000];
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
const BATCH = 20;

/** The spec's signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}"> with the webhook's secret. */
export function signature(secret: string, timestamp: number, body: string): string {
	return `sha256=${new Bun.CryptoHasher("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

interface DueRow extends DeliveryRow {
	url: string;
	secret: string;
}

export interface DelivererOptions {
	now?: () => number;
	timeoutMs?: number;
	intervalMs?: number;
}

export class WebhookDeliverer {
	private timer: ReturnType<typeof setInterval> | null = null;
	private running: Promise<void> | null = null;
	private readonly now: () => number;
	private readonly timeoutMs: number;

	constructor(
		private readonly db: Database,
		private readonly log: Logger,
		private readonly opts: DelivererOptions = {},
	) {
		this.now = opts.now ?? Date.now;
		this.timeoutMs = opts.timeoutMs ?? 10_000;
	}

	start(): void {
		this.timer = setInterval(() => void this.kick(), this.opts.intervalMs ?? 1000);
	}

	/** Runs a pass now unless one is running; resolves when the pass that covers this call ends. */
	kick(): Promise<void> {
		if (!this.running) {
			this.running = this.pass().finally(() => {
				this.running = null;
			});
		}
		return this.running;
	}

	async stop(): Promise<void> {
		if (this.timer) clearInterval(this.timer);
		this.timer = null;
		await this.running;
	}

	/** Attempts every due delivery, oldest first, in batches. */
	private async pass(): Promise<void> {
		for (;;) {
			const due = this.db
				.query<DueRow, [number]>(
					`SELECT d.*, w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
					 WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1
					 ORDER BY d.next_attempt_at, d.created_at LIMIT ${BATCH}`,
				)
				.all(this.now());
			if (!due.length) return;
			await Promise.all(due.map((row) => this.attempt(row)));
			if (due.length < BATCH) return;
		}
	}

	private async attempt(row: DueRow): Promise<void> {
		const at = this.now();
		const timestamp = Math.floor(at / 1000);
		let status: number | null = null;
		let error: string | null = null;
		try {
			const res = await fetch(row.url, {
				method: "POST",
				redirect: "manual",
				signal: AbortSignal.timeout(this.timeoutMs),
				headers: {
					"content-type": "application/json",
					"user-agent": `PistonProtection-Webhooks/${VERSION}`,
					"x-pistonprotection-signature": signature(row.secret, timestamp, row.payload),
					"x-pistonprotection-timestamp": String(timestamp),
					"x-pistonprotection-event": row.event_type,
					"x-pistonprotection-delivery": row.id,
				},
				body: row.payload,
			});
			status = res.status;
			await res.body?.cancel();
			if (status < 200 || status >= 300) error = `HTTP ${status}`;
		} catch (err) {
			error = (err as Error).name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms` : (err as Error).message;
		}
		const attempts = row.attempts + 1;
		if (!error) {
			this.db
				.prepare(
					`UPDATE webhook_deliveries SET status = 'succeeded', attempts = ?, last_attempt_at = ?, last_status_code = ?,
						last_error = NULL, delivered_at = ? WHERE id = ?`,
				)
				.run(attempts, at, status, new Date(at).toISOString(), row.id);
			return;
		}
		this.db.transaction(() => {
			if (attempts >= MAX_ATTEMPTS) {
				this.db
					.prepare(
						`UPDATE webhook_deliveries SET status = 'failed', attempts = ?, last_attempt_at = ?, last_status_code = ?,
							last_error = ? WHERE id = ?`,
					)
					.run(attempts, at, status, error, row.id);
				const reason = `disabled after ${MAX_ATTEMPTS} failed attempts to deliver ${row.event_id} (${row.event_type}): ${error}`;
				this.db
					.prepare("UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?")
					.run(reason, new Date(at).toISOString(), row.webhook_id);
				this.log.warn("webhook disabled", { webhookId: row.webhook_id, reason });
			} else {
				this.db
					.prepare(
						`UPDATE webhook_deliveries SET attempts = ?, last_attempt_at = ?, last_status_code = ?, last_error = ?,
							next_attempt_at = ? WHERE id = ?`,
					)
					.run(attempts, at, status, error, at + (RETRY_DELAYS_MS[attempts - 1] as number), row.id);
			}
		})();
	}
}
