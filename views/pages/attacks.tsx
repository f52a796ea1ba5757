// Attacks: the history (type, duration, peak, top sources, actions taken) and one attack with a
// chart of received and dropped packets per second over its duration (server-rendered SVG).
import type { Backend } from "../../src/domain/backends/model.ts";
import type { MetricsService } from "../../src/telemetry/metrics.ts";
import { LineChart } from "../chart.tsx";
import { Badge, formatRate, formatTime, Pager } from "../components.tsx";

type AttackRecord = ReturnType<MetricsService["attack"]>;
type AttackSummary = ReturnType<MetricsService["listAttacks"]>["data"][number];

function duration(seconds: number): string {
	if (seconds < 60) return `${seconds}s`;
	if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
	return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

function SourcesTable(props: { sources: AttackSummary["topSources"] }): string {
	if (!props.sources.length)
		return (<p class="muted small">No sources tracked (the rate-limit table had none for this backend).</p>) as string;
	return (
		<div class="table-wrap">
			<table class="stack">
				<thead>
					<tr>
						<th>Source</th>
						<th>Country</th>
						<th>ASN</th>
						<th class="num">Packets</th>
						<th class="num">Bytes</th>
						<th>Action</th>
					</tr>
				</thead>
				<tbody>
					{props.sources.map((s) => (
						<tr>
							<td data-label="Source" class="mono" safe>
								{s.ip}
							</td>
							<td data-label="Country" safe>
								{s.country ?? "—"}
							</td>
							<td data-label="ASN" safe>
								{s.asn ?? "—"}
							</td>
							<td data-label="Packets" class="num" safe>
								{formatRate(s.requests)}
							</td>
							<td data-label="Bytes" class="num" safe>
								{formatRate(s.bytes, "B")}
							</td>
							<td data-label="Action" safe>
								{s.actionTaken}
							</td>
						</tr>
					))}
				</tbody>
			</table>
		</div>
	) as string;
}

export function AttackListPage(props: {
	attacks: AttackSummary[];
	pagination: { page: number; pageSize: number; totalCount: number; hasNext: boolean };
	backendId?: string;
	backends: Backend[];
}): string {
	return (
		<>
			<h1>Attacks</h1>
			<form method="get" action="/attacks" class="inline">
				<label for="f-backend">Backend</label>
				<select id="f-backend" name="backendId">
					<option value="">All backends</option>
					{props.backends.map((b) => (
						<option value={b.id} selected={b.id === props.backendId} safe>
							{b.name}
						</option>
					))}
				</select>
				<button type="submit" class="secondary small">
					Show
				</button>
			</form>
			{props.attacks.length ? (
				<div class="table-wrap" id="attack-list">
					<table class="stack">
						<thead>
							<tr>
								<th>Started</th>
								<th>Backend</th>
								<th>Type</th>
								<th>Severity</th>
								<th class="num">Duration</th>
								<th class="num">Peak</th>
								<th class="num">Sources</th>
								<th>Top source</th>
								<th>Actions taken</th>
							</tr>
						</thead>
						<tbody>
							{props.attacks.map((a) => (
								<tr>
									<td data-label="Started">
										<a href={`/attacks/${a.id}`} safe>
											{formatTime(a.startedAt)}
										</a>
										{a.active ? <Badge kind="UNHEALTHY" text="ACTIVE" /> : ""}
									</td>
									<td data-label="Backend" safe>
										{a.backendName ?? a.backendId}
									</td>
									<td data-label="Type" safe>
										{a.attackType}
									</td>
									<td data-label="Severity" safe>
										{a.severity}
									</td>
									<td data-label="Duration" class="num" safe>
										{duration(a.durationSeconds)}
									</td>
									<td data-label="Peak" class="num" safe>
										{`${formatRate(a.peakPps)} pps · ${formatRate(a.peakBps, "b/s")}`}
									</td>
									<td data-label="Sources" class="num" safe>
										{String(a.uniqueSources)}
									</td>
									<td data-label="Top source" class="mono" safe>
										{a.topSources[0] ? `${a.topSources[0].ip} (${a.topSources[0].country ?? "—"})` : "—"}
									</td>
									<td data-label="Actions taken" safe>
										{a.actions
											.map((x: { action: string }) => x.action)
											.filter((x: string) => x !== "DETECTED")
											.join(", ") || "—"}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : (
				<p class="muted">No attacks recorded.</p>
			)}
			<Pager base="/attacks" query={{ backendId: props.backendId }} pagination={props.pagination} />
		</>
	) as string;
}

export function AttackDetailPage(props: { attack: AttackRecord }): string {
	const a = props.attack;
	const points = a.series?.points ?? [];
	const step = a.series?.stepSeconds ?? 1;
	return (
		<>
			<h1>
				<span safe>{`${a.attackType} on ${a.backendName ?? a.backendId}`}</span>{" "}
				{a.active ? <Badge kind="UNHEALTHY" text="ACTIVE" /> : <Badge kind="HEALTHY" text="ENDED" />}
			</h1>
			<div class="grid">
				<div class="panel">
					<div class="muted small">Severity</div>
					<div class="stat" safe>
						{a.severity}
					</div>
					<div class="muted small" safe>
						{`${formatTime(a.startedAt)} – ${a.endedAt ? formatTime(a.endedAt) : "now"} (${duration(a.durationSeconds)})`}
					</div>
				</div>
				<div class="panel">
					<div class="muted small">Peak</div>
					<div class="stat" safe>
						{`${formatRate(a.peakPps)} pps`}
					</div>
					<div class="muted small" safe>
						{formatRate(a.peakBps, "b/s")}
					</div>
				</div>
				<div class="panel">
					<div class="muted small">Packets received / dropped</div>
					<div class="stat" safe>
						{`${formatRate(a.packets)} / ${formatRate(a.droppedPackets)}`}
					</div>
					<div class="muted small" safe>
						{`${a.uniqueSources} sources seen in the rate-limit table (approximate)`}
					</div>
				</div>
			</div>
			<LineChart
				id="attack-chart"
				title={`Packets per second${step > 1 ? ` (peak of every ${step} s)` : ""}`}
				unit=""
				seconds={points.length * step}
				series={[
					{ label: "received", kind: "rx", values: points.map((p) => p.receivedPps) },
					{ label: "dropped", kind: "drop", values: points.map((p) => p.droppedPps) },
				]}
			/>
			<h2>Top sources</h2>
			<SourcesTable sources={a.topSources} />
			<h2>Actions taken</h2>
			<ol id="attack-actions">
				{a.actions.map((x) => (
					<li>
						<span class="mono" safe>
							{formatTime(x.at)}
						</span>{" "}
						<strong safe>{x.action}</strong> <span safe>{x.detail}</span>
					</li>
				))}
			</ol>
			<h2>Drops by reason (host-wide during the attack)</h2>
			<ul>
				{Object.entries(a.reasons).map(([r, n]) => (
					<li safe>{`${r}: ${formatRate(n as number)}`}</li>
				))}
			</ul>
		</>
	) as string;
}
