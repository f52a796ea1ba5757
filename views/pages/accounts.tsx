// Members and invitations, API keys, OAuth clients and the audit log: who may act, and what
// they did. Secrets (keys, client secrets, invitation links) are shown once with a copy button.
import type { ApiKey } from "../../src/domain/apikeys/service.ts";
import type { AuditLogEntry } from "../../src/domain/audit/model.ts";
import type { Invitation } from "../../src/domain/invitations/model.ts";
import type { OAuthClient } from "../../src/domain/oauth/model.ts";
import type { Member } from "../../src/domain/users/model.ts";
import {
	ActionForm,
	CheckSet,
	Csrf,
	ErrorSummary,
	Field,
	type FormState,
	formatTime,
	Notice,
	Pager,
	Secret,
	Select,
	TextArea,
} from "../components.tsx";
import type { Viewer } from "../layout.tsx";

type Pagination = { page: number; pageSize: number; totalCount: number; hasNext: boolean };
const ROLES = ["OWNER", "ADMIN", "MEMBER", "VIEWER"] as const;
const PERMISSIONS = [
	["read", "read"],
	["write", "write"],
	["delete", "delete"],
	["admin", "admin"],
] as const;

export function MembersPage(props: {
	viewer: Viewer;
	members: Member[];
	invitations: Invitation[];
	form: FormState;
	inviteLink?: string;
	notice?: string;
}): string {
	const v = props.viewer;
	const grantable = ROLES.filter((r) => r !== "OWNER" || v.role === "OWNER").map((r) => [r, r] as const);
	return (
		<>
			<h1>Members</h1>
			<Notice message={props.notice} />
			{props.inviteLink ? <Secret id="invite-link" label="Invitation link" value={props.inviteLink} /> : ""}
			<div class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>Email</th>
							<th>Role</th>
							<th>Joined</th>
							<th>Last sign-in</th>
							{v.can.admin ? <th>Actions</th> : ""}
						</tr>
					</thead>
					<tbody>
						{props.members.map((m) => (
							<tr>
								<td data-label="Email">
									<span safe>{m.email}</span>
									{m.name ? (
										<div class="muted small" safe>
											{m.name}
										</div>
									) : (
										""
									)}
								</td>
								<td data-label="Role">
									{v.can.admin ? (
										<form method="post" action={`/members/${m.userId}/role`} class="row">
											<Csrf token={v.csrf} />
											<label class="skip" for={`role-${m.userId}`}>
												Role of <span safe>{m.email}</span>
											</label>
											<select id={`role-${m.userId}`} name="role">
												{ROLES.map((r) => (
													<option value={r} selected={r === m.role}>
														{r}
													</option>
												))}
											</select>
											<button type="submit" class="secondary small">
												Change
											</button>
										</form>
									) : (
										<span safe>{m.role}</span>
									)}
								</td>
								<td data-label="Joined" class="small" safe>
									{formatTime(m.joinedAt)}
								</td>
								<td data-label="Last sign-in" class="small" safe>
									{formatTime(m.lastLoginAt)}
								</td>
								{v.can.admin ? (
									<td data-label="Actions">
										<ActionForm
											action={`/members/${m.userId}/remove`}
											csrf={v.csrf}
											label="Remove"
											danger
											confirm={`Remove ${m.email} from the organization?`}
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
			{v.can.admin ? (
				<>
					<h2>Invitations</h2>
					<form method="post" action="/invitations" class="panel row" novalidate>
						<Csrf token={v.csrf} />
						<ErrorSummary form={props.form} />
						<Field form={props.form} name="email" label="Email" type="email" required />
						<Select form={props.form} name="role" label="Role" options={grantable} fallback="MEMBER" />
						<div class="field">
							<button type="submit">Invite</button>
						</div>
					</form>
					{props.invitations.length ? (
						<div class="table-wrap">
							<table class="stack">
								<thead>
									<tr>
										<th>Email</th>
										<th>Role</th>
										<th>Expires</th>
										<th>State</th>
										<th>Actions</th>
									</tr>
								</thead>
								<tbody>
									{props.invitations.map((i) => (
										<tr>
											<td data-label="Email" safe>
												{i.email}
											</td>
											<td data-label="Role" safe>
												{i.role}
											</td>
											<td data-label="Expires" class="small" safe>
												{formatTime(i.expiresAt)}
											</td>
											<td data-label="State">{i.acceptedAt ? "accepted" : i.revokedAt ? "revoked" : "open"}</td>
											<td data-label="Actions">
												{!i.acceptedAt && !i.revokedAt ? (
													<ActionForm
														action={`/invitations/${i.id}/revoke`}
														csrf={v.csrf}
														label="Revoke"
														danger
														confirm={`Revoke the invitation of ${i.email}?`}
													/>
												) : (
													""
												)}
											</td>
										</tr>
									))}
								</tbody>
							</table>
						</div>
					) : (
						<p class="muted">No invitations.</p>
					)}
				</>
			) : (
				""
			)}
		</>
	) as string;
}

export function ApiKeysPage(props: {
	viewer: Viewer;
	keys: ApiKey[];
	pagination: Pagination;
	form: FormState;
	created?: string;
	notice?: string;
}): string {
	const v = props.viewer;
	return (
		<>
			<h1>API keys</h1>
			<Notice message={props.notice} />
			{props.created ? <Secret id="new-key" label="Your new API key" value={props.created} /> : ""}
			{v.can.write ? (
				<form method="post" action="/api-keys" class="panel" novalidate>
					<h2>Create a key</h2>
					<ErrorSummary form={props.form} />
					<Csrf token={v.csrf} />
					<div class="cols">
						<Field form={props.form} name="name" label="Name" required />
						<Select
							form={props.form}
							name="environment"
							label="Environment"
							options={[
								["live", "live (pp_live_)"],
								["test", "test: sandbox data (pp_test_)"],
							]}
						/>
						<Field form={props.form} name="expiresAt" label="Expires on" type="date" hint="Empty: never" />
					</div>
					<CheckSet
						form={props.form}
						name="permissions"
						legend="Permissions (at most your own)"
						options={PERMISSIONS}
					/>
					<button type="submit">Create key</button>
				</form>
			) : (
				""
			)}
			<div class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>Name</th>
							<th>Prefix</th>
							<th>Permissions</th>
							<th>Last used</th>
							<th>Expires</th>
							<th>State</th>
							{v.can.write ? <th>Actions</th> : ""}
						</tr>
					</thead>
					<tbody>
						{props.keys.map((k) => (
							<tr>
								<td data-label="Name" safe>
									{k.name}
								</td>
								<td data-label="Prefix" class="mono" safe>
									{k.prefix}
								</td>
								<td data-label="Permissions" safe>
									{k.permissions.join(", ")}
								</td>
								<td data-label="Last used" class="small" safe>
									{formatTime(k.lastUsedAt)}
								</td>
								<td data-label="Expires" class="small" safe>
									{k.expiresAt ? formatTime(k.expiresAt) : "never"}
								</td>
								<td data-label="State">{k.revokedAt ? "revoked" : "active"}</td>
								{v.can.write ? (
									<td data-label="Actions">
										{k.revokedAt ? (
											""
										) : (
											<ActionForm
												action={`/api-keys/${k.id}/revoke`}
												csrf={v.csrf}
												label="Revoke"
												danger
												confirm={`Revoke the key '${k.name}'? Scripts using it stop working.`}
											/>
										)}
									</td>
								) : (
									""
								)}
							</tr>
						))}
					</tbody>
				</table>
			</div>
			{props.keys.length ? "" : <p class="muted">No API keys.</p>}
			<Pager base="/api-keys" query={{}} pagination={props.pagination} />
		</>
	) as string;
}

export function OAuthClientsPage(props: {
	viewer: Viewer;
	clients: OAuthClient[];
	pagination: Pagination;
	form: FormState;
	created?: { id: string; secret: string };
	notice?: string;
}): string {
	const v = props.viewer;
	return (
		<>
			<h1>OAuth clients</h1>
			<Notice message={props.notice} />
			{props.created ? (
				<>
					<p>
						Client ID: <code safe>{props.created.id}</code>
					</p>
					<Secret id="client-secret" label="Client secret" value={props.created.secret} />
				</>
			) : (
				""
			)}
			<form method="post" action="/oauth-clients" class="panel" novalidate>
				<h2>Register a client</h2>
				<ErrorSummary form={props.form} />
				<Csrf token={v.csrf} />
				<Field form={props.form} name="name" label="Name" required />
				<TextArea form={props.form} name="redirectUris" label="Redirect URIs" hint="One per line" />
				<CheckSet form={props.form} name="scopes" legend="Scopes" options={PERMISSIONS} />
				<button type="submit">Register</button>
			</form>
			<div class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>Name</th>
							<th>Client ID</th>
							<th>Redirect URIs</th>
							<th>Scopes</th>
							<th>Created</th>
							<th>Actions</th>
						</tr>
					</thead>
					<tbody>
						{props.clients.map((c) => (
							<tr>
								<td data-label="Name" safe>
									{c.name}
								</td>
								<td data-label="Client ID" class="mono" safe>
									{c.id}
								</td>
								<td data-label="Redirect URIs" class="small" safe>
									{c.redirectUris.join(" ")}
								</td>
								<td data-label="Scopes" safe>
									{c.scopes.join(", ")}
								</td>
								<td data-label="Created" class="small" safe>
									{formatTime(c.createdAt)}
								</td>
								<td data-label="Actions">
									{c.revokedAt ? (
										"revoked"
									) : (
										<ActionForm
											action={`/oauth-clients/${c.id}/revoke`}
											csrf={v.csrf}
											label="Revoke"
											danger
											confirm={`Revoke '${c.name}' and every token it holds?`}
										/>
									)}
								</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
			{props.clients.length ? "" : <p class="muted">No OAuth clients.</p>}
			<Pager base="/oauth-clients" query={{}} pagination={props.pagination} />
		</>
	) as string;
}

export function AuditPage(props: {
	entries: AuditLogEntry[];
	pagination: Pagination;
	filters: FormState;
	members: Member[];
}): string {
	const f = props.filters;
	return (
		<>
			<h1>Audit log</h1>
			<ErrorSummary form={f} />
			<form
				method="get"
				action="/audit"
				class="panel cols"
				aria-label="Search"
				hx-get="/audit"
				hx-target="#audit-list"
				hx-select="#audit-list"
				hx-swap="outerHTML"
				hx-push-url="true"
			>
				<Select
					form={f}
					name="userId"
					label="User"
					options={[["", "Anyone"] as const, ...props.members.map((m) => [m.userId, m.email] as const)]}
				/>
				<Field form={f} name="resourceType" label="Resource type" example="backend" />
				<Field form={f} name="action" label="Action" example="backend.created" />
				<Field form={f} name="from" label="From" type="date" />
				<Field form={f} name="to" label="Until (exclusive)" type="date" />
				<div class="field">
					<button type="submit" class="secondary">
						Filter
					</button>
				</div>
			</form>
			<div id="audit-list" class="table-wrap">
				<table class="stack">
					<thead>
						<tr>
							<th>Time</th>
							<th>Who</th>
							<th>Action</th>
							<th>Description</th>
							<th>Address</th>
						</tr>
					</thead>
					<tbody>
						{props.entries.map((e) => (
							<tr>
								<td data-label="Time" class="small" safe>
									{formatTime(e.timestamp)}
								</td>
								<td data-label="Who" safe>
									{e.userEmail ?? "system"}
								</td>
								<td data-label="Action" class="mono small" safe>
									{e.action}
								</td>
								<td data-label="Description" safe>
									{e.description}
								</td>
								<td data-label="Address" class="mono small" safe>
									{e.ipAddress ?? "—"}
								</td>
							</tr>
						))}
					</tbody>
				</table>
				{props.entries.length ? "" : <p class="muted">No entries match.</p>}
				<Pager
					base="/audit"
					query={Object.fromEntries(["userId", "resourceType", "action", "from", "to"].map((k) => [k, f.values[k]]))}
					pagination={props.pagination}
				/>
			</div>
		</>
	) as string;
}
