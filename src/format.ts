// Human-readable figures for the CLI and the UI.

/** 93784000 ms → "1d 2h", 90000 → "1m 30s"; the two largest units. */
export function formatDuration(ms: number): string {
	if (ms <= 0) return "expired";
	const units: Array<[string, number]> = [
		["d", 86_400_000],
		["h", 3_600_000],
		["m", 60_000],
		["s", 1000],
	];
	const parts: string[] = [];
	let rest = ms;
	for (const [name, size] of units) {
		if (rest >= size || (parts.length === 0 && name === "s")) {
			parts.push(`${Math.floor(rest / size)}${name}`);
			rest %= size;
		}
		if (parts.length === 2) break;
	}
	return parts.join(" ");
}
