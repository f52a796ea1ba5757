// Filter rules of one backend in evaluation order: drag a row (or use Move up/down) to reorder,
// switch rules on and off, see how often each matched and when it last did.
import type { Backend } from "../../src/domain/backends/model.ts";
import type { FilterRule } from "../../src/domain/rules/model.ts";
import { RULE_ACTIONS } from "../../src/domain/rules/model.ts";
import {
	ActionForm,
	Check,
	CheckSet,
	Csrf,
	EnabledSwitch,
	ErrorSummary,
	Field,
	type FormState,
	formatRate,
	formatTime,
	Notice,
	RowActions,
	Select,
	TextArea,
} from "../components.tsx";
import type { Viewer } from "../layout.tsx";

export interface RuleListProps {
	viewer: Viewer;
	backends: Backend[];
	backend: Backend | null;
	rules: FilterRule[];
	notice?: string;
}

function summary(r: FilterRule): string {
	const m = r.match;
	const parts: string[] = [];
	if (m.sourceIps?.length) parts.push(`from ${m.sourceIps.length} prefix(es)`);
	if (m.sourceIpBlacklist?.length) parts.push(`not from ${m.sourceIpBlacklist.length} prefix(es)`);
	if (m.sourceCountries?.length) parts.push(`countries ${m.sourceCountries.join(",")}`);
	if (m.sourceCountryBlacklist?.length) parts.push(`not countries ${m.sourceCountryBlacklist.join(",")}`);
	if (m.sourceAsns?.length) parts.push(`AS ${m.sourceAsns.join(",")}`);
	if (m.destinationIps?.length) parts.push(`to ${m.destinationIps.length} address(es)`);
	if (m.destinationPorts?.length)
		parts.push(
			`ports ${m.destinationPorts.map((p) => (p.start === p.end ? p.start : `${p.start}-${p.end}`)).join(",")}`,
		);
	if (m.protocols?.length) parts.push(m.protocols.join("/"));
	if (m.l7Protocols?.length) parts.push(m.l7Protocols.join("/"));
	if (m.timeMatch) parts.push("time window");
	return parts.join("; ") || "all traffic";
}

export function RuleTable(props: RuleListProps): string {
	const b = props.backend;
	const v = props.viewer;
	if (!b) return (<div id="rules" />) as string;
	return (
		<div id="rules" class="table-wrap">
			{props.rules.length ? (
				<table class="stack">
					<thead>
						<tr>
							{v.can.write ? <th>Order</th> : ""}
							<th>Name</th>
							<th>Match</th>
							<th>Action</th>
							<th>Enabled</th>
							<th class="num">Hits</th>
							<th>Last match</th>
							{v.can.write || v.can.delete ? <th>Actions</th> : ""}
						</tr>
					</thead>
					<tbody data-reorder-url={v.can.write ? `/backends/${b.id}/rules/reorder` : undefined}>
						{props.rules.map((r, i) => (
							<tr data-id={r.id} draggable={v.can.write ? "true" : undefined}>
								{v.can.write ? (
									<td data-label="Order">
										<span class="handle" aria-hidden="true" title="Drag to reorder">
											⠿
										</span>{" "}
										{i > 0 ? (
											<ActionForm
												action={`/rules/${r.id}/move`}
												csrf={v.csrf}
												label="↑"
												title={`Move ${r.name} up`}
												fields={{ direction: "up" }}
											/>
										) : (
											""
										)}
										{i < props.rules.length - 1 ? (
											<ActionForm
												action={`/rules/${r.id}/move`}
												csrf={v.csrf}
												label="↓"
												title={`Move ${r.name} down`}
												fields={{ direction: "down" }}
											/>
										) : (
											""
										)}
									</td>
								) : (
									""
								)}
								<td data-label="Name">
									<strong safe>{r.name}</strong>
									{r.description ? (
										<div class="muted small" safe>
											{r.description}
										</div>
									) : (
										""
									)}
								</td>
								<td data-label="Match" class="small" safe>
									{summary(r)}
								</td>
								<td data-label="Action" safe>
									{r.action === "RATE_LIMIT" && r.rateLimit
										? `RATE_LIMIT ${r.rateLimit.requestsPerSecond}/s`
										: r.action}
								</td>
								<EnabledSwitch
									canWrite={v.can.write}
									enabled={r.enabled}
									action={`/rules/${r.id}/enabled`}
									target="#rules"
									csrf={v.csrf}
									name={r.name}
								/>
								<td data-label="Hits" class="num" safe>
									{formatRate(r.stats.packetsMatched)}
								</td>
								<td data-label="Last match" class="small" safe>
									{formatTime(r.stats.lastMatched)}
								</td>
								<RowActions
									can={v.can}
									editHref={`/rules/${r.id}/edit`}
									deleteAction={`/rules/${r.id}/delete`}
									csrf={v.csrf}
									confirm={`Delete rule '${r.name}'?`}
								/>
							</tr>
						))}
					</tbody>
				</table>
			) : (
				<p class="muted">This backend has no filter rules.</p>
			)}
		</div>
	) as string;
}

export function RuleListPage(props: RuleListProps): string {
	const b = props.backend;
	return (
		<>
			<div class="spread">
				<h1>Filter rules</h1>
				{b && props.viewer.can.write ? (
					<a class="button" href={`/rules/new?backendId=${b.id}`}>
						New rule
					</a>
				) : (
					""
				)}
			</div>
			<Notice message={props.notice} />
			{props.backends.length ? (
				<form method="get" action="/rules" class="row panel">
					<div class="field">
						<label for="f-backend">Backend</label>
						<select id="f-backend" name="backendId">
							{props.backends.map((x) => (
								<option value={x.id} selected={x.id === b?.id} safe>
									{x.name}
								</option>
							))}
						</select>
					</div>
					<div class="field">
						<button type="submit" class="secondary">
							Show
						</button>
					</div>
				</form>
			) : (
				<p>
					Rules belong to a backend; there is none yet. <a href="/backends">Backends</a>
				</p>
			)}
			{b ? (
				<p class="muted small">
					Rules of{" "}
					<a href={`/backends/${b.id}`} safe>
						{b.name}
					</a>{" "}
					are evaluated top to bottom; the first that decides wins.{" "}
					{props.viewer.can.write ? "Drag a row, or use the arrows, to change the order." : ""}
				</p>
			) : (
				""
			)}
			<RuleTable {...props} />
		</>
	) as string;
}

const opts = (values: readonly string[]) => values.map((v) => [v, v] as const);
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].map((d, i) => [String(i), d] as const);

export function RuleFormPage(props: {
	form: FormState;
	csrf: string;
	backends: Backend[];
	rule: { id: string; name: string } | null;
}): string {
	const f = props.form;
	const action = props.rule ? `/rules/${props.rule.id}/edit` : "/rules/new";
	const backendName = props.backends.find((b) => b.id === f.values.backendId)?.name ?? "";
	return (
		<>
			<h1 safe>{props.rule ? `Edit rule ${props.rule.name}` : "New filter rule"}</h1>
			<ErrorSummary form={f} />
			<form method="post" action={action} novalidate>
				<Csrf token={props.csrf} />
				<fieldset>
					<legend>Rule</legend>
					<div class="cols">
						{props.rule ? (
							<div class="field">
								<span class="muted">Backend</span>
								<div safe>{backendName}</div>
							</div>
						) : (
							<Select
								form={f}
								name="backendId"
								label="Backend"
								options={props.backends.map((b) => [b.id, b.name] as const)}
							/>
						)}
						<Field form={f} name="name" label="Name" required />
						<Field
							form={f}
							name="priority"
							label="Priority"
							type="number"
							min={0}
							hint="Lower first; empty: after the others"
						/>
						<Select form={f} name="action" label="Action" options={opts(RULE_ACTIONS)} fallback="DROP" />
					</div>
					<TextArea form={f} name="description" label="Description" />
					<Check form={f} name="enabled" label="Enabled" fallback />
				</fieldset>
				<fieldset>
					<legend>Rate limit (RATE_LIMIT rules)</legend>
					<div class="cols">
						<Field form={f} name="rateLimit.requestsPerSecond" label="Packets per second" type="number" />
						<Field form={f} name="rateLimit.burstSize" label="Burst" type="number" />
						<Field form={f} name="rateLimit.windowSeconds" label="Window (s)" type="number" />
					</div>
				</fieldset>
				<fieldset>
					<legend>Match (all given conditions must hold)</legend>
					<div class="cols">
						<TextArea form={f} name="match.sourceIps" label="Source addresses" hint="CIDRs, one per line" />
						<TextArea form={f} name="match.sourceIpBlacklist" label="Except sources" hint="CIDRs, one per line" />
						<TextArea form={f} name="match.destinationIps" label="Destination addresses" hint="CIDRs, one per line" />
					</div>
					<div class="cols">
						<Field form={f} name="match.sourceCountries" label="Source countries" example="DE, FR" />
						<Field form={f} name="match.sourceCountryBlacklist" label="Except countries" example="CN, RU" />
						<Field form={f} name="match.sourceAsns" label="Source ASNs" example="13335, AS15169" />
						<Field form={f} name="match.destinationPorts" label="Destination ports" example="25565, 27000-27015" />
					</div>
					<CheckSet form={f} name="match.protocols" legend="Protocols" options={opts(["TCP", "UDP", "ICMP"])} />
					<CheckSet
						form={f}
						name="match.l7Protocols"
						legend="Application protocols"
						options={opts(["HTTP", "MINECRAFT_JAVA", "MINECRAFT_BEDROCK", "QUIC"])}
					/>
					<CheckSet form={f} name="match.timeMatch.daysOfWeek" legend="Days (time window)" options={DAYS} />
					<TextArea
						form={f}
						name="match.timeMatch.timeRanges"
						label="Time ranges"
						hint="HH:MM-HH:MM, one per line, in the configured time zone"
					/>
				</fieldset>
				<div class="row">
					<button type="submit">{props.rule ? "Save rule" : "Create rule"}</button>
					<a class="button secondary" href={`/rules?backendId=${f.values.backendId ?? ""}`}>
						Cancel
					</a>
				</div>
			</form>
		</>
	) as string;
}
