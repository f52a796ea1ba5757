// A server-rendered SVG line chart: a few series over the same sample times, scaled to their
// common maximum. Colours come from the stylesheet (classes), so both themes apply.
import { formatRate } from "./components.tsx";

export interface Series {
	label: string;
	/** Stylesheet class: pass, drop, rx. */
	kind: "pass" | "drop" | "rx";
	values: number[];
}

const W = 600;
const H = 180;
const PAD = { left: 48, right: 8, top: 10, bottom: 22 };

export function LineChart(props: {
	id: string;
	title: string;
	unit: string;
	series: Series[];
	seconds: number;
}): string {
	const points = Math.max(0, ...props.series.map((s) => s.values.length));
	const max = Math.max(1, ...props.series.flatMap((s) => s.values));
	const x = (i: number) => PAD.left + (points <= 1 ? 0 : (i / (points - 1)) * (W - PAD.left - PAD.right));
	const y = (v: number) => PAD.top + (1 - v / max) * (H - PAD.top - PAD.bottom);
	const latest = props.series.map((s) => `${s.label} ${formatRate(s.values.at(-1) ?? 0, props.unit)}`).join(", ");
	return (
		<figure class="panel" id={props.id}>
			<figcaption class="spread">
				<strong safe>{props.title}</strong>
				<span class="legend">
					{props.series.map((s) => (
						<span class={s.kind} safe>
							{`${s.label} ${formatRate(s.values.at(-1) ?? 0, props.unit)}`}
						</span>
					))}
				</span>
			</figcaption>
			<svg
				class="chart"
				viewBox={`0 0 ${W} ${H}`}
				role="img"
				aria-label={`${props.title}, last ${props.seconds} seconds; now: ${latest}`}
				data-max={String(max)}
			>
				<line class="axis" x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} />
				<line class="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={H - PAD.bottom} />
				<text class="label" x={PAD.left - 4} y={PAD.top + 8} text-anchor="end" safe>
					{formatRate(max, props.unit)}
				</text>
				<text class="label" x={PAD.left - 4} y={H - PAD.bottom} text-anchor="end">
					0
				</text>
				<text class="label" x={PAD.left} y={H - 6} safe>
					{`−${props.seconds}s`}
				</text>
				<text class="label" x={W - PAD.right} y={H - 6} text-anchor="end">
					now
				</text>
				{props.series.map((s) =>
					s.values.length ? (
						<polyline
							class={`line ${s.kind}`}
							data-series={s.label}
							data-last={String(s.values.at(-1) ?? 0)}
							points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}
						/>
					) : (
						""
					),
				)}
			</svg>
		</figure>
	) as string;
}
