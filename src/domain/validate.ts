// Schema validation for every face: TypeBox errors become the API's field errors
// (field paths like "origins[0].port", codes from the spec where one fits).
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { type FieldError, ValidationError } from "./errors.ts";

export function fieldPath(pointer: string): string {
	return pointer
		.replace(/^\//, "")
		.split("/")
		.filter(Boolean)
		.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), "");
}

function codeFor(path: string, schema: TSchema): string {
	if (/port$/i.test(path) && (schema.type === "integer" || schema.type === "number")) return "invalid_port";
	if (schema.anyOf) return "invalid_enum";
	return "invalid_value";
}

/** Throws ValidationError listing every problem (at most one per field) unless value fits schema. */
export function check<S extends TSchema>(
	schema: S,
	value: unknown,
): asserts value is import("@sinclair/typebox").Static<S> {
	const seen = new Set<string>();
	const errors: FieldError[] = [];
	for (const e of Value.Errors(schema, value)) {
		const field = fieldPath(e.path) || "body";
		if (seen.has(field)) continue;
		seen.add(field);
		const options = (e.schema.anyOf as TSchema[] | undefined)?.map((o) => o.const).filter((c) => c !== undefined);
		const message = options?.length
			? `must be one of ${options.join(", ")}`
			: e.schema.additionalProperties === false && e.message.includes("property")
				? "unknown property"
				: e.message.toLowerCase();
		errors.push({ field, code: codeFor(field, e.schema), message });
	}
	if (errors.length) throw new ValidationError(errors);
}

/**
 * The from/to of a query in ms since the epoch: ISO 8601 times, `to` defaulting to now and
 * `from` to defaultMs before `to`. A bad time, or from not before to, is added to errors.
 */
export function timeRange(
	query: { from?: string; to?: string },
	defaultMs: number,
	errors: FieldError[],
): { from: number; to: number } {
	const time = (field: "from" | "to", fallback: number) => {
		const raw = query[field];
		if (raw === undefined) return fallback;
		const t = Date.parse(raw);
		if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(t)) {
			errors.push({ field, code: "invalid_value", message: "must be an ISO 8601 timestamp" });
			return fallback;
		}
		return t;
	};
	const to = time("to", Date.now());
	const from = time("from", to - defaultMs);
	if (!errors.length && from >= to) errors.push({ field: "from", code: "invalid_value", message: "must be before to" });
	return { from, to };
}
