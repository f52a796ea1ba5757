// Webhooks: the subscriptions with their events and whether delivery is on (a webhook disabled
// after failed deliveries says why, prominently); create (the secret is shown once), edit,
// delete, and a detail page with the delivery history and a "Send test event" button.
import type { Webhook, WebhookDelivery } from "../../src/domain/webhooks/model.ts";
import { WEBHOOK_EVENTS } from "../../src/domain/webhooks/model.ts";
import {
	ActionForm,
	Badge,
	Check,
	CheckSet,
	Csrf,
	ErrorSummary,
	Field,
	type FormState,
	formatTime,
	Notice,
	Pager,
	Secret,
} from "../components.tsx";
import type { Viewer } from "../layout.tsx";

type Pagination = { page: number; pageSize: number; totalCount: number; hasNext: boolean };

const EVENT_OPTIONS = WEBHOOK_EVENTS.map((e) => [e, e] as const);

function eventsText(events: string[]): string {
	return events.length === WEBHOOK_EVENTS.length ? "every event" : events.join(", ");
}

function StateBadge(props: { hook: Webhook }): string {
	return (props.hook.enabled ? <Badge kind="on" text="enabled" /> : <Badge kind="off" text="disabled" />) as string;
}

/** Why a webhook no longer receives events, where nobody can miss it. */
function DisabledReason(props: { hook: Webhook }): string {
	const h = props.hook;
	if (h.enabled) return "";
	return (
		<div class="alert">
			<strong>Delivery is stopped.</strong> <span safe>{h.disabledReason ?? "This webhook was disabled by hand."}</span>
		</div>
	) as string;
}

function WebhookFields(props: { form: FormState; edit: boolean }): string {
	const f = props.form;
	return (
		<>
			<Field
				form={f}
				name="url"
				label="URL"
				type="text"
				example="https://example.com/hooks/pistonprotection"
				required
			/>
			<CheckSet form={f} name="events" legend="Events" options={EVENT_OPTIONS} />
			<Field
				form={f}
				name="secret"
				label={props.edit ? "New secret" : "Secret"}
				autocomplete="off"
				hint={
					props.edit
						? "Empty: keep the current secret. At least 16 characters."
						: "Empty: one is generated. At least 16 characters."
				}
			/>
			{props.edit ? (
				<Check form={f} name="enabled" label="Enabled (enabling again clears the reason it was disabled for)" />
			) : (
				""
			)}
		</>
	) as string;
}

export function WebhookListPage(props: {
	viewer: Viewer;
	hooks: Webhook[];
	pagination: Pagination;
	form: FormState;
	created?: { id: string; secret: string };
	notice?: string;
}): string {
	const v = props.viewer;
	const stopped = props.hooks.filter((h) => !h.enabled);
	return (
		<>
			<h1>Webhooks</h1>
			<Notice message={props.notice} />
			{props.created ? (
				<>
					<Secret id="webhook-secret" label="Signing secret of the new webhook" value={props.created.secret} />
					<p>
						<a href={`/webhooks/${props.created.id}`}>Open the new webhook</a>
					</p>
				</>
			) : (
				""
			)}
			{stopped.length ? (
				<div class="alert">
					<strong safe>
						{stopped.length === 1 ? "One webhook is disabled" : `${stopped.length} webhooks are disabled`}
					</strong>
					<ul>
						{stopped.map((h) => (
							<li>
								<a href={`/webhooks/${h.id}`}>
									<code safe>{h.url}</code>
								</a>
								: <span safe>{h.disabledReason ?? "disabled by hand"}</span>
							</li>
						))}
					</ul>
				</div>
			) : (
				""
			)}
			{v.can.admin ? (
				<form method="post" action="/webhooks" class="panel" novalidate>
					<h2>Add a webhook</h2>
					<ErrorSummary form={props.form} />
					<Csrf token={v.csrf} />
					<WebhookFields form={props.form} edit={false} />
					<button type="submit">Add webhook</button>
				</form>
			) : (
				""
			)}
			<div class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>URL</th>
							<th>Events</th>
							<th>State</th>
							<th>Created</th>
							{v.can.admin ? <th>Actions</th> : ""}
						</tr>
					</thead>
					<tbody>
						{props.hooks.map((h) => (
							<tr data-id={h.id}>
								<td data-label="URL" class="small">
									<a href={`/webhooks/${h.id}`}>
										<code safe>{h.url}</code>
									</a>
								</td>
								<td data-label="Events" class="small" safe>
									{eventsText(h.events)}
								</td>
								<td data-label="State">
									<StateBadge hook={h} />
									{h.enabled ? (
										""
									) : (
										<p class="field-error" safe>
											{h.disabledReason ?? "disabled by hand"}
										</p>
									)}
								</td>
								<td data-label="Created" class="small" safe>
									{formatTime(h.createdAt)}
								</td>
								{v.can.admin ? (
									<td data-label="Actions">
										<a class="button secondary small" href={`/webhooks/${h.id}/edit`}>
											Edit
										</a>{" "}
										<ActionForm
											action={`/webhooks/${h.id}/delete`}
											csrf={v.csrf}
											label="Delete"
											danger
											confirm={`Delete the webhook to ${h.url}? Its delivery history goes with it.`}
										/>
									</td>
								) : (
									""
								)}
							</tr>
						))}
					</tbody>
				</table>
			</div>
			{props.hooks.length ? "" : <p class="muted">No webhooks.</p>}
			<Pager base="/webhooks" query={{}} pagination={props.pagination} />
		</>
	) as string;
}

function DeliveryBadge(props: { status: WebhookDelivery["status"] }): string {
	const kind = props.status === "succeeded" ? "on" : props.status === "failed" ? "failed" : "idle";
	return (<Badge kind={kind} text={props.status} />) as string;
}

export function WebhookDetailPage(props: {
	viewer: Viewer;
	hook: Webhook;
	deliveries: WebhookDelivery[];
	pagination: Pagination;
	notice?: string;
}): string {
	const v = props.viewer;
	const h = props.hook;
	return (
		<>
			<div class="spread">
				<h1>Webhook</h1>
				<div class="row">
					{v.can.write ? <ActionForm action={`/webhooks/${h.id}/test`} csrf={v.csrf} label="Send test event" /> : ""}
					{v.can.admin ? (
						<>
							{h.enabled ? (
								""
							) : (
								<ActionForm
									action={`/webhooks/${h.id}/enabled`}
									csrf={v.csrf}
									label="Enable again"
									fields={{ enabled: "true" }}
								/>
							)}
							<a class="button secondary small" href={`/webhooks/${h.id}/edit`}>
								Edit
							</a>
							<ActionForm
								action={`/webhooks/${h.id}/delete`}
								csrf={v.csrf}
								label="Delete"
								danger
								confirm={`Delete the webhook to ${h.url}? Its delivery history goes with it.`}
							/>
						</>
					) : (
						""
					)}
				</div>
			</div>
			<Notice message={props.notice} />
			<DisabledReason hook={h} />
			<div class="grid">
				<div class="panel">
					<div class="muted small">URL</div>
					<code safe>{h.url}</code>
				</div>
				<div class="panel">
					<div class="muted small">State</div>
					<div class="stat">
						<StateBadge hook={h} />
					</div>
					<div class="muted small">
						Secret <code safe>{`${h.secretPrefix}…`}</code>
					</div>
				</div>
				<div class="panel">
					<div class="muted small">Events</div>
					<div class="small" safe>
						{eventsText(h.events)}
					</div>
				</div>
				<div class="panel">
					<div class="muted small">Created</div>
					<div class="small" safe>
						{formatTime(h.createdAt)}
					</div>
					<div class="muted small">Updated</div>
					<div class="small" safe>
						{formatTime(h.updatedAt)}
					</div>
				</div>
			</div>
			<h2>Deliveries</h2>
			<p class="muted small">
				A delivery without a 2xx answer is retried after 1 min, 5 min, 30 min, 2 h, 8 h and 24 h; after 7 failed
				attempts the webhook is disabled.
			</p>
			<div id="deliveries" class="table-wrap">
				{props.deliveries.length ? (
					<table class="stack">
						<thead>
							<tr>
								<th>Event</th>
								<th>Status</th>
								<th class="num">Attempts</th>
								<th>Last answer</th>
								<th>Queued</th>
								<th>Last attempt</th>
								<th>Next attempt</th>
								<th>Delivered</th>
							</tr>
						</thead>
						<tbody>
							{props.deliveries.map((d) => (
								<tr>
									<td data-label="Event">
										<span class="mono small" safe>
											{d.eventType}
										</span>
										<div class="muted small mono" safe>
											{d.eventId}
										</div>
									</td>
									<td data-label="Status">
										<DeliveryBadge status={d.status} />
									</td>
									<td data-label="Attempts" class="num" safe>
										{String(d.attempts)}
									</td>
									<td data-label="Last answer" class="small">
										{d.lastStatusCode !== null ? <span safe>{`HTTP ${d.lastStatusCode}`}</span> : ""}
										{d.lastError ? (
											<div class="field-error" safe>
												{d.lastError}
											</div>
										) : d.lastStatusCode === null ? (
											"—"
										) : (
											""
										)}
									</td>
									<td data-label="Queued" class="small" safe>
										{formatTime(d.createdAt)}
									</td>
									<td data-label="Last attempt" class="small" safe>
										{formatTime(d.lastAttemptAt)}
									</td>
									<td data-label="Next attempt" class="small" safe>
										{formatTime(d.nextAttemptAt)}
									</td>
									<td data-label="Delivered" class="small" safe>
										{formatTime(d.deliveredAt)}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				) : (
					<p class="muted">Nothing delivered yet.</p>
				)}
				<Pager base={`/webhooks/${h.id}`} query={{}} pagination={props.pagination} />
			</div>
			<p>
				<a href="/webhooks">All webhooks</a>
			</p>
		</>
	) as string;
}

export function WebhookFormPage(props: { form: FormState; csrf: string; hook: Webhook }): string {
	const f = props.form;
	return (
		<>
			<h1>Edit webhook</h1>
			<p>
				<code safe>{props.hook.url}</code>
			</p>
			<DisabledReason hook={props.hook} />
			<ErrorSummary form={f} />
			<form method="post" action={`/webhooks/${props.hook.id}/edit`} class="panel" novalidate>
				<Csrf token={props.csrf} />
				<WebhookFields form={f} edit />
				<div class="row">
					<button type="submit">Save webhook</button>
					<a class="button secondary" href={`/webhooks/${props.hook.id}`}>
						Cancel
					</a>
				</div>
			</form>
		</>
	) as string;
}
