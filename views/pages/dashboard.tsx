// The dashboard: live traffic (passed vs dropped, packets and bits per second) from the data
// plane's counters, the busiest sources, and every backend's health at a glance. The live part
// polls its own page every two seconds and swaps itself (hx-select), so one template serves both.
import type { Backend } from "../../src/domain/backends/model.ts";
import type { DataPlaneReadiness } from "../../src/services.ts";
import type { CollectorState } from "../../src/telemetry/collector.ts";
import { LineChart } from "../chart.tsx";
import { Badge, formatRate } from "../components.tsx";

/** One second of the host, bits per second for the byte figures. */
export interface TrafficPoint {
	at: number;
	passedPps: number;
	droppedPps: number;
	passedBps: number;
	droppedBps: number;
}

export interface ActiveAttackRow {
	id: string;
	backendName: string;
	attackType: string;
	severity: string;
	startedAt: string;
	peakPps: number;
}

export interface SourceRow {
	address: string;
	backend: string;
	packets: number;
	bytes: number;
	drops: number;
	country: string;
	asn: string;
}

export interface DashboardProps {
	sampler: CollectorState;
	dataplane: DataPlaneReadiness;
	traffic: TrafficPoint[];
	attacks: ActiveAttackRow[];
	sources: SourceRow[];
	backends: Backend[];
	seconds: number;
	canWrite: boolean;
}

export function SamplerNote(props: { sampler: CollectorState; dataplane: DataPlaneReadiness }): string {
	const s = props.sampler;
	if (s.state === "disabled")
		return (
			<p class="muted">
				The data plane is disabled in the configuration (dataplane.enabled), so no traffic is measured.
			</p>
		) as string;
	if (s.state === "not-loaded")
		return (
			<p class="muted">
				The data plane is not loaded (state: <span safe>{props.dataplane.state}</span>
				{props.dataplane.error ? <span safe>{`: ${props.dataplane.error}`}</span> : ""}); no counters are sampled.
			</p>
		) as string;
	return "";
}

function Live(props: DashboardProps): string {
	const t = props.traffic;
	return (
		<section id="live" hx-get="/" hx-trigger="every 2s" hx-select="#live" hx-swap="outerHTML" aria-live="off">
			{props.attacks.length ? (
				<div class="panel attack-banner" role="status">
					<strong>Under attack</strong>
					<ul>
						{props.attacks.map((a) => (
							<li>
								<a href={`/attacks/${a.id}`} safe>
									{`${a.backendName}: ${a.attackType} (${a.severity}), peak ${formatRate(a.peakPps)} pps, since ${a.startedAt}`}
								</a>
							</li>
						))}
					</ul>
				</div>
			) : (
				""
			)}
			<h2>Live traffic</h2>
			<SamplerNote sampler={props.sampler} dataplane={props.dataplane} />
			{props.sampler.state === "sampling" ? (
				<>
					{t.length === 0 ? <p class="muted">Collecting the first samples…</p> : ""}
					<div class="grid">
						<LineChart
							id="chart-pps"
							title="Packets per second"
							unit=""
							seconds={props.seconds}
							series={[
								{ label: "passed", kind: "pass", values: t.map((p) => p.passedPps) },
								{ label: "dropped", kind: "drop", values: t.map((p) => p.droppedPps) },
							]}
						/>
						<LineChart
							id="chart-bps"
							title="Bits per second"
							unit="b/s"
							seconds={props.seconds}
							series={[
								{ label: "passed", kind: "pass", values: t.map((p) => p.passedBps) },
								{ label: "dropped", kind: "drop", values: t.map((p) => p.droppedBps) },
							]}
						/>
					</div>
					<h2>Top sources</h2>
					{props.sources.length ? (
						<div class="table-wrap">
							<table class="stack">
								<thead>
									<tr>
										<th>Source</th>
										<th>Country</th>
										<th>ASN</th>
										<th>Backend</th>
										<th class="num">Packets</th>
										<th class="num">Bytes</th>
										<th class="num">Dropped</th>
									</tr>
								</thead>
								<tbody>
									{props.sources.map((s) => (
										<tr>
											<td data-label="Source" class="mono" safe>
												{s.address}
											</td>
											<td data-label="Country" safe>
												{s.country}
											</td>
											<td data-label="ASN" safe>
												{s.asn}
											</td>
											<td data-label="Backend" safe>
												{s.backend}
											</td>
											<td data-label="Packets" class="num" safe>
												{formatRate(s.packets)}
											</td>
											<td data-label="Bytes" class="num" safe>
												{formatRate(s.bytes, "B")}
											</td>
											<td data-label="Dropped" class="num" safe>
												{formatRate(s.drops)}
											</td>
										</tr>
									))}
								</tbody>
							</table>
						</div>
					) : (
						<p class="muted">No sources tracked yet (the rate-limit table is empty).</p>
					)}
				</>
			) : (
				""
			)}
		</section>
	) as string;
}

export function DashboardPage(props: DashboardProps): string {
	return (
		<>
			<h1>Dashboard</h1>
			<Live {...props} />
			<h2>Backends</h2>
			{props.backends.length ? (
				<div class="grid">
					{props.backends.map((b) => (
						<a class="panel" href={`/backends/${b.id}`}>
							<div class="spread">
								<strong safe>{b.name}</strong>
								<Badge kind={b.status.health} text={b.status.health} />
							</div>
							<p class="muted small">
								<span safe>{b.type}</span> · level <span safe>{b.protection.level}</span> · {b.status.healthyOrigins}/
								{b.status.totalOrigins} origins healthy
							</p>
						</a>
					))}
				</div>
			) : (
				<p>
					No backends yet.{" "}
					{props.canWrite ? <a href="/backends/new">Create the first backend</a> : "An admin or member can create one."}
				</p>
			)}
		</>
	) as string;
}
