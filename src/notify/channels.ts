// Alert notifications in each channel's own format: an email (SMTP via nodemailer), a JSON
// webhook, Slack and Discord incoming-webhook messages, PagerDuty Events API v2 trigger/resolve
// with the alert as dedup key. Destinations come from the alert; servers from [notify] config.
import nodemailer from "nodemailer";
import type { Config } from "../config.ts";
import type { Notification } from "../domain/alerts/model.ts";
import { VERSION } from "../version.ts";

export interface AlertNotice {
	kind: "fired" | "resolved";
	eventId: string;
	organizationId: string;
	alertId: string;
	alertName: string;
	backendId: string | null;
	backendName: string | null;
	metric: string;
	operator: string;
	threshold: number;
	value: number;
	at: string;
}

const OPERATOR_TEXT: Record<string, string> = {
	GREATER_THAN: ">",
	LESS_THAN: "<",
	EQUAL: "=",
	NOT_EQUAL: "≠",
};

export function headline(n: AlertNotice): string {
	const scope = n.backendName ? ` on ${n.backendName}` : "";
	const state = n.kind === "fired" ? "FIRING" : "RESOLVED";
	return `[${state}] ${n.alertName}${scope}: ${n.metric} is ${formatNumber(n.value)} (threshold ${OPERATOR_TEXT[n.operator] ?? n.operator} ${formatNumber(n.threshold)})`;
}

function formatNumber(v: number): string {
	return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

async function post(url: string, body: unknown): Promise<void> {
	const res = await fetch(url, {
		method: "POST",
		redirect: "manual",
		signal: AbortSignal.timeout(10_000),
		headers: { "content-type": "application/json", "user-agent": `PistonProtection-Alerts/${VERSION}` },
		body: JSON.stringify(body),
	});
	await res.body?.cancel();
	if (res.status < 200 || res.status >= 300) throw new Error(`${new URL(url).host} answered HTTP ${res.status}`);
}

/** Sends one notification; throws with a readable reason when the channel refuses it. */
export async function notify(channel: Notification, n: AlertNotice, config: Config["notify"]): Promise<void> {
	const text = headline(n);
	switch (channel.type) {
		case "EMAIL": {
			if (!config.smtp_host) throw new Error("no SMTP server configured (notify.smtp_host)");
			const transport = nodemailer.createTransport({
				host: config.smtp_host,
				port: config.smtp_port,
				secure: config.smtp_secure,
				auth: config.smtp_user ? { user: config.smtp_user, pass: config.smtp_password } : undefined,
			});
			try {
				await transport.sendMail({
					from: config.smtp_from,
					to: channel.destination,
					subject: text,
					text: [
						text,
						"",
						`Alert:     ${n.alertName} (${n.alertId})`,
						`Backend:   ${n.backendName ?? "all backends"}${n.backendId ? ` (${n.backendId})` : ""}`,
						`Condition: ${n.metric} ${OPERATOR_TEXT[n.operator] ?? n.operator} ${formatNumber(n.threshold)}`,
						`Value:     ${formatNumber(n.value)}`,
						`Time:      ${n.at}`,
					].join("\n"),
				});
			} finally {
				transport.close();
			}
			return;
		}
		case "WEBHOOK":
			return post(channel.destination, {
				id: n.eventId,
				type: n.kind === "fired" ? "alert.fired" : "alert.resolved",
				timestamp: n.at,
				organizationId: n.organizationId,
				data: {
					alertId: n.alertId,
					alertName: n.alertName,
					backendId: n.backendId,
					backendName: n.backendName,
					metric: n.metric,
					operator: n.operator,
					threshold: n.threshold,
					value: n.value,
				},
			});
		case "SLACK":
			return post(channel.destination, {
				text,
				blocks: [
					{ type: "section", text: { type: "mrkdwn", text: `*${text}*` } },
					{
						type: "context",
						elements: [{ type: "mrkdwn", text: `alert \`${n.alertId}\` · ${n.at}` }],
					},
				],
			});
		case "DISCORD":
			return post(channel.destination, {
				content: text,
				embeds: [
					{
						title: n.alertName,
						description: text,
						color: n.kind === "fired" ? 0xd32f2f : 0x2e7d32,
						timestamp: n.at,
						fields: [
							{ name: "Metric", value: n.metric, inline: true },
							{ name: "Value", value: formatNumber(n.value), inline: true },
							{
								name: "Threshold",
								value: `${OPERATOR_TEXT[n.operator] ?? n.operator} ${formatNumber(n.threshold)}`,
								inline: true,
							},
						],
					},
				],
			});
		case "PAGERDUTY":
			return post(
				config.pagerduty_events_url,
				n.kind === "fired"
					? {
							routing_key: channel.destination,
							event_action: "trigger",
							dedup_key: n.alertId,
							payload: {
								summary: text,
								source: n.backendName ?? "pistonprotection",
								severity: "critical",
								timestamp: n.at,
								component: n.backendId ?? undefined,
								custom_details: { metric: n.metric, value: n.value, threshold: n.threshold, operator: n.operator },
							},
						}
					: { routing_key: channel.destination, event_action: "resolve", dedup_key: n.alertId },
			);
	}
}
