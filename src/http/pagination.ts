// page/pageSize from the query string: integers, page >= 1, 1 <= pageSize <= 100; anything else is a 400.
import { type FieldError, ValidationError } from "../domain/errors.ts";

export function pageQuery(query: Record<string, string | undefined>): { page: number; pageSize: number } {
	const errors: FieldError[] = [];
	const read = (field: "page" | "pageSize", fallback: number, max: number) => {
		const raw = query[field];
		if (raw === undefined) return fallback;
		const n = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
		if (!(n >= 1 && n <= max)) {
			errors.push({ field, code: "invalid_value", message: `must be an integer from 1 to ${max}` });
			return fallback;
		}
		return n;
	};
	const page = read("page", 1, 1_000_000);
	const pageSize = read("pageSize", 20, 100);
	if (errors.length) throw new ValidationError(errors);
	return { page, pageSize };
}

/** Query parameters with page/pageSize converted, for services that validate the rest themselves. */
export function withPage(query: Record<string, string | undefined>): Record<string, string | number> {
	const { page, pageSize } = pageQuery(query);
	const out: Record<string, string | number> = {};
	for (const [k, v] of Object.entries(query)) if (v !== undefined) out[k] = v;
	return { ...out, page, pageSize };
}
