// Alerts: the list with each alert's condition in words, its state (FIRING stands out), the last
// measured value and when it last fired or resolved; the form with every field of the API, where
// notification channels are repeatable rows (adding or removing one posts the form back).
import type { Alert } from "../../src/domain/alerts/model.ts";
import { ALERT_METRICS, NOTIFICATION_TYPES, OPERATORS } from "../../src/domain/alerts/model.ts";
import type { Backend } from "../../src/domain/backends/model.ts";
import { rows } from "../../src/ui/forms.ts";
import {
	Badge,
	Check,
	Csrf,
	EnabledSwitch,
	ErrorSummary,
	Field,
	type FormState,
	formatRate,
	formatTime,
	Notice,
	Pager,
	RowActions,
	Select,
} from "../components.tsx";
import type { Viewer } from "../layout.tsx";

const METRIC_LABELS: Record<string, string> = {
	requests_per_second: "requests per second",
	packets_per_second: "packets per second",
	bytes_per_second: "bytes per second",
	passed_packets_per_second: "passed packets per second",
	dropped_packets_per_second: "dropped packets per second",
};

const OPERATOR_WORDS: Record<string, string> = {
	GREATER_THAN: "above",
	LESS_THAN: "below",
	EQUAL: "equal to",
	NOT_EQUAL: "not equal to",
};

const OPERATOR_LABELS: Record<string, string> = {
	GREATER_THAN: "greater than (>)",
	LESS_THAN: "less than (<)",
	EQUAL: "equal to (=)",
	NOT_EQUAL: "not equal to (≠)",
};

function duration(seconds: number): string {
	if (seconds <= 0) return "at once";
	if (seconds % 3600 === 0) return `for ${seconds / 3600} h`;
	if (seconds % 60 === 0) return `for ${seconds / 60} min`;
	return `for ${seconds} s`;
}

/** "packets per second above 5000 for 1 min". */
export function conditionText(c: Alert["condition"]): string {
	const metric = METRIC_LABELS[c.metric] ?? c.metric;
	const op = OPERATOR_WORDS[c.operator] ?? c.operator;
	return `${metric} ${op} ${c.threshold} ${duration(c.durationSeconds ?? 0)}`;
}

const unitOf = (metric: string) => (metric === "bytes_per_second" ? "B/s" : "/s");

function StateBadge(props: { alert: Alert }): string {
	const a = props.alert;
	if (!a.enabled) return (<Badge kind="disabled" text="disabled" />) as string;
	if (a.state === "firing") return (<Badge kind="failed" text="FIRING" />) as string;
	if (a.state === "pending") return (<Badge kind="idle" text="pending" />) as string;
	return (<Badge kind="on" text="ok" />) as string;
}

type Pagination = { page: number; pageSize: number; totalCount: number; hasNext: boolean };

export function AlertTable(props: {
	viewer: Viewer;
	alerts: Alert[];
	pagination: Pagination;
	backends: Backend[];
}): string {
	const v = props.viewer;
	const backendName = (id: string | null) =>
		id === null ? "All backends" : (props.backends.find((b) => b.id === id)?.name ?? id);
	return (
		<div id="alerts" class="table-wrap">
			{props.alerts.length ? (
				<table class="stack">
					<thead>
						<tr>
							<th>Name</th>
							<th>Backend</th>
							<th>Condition</th>
							<th>State</th>
							<th class="num">Last value</th>
							<th>Last fired</th>
							<th>Last resolved</th>
							<th>Notifies</th>
							<th>Enabled</th>
							{v.can.write || v.can.delete ? <th>Actions</th> : ""}
						</tr>
					</thead>
					<tbody>
						{props.alerts.map((a) => (
							<tr data-id={a.id} class={a.enabled && a.state === "firing" ? "firing" : undefined}>
								<td data-label="Name">
									<strong safe>{a.name}</strong>
								</td>
								<td data-label="Backend" safe>
									{backendName(a.backendId)}
								</td>
								<td data-label="Condition" class="small" safe>
									{conditionText(a.condition)}
								</td>
								<td data-label="State">
									<StateBadge alert={a} />
								</td>
								<td data-label="Last value" class="num" safe>
									{formatRate(a.lastValue, unitOf(a.condition.metric))}
								</td>
								<td data-label="Last fired" class="small" safe>
									{formatTime(a.lastFiredAt)}
								</td>
								<td data-label="Last resolved" class="small" safe>
									{formatTime(a.lastResolvedAt)}
								</td>
								<td data-label="Notifies" class="small" safe>
									{a.notifications.length ? a.notifications.map((n) => n.type).join(", ") : "nobody"}
								</td>
								<EnabledSwitch
									canWrite={v.can.write}
									enabled={a.enabled}
									action={`/alerts/${a.id}/enabled`}
									target="#alerts"
									csrf={v.csrf}
									name={a.name}
								/>
								<RowActions
									can={v.can}
									editHref={`/alerts/${a.id}/edit`}
									deleteAction={`/alerts/${a.id}/delete`}
									csrf={v.csrf}
									confirm={`Delete alert '${a.name}'?`}
								/>
							</tr>
						))}
					</tbody>
				</table>
			) : (
				<p class="muted">No alerts yet.</p>
			)}
			<Pager base="/alerts" query={{}} pagination={props.pagination} />
		</div>
	) as string;
}

export function AlertListPage(props: {
	viewer: Viewer;
	alerts: Alert[];
	pagination: Pagination;
	backends: Backend[];
	notice?: string;
}): string {
	const firing = props.alerts.filter((a) => a.enabled && a.state === "firing");
	return (
		<>
			<div class="spread">
				<h1>Alerts</h1>
				{props.viewer.can.write ? (
					<a class="button" href="/alerts/new">
						New alert
					</a>
				) : (
					""
				)}
			</div>
			<Notice message={props.notice} />
			{firing.length ? (
				<div class="alert">
					<strong>Firing now:</strong> <span safe>{firing.map((a) => a.name).join(", ")}</span>
				</div>
			) : (
				""
			)}
			<p class="muted small">
				Conditions are checked on the measured rates of one backend or of all of them; an alert fires once its condition
				has held for its duration, and resolves when it stops holding.
			</p>
			<AlertTable viewer={props.viewer} alerts={props.alerts} pagination={props.pagination} backends={props.backends} />
		</>
	) as string;
}

const opts = (values: readonly string[], labels: Record<string, string> = {}) =>
	values.map((v) => [v, labels[v] ?? v] as const);

export function AlertFormPage(props: {
	form: FormState;
	csrf: string;
	backends: Backend[];
	/** null: a new alert. */
	alert: { id: string; name: string } | null;
}): string {
	const f = props.form;
	const action = props.alert ? `/alerts/${props.alert.id}/edit` : "/alerts/new";
	const notifications = rows(f.values, "notifications");
	const scope = [["", "All backends"] as const, ...props.backends.map((b) => [b.id, b.name] as const)];
	return (
		<>
			<h1 safe>{props.alert ? `Edit alert ${props.alert.name}` : "New alert"}</h1>
			<ErrorSummary form={f} />
			<form method="post" action={action} novalidate>
				<Csrf token={props.csrf} />
				<fieldset>
					<legend>Alert</legend>
					<div class="cols">
						<Field form={f} name="name" label="Name" required />
						<Select form={f} name="backendId" label="Backend" options={scope} fallback="" />
					</div>
					<Check form={f} name="enabled" label="Enabled" fallback />
				</fieldset>
				<fieldset>
					<legend>Condition</legend>
					<div class="cols">
						<Select
							form={f}
							name="condition.metric"
							label="Metric"
							options={opts(ALERT_METRICS, METRIC_LABELS)}
							fallback="requests_per_second"
						/>
						<Select
							form={f}
							name="condition.operator"
							label="Operator"
							options={opts(OPERATORS, OPERATOR_LABELS)}
							fallback="GREATER_THAN"
						/>
						<Field
							form={f}
							name="condition.threshold"
							label="Threshold"
							type="text"
							hint="Per second (bytes per second for the bytes metric)"
							required
						/>
						<Field
							form={f}
							name="condition.durationSeconds"
							label="Duration (s)"
							type="number"
							min={0}
							max={86400}
							hint="How long the condition must hold; empty: 0"
						/>
					</div>
				</fieldset>
				<fieldset id="f-notifications">
					<legend>Notifications</legend>
					<p class="hint muted small">
						EMAIL: an address (needs notify.smtp_host); WEBHOOK, SLACK, DISCORD: an http(s) URL; PAGERDUTY: an Events
						API v2 routing key. Rows left without a destination are not saved.
					</p>
					{notifications.map((i) => (
						<div class="cols">
							<Select
								form={f}
								name={`notifications[${i}].type`}
								label={`Channel ${i + 1}`}
								options={opts(NOTIFICATION_TYPES)}
								fallback="WEBHOOK"
							/>
							<Field form={f} name={`notifications[${i}].destination`} label={`Destination ${i + 1}`} />
							<div class="field">
								<button type="submit" name="_op" value={`remove-notification:${i}`} class="danger small" formnovalidate>
									Remove channel {i + 1}
								</button>
							</div>
						</div>
					))}
					<button type="submit" name="_op" value="add-notification" class="secondary small" formnovalidate>
						Add channel
					</button>
				</fieldset>
				<div class="row">
					<button type="submit" name="_op" value="save">
						{props.alert ? "Save alert" : "Create alert"}
					</button>
					<a class="button secondary" href="/alerts">
						Cancel
					</a>
				</div>
			</form>
		</>
	) as string;
}
