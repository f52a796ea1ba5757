// timeMatch windows: days of the week (0 = Sunday) and minute ranges of the day, read in the
// configured timezone (filters.timezone). A range whose end is before its start wraps midnight;
// its minutes after midnight belong to the day the range started on.
import type { Database } from "bun:sqlite";
import { bumpRevision } from "../revisions.ts";
import type { RuleMatch } from "./model.ts";

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const formats = new Map<string, Intl.DateTimeFormat>();

/** Day of the week and minute of the day at `now` in the timezone. */
export function zonedClock(now: Date, timeZone: string): { day: number; minute: number } {
	let format = formats.get(timeZone);
	if (!format) {
		format = new Intl.DateTimeFormat("en-US", {
			timeZone,
			weekday: "short",
			hour: "2-digit",
			minute: "2-digit",
			hourCycle: "h23",
		});
		formats.set(timeZone, format);
	}
	const parts = Object.fromEntries(format.formatToParts(now).map((p) => [p.type, p.value]));
	return { day: WEEKDAYS[parts.weekday as string] ?? 0, minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

export function windowOpen(match: RuleMatch, now: Date, timeZone: string): boolean {
	const t = match.timeMatch;
	if (!t) return true;
	const { day, minute } = zonedClock(now, timeZone);
	const days = t.daysOfWeek?.length ? new Set(t.daysOfWeek) : null;
	const dayOk = (d: number) => !days || days.has(d);
	if (!t.timeRanges?.length) return dayOk(day);
	return t.timeRanges.some((r) => {
		if (r.startMinutes <= r.endMinutes) return dayOk(day) && minute >= r.startMinutes && minute < r.endMinutes;
		// Wraps midnight: the evening part is on the day itself, the morning part on the next day.
		return (dayOk(day) && minute >= r.startMinutes) || (dayOk((day + 6) % 7) && minute < r.endMinutes);
	});
}

/**
 * Sets time_active of every rule with a timeMatch for `now`; bumps the 'rules' revision when a
 * non-sandbox rule changed. Returns how many rules were toggled.
 */
export function refreshTimeWindows(db: Database, now: Date, timeZone: string): number {
	return db.transaction(() => {
		let toggled = 0;
		let live = false;
		const set = db.prepare("UPDATE filter_rules SET time_active = ? WHERE id = ?");
		for (const r of db
			.query<{ id: string; match: string; time_active: number; sandbox: number }, []>(
				`SELECT r.id, r.match, r.time_active, b.sandbox FROM filter_rules r JOIN backends b ON b.id = r.backend_id
				 WHERE r.match LIKE '%"timeMatch"%' OR r.time_active = 0`,
			)
			.all()) {
			const open = windowOpen(JSON.parse(r.match) as RuleMatch, now, timeZone) ? 1 : 0;
			if (open === r.time_active) continue;
			set.run(open, r.id);
			toggled++;
			if (!r.sandbox) live = true;
		}
		if (live) bumpRevision(db, "rules");
		return toggled;
	})();
}
