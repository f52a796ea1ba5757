// IP lists: block (with a duration), allow, and the automatic bans with reason and expiry;
// search, and remove an entry (unblock, disallow, unban).
import type { Backend } from "../../src/domain/backends/model.ts";
import type { IpEntry } from "../../src/domain/iplists/service.ts";
import {
	ActionForm,
	Csrf,
	ErrorSummary,
	Field,
	type FormState,
	formatTime,
	Notice,
	Pager,
	Select,
} from "../components.tsx";
import type { Viewer } from "../layout.tsx";

export type ListTab = "block" | "allow" | "ban";

const TABS: Array<[ListTab, string]> = [
	["block", "Blocked"],
	["allow", "Allowed"],
	["ban", "Automatic bans"],
];

export interface IpListProps {
	viewer: Viewer;
	list: ListTab;
	entries: IpEntry[];
	pagination: { page: number; pageSize: number; totalCount: number; hasNext: boolean };
	search: string;
	backends: Backend[];
	blockForm: FormState;
	allowForm: FormState;
	notice?: string;
}

const display = (cidr: string) => cidr.replace(/\/32$/, "").replace(/:[^/]*\/128$/, (m) => m.slice(0, -4));

export function IpListPage(props: IpListProps): string {
	const v = props.viewer;
	const scope = [["", "Every backend"] as const, ...props.backends.map((b) => [b.id, b.name] as const)];
	const backendName = (id: string | null) =>
		id ? (props.backends.find((b) => b.id === id)?.name ?? id) : "every backend";
	const canRemove = props.list === "allow" ? v.can.write : v.can.delete;
	return (
		<>
			<h1>IP lists</h1>
			<Notice message={props.notice} />
			{v.can.write ? (
				<div class="grid">
					<form method="post" action="/ips/block" class="panel" novalidate>
						<h2>Block</h2>
						<ErrorSummary form={props.blockForm} />
						<Csrf token={v.csrf} />
						<Field
							form={props.blockForm}
							name="ip"
							label="Address or CIDR"
							example="203.0.113.7 or 198.51.100.0/24"
							required
						/>
						<Field form={props.blockForm} name="reason" label="Reason" />
						<div class="cols">
							<Field
								form={props.blockForm}
								name="duration"
								label="Duration"
								type="number"
								min={1}
								hint="Empty: until removed"
							/>
							<Select
								form={props.blockForm}
								name="unit"
								label="Unit"
								fallback="3600"
								options={[
									["60", "minutes"],
									["3600", "hours"],
									["86400", "days"],
								]}
							/>
						</div>
						<Select form={props.blockForm} name="backendId" label="Applies to" options={scope} />
						<button type="submit">Block</button>
					</form>
					<form method="post" action="/ips/allow" class="panel" novalidate>
						<h2>Allow</h2>
						<ErrorSummary form={props.allowForm} />
						<Csrf token={v.csrf} />
						<Field form={props.allowForm} name="ip" label="Address or CIDR" required />
						<Field form={props.allowForm} name="reason" label="Reason" />
						<Select form={props.allowForm} name="backendId" label="Applies to" options={scope} />
						<button type="submit">Allow</button>
					</form>
				</div>
			) : (
				""
			)}
			<nav aria-label="Lists" class="row">
				{TABS.map(([tab, label]) => (
					<a
						class={tab === props.list ? "button small" : "button secondary small"}
						href={`/ips?list=${tab}`}
						aria-current={tab === props.list ? "page" : undefined}
						safe
					>
						{label}
					</a>
				))}
			</nav>
			<form
				method="get"
				action="/ips"
				class="row panel"
				aria-label="Search"
				hx-get="/ips"
				hx-trigger="input changed delay:300ms from:#f-ipsearch, submit"
				hx-target="#ip-list"
				hx-select="#ip-list"
				hx-swap="outerHTML"
				hx-push-url="true"
			>
				<input type="hidden" name="list" value={props.list} />
				<div class="field">
					<label for="f-ipsearch">Search addresses and reasons</label>
					<input id="f-ipsearch" type="search" name="search" value={props.search} />
				</div>
				<div class="field">
					<button type="submit" class="secondary">
						Search
					</button>
				</div>
			</form>
			<div id="ip-list" class="table-wrap">
				{props.entries.length ? (
					<table class="stack">
						<thead>
							<tr>
								<th>Address</th>
								<th>Reason</th>
								<th>Source</th>
								<th>Applies to</th>
								<th>Added</th>
								<th>Expires</th>
								{canRemove ? <th>Actions</th> : ""}
							</tr>
						</thead>
						<tbody>
							{props.entries.map((e) => (
								<tr>
									<td data-label="Address" class="mono" safe>
										{display(e.ip)}
									</td>
									<td data-label="Reason" safe>
										{e.reason || "—"}
									</td>
									<td data-label="Source" safe>
										{e.source}
									</td>
									<td data-label="Applies to" safe>
										{backendName(e.backendId)}
									</td>
									<td data-label="Added" class="small" safe>
										{formatTime(e.createdAt)}
									</td>
									<td data-label="Expires" class="small" safe>
										{e.expiresAt ? formatTime(e.expiresAt) : "never"}
									</td>
									{canRemove ? (
										<td data-label="Actions">
											<ActionForm
												action="/ips/remove"
												csrf={v.csrf}
												label={props.list === "block" ? "Unblock" : props.list === "ban" ? "Unban" : "Remove"}
												danger
												confirm={`Remove ${display(e.ip)} from the list?`}
												fields={{ list: props.list, ip: e.ip, backendId: e.backendId ?? "" }}
											/>
										</td>
									) : (
										""
									)}
								</tr>
							))}
						</tbody>
					</table>
				) : (
					<p class="muted">No entries.</p>
				)}
				<Pager base="/ips" query={{ list: props.list, search: props.search }} pagination={props.pagination} />
			</div>
		</>
	) as string;
}
